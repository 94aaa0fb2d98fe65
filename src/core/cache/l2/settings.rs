//! L2's settings (`[redis]`): where Redis is, the key prefix, how long entries live, how long
//! a call may take, and the keys that seal entries.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::seal::{KeyError, SealKeys, parse_key};
use crate::core::settings::{Check, DAY, MS, SECOND, Secret};

const REDIS_SCHEMES: &[&str] = &["redis://", "rediss://", "redis+unix://", "unix://"];

/// L2 and the invalidation bus, in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`, or `rediss://…` for TLS; unset: no L2, and admin
    /// invalidations stay on this replica.
    pub url: Option<String>,
    /// With a `rediss://` URL: the CA (PEM) that issued Redis's certificate, when it is not
    /// one of the system's.
    pub ca_file: Option<PathBuf>,
    /// Key and channel prefix, so that deployments sharing a Redis never meet.
    pub prefix: String,
    /// Lifetime of an L2 entry.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Longest a Redis call may take before it counts as a miss.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Keys that seal L2 entries (ChaCha20-Poly1305), each `id:base64-of-32-bytes`; the
    /// first seals, all open (rotation: put the new key first, drop the old one after
    /// `redis.ttl`). Required with `redis.url`.
    pub encryption_keys: Vec<Secret>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            ca_file: None,
            prefix: "c360".into(),
            ttl: Duration::from_secs(300),
            timeout: Duration::from_millis(50),
            encryption_keys: Vec::new(),
        }
    }
}

impl RedisSettings {
    /// Refuses every value out of its range; keys are checked without being repeated.
    pub fn check(&self, c: &mut Check) {
        if let Some(url) = &self.url {
            c.url("url", url, REDIS_SCHEMES);
        }
        if self.prefix.is_empty() || self.prefix.contains(char::is_whitespace) {
            let shown = format!("{:?}", self.prefix);
            c.refuse("prefix", shown, "must be non-empty, without spaces");
        }
        c.duration("ttl", self.ttl, SECOND, 7 * DAY);
        c.duration("timeout", self.timeout, MS, 10 * SECOND);
        for (i, key) in self.encryption_keys.iter().enumerate() {
            if let Err(error) = parse_key(key.expose()) {
                c.refuse(
                    &format!("encryption_keys[{i}]"),
                    "(hidden)",
                    error.to_string(),
                );
            }
        }
        let keys = self.encryption_keys.iter().map(|k| k.expose());
        if let Err(error @ KeyError::DuplicateId) = SealKeys::from_config(keys) {
            c.refuse("encryption_keys", "(hidden)", error.to_string());
        }
        let tls = self
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("rediss://"));
        if self.ca_file.is_some() && !tls {
            let rule = "is for TLS: set redis.url to a rediss:// URL";
            c.refuse("ca_file", "(a file)", rule);
        }
        if self.url.is_some() && self.encryption_keys.is_empty() {
            c.refuse(
                "encryption_keys",
                "[]",
                "must hold a key when redis.url is set, so that no profile sits in Redis in \
                 clear: add one, e.g. C360_REDIS__ENCRYPTION_KEYS='[\"k1:'\"$(head -c 32 \
                 /dev/urandom | base64)\"'\"]'",
            );
        }
    }
}
