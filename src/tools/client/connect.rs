//! Where the server is and how to reach it: the address forms people type (`host:port` as
//! grpcurl takes it, `http://`, `https://` over TLS), a deadline on the whole command, and
//! transport failures turned into what happened — refused, silent, not gRPC, TLS on one side
//! only, an untrusted certificate.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::ClientError;

/// The default server address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// How long a command waits for its answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a TCP connection (and the TLS handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A c360 server to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `http://host:port` or `https://host:port`.
    uri: String,
    /// `host:port`, for the probe and for messages.
    authority: String,
    tls: bool,
    timeout: Duration,
    /// Whether to show the metadata of each call on stderr (`-v`).
    verbose: bool,
}

impl Server {
    /// `addr` as people type it: `host:port`, `http://host:port` (plaintext) or
    /// `https://host:port` (TLS); the command's deadline is [`DEFAULT_TIMEOUT`].
    pub fn parse(addr: &str) -> Result<Self, ClientError> {
        let bad = || ClientError::Address(addr.to_owned());
        let addr = addr.trim();
        let (tls, rest) = if let Some(rest) = addr.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = addr.strip_prefix("http://") {
            (false, rest)
        } else if addr.contains("://") {
            return Err(bad());
        } else {
            (false, addr)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let parsed: http::uri::Authority = authority.parse().map_err(|_| bad())?;
        if parsed.host().is_empty() || parsed.port_u16().is_none() || authority.contains('@') {
            return Err(bad());
        }
        let scheme = if tls { "https" } else { "http" };
        Ok(Self {
            uri: format!("{scheme}://{authority}"),
            authority: authority.to_owned(),
            tls,
            timeout: DEFAULT_TIMEOUT,
            verbose: false,
        })
    }

    /// The same server, with `timeout` for the whole command (connecting and answering).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same server, its calls' metadata shown on stderr when `verbose` (`-v`).
    #[must_use]
    pub fn with_verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// How long a command waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the calls' metadata is shown.
    pub(super) fn verbose(&self) -> bool {
        self.verbose
    }

    /// `http://host:port` or `https://host:port`.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A channel to the server (connected: TCP, TLS and the HTTP/2 preface).
    pub(super) async fn channel(&self) -> Result<Channel, ClientError> {
        let mut endpoint = Endpoint::from_shared(self.uri.clone())
            .map_err(|_| ClientError::Address(self.uri.clone()))?
            .connect_timeout(CONNECT_TIMEOUT);
        if self.tls {
            endpoint = endpoint
                .tls_config(tls_from_env()?)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
        }
        endpoint
            .connect()
            .await
            .map_err(|error| self.unreachable(&error))
    }

    /// `work` (connecting and calling) within the command's deadline, its transport failures
    /// explained.
    pub(super) async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(ClientError::Status(status))) if is_transport(&status) => {
                Err(self.explain(&status).await)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ClientError::TimedOut {
                addr: self.uri.clone(),
                after: self.timeout,
            }),
        }
    }

    /// A connection that failed: refused, silent, or a TLS handshake gone wrong.
    fn unreachable(&self, error: &tonic::transport::Error) -> ClientError {
        let addr = self.uri.clone();
        let chain = chain(error);
        if let Some(kind) = io_kind(error) {
            match kind {
                std::io::ErrorKind::ConnectionRefused => return ClientError::Refused { addr },
                std::io::ErrorKind::TimedOut => {
                    return ClientError::NoAnswer {
                        addr,
                        after: CONNECT_TIMEOUT,
                    };
                }
                _ => {}
            }
        }
        if chain.contains("timed out") {
            return ClientError::NoAnswer {
                addr,
                after: CONNECT_TIMEOUT,
            };
        }
        if self.tls && (chain.contains("InvalidContentType") || chain.contains("corrupt message")) {
            return ClientError::TlsMismatch {
                addr,
                hint: "it does not speak TLS: use http:// (or host:port)",
            };
        }
        if self.tls && chain.contains("certificate") {
            return ClientError::Tls(format!(
                "cannot trust c360 at {addr}: {} (set C360_CA_CERT to the CA that signed it)",
                innermost(error)
            ));
        }
        ClientError::Connect {
            addr,
            why: innermost(error),
        }
    }

    /// A call that failed below gRPC: asks the peer what it speaks.
    async fn explain(&self, status: &tonic::Status) -> ClientError {
        let addr = self.uri.clone();
        let peer = if self.tls {
            // The TLS handshake worked: whatever is behind it does not speak gRPC.
            Peer::Unknown
        } else {
            probe(&self.authority).await
        };
        match peer {
            Peer::Tls | Peer::Closed if !self.tls => ClientError::TlsMismatch {
                addr,
                hint: if peer == Peer::Tls {
                    "it speaks TLS: use https://"
                } else {
                    "it closed the connection at once: use https:// if it speaks TLS"
                },
            },
            Peer::Http1 => ClientError::NotGrpc {
                addr,
                what: "an HTTP/1 server answered, not gRPC".into(),
            },
            Peer::Silent => ClientError::TimedOut {
                addr,
                after: self.timeout,
            },
            _ => ClientError::NotGrpc {
                addr,
                what: status.message().to_owned(),
            },
        }
    }
}

