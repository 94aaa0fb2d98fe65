//! Bearer tokens already verified, remembered until they expire: a caller's every call then
//! costs a lookup and a comparison, not a signature check and a JSON parse. moka holds them,
//! each entry expiring at its token's `exp` and the whole bounded by bytes and by entries.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use moka::{Expiry, sync::Cache};

use super::Admitted;

/// Bytes the memory holds at most...
const MAX_BYTES: u64 = 16 << 20;
/// ...and entries at most: each weighs at least `MAX_BYTES / MAX_ENTRIES`.
const MAX_ENTRIES: u64 = 10_000;
/// What an entry costs beyond its token and its caller's name and roles: the key's and the
/// value's own allocations and moka's bookkeeping, roughly.
const OVERHEAD: usize = 256;

/// A verified token: the token itself (the memory is looked up by its signature, and a hit is
/// compared whole), who it names and what they may read, and when it expires (Unix seconds).
#[derive(Debug, Clone)]
struct Verified {
    token: Arc<str>,
    admitted: Admitted,
    expires: u64,
}

/// What the memory is keyed by: a token's signature ([`signature`]).
type Signature = Box<[u8]>;

/// Expires each token at its `exp`.
struct AtExpiry;

impl Expiry<Signature, Verified> for AtExpiry {
    fn expire_after_create(&self, _: &Signature, token: &Verified, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(
            token.expires.saturating_sub(super::unix_now()),
        ))
    }
}

/// The part of a token its memory is looked up by: the signature, the end of a JWT (short,
/// so cheap to hash).
fn signature(token: &[u8]) -> &[u8] {
    token
        .iter()
        .rposition(|&b| b == b'.')
        .map_or(token, |dot| &token[dot + 1..])
}

/// Tokens verified and not expired yet.
pub(super) struct VerifiedTokens(Cache<Signature, Verified, foldhash::fast::RandomState>);

impl VerifiedTokens {
    pub(super) fn new() -> Self {
        let least = u32::try_from(MAX_BYTES.div_ceil(MAX_ENTRIES)).unwrap_or(u32::MAX);
        let cache = Cache::builder()
            .max_capacity(MAX_BYTES)
            .weigher(move |key: &Signature, token: &Verified| {
                let caller = &token.admitted.caller;
                let roles: usize = caller.roles.iter().map(String::len).sum();
                let bytes = key.len() + token.token.len() + caller.name.len() + roles + OVERHEAD;
                u32::try_from(bytes).unwrap_or(u32::MAX).max(least)
            })
            .expire_after(AtExpiry)
            // Only tokens that passed their signature check get in, so their keys are not an
            // attacker's to choose: a fast hash (randomly seeded all the same) will do.
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self(cache)
    }

    /// Who `token` admits, if it was verified and has not expired by `now` (Unix seconds).
    pub(super) fn get(&self, token: &[u8], now: u64) -> Option<Admitted> {
        let known = self.0.get(signature(token))?;
        (known.token.as_bytes() == token && known.expires > now).then_some(known.admitted)
    }

    /// Remembers that `token`, which expires at `expires` (Unix seconds), admits `admitted`.
    pub(super) fn remember(&self, token: &str, admitted: Admitted, expires: u64) {
        let verified = Verified {
            token: token.into(),
            admitted,
            expires,
        };
        self.0.insert(signature(token.as_bytes()).into(), verified);
    }

    /// Tokens remembered now (after pending evictions).
    #[cfg(test)]
    pub(super) fn len(&self) -> u64 {
        self.0.run_pending_tasks();
        self.0.entry_count()
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
        }
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_only_whole() {
        let tokens = VerifiedTokens::new();
        let now = super::super::unix_now();
        tokens.remember("Bearer a.b.sig1", admitted("agent-1"), now + 60);
        tokens.remember("Bearer a.b.sig2", admitted("agent-2"), now);
        let hit = tokens.get(b"Bearer a.b.sig1", now).expect("remembered");
        assert_eq!(hit.caller.name, "agent-1");
        assert!(tokens.get(b"Bearer a.b.sig2", now).is_none(), "expired");
        assert!(
            tokens.get(b"Bearer x.y.sig1", now).is_none(),
            "same signature, other token"
        );
        assert!(
            tokens.get(b"Bearer a.b.sig1", now + 60).is_none(),
            "at its exp"
        );
    }

    #[test]
    fn the_memory_is_bounded_by_entries() {
        let tokens = VerifiedTokens::new();
        let later = super::super::unix_now() + 3600;
        for n in 0..(MAX_ENTRIES * 2) {
            tokens.remember(&format!("Bearer a.b.{n}"), admitted("agent"), later);
        }
        assert!(tokens.len() <= MAX_ENTRIES, "{} entries", tokens.len());
    }
}
