//! TLS for callers: a rustls acceptor whose certificate is read again when its files change
//! (a renewed certificate reaches new connections without a restart; a file that does not
//! load leaves the previous certificate in service), and mutual TLS when a client CA is
//! configured. Handshakes are run by the door (`accept.rs`), each in a task of its own under a
//! timeout, so a slow or silent peer holds up nobody else.

use std::{fs, io, path::Path, sync::Arc, time::SystemTime};

use arc_swap::ArcSwap;
use rustls::{
    RootCertStore, ServerConfig,
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::TlsSettings;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A file does not hold what it should.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
}

fn invalid(path: &Path, what: impl ToString) -> TlsError {
    TlsError::Invalid {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The certificates of a PEM file, at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    match certs.is_empty() {
        true => Err(invalid(path, "no certificate in it")),
        false => Ok(certs),
    }
}

/// The chain of `cert_file` with the key of `key_file`, which must match it.
fn certified_key(
    provider: &CryptoProvider,
    settings: &TlsSettings,
) -> Result<CertifiedKey, TlsError> {
    let (cert_file, key_file) = (&settings.cert_file, &settings.key_file);
    let certs = certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?).map_err(|e| invalid(key_file, e))?;
    let certified = CertifiedKey::from_der(certs, key, provider).map_err(|e| {
        invalid(
            key_file,
            format!("does not go with {}: {e}", cert_file.display()),
        )
    })?;
    Ok(certified)
}

/// When the files were last written, and their sizes: a change means a reload.
fn stamp(settings: &TlsSettings) -> Option<[(SystemTime, u64); 2]> {
    let of = |path: &Path| {
        let meta = fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    };
    Some([of(&settings.cert_file)?, of(&settings.key_file)?])
}

/// Serves whichever certificate was loaded last.
#[derive(Debug)]
struct Current(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// Accepts TLS connections with the certificate its files hold now.
pub struct Acceptor {
    acceptor: TlsAcceptor,
    reloading: JoinHandle<()>,
}

impl Acceptor {
    /// Loads the certificate, key and client CA of `settings` (an error if any does not
    /// load), and checks the certificate and key for a change every `reload_interval`.
    pub fn new(settings: &TlsSettings) -> Result<Self, TlsError> {
        let provider = Arc::new(ring::default_provider());
        let current = Arc::new(Current(ArcSwap::from_pointee(certified_key(
            &provider, settings,
        )?)));
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&settings.cert_file, e))?;
        let builder = match &settings.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(ca_file) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates(ca_file)? {
                    roots.add(cert).map_err(|e| invalid(ca_file, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| invalid(ca_file, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(current.clone());
        // gRPC over HTTP/2; gRPC-Web from browsers may come over HTTP/1.1.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let reloading = tokio::spawn(reload(settings.clone(), provider, current));
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reloading,
        })
    }

    /// The acceptor, with the certificate its files hold at each handshake.
    pub(super) fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor").finish_non_exhaustive()
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.reloading.abort();
    }
}

/// Loads the certificate again each time its files change.
async fn reload(settings: TlsSettings, provider: Arc<CryptoProvider>, current: Arc<Current>) {
    let mut seen = stamp(&settings);
    loop {
        tokio::time::sleep(settings.reload_interval).await;
        let now = stamp(&settings);
        if now == seen {
            continue;
        }
        seen = now;
        match certified_key(&provider, &settings) {
            Ok(key) => {
                current.0.store(Arc::new(key));
                tracing::info!(cert = %settings.cert_file.display(), "TLS certificate reloaded");
            }
            Err(error) => tracing::warn!(
                %error,
                "TLS certificate changed but does not load: still serving the previous one"
            ),
        }
    }
}
