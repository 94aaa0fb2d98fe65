//! The server's settings (`[server]`, `[metrics]`): where it listens, how long it drains,
//! HTTP/2 limits, deadlines, browsers' origins, TLS, and the figures it serves.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use crate::core::settings::{Check, DAY, MINUTE, MS, SECOND};

/// The figures c360 keeps about itself (what `/metrics`, `c360 stats` and `c360 top` show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Count and time every gRPC call per method (the `grpc_server_*` series and the
    /// percentiles of `c360 stats`). The other figures are kept anyway.
    pub enabled: bool,
    /// Where to serve `/metrics` (Prometheus text format); not served when unset. Beyond
    /// loopback under the gRPC port's rule; with authentication on, a scrape needs
    /// credentials as a call does (any role).
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

/// The gRPC server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// After a shutdown signal, health says `NOT_SERVING` and new calls are still served
    /// this long, so that load balancers take the replica out before its listener closes.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
    /// How long in-flight calls may take to finish once the listener has closed.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// HTTP/2 streams (calls) one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// An HTTP/2 ping is sent on a connection idle this long...
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// ...and the connection is closed if it is not answered within this.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// A connection is asked to go away after this long, so that clients spread over new
    /// replicas...
    #[serde(with = "humantime_serde")]
    pub max_connection_age: Duration,
    /// ...and closed this long after, whatever is still open on it.
    #[serde(with = "humantime_serde")]
    pub max_connection_age_grace: Duration,
    /// A connection must send its first bytes, and finish its TLS handshake, within this, or
    /// it is closed (on the gRPC port and `/metrics`).
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Connections one peer address may hold open at once; more are closed as they are
    /// accepted. 0: no limit (behind a proxy, every caller is one peer).
    pub max_connections_per_peer: usize,
    /// `WatchCustomerProfile` streams this replica keeps open at most; beyond it a watch is
    /// refused `RESOURCE_EXHAUSTED`.
    pub max_watch_streams: usize,
    /// The share of `max_watch_streams` one caller may hold (with authentication on), so
    /// that no caller can take every slot from the others.
    pub watch_share: f64,
    /// The deadline of a call that sends no `grpc-timeout`, and the longest one a call may
    /// ask for (watches excepted).
    #[serde(with = "humantime_serde")]
    pub max_deadline: Duration,
    /// Listen beyond loopback with authentication off: only behind a proxy that
    /// authenticates every caller. Without it, a `listen` address beyond loopback is refused.
    pub unauthenticated_beyond_loopback: bool,
    /// Listen beyond loopback in plaintext with authentication on: only behind a proxy that
    /// terminates TLS. Without it, credentials would cross the network in clear, and such a
    /// `listen` (or `metrics.listen`) is refused unless `[server.tls]` is set.
    pub plaintext_beyond_loopback: bool,
    /// Browser origins allowed to call over gRPC-Web (`https://desk.example.com`); a
    /// browser request from any other origin is refused `403`. Empty: none.
    pub cors_origins: Vec<String>,
    /// Serve the agent's console (a web page over gRPC-Web) at `/` on this port. Its own
    /// origin on loopback is let in as a browser's; served under another name, that name's
    /// origin goes in `cors_origins`.
    pub console: bool,
    /// TLS for callers; unset: plaintext.
    pub tls: Option<TlsSettings>,
}

/// TLS for callers, from PEM files that are read again when they change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// With it, callers must present a certificate this CA issued (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How often the files are checked for a change (a renewed certificate).
    #[serde(default = "default_tls_reload", with = "humantime_serde")]
    pub reload_interval: Duration,
}

fn default_tls_reload() -> Duration {
    Duration::from_secs(10)
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            drain: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(30 * 60),
            max_connection_age_grace: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections_per_peer: 256,
            max_watch_streams: 10_000,
            watch_share: 0.1,
            max_deadline: Duration::from_secs(5),
            unauthenticated_beyond_loopback: false,
            plaintext_beyond_loopback: false,
            cors_origins: Vec::new(),
            console: false,
            tls: None,
        }
    }
}

impl ServerSettings {
    /// The watch streams one caller may hold: its share of the replica's, at least one.
    pub fn watches_per_caller(&self) -> usize {
        let share = (self.max_watch_streams as f64 * self.watch_share).ceil();
        (share as usize).clamp(1, self.max_watch_streams.max(1))
    }

    /// Refuses every value out of its range.
    pub fn check(&self, c: &mut Check) {
        c.duration(
            "shutdown_grace",
            self.shutdown_grace,
            Duration::ZERO,
            10 * MINUTE,
        );
        c.duration("drain", self.drain, Duration::ZERO, 10 * MINUTE);
        let streams = u64::from(self.max_concurrent_streams);
        c.count("max_concurrent_streams", streams, 1, 100_000);
        c.duration("keepalive_interval", self.keepalive_interval, SECOND, DAY);
        c.duration(
            "keepalive_timeout",
            self.keepalive_timeout,
            SECOND,
            10 * MINUTE,
        );
        c.duration(
            "max_connection_age",
            self.max_connection_age,
            MINUTE,
            7 * DAY,
        );
        let grace = self.max_connection_age_grace;
        c.duration("max_connection_age_grace", grace, Duration::ZERO, DAY);
        let handshake = self.handshake_timeout;
        c.duration("handshake_timeout", handshake, 100 * MS, 10 * MINUTE);
        let per_peer = self.max_connections_per_peer as u64;
        c.count("max_connections_per_peer", per_peer, 0, 1_000_000);
        c.count(
            "max_watch_streams",
            self.max_watch_streams as u64,
            0,
            1_000_000,
        );
        c.fraction("watch_share", self.watch_share, 0.0001, 1.0);
        c.duration("max_deadline", self.max_deadline, MS, 60 * MINUTE);
        for (i, origin) in self.cors_origins.iter().enumerate() {
            if !is_origin(origin) {
                c.refuse(
                    &format!("cors_origins[{i}]"),
                    format!("{origin:?}"),
                    "must be an origin: http:// or https://, a host, an optional port, no path \
                     (a browser's Origin header, e.g. \"https://desk.example.com\")",
                );
            }
        }
    }
}

/// `scheme://host[:port]`, as browsers send it in `Origin`.
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_must_be_origins() {
        for good in [
            "https://desk.example.com",
            "http://localhost:8080",
            "http://[::1]:3000",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "*",
            "desk.example.com",
            "https://desk.example.com/app",
            "https://",
            "https://desk.example.com:",
            "https://desk.example.com:99999",
            "ftp://desk.example.com",
        ] {
            assert!(!is_origin(bad), "{bad}");
            let settings = ServerSettings {
                cors_origins: vec!["https://ok.example.com".into(), bad.into()],
                ..ServerSettings::default()
            };
            let mut check = Check::new();
            check.section("server", |c| settings.check(c));
            let error = check.finish().unwrap_err().to_string();
            assert!(error.contains("`server.cors_origins[1]`"), "{bad}: {error}");
        }
    }
}
