//! Bearer tokens already verified, remembered until they expire: a caller's every call then
//! costs a lookup and a comparison, not a signature check and a JSON parse. A map of its own,
//! in shards under read-write locks, looked up by the token's last bytes (its signature's): a
//! hit is a read lock, a hash and two comparisons, where a general cache's bookkeeping (recency, frequency,
//! timers) cost each call more than the rest of the check together (BENCHMARKS.md). Bounded
//! by bytes and by entries; when a shard is full, its expired tokens go first, then any.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, SystemTime},
};

use super::Admitted;

/// Bytes the memory holds at most...
const MAX_BYTES: usize = 16 << 20;
/// ...and entries at most.
const MAX_ENTRIES: usize = 10_000;
/// Shards, each holding its share of both bounds: a verification (a write) holds up the
/// lookups of one shard only.
const SHARDS: usize = 16;
/// What an entry costs beyond its token and its caller's name and roles: the key's and the
/// value's own allocations and the map's slot, roughly.
const OVERHEAD: usize = 256;

/// A verified token: the token itself (the memory is looked up by its tail, and a hit is
/// compared whole), who it names and what they may read, and when it expires.
#[derive(Debug, Clone)]
struct Verified {
    token: Arc<str>,
    admitted: Admitted,
    expires: SystemTime,
}

impl Verified {
    /// What it holds, counted against [`MAX_BYTES`].
    fn bytes(&self) -> usize {
        let caller = &self.admitted.caller;
        let roles: usize = caller.roles.iter().map(String::len).sum();
        // The key (the tail) is part of the token.
        self.token.len() + tail(self.token.as_bytes()).len() + caller.name.len() + roles + OVERHEAD
    }
}

/// What the memory is keyed by: a token's tail ([`tail`]).
type Tail = Box<[u8]>;

/// The bytes of a token's tail...
const TAIL: usize = 32;

/// ...the part its memory is looked up by: the end of a JWT's signature (every algorithm's
/// is longer), as good as random and short, so cheap to hash and found without a search.
fn tail(token: &[u8]) -> &[u8] {
    &token[token.len().saturating_sub(TAIL)..]
}

/// `exp` (Unix seconds) as a time.
fn at(exp: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(exp))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// One shard's tokens and the bytes they hold.
#[derive(Default)]
struct Shard {
    // Only tokens that passed their signature check get in, so the keys are not an
    // attacker's to choose: a fast hash (randomly seeded all the same) will do.
    tokens: HashMap<Tail, Verified, foldhash::fast::RandomState>,
    bytes: usize,
}

impl Shard {
    /// Makes room for one more token of `bytes`: the expired ones go, then as many others as
    /// it takes.
    fn make_room(&mut self, bytes: usize, now: SystemTime) {
        let full = |shard: &Self| {
            shard.tokens.len() >= MAX_ENTRIES / SHARDS || shard.bytes + bytes > MAX_BYTES / SHARDS
        };
        if !full(self) {
            return;
        }
        self.tokens.retain(|_, token| token.expires > now);
        self.bytes = self.tokens.values().map(Verified::bytes).sum();
        while full(self) {
            let Some(any) = self.tokens.keys().next().cloned() else {
                return;
            };
            if let Some(gone) = self.tokens.remove(&any) {
                self.bytes -= gone.bytes();
            }
        }
    }
}

/// Tokens verified and not expired yet.
pub(super) struct VerifiedTokens {
    shards: Box<[RwLock<Shard>]>,
}

impl VerifiedTokens {
    pub(super) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    /// The shard of `tail`: by its last byte (a signature's bytes are as good as random).
    fn shard(&self, tail: &[u8]) -> &RwLock<Shard> {
        let last = tail.last().copied().unwrap_or(0);
        &self.shards[usize::from(last) % SHARDS]
    }

    /// Who `token` admits, if it was verified and has not expired by `now`.
    pub(super) fn get(&self, token: &[u8], now: SystemTime) -> Option<Admitted> {
        let tail = tail(token);
        // A panic elsewhere cannot leave a shard half-changed: every change is one insert
        // or remove of the map.
        let shard = self
            .shard(tail)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let known = shard.tokens.get(tail)?;
        (known.token.as_bytes() == token && known.expires > now).then(|| known.admitted.clone())
    }

