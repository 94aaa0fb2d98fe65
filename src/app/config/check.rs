//! Every value checked before anything starts, each section by the subsystem that owns it,
//! then what spans sections: how long a load may queue against how long a pool waits, and
//! where the server and `/metrics` may listen without authentication. Each refusal names the
//! key, the value and the range, so that the operator knows what to change.

use humantime_serde::re::humantime;

use super::{ConfigError, Settings};
use crate::core::settings::{Check, OutOfRange, OutOfRanges};

impl Settings {
    /// Refuses every out-of-range value, naming each key; then what spans sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut c = Check::new();
        c.section("server", |c| self.server.check(c));
        let mut acquire = false;
        c.section("database", |c| acquire = self.database.check(c));
        c.section("sources", |c| self.sources.check(c));
        c.section("cache", |c| self.cache.check(c));
        c.section("catalog", |c| self.catalog.check(c));
        c.section("redis", |c| self.redis.check(c));
        c.section("feed", |c| self.feed.check(c));
        c.section("resilience", |c| {
            if self.resilience.check(c) && acquire {
                self.check_queueing(c);
            }
        });
        c.section("auth", |c| self.auth.check(c));
        c.section("trace", |c| self.trace.check(c));
        c.section("log", |c| self.log.check(c));
        c.section("attention", |c| self.attention.check(c));
        c.section("offers", |c| {
            self.offers.check(c);
            self.offers
                .check_roles(c, |role| self.auth.roles.contains_key(role));
        });
        c.section("search", |c| self.search.check(c));
        c.finish()?;
        self.check_exposure()
    }

    /// A load may queue for up to `resilience.latency_target` before admission shrinks the
    /// limit; one that waits longer than `database.acquire_timeout` for a connection fails
    /// instead, as its backend's failure (its circuit then opens), and leaves admission no
    /// sample of the queue. So the pools must wait longer than the target. (Checked when both
    /// are in their ranges: a value refused already is not named again.)
    fn check_queueing(&self, c: &mut Check) {
        let (target, acquire) = (
            self.resilience.latency_target,
            self.database.acquire_timeout,
        );
        if target >= acquire {
            c.refuse(
                "latency_target",
                humantime::format_duration(target),
                format!(
                    "must be less than `database.acquire_timeout` ({}): loads let in would time \
                     out waiting for a connection, counted as their backends' failures, before \
                     admission saw them queue",
                    humantime::format_duration(acquire)
                ),
            );
        }
    }

    /// The server and `/metrics` beyond loopback only with authentication on or a proxy
    /// declared; `/metrics` on a port of its own.
    fn check_exposure(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        let protected = self.auth.enabled || server.unauthenticated_beyond_loopback;
        if !server.listen.ip().is_loopback() && !protected {
            return Err(ConfigError::Unprotected {
                key: "server.listen",
                addr: server.listen,
            });
        }
        // Authenticated, beyond loopback: credentials cross the network, so in TLS, or
        // through a proxy that terminates it and says so.
        let encrypted = server.tls.is_some() || server.plaintext_beyond_loopback;
        let exposed = [("server.listen", Some(server.listen))]
            .into_iter()
            .chain([("metrics.listen", self.metrics.listen)])
            .filter_map(|(key, addr)| Some((key, addr?)))
            .find(|(_, addr)| !addr.ip().is_loopback());
        if let Some((key, addr)) = exposed
            && self.auth.enabled
            && !encrypted
        {
            return Err(ConfigError::Plaintext { key, addr });
        }
        if let Some(metrics) = self.metrics.listen {
            if !metrics.ip().is_loopback() && !protected {
                return Err(ConfigError::Unprotected {
                    key: "metrics.listen",
                    addr: metrics,
                });
            }
            if metrics == server.listen && metrics.port() != 0 {
                return Err(OutOfRanges::from(OutOfRange {
                    key: "metrics.listen".into(),
                    value: metrics.to_string(),
                    rule: "must differ from server.listen".into(),
                })
                .into());
            }
        }
        Ok(())
    }
}

impl Settings {
    /// A line for each escape hatch these settings open, for the log at every start: what a
    /// reviewer of a running deployment should see without reading its configuration.
    pub fn escape_hatches(&self) -> Vec<&'static str> {
        let server = &self.server;
        let mut open = Vec::new();
        if server.unauthenticated_beyond_loopback && !self.auth.enabled {
            open.push(
                "server.unauthenticated_beyond_loopback: authentication is off and c360 may \
                 listen beyond loopback; only a proxy in front stands between callers and \
                 every profile",
            );
        }
        if server.plaintext_beyond_loopback && server.tls.is_none() {
            open.push(
                "server.plaintext_beyond_loopback: credentials and profiles reach c360 in \
                 clear; only a proxy in front terminating TLS protects them",
            );
        }
        open
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::settings::{DAY, MINUTE, SECOND};

