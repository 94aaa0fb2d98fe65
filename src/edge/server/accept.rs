//! The connections a listener lets in, before any HTTP is spoken: each peer address holds at
//! most `max_connections_per_peer` at once (more are closed as they are accepted), and a
//! connection must send its first bytes (the HTTP/2 preface or an HTTP/1 request line), and
//! finish its TLS handshake when TLS is on, within `handshake_timeout`, or it is closed. Each
//! one is checked in a task of its own, so a silent peer holds up nobody else; the gRPC port
//! and `/metrics` share this door. Sockets that go quiet later are found by HTTP/2 keepalive
//! pings and ended by `max_connection_age`.

use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// What the door asks of a connection.
#[derive(Clone)]
pub(super) struct Door {
    /// TLS to handshake, or plaintext.
    pub tls: Option<TlsAcceptor>,
    /// Time to the first bytes (and the end of the handshake).
    pub handshake_timeout: Duration,
    /// Connections one peer address may hold at once; 0: no limit.
    pub per_peer: usize,
}

/// Bytes that tell a caller that speaks from one that only connected: the HTTP/2 preface's
/// length; every HTTP/1 request is longer.
const FIRST_BYTES: usize = 24;

/// A connection let in: plaintext or TLS, counted against its peer until dropped.
pub(super) struct Connection {
    stream: Stream,
    _peer: PeerSlot,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Connections open per peer address.
#[derive(Debug, Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One connection of a peer, given back when dropped.
struct PeerSlot {
    peers: Arc<Peers>,
    peer: IpAddr,
}

impl Peers {
    fn take(self: &Arc<Self>, peer: IpAddr, limit: usize) -> Option<PeerSlot> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(peer).or_default();
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            peer,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

/// The connections made to `listener` that pass `door`, until the stream is dropped.
pub(super) fn incoming(
    listener: TcpListener,
    door: Door,
) -> ReceiverStream<io::Result<Connection>> {
    let (sender, receiver) = mpsc::channel(64);
    let peers = Arc::new(Peers::default());
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, most likely: let some close.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Some(slot) = peers.take(peer.ip(), door.per_peer) else {
                tracing::debug!(limit = door.per_peer, "a peer over its connections: closed");
                continue;
            };
            // A small answer must not wait for the client's delayed ACK (40 ms on Linux).
            let _ = stream.set_nodelay(true);
            let (door, sender) = (door.clone(), sender.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(door.handshake_timeout, open(stream, &door)).await {
                    Ok(Ok(stream)) => {
                        let connection = Connection {
                            stream,
                            _peer: slot,
                        };
                        let _ = sender.send(Ok(connection)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%error, "connection closed at the door"),
                    Err(_) => tracing::debug!("connection silent past the handshake timeout"),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

/// The first bytes of `stream`, then its TLS handshake if the door asks for one.
async fn open(stream: TcpStream, door: &Door) -> io::Result<Stream> {
    match &door.tls {
        Some(tls) => Ok(Stream::Tls(Box::new(tls.accept(stream).await?))),
        None => {
            let mut first = [0; FIRST_BYTES];
            loop {
                match stream.peek(&mut first).await? {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    FIRST_BYTES => return Ok(Stream::Plain(stream)),
                    // Part of it: the rest is on its way, or never comes (the timeout).
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match &self.stream {
            Stream::Plain(tcp) => tcp.connect_info(),
            Stream::Tls(tls) => tls.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_holds_at_most_its_share_and_gets_it_back_as_connections_close() {
        let peers = Arc::new(Peers::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = peers.take(a, 2).expect("first");
        let second = peers.take(a, 2).expect("second");
        assert!(peers.take(a, 2).is_none(), "a third is over the share");
        let other = peers.take(b, 2).expect("another peer is not held back");
        drop(first);
        let again = peers
            .take(a, 2)
            .expect("a closed connection frees its slot");
        drop((second, other, again));
        assert!(peers.0.lock().unwrap().is_empty(), "nothing left counted");
        let unlimited: Vec<_> = (0..1000).map(|_| peers.take(a, 0)).collect();
        assert!(unlimited.iter().all(Option::is_some), "0: no limit");
    }
}