    /// Remembers that `token`, which expires at `expires` (Unix seconds), admits `admitted`.
    pub(super) fn remember(&self, token: &str, admitted: Admitted, expires: u64) {
        let verified = Verified {
            token: token.into(),
            admitted,
            expires: at(expires),
        };
        let bytes = verified.bytes();
        let tail = tail(token.as_bytes());
        let mut shard = self
            .shard(tail)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another token of the same tail (none that is not this one, short of a forged
        // signature) is let go: it is verified again when it comes back.
        if let Some(before) = shard.tokens.remove(tail) {
            shard.bytes -= before.bytes();
        }
        shard.make_room(bytes, SystemTime::now());
        shard.bytes += bytes;
        shard.tokens.insert(tail.into(), verified);
    }

    /// Tokens remembered now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let shard = |s: &RwLock<Shard>| s.read().map_or(0, |shard| shard.tokens.len());
        self.shards.iter().map(shard).sum()
    }

    /// Bytes counted now.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        let shard = |s: &RwLock<Shard>| s.read().map_or(0, |shard| shard.bytes);
        self.shards.iter().map(shard).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::auth::{Caller, Grant};

    fn admitted(name: &str) -> Admitted {
        Admitted {
            caller: Arc::new(Caller {
                name: name.into(),
                roles: vec!["agent".into()],
            }),
            grant: Grant::ALL,
            expires: None,
            rpcs: 0,
        }
    }

    fn unix_now() -> u64 {
        super::super::unix_now()
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_only_whole() {
        let tokens = VerifiedTokens::new();
        let now = unix_now();
        // Signatures longer than the tail the memory is looked up by.
        let signature = "s".repeat(2 * TAIL);
        let one = format!("a.b.{signature}1");
        tokens.remember(&one, admitted("agent-1"), now + 60);
        tokens.remember(&format!("a.b.{signature}2"), admitted("agent-2"), now);
        let hit = tokens.get(one.as_bytes(), at(now)).expect("remembered");
        assert_eq!(hit.caller.name, "agent-1");
        let two = format!("a.b.{signature}2");
        assert!(tokens.get(two.as_bytes(), at(now)).is_none(), "expired");
        let other = format!("x.y.{signature}1");
        assert_eq!(tail(other.as_bytes()), tail(one.as_bytes()));
        assert!(
            tokens.get(other.as_bytes(), at(now)).is_none(),
            "same tail, other token"
        );
        assert!(
            tokens.get(one.as_bytes(), at(now + 60)).is_none(),
            "at its exp"
        );
    }

    #[test]
    fn the_memory_is_bounded_by_entries() {
        let tokens = VerifiedTokens::new();
        let later = unix_now() + 3600;
        for n in 0..(MAX_ENTRIES * 2) {
            tokens.remember(&format!("Bearer a.b.{n}"), admitted("agent"), later);
        }
        assert!(tokens.len() <= MAX_ENTRIES, "{} entries", tokens.len());
        assert!(
            tokens.len() >= MAX_ENTRIES / 2,
            "it still remembers: {} entries",
            tokens.len()
        );
        let last = format!("Bearer a.b.{}", MAX_ENTRIES * 2 - 1);
        assert!(
            tokens.get(last.as_bytes(), SystemTime::now()).is_some(),
            "the newest is kept"
        );
    }

    #[test]
    fn the_memory_is_bounded_by_bytes_and_counts_what_it_lets_go() {
        let tokens = VerifiedTokens::new();
        let later = unix_now() + 3600;
        let long = "x".repeat(64 << 10);
        for n in 0..2_000 {
            tokens.remember(&format!("Bearer {long}.b.{n}"), admitted("agent"), later);
        }
        assert!(tokens.bytes() <= MAX_BYTES, "{} bytes", tokens.bytes());
        assert!(tokens.len() < 2_000, "{} entries", tokens.len());
        // Remembering a token again replaces it, and its bytes are counted once.
        let before = tokens.bytes();
        let again = format!("Bearer {long}.b.1999");
        tokens.remember(&again, admitted("agent"), later);
        assert_eq!(tokens.bytes(), before);
    }

    #[test]
    fn expired_tokens_make_room_first() {
        let tokens = VerifiedTokens::new();
        let now = unix_now();
        // One shard's worth of tokens (their signatures end alike), all expired.
        for n in 0..(MAX_ENTRIES / SHARDS) {
            tokens.remember(&format!("Bearer a.b.{n}z"), admitted("agent"), now - 1);
        }
        tokens.remember("Bearer a.b.livez", admitted("agent"), now + 60);
        tokens.remember("Bearer a.b.otherz", admitted("agent"), now + 60);
        assert_eq!(tokens.len(), 2, "the expired ones went");
        assert!(tokens.get(b"Bearer a.b.livez", at(now)).is_some());
    }
}