    #[test]
    fn the_defaults_are_valid() {
        Settings::default().validate().expect("valid defaults");
    }

    #[test]
    fn each_out_of_range_value_is_refused_by_its_key() {
        type Break = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Break)> = vec![
            ("cache.ttl", Box::new(|s| s.cache.ttl = Duration::ZERO)),
            (
                "cache.ttl",
                Box::new(|s| s.cache.ttl = Duration::from_secs(u64::MAX)),
            ),
            (
                "cache.partial_ttl",
                Box::new(|s| s.cache.partial_ttl = 2 * DAY),
            ),
            (
                "cache.refresh_after",
                Box::new(|s| s.cache.refresh_after = Duration::ZERO),
            ),
            ("cache.max_bytes", Box::new(|s| s.cache.max_bytes = 10)),
            (
                "feed.poll_interval",
                Box::new(|s| s.feed.poll_interval = Duration::ZERO),
            ),
            ("feed.retention", Box::new(|s| s.feed.retention = SECOND)),
            (
                "catalog.refresh_interval",
                Box::new(|s| s.catalog.refresh_interval = Duration::ZERO),
            ),
            (
                "redis.timeout",
                Box::new(|s| s.redis.timeout = Duration::ZERO),
            ),
            ("redis.prefix", Box::new(|s| s.redis.prefix = String::new())),
            (
                "attention.targets[0].channel",
                Box::new(|s| s.attention.targets[0].channel = "fax".into()),
            ),
            (
                "attention.calendars.support",
                Box::new(|s| {
                    let support = s.attention.calendars.get_mut("support").unwrap();
                    support.time_zone = "Mars/Base".into();
                }),
            ),
            (
                "redis.url",
                Box::new(|s| s.redis.url = Some("http://host".into())),
            ),
            ("database.url", Box::new(|s| s.database.url = String::new())),
            (
                "database.max_connections",
                Box::new(|s| s.database.max_connections = 0),
            ),
            (
                "sources.crm.timeout",
                Box::new(|s| s.sources.crm.timeout = Duration::ZERO),
            ),
            (
                "sources.billing.max_connections",
                Box::new(|s| s.sources.billing.max_connections = Some(0)),
            ),
            (
                "sources.orders.faults.error_rate",
                Box::new(|s| s.sources.orders.faults.error_rate = 1.5),
            ),
            (
                "server.shutdown_grace",
                Box::new(|s| s.server.shutdown_grace = DAY),
            ),
            (
                "server.max_deadline",
                Box::new(|s| s.server.max_deadline = Duration::ZERO),
            ),
            (
                "resilience.max_concurrency",
                Box::new(|s| s.resilience.max_concurrency = 2),
            ),
            (
                "resilience.min_concurrency",
                Box::new(|s| s.resilience.min_concurrency = 0),
            ),
            (
                "resilience.initial_concurrency",
                Box::new(|s| s.resilience.initial_concurrency = 1_000_000),
            ),
            (
                "resilience.hedge_budget",
                Box::new(|s| s.resilience.hedge_budget = 0.9),
            ),
            (
                "resilience.bulk_share",
                Box::new(|s| s.resilience.bulk_share = f64::NAN),
            ),
            (
                "resilience.latency_tolerance",
                Box::new(|s| s.resilience.latency_tolerance = 0.5),
            ),
            (
                "resilience.latency_target",
                Box::new(|s| s.resilience.latency_target = Duration::ZERO),
            ),
            (
                "resilience.deadline_share",
                Box::new(|s| s.resilience.deadline_share = 0.0),
            ),
            (
                "resilience.breaker_cooldown",
                Box::new(|s| s.resilience.breaker_cooldown = Duration::ZERO),
            ),
        ];
        for (key, break_it) in cases {
            let mut settings = Settings::default();
            break_it(&mut settings);
            let error = settings.validate().expect_err(key).to_string();
            assert!(error.contains(&format!("`{key}`")), "{key}: {error}");
        }
    }

    #[test]
    fn admission_may_not_let_loads_queue_longer_than_a_pool_waits() {
        let mut settings = Settings::default();
        settings.resilience.latency_target = 3 * SECOND;
        let error = settings
            .validate()
            .expect_err("3 s against 2 s")
            .to_string();
        assert!(error.contains("`resilience.latency_target`"), "{error}");
        assert!(error.contains("`database.acquire_timeout` (2s)"), "{error}");
        settings.database.acquire_timeout = settings.resilience.latency_target;
        assert!(settings.validate().is_err(), "as long is not longer");
        settings.database.acquire_timeout = 5 * SECOND;
        settings
            .validate()
            .expect("a pool waiting longer than the target");
        // A value out of its range is refused once, by its own key.
        settings.database.acquire_timeout = Duration::ZERO;
        let error = settings.validate().expect_err("no wait").to_string();
        assert!(error.contains("`database.acquire_timeout`"), "{error}");
        assert!(!error.contains("must be less than"), "{error}");
        settings.database.acquire_timeout = 5 * SECOND;
        settings.resilience.latency_target = 2 * MINUTE;
        let error = settings
            .validate()
            .expect_err("beyond a minute")
            .to_string();
        assert!(!error.contains("must be less than"), "{error}");
    }

    #[test]
    fn metrics_beyond_loopback_follow_the_grpc_ports_rule() {
        let mut settings = Settings::default();
        settings.metrics.listen = Some("0.0.0.0:9360".parse().unwrap());
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("0.0.0.0:9360"), "{error}");
        settings.server.unauthenticated_beyond_loopback = true;
        settings.validate().expect("a proxy authenticates");
        settings.metrics.listen = Some(settings.server.listen);
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("metrics.listen"), "{error}");
    }

    #[test]
    fn listening_beyond_loopback_needs_a_flag_that_says_nothing_authenticates() {
        let mut settings = Settings::default();
        settings.server.listen = "0.0.0.0:50051".parse().unwrap();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("`server.listen` = 0.0.0.0:50051"), "{error}");
        assert!(
            error.contains("--unauthenticated-beyond-loopback"),
            "{error}"
        );
        assert!(error.contains("[auth] enabled = true"), "{error}");
        settings.server.unauthenticated_beyond_loopback = true;
        settings.validate().expect("said so");
        // Or authentication on.
        settings.server.unauthenticated_beyond_loopback = false;
        settings.auth.enabled = true;
        let error = settings.validate().unwrap_err().to_string();
        assert!(
            error.contains("`auth.enabled`"),
            "on, with no way in: {error}"
        );
        settings.auth.api_keys = vec![crate::edge::auth::ApiKeySettings {
            name: "svc".into(),
            sha256: crate::edge::auth::api_key_hash("k"),
            roles: vec!["service".into()],
        }];
        // (in TLS, or behind a proxy that terminates it: see the next test)
        settings.server.plaintext_beyond_loopback = true;
        settings.validate().expect("authenticated");
        for loopback in ["127.0.0.1:7000", "[::1]:7000", "127.0.0.2:7000"] {
            let mut settings = Settings::default();
            settings.server.listen = loopback.parse().unwrap();
            settings.validate().expect(loopback);
        }
    }

    #[test]
    fn authenticated_plaintext_beyond_loopback_is_refused_unless_tls_or_a_proxy_terminates_it() {
        let mut settings = Settings::default();
        settings.auth.enabled = true;
        settings.auth.api_keys = vec![crate::edge::auth::ApiKeySettings {
            name: "svc".into(),
            sha256: crate::edge::auth::api_key_hash("k"),
            roles: vec!["service".into()],
        }];
        settings.validate().expect("loopback in plaintext");
        assert!(settings.escape_hatches().is_empty());
        for (key, addr) in [
            ("server.listen", "0.0.0.0:50051"),
            ("metrics.listen", "10.0.0.5:9360"),
        ] {
            let mut settings = settings.clone();
            match key {
                "server.listen" => settings.server.listen = addr.parse().unwrap(),
                _ => settings.metrics.listen = Some(addr.parse().unwrap()),
            }
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}` = {addr}")), "{error}");
            assert!(error.contains("[server.tls]"), "{error}");
            assert!(error.contains("plaintext_beyond_loopback"), "{error}");
            settings.server.tls = Some(crate::edge::server::TlsSettings {
                cert_file: "/etc/c360/tls.crt".into(),
                key_file: "/etc/c360/tls.key".into(),
                client_ca_file: None,
                reload_interval: Duration::from_secs(10),
            });
            settings.validate().expect("TLS");
            settings.server.tls = None;
            settings.server.plaintext_beyond_loopback = true;
            settings.validate().expect("a proxy terminates TLS");
            let warnings = settings.escape_hatches();
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].starts_with("server.plaintext_beyond_loopback"));
        }
        let mut settings = Settings::default();
        settings.server.listen = "0.0.0.0:50051".parse().unwrap();
        settings.server.unauthenticated_beyond_loopback = true;
        let warnings = settings.escape_hatches();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("server.unauthenticated_beyond_loopback"));
    }

    #[test]
    fn a_refused_url_is_not_repeated_in_the_message() {
        let mut settings = Settings::default();
        settings.redis.url = Some("http://user:secret@host".into());
        let error = settings.validate().unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
