//! How [`super::pipes`] reaches Postgres: the connection settings sqlx parsed from the URL
//! (with libpq's environment variables and `.pgpass`), carried over to tokio-postgres, and
//! TLS by rustls with libpq's `sslmode` meanings, as sqlx applies them: `prefer` and
//! `require` encrypt without checking the server's certificate, `verify-ca` checks that a
//! trusted authority issued it, `verify-full` also that it names the host. The authorities are
//! `sslrootcert`'s, or the public ones when it is not given; `sslcert` and `sslkey` present a
//! client certificate.

use std::{
    future::Future,
    io,
    path::PathBuf,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};
use sqlx::{
    ConnectOptions,
    postgres::{PgConnectOptions, PgSslMode},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::{
    config::SslMode,
    tls::{ChannelBinding, MakeTlsConnect, TlsConnect},
};
use tokio_rustls::TlsConnector;

/// tokio-postgres's settings for the database of `options`, and the TLS to reach it with.
pub(super) fn connection(
    options: &PgConnectOptions,
) -> Result<(tokio_postgres::Config, Tls), sqlx::Error> {
    let url = options.to_url_lossy();
    let query = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let mut config = tokio_postgres::Config::new();
    match options.get_socket() {
        Some(socket) => config.host_path(socket),
        None => config.host(options.get_host()),
    };
    config.port(options.get_port()).user(options.get_username());
    if let Some(password) = url.password() {
        let password = percent_encoding::percent_decode_str(password).collect::<Vec<u8>>();
        config.password(password);
    }
    if let Some(database) = options.get_database() {
        config.dbname(database);
    }
    if let Some(name) = options.get_application_name() {
        config.application_name(name);
    }
    if let Some(settings) = options.get_options() {
        config.options(settings);
    }
    let mode = options.get_ssl_mode();
    config.ssl_mode(match mode {
        PgSslMode::Disable => SslMode::Disable,
        PgSslMode::Allow | PgSslMode::Prefer => SslMode::Prefer,
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => SslMode::Require,
    });
    let tls = match mode {
        PgSslMode::Disable => Tls { config: None },
        _ => Tls {
            config: Some(Arc::new(client_config(
                mode,
                query("sslrootcert"),
                query("sslcert").zip(query("sslkey")),
            )?)),
        },
    };
    Ok((config, tls))
}

/// A PEM given inline, or the path of a file that holds it (sqlx writes `file: <path>`).
fn pem(value: &str) -> Result<Vec<u8>, sqlx::Error> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    let path = PathBuf::from(value.strip_prefix("file: ").unwrap_or(value));
    std::fs::read(&path).map_err(|error| {
        sqlx::Error::Tls(format!("cannot read {}: {error}", path.display()).into())
    })
}

fn client_config(
    mode: PgSslMode,
    root: Option<String>,
    client: Option<(String, String)>,
) -> Result<ClientConfig, sqlx::Error> {
    let tls_error = |error: rustls::Error| sqlx::Error::Tls(Box::new(error));
    let provider = Arc::new(ring::default_provider());
    let mut roots = RootCertStore::empty();
    match root {
        Some(root) => {
            for cert in CertificateDer::pem_slice_iter(&pem(&root)?) {
                let cert = cert.map_err(|e| sqlx::Error::Tls(Box::new(e)))?;
                roots.add(cert).map_err(tls_error)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| sqlx::Error::Tls(Box::new(e)))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        PgSslMode::VerifyFull => chain,
        _ => Arc::new(Lenient {
            chain,
            issued: matches!(mode, PgSslMode::VerifyCa),
        }),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(&pem(&cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| sqlx::Error::Tls(Box::new(e)))?;
            let key = PrivateKeyDer::from_pem_slice(&pem(&key)?)
                .map_err(|e| sqlx::Error::Tls(Box::new(e)))?;
            builder.with_client_auth_cert(certs, key).map_err(tls_error)
        }
    }
}

/// The server's certificate checked less than `verify-full` does: for `verify-ca`, issued by
/// a trusted authority whatever names it; for `prefer` and `require`, not at all (encryption
/// without authentication, as libpq does). The handshake's signatures are checked in every mode.
#[derive(Debug)]
struct Lenient {
    chain: Arc<WebPkiServerVerifier>,
    /// Whether the chain is checked (`verify-ca`).
    issued: bool,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.issued {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .chain
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS, by rustls; `None` when the URL says `sslmode=disable`.
#[derive(Clone)]
pub(super) struct Tls {
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("enabled", &self.config.is_some())
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for Tls {
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, io::Error> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect {
            config: self.config.clone(),
            name,
        })
    }
}

/// One connection's handshake.
pub(super) struct Connect {
    config: Option<Arc<ClientConfig>>,
    name: ServerName<'static>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for Connect {
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| {
                io::Error::new(io::ErrorKind::Unsupported, "TLS is disabled (sslmode)")
            })?;
            let stream = TlsConnector::from(config)
                .connect(self.name, stream)
                .await?;
            Ok(Stream(stream))
        })
    }
}

/// An encrypted connection to Postgres.
pub(super) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tokio_postgres::config::Host;

    use super::*;

    fn carried(url: &str) -> Result<(tokio_postgres::Config, Tls), sqlx::Error> {
        connection(&PgConnectOptions::from_str(url).expect("a URL sqlx reads"))
    }

    #[test]
    fn the_url_s_settings_reach_tokio_postgres() {
        let (config, tls) = carried(
            "postgres://app:p%40ss%2Fword@db.internal:6543/crm?sslmode=disable\
             &application_name=c360&options=-c%20statement_timeout%3D500ms",
        )
        .unwrap();
        assert_eq!(config.get_hosts(), [Host::Tcp("db.internal".into())]);
        assert_eq!(config.get_ports(), [6543]);
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(config.get_password(), Some(&b"p@ss/word"[..]));
        assert_eq!(config.get_dbname(), Some("crm"));
        assert_eq!(config.get_application_name(), Some("c360"));
        assert_eq!(config.get_options(), Some("-c statement_timeout=500ms"));
        assert_eq!(config.get_ssl_mode(), SslMode::Disable);
        assert!(tls.config.is_none());
    }

    #[test]
    fn each_sslmode_asks_for_tls_as_libpq_does() {
        for (mode, expected) in [
            ("prefer", SslMode::Prefer),
            ("allow", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::Require),
            ("verify-full", SslMode::Require),
        ] {
            let (config, tls) = carried(&format!("postgres://app@db/crm?sslmode={mode}")).unwrap();
            assert_eq!(config.get_ssl_mode(), expected, "{mode}");
            assert!(tls.config.is_some(), "{mode}");
        }
    }

    #[test]
    fn an_unreadable_root_certificate_is_an_error_that_names_it() {
        let error =
            carried("postgres://app@db/crm?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt")
                .expect_err("a missing file is refused");
        assert!(error.to_string().contains("/nonexistent/ca.crt"), "{error}");
        let error = carried("postgres://app@db/crm?sslmode=verify-full&sslrootcert=/dev/null")
            .expect_err("a file with no certificate is refused");
        assert!(matches!(error, sqlx::Error::Tls(_)), "{error}");
    }
}
