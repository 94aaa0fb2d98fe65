//! A TCP fault proxy: put it between c360 and a backend (Postgres, Redis) and break the link
//! as networks break. Every connection it accepts is forwarded to the target, and the bytes
//! are subject to the mode of the moment:
//!
//! - [`Mode::Pass`]: forwarded as they come;
//! - [`Mode::Latency`]: each chunk held this long before it is forwarded;
//! - [`Mode::Stall`]: held until the mode changes, then forwarded (a peer that stops answering
//!   and comes back: queries wait, nothing is lost);
//! - [`Mode::Blackhole`]: dropped (a peer that vanished: nothing comes back, ever).
//!
//! [`FaultProxy::reset`] resets every open connection (TCP RST), as a restarted peer or a
//! middlebox would. The proxy only listens on loopback, and stops when dropped.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// What happens to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwarded as they come.
    Pass,
    /// Each chunk forwarded after this delay.
    Latency(Duration),
    /// Held until the mode changes.
    Stall,
    /// Dropped.
    Blackhole,
}

struct Shared {
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    resets: watch::Sender<u64>,
}

/// A running proxy; stops (and drops its connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on an ephemeral loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        Self::listen(SocketAddr::from(([127, 0, 0, 1], 0)), target).await
    }

    /// A proxy on `listen` (loopback only), forwarding to `target`.
    pub async fn listen(listen: SocketAddr, target: SocketAddr) -> std::io::Result<Self> {
        if !listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the fault proxy listens on loopback only",
            ));
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            mode: watch::Sender::new(Mode::Pass),
            resets: watch::Sender::new(0),
        });
        let accepting = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            connections.spawn(forward(client, shared.clone()));
                        }
                        Some(_) = connections.join_next() => {}
                    }
                }
            }
        });
        Ok(Self {
            addr,
            shared,
            accepting,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, bytes are treated as `mode` says (held bytes go on when a stall ends).
    pub fn set(&self, mode: Mode) {
        self.shared.mode.send_replace(mode);
    }

    /// The mode now.
    pub fn mode(&self) -> Mode {
        *self.shared.mode.borrow()
    }

    /// Resets every connection open now (RST to both sides); new ones are accepted.
    pub fn reset(&self) {
        self.shared.resets.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.accepting.abort();
    }
}

async fn forward(mut client: TcpStream, shared: Arc<Shared>) {
    let mut resets = shared.resets.subscribe();
    resets.mark_unchanged();
    let _ = client.set_nodelay(true);
    // A blackholed peer never answers the connection either.
    let mut upstream = tokio::select! {
        connected = async {
            wait_unless_blackholed(&shared).await;
            TcpStream::connect(shared.target).await
        } => match connected {
            Ok(upstream) => upstream,
            Err(_) => return,
        },
        _ = resets.changed() => return reset(&client, None),
    };
    let _ = upstream.set_nodelay(true);
    let reset_now = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        tokio::select! {
            _ = async {
                tokio::join!(
                    pump(client_read, upstream_write, &shared),
                    pump(upstream_read, client_write, &shared),
                )
            } => false,
            _ = resets.changed() => true,
        }
    };
    if reset_now {
        reset(&client, Some(&upstream));
    }
}

/// Closes both sides with a reset (linger zero) instead of an orderly close.
fn reset(client: &TcpStream, upstream: Option<&TcpStream>) {
    for stream in std::iter::once(client).chain(upstream) {
        let _ = stream.set_zero_linger();
    }
}

async fn wait_unless_blackholed(shared: &Shared) {
    let mut mode = shared.mode.subscribe();
    while *mode.borrow_and_update() == Mode::Blackhole {
        if mode.changed().await.is_err() {
            return;
        }
    }
}

/// What to do with a chunk now: forward after a delay, or drop it.
async fn gate(shared: &Shared) -> Option<Duration> {
    let mut mode = shared.mode.subscribe();
    loop {
        let now = *mode.borrow_and_update();
        match now {
            Mode::Pass => return Some(Duration::ZERO),
            Mode::Latency(delay) => return Some(delay),
            Mode::Blackhole => return None,
            Mode::Stall => {
                if mode.changed().await.is_err() {
                    return None;
                }
            }
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    shared: &Shared,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        match gate(shared).await {
            None => continue,
            Some(Duration::ZERO) => {}
            Some(delay) => tokio::time::sleep(delay).await,
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        stream.write_all(b"ping").await.ok()?;
        let mut answer = [0; 4];
        tokio::time::timeout(within, stream.read_exact(&mut answer))
            .await
            .ok()?
            .ok()?;
        Some(answer.to_vec())
    }

    #[tokio::test]
    async fn passes_stalls_then_delivers_what_it_held_and_blackholes() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(
            round_trip(&mut stream, second).await.as_deref(),
            Some(&b"ping"[..])
        );
        proxy.set(Mode::Stall);
        assert_eq!(
            round_trip(&mut stream, Duration::from_millis(200)).await,
            None
        );
        // The stall ends: the held bytes arrive.
        proxy.set(Mode::Pass);
        let mut held = [0; 4];
        tokio::time::timeout(second, stream.read_exact(&mut held))
            .await
            .expect("delivered after the stall")
            .unwrap();
        assert_eq!(&held, b"ping");
        proxy.set(Mode::Blackhole);
        assert_eq!(
            round_trip(&mut stream, Duration::from_millis(200)).await,
            None
        );
        proxy.set(Mode::Pass);
        // What went into the hole is gone for good: the next answer is the next ping's.
        assert_eq!(
            round_trip(&mut stream, second).await.as_deref(),
            Some(&b"ping"[..])
        );
        let mut more = [0; 1];
        let extra = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut more)).await;
        assert!(extra.is_err(), "nothing more");
    }

    #[tokio::test]
    async fn latency_delays_each_chunk() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set(Mode::Latency(Duration::from_millis(100)));
        let started = tokio::time::Instant::now();
        assert!(
            round_trip(&mut stream, Duration::from_secs(2))
                .await
                .is_some()
        );
        // Once each way.
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn reset_breaks_open_connections_and_new_ones_work() {
        let proxy = FaultProxy::start(echo().await).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(
            round_trip(&mut stream, Duration::from_secs(1))
                .await
                .is_some()
        );
        proxy.reset();
        let mut buffer = [0; 4];
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer))
            .await
            .expect("the reset arrives");
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{read:?}"
        );
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(
            round_trip(&mut fresh, Duration::from_secs(1))
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn refuses_to_listen_beyond_loopback() {
        let anywhere = SocketAddr::from(([0, 0, 0, 0], 0));
        assert!(FaultProxy::listen(anywhere, anywhere).await.is_err());
    }
}
