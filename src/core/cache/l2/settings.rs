//! L2's settings (`[redis]`): where Redis is (one server, or the nodes of a Redis Cluster),
//! the key prefix, how long entries live, how long a call may take, and the keys that seal
//! entries.

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::seal::{KeyError, SealKeys, parse_key};
use crate::core::settings::{Check, DAY, MS, SECOND, Secret};

const REDIS_SCHEMES: &[&str] = &["redis://", "rediss://", "redis+unix://", "unix://"];
/// A cluster's nodes are reached over TCP, as the cluster names them to each other.
const CLUSTER_SCHEMES: &[&str] = &["redis://", "rediss://"];

/// L2 and the invalidation bus, in Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://127.0.0.1:6379`, or `rediss://…` for TLS; unset: no L2, and admin
    /// invalidations stay on this replica.
    pub url: Option<String>,
    /// Instead of `url`: some nodes of a Redis Cluster (`redis://host:port`, or all
    /// `rediss://` for TLS), from which the client learns the rest. The invalidation bus
    /// listens on one of these at a time, so list more than one.
    pub cluster_urls: Vec<String>,
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
    /// `redis.ttl`). Required with `redis.url` or `redis.cluster_urls`.
    pub encryption_keys: Vec<Secret>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            cluster_urls: Vec::new(),
            ca_file: None,
            prefix: "c360".into(),
            ttl: Duration::from_secs(300),
            timeout: Duration::from_millis(50),
            encryption_keys: Vec::new(),
        }
    }
}

impl RedisSettings {
    /// Whether L2 is on: a Redis or a cluster is configured.
    pub fn configured(&self) -> bool {
        self.url.is_some() || !self.cluster_urls.is_empty()
    }

    /// Whether Redis is reached over TLS.
    fn tls(&self) -> bool {
        let tls = |url: &String| url.starts_with("rediss://");
        self.url.iter().chain(&self.cluster_urls).any(tls)
    }

    /// Refuses every value out of its range; keys are checked without being repeated.
    pub fn check(&self, c: &mut Check) {
        if let Some(url) = &self.url {
            c.url("url", url, REDIS_SCHEMES);
        }
        self.check_cluster(c);
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
        if self.ca_file.is_some() && !self.tls() {
            let rule = "is for TLS: set redis.url (or redis.cluster_urls) to rediss:// URLs";
            c.refuse("ca_file", "(a file)", rule);
        }
        if self.configured() && self.encryption_keys.is_empty() {
            c.refuse(
                "encryption_keys",
                "[]",
                "must hold a key when Redis is configured, so that no profile sits in Redis in \
                 clear: add one, e.g. C360_REDIS__ENCRYPTION_KEYS='[\"k1:'\"$(head -c 32 \
                 /dev/urandom | base64)\"'\"]'",
            );
        }
    }

    /// A cluster's nodes: TCP URLs, all with TLS or none, instead of `url`, under a prefix
    /// that cannot open a hash tag of its own.
    fn check_cluster(&self, c: &mut Check) {
        for (i, url) in self.cluster_urls.iter().enumerate() {
            c.url(&format!("cluster_urls[{i}]"), url, CLUSTER_SCHEMES);
        }
        let tls = |url: &&String| url.starts_with("rediss://");
        let with_tls = self.cluster_urls.iter().filter(tls).count();
        if with_tls != 0 && with_tls != self.cluster_urls.len() {
            let rule = "must all use rediss:// or all redis://";
            c.refuse("cluster_urls", "(mixed)", rule);
        }
        if self.url.is_some() && !self.cluster_urls.is_empty() {
            let rule = "set either redis.url (one Redis) or redis.cluster_urls, not both";
            c.refuse("cluster_urls", "(both set)", rule);
        }
        if !self.cluster_urls.is_empty() && self.prefix.contains(['{', '}']) {
            let shown = format!("{:?}", self.prefix);
            let rule = "must not hold braces with redis.cluster_urls: c360 tags its keys itself";
            c.refuse("prefix", shown, rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys `settings` are refused by, with a sealing key given.
    fn refused(change: impl FnOnce(&mut RedisSettings)) -> Vec<String> {
        let mut settings = RedisSettings {
            encryption_keys: vec![Secret::new(
                "k1:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            )],
            ..RedisSettings::default()
        };
        change(&mut settings);
        let mut check = Check::new();
        settings.check(&mut check);
        match check.finish() {
            Ok(()) => Vec::new(),
            Err(refusals) => refusals.0.into_iter().map(|r| r.key).collect(),
        }
    }

    #[test]
    fn a_cluster_is_named_by_tcp_urls_alone_all_with_tls_or_none() {
        let nodes = |urls: &[&str]| urls.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        let good = nodes(&["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
        assert!(refused(|s| s.cluster_urls = good.clone()).is_empty());
        let tls = nodes(&["rediss://a:6379", "rediss://b:6379"]);
        assert!(refused(|s| s.cluster_urls = tls).is_empty());
        assert_eq!(
            refused(|s| s.cluster_urls = nodes(&["redis://a:1", "unix:///tmp/r.sock"])),
            ["cluster_urls[1]"]
        );
        assert_eq!(
            refused(|s| s.cluster_urls = nodes(&["redis://a:1", "rediss://b:1"])),
            ["cluster_urls"]
        );
        assert_eq!(
            refused(|s| {
                s.cluster_urls = good.clone();
                s.url = Some("redis://c:1".into());
            }),
            ["cluster_urls"]
        );
        assert_eq!(
            refused(|s| {
                s.cluster_urls = good.clone();
                s.prefix = "c360{x}".into();
            }),
            ["prefix"]
        );
        // Without a sealing key, a cluster is refused as one Redis is.
        assert_eq!(
            refused(|s| {
                s.cluster_urls = good.clone();
                s.encryption_keys.clear();
            }),
            ["encryption_keys"]
        );
        assert_eq!(refused(|s| s.ca_file = Some("/ca.pem".into())), ["ca_file"]);
    }
}