impl std::str::FromStr for Server {
    type Err = ClientError;

    fn from_str(addr: &str) -> Result<Self, Self::Err> {
        Self::parse(addr)
    }
}

/// A status the client made up because the transport failed (the server sent no status),
/// or an answer without a gRPC status (an HTTP server that is not gRPC).
fn is_transport(status: &tonic::Status) -> bool {
    let from_transport = std::error::Error::source(status).is_some()
        && matches!(
            status.code(),
            tonic::Code::Unknown
                | tonic::Code::Unavailable
                | tonic::Code::Internal
                | tonic::Code::Cancelled
        );
    from_transport || status.message().contains("grpc-status header missing")
}

/// What a peer answers to the HTTP/2 preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// A TLS alert or handshake record.
    Tls,
    /// `HTTP/1.x …`.
    Http1,
    /// An HTTP/2 frame.
    Http2,
    /// It closed the connection without a byte.
    Closed,
    /// Nothing within the probe's wait.
    Silent,
    /// Something else, or the probe could not connect.
    Unknown,
}

/// Opens a connection to `authority`, sends the HTTP/2 client preface and reads what comes
/// back.
async fn probe(authority: &str) -> Peer {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    let wait = Duration::from_secs(1);
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(wait, tokio::net::TcpStream::connect(authority)).await
    else {
        return Peer::Unknown;
    };
    if stream.write_all(PREFACE).await.is_err() {
        return Peer::Closed;
    }
    let mut answer = [0u8; 16];
    match tokio::time::timeout(wait, stream.read(&mut answer)).await {
        Err(_) => Peer::Silent,
        Ok(Err(_) | Ok(0)) => Peer::Closed,
        Ok(Ok(n)) => classify(&answer[..n]),
    }
}

fn classify(answer: &[u8]) -> Peer {
    match answer {
        [0x15 | 0x16, 0x03, ..] => Peer::Tls,
        [b'H', b'T', b'T', b'P', b'/', ..] => Peer::Http1,
        [_, _, _, 0x04, ..] => Peer::Http2,
        _ => Peer::Unknown,
    }
}

/// TLS as the environment says: the CA in `C360_CA_CERT` (else the system's), and a client
/// certificate from `C360_CLIENT_CERT` and `C360_CLIENT_KEY`.
fn tls_from_env() -> Result<ClientTlsConfig, ClientError> {
    let read = |name: &str| -> Result<Option<Vec<u8>>, ClientError> {
        std::env::var_os(name)
            .map(|path| {
                std::fs::read(&path).map_err(|e| {
                    ClientError::Tls(format!("{name}={}: {e}", path.to_string_lossy()))
                })
            })
            .transpose()
    };
    let tls = match read("C360_CA_CERT")? {
        Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
        None => ClientTlsConfig::new().with_native_roots(),
    };
    match (read("C360_CLIENT_CERT")?, read("C360_CLIENT_KEY")?) {
        (Some(cert), Some(key)) => Ok(tls.identity(Identity::from_pem(cert, key))),
        (None, None) => Ok(tls),
        _ => Err(ClientError::Tls(
            "C360_CLIENT_CERT and C360_CLIENT_KEY go together".into(),
        )),
    }
}

/// Every message of an error's chain, joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        text.push_str(&format!(" {next:?}"));
        cause = next.source();
    }
    text
}

/// The kind of the first I/O error in an error's chain.
fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cause = Some(error);
    while let Some(next) = cause {
        if let Some(io) = next.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = next.source();
    }
    None
}

/// The last cause in an error's chain: what actually went wrong.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_in_the_forms_people_type() {
        let plain = Server::parse("127.0.0.1:50051").unwrap();
        assert_eq!(plain.uri(), "http://127.0.0.1:50051");
        assert_eq!(Server::parse("http://127.0.0.1:50051/").unwrap(), plain);
        let tls = Server::parse("https://localhost:50051").unwrap();
        assert_eq!(tls.uri(), "https://localhost:50051");
        assert!(tls.tls && !plain.tls);
        assert_eq!(
            Server::parse("[::1]:50051").unwrap().uri(),
            "http://[::1]:50051"
        );
        for bad in [
            "",
            "localhost",
            "grpc://localhost:50051",
            "http://",
            "127.0.0.1:port",
            "user@host:1",
            "host:1/path",
        ] {
            assert!(
                matches!(Server::parse(bad), Err(ClientError::Address(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            plain.with_timeout(Duration::from_secs(2)).timeout(),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn a_peer_is_known_by_its_first_bytes() {
        assert_eq!(classify(&[0x15, 0x03, 0x03, 0, 2, 2, 50]), Peer::Tls);
        assert_eq!(classify(b"HTTP/1.1 400 Bad Request\r\n"), Peer::Http1);
        assert_eq!(classify(&[0, 0, 6, 4, 0, 0, 0, 0, 0]), Peer::Http2);
        assert_eq!(classify(b"SSH-2.0-OpenSSH"), Peer::Unknown);
    }
}
