//! Ports for the servers a test starts itself (Redis, a Redis Cluster, Postgres).
//!
//! A port the kernel hands out for `127.0.0.1:0` lies in its ephemeral range, which is also
//! where every outgoing connection of every other test takes its source port: between the
//! moment a port is found free and the moment `redis-server` binds it, a connection to the
//! shared Postgres may take it, and the server does not start (seen once in CI). These ports
//! come from below that range (`ip_local_port_range` starts at 32768), where only listeners
//! that ask for a port by number go, each handed out once per test binary.

use std::sync::atomic::{AtomicU32, Ordering};

/// Below Linux's ephemeral range, above the well-known and the registered ports most
/// services take (Postgres 5432, Redis 6379).
const FIRST: u16 = 20_000;
const END: u16 = 32_768;

/// A port nothing listens on now, never handed out before by this test binary.
pub fn free_port() -> u16 {
    // Test binaries may run side by side: each starts at a place of its own.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(END - FIRST);
    let start = std::process::id() % span;
    for _ in 0..span {
        let offset = (NEXT.fetch_add(1, Ordering::Relaxed) + start) % span;
        let port = FIRST + u16::try_from(offset).expect("below the span");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {END}");
}
