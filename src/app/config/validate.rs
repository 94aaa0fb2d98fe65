//! Every value checked before anything starts: a zero interval would panic a timer, a huge
//! duration would overflow a deadline, an empty URL would fail on first use. Each refusal
//! names the key, the value and the range, so that the operator knows what to change.

use std::{fmt::Display, time::Duration};

use super::{ConfigError, ResilienceSettings, Settings, SourceSettings};
use humantime_serde::re::humantime;

use crate::{
    core::cache::{KeyError, SealKeys, parse_key},
    core::sources::FaultSettings,
};

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// Collects the first refusal.
struct Check(Result<(), ConfigError>);

impl Check {
    fn refuse(&mut self, key: &str, value: impl Display, rule: &str) {
        if self.0.is_ok() {
            self.0 = Err(ConfigError::OutOfRange {
                key: key.to_owned(),
                value: value.to_string(),
                rule: rule.to_owned(),
            });
        }
    }

    fn duration(&mut self, key: &str, value: Duration, min: Duration, max: Duration) {
        if value < min || value > max {
            let rule = format!(
                "must be from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            );
            self.refuse(key, humantime::format_duration(value), &rule);
        }
    }

    fn count(&mut self, key: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.refuse(key, value, &format!("must be from {min} to {max}"));
        }
    }

    fn url(&mut self, key: &str, value: &str, schemes: &[&str]) {
        if !schemes.iter().any(|scheme| value.starts_with(scheme)) {
            // The value itself may hold a password: name the scheme it should have only.
            let rule = format!("must start with {}", schemes.join(" or "));
            let shown = value.split_once("://").map_or("(no scheme)", |(s, _)| s);
            self.refuse(key, format!("{shown}://…"), &rule);
        }
    }

    fn source(&mut self, name: &str, source: &SourceSettings) {
        let key = |field: &str| format!("sources.{name}.{field}");
        if let Some(url) = &source.url {
            self.url(&key("url"), url, DATABASE_SCHEMES);
        }
        if let Some(connections) = source.max_connections {
            self.count(&key("max_connections"), u64::from(connections), 1, 1000);
        }
        self.duration(&key("timeout"), source.timeout, MS, MINUTE);
        self.faults(&key("faults"), &source.faults);
    }

    fn resilience(&mut self, r: &ResilienceSettings) {
        self.count(
            "resilience.min_concurrency",
            r.min_concurrency as u64,
            1,
            100_000,
        );
        self.count(
            "resilience.max_concurrency",
            r.max_concurrency as u64,
            r.min_concurrency as u64,
            100_000,
        );
        self.count(
            "resilience.initial_concurrency",
            r.initial_concurrency as u64,
            r.min_concurrency as u64,
            r.max_concurrency as u64,
        );
        self.fraction(
            "resilience.latency_tolerance",
            r.latency_tolerance,
            1.0,
            100.0,
        );
        self.fraction("resilience.bulk_share", r.bulk_share, 0.0, 1.0);
        self.fraction("resilience.hedge_budget", r.hedge_budget, 0.0, 0.5);
        self.count(
            "resilience.breaker_failures",
            u64::from(r.breaker_failures),
            0,
            1_000_000,
        );
        self.duration(
            "resilience.breaker_cooldown",
            r.breaker_cooldown,
            MS,
            10 * MINUTE,
        );
        self.duration(
            "resilience.hedge_min_delay",
            r.hedge_min_delay,
            Duration::ZERO,
            MINUTE,
        );
    }

    fn fraction(&mut self, key: &str, value: f64, min: f64, max: f64) {
        if !(min..=max).contains(&value) {
            self.refuse(key, value, &format!("must be from {min} to {max}"));
        }
    }

    fn faults(&mut self, key: &str, faults: &FaultSettings) {
        if !(0.0..=1.0).contains(&faults.error_rate) {
            let key = format!("{key}.error_rate");
            self.refuse(&key, faults.error_rate, "must be from 0 to 1");
        }
        for (field, latency) in [
            ("latency", faults.latency),
            ("latency_p99", faults.latency_p99),
        ] {
            if let Some(latency) = latency {
                self.duration(&format!("{key}.{field}"), latency, Duration::ZERO, MINUTE);
            }
        }
        if let (Some(median), Some(p99)) = (faults.latency, faults.latency_p99)
            && p99 < median
        {
            let key = format!("{key}.latency_p99");
            self.refuse(
                &key,
                humantime::format_duration(p99),
                "must not be below latency",
            );
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

const DATABASE_SCHEMES: &[&str] = &["postgres://", "postgresql://", "sqlite:"];
const REDIS_SCHEMES: &[&str] = &["redis://", "rediss://", "redis+unix://", "unix://"];

impl Settings {
    /// Refuses the first out-of-range value, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut check = Check(Ok(()));
        let c = &mut check;
        c.duration(
            "server.shutdown_grace",
            self.server.shutdown_grace,
            Duration::ZERO,
            10 * MINUTE,
        );
        let server = &self.server;
        c.duration("server.drain", server.drain, Duration::ZERO, 10 * MINUTE);
        c.count(
            "server.max_concurrent_streams",
            u64::from(server.max_concurrent_streams),
            1,
            100_000,
        );
        c.duration(
            "server.keepalive_interval",
            server.keepalive_interval,
            SECOND,
            DAY,
        );
        c.duration(
            "server.keepalive_timeout",
            server.keepalive_timeout,
            SECOND,
            MINUTE * 10,
        );
        c.duration(
            "server.max_connection_age",
            server.max_connection_age,
            MINUTE,
            7 * DAY,
        );
        c.duration(
            "server.max_connection_age_grace",
            server.max_connection_age_grace,
            Duration::ZERO,
            DAY,
        );
        c.count(
            "server.max_watch_streams",
            server.max_watch_streams as u64,
            0,
            1_000_000,
        );
        c.url("database.url", &self.database.url, DATABASE_SCHEMES);
        c.count(
            "database.max_connections",
            u64::from(self.database.max_connections),
            1,
            1000,
        );
        c.duration(
            "database.acquire_timeout",
            self.database.acquire_timeout,
            MS,
            MINUTE,
        );
        let sources = &self.sources;
        for (name, source) in [
            ("billing", &sources.billing),
            ("orders", &sources.orders),
            ("fulfilment", &sources.fulfilment),
            ("crm", &sources.crm),
            ("catalog", &sources.catalog),
        ] {
            c.source(name, source);
        }
        let cache = &self.cache;
        c.count("cache.max_bytes", cache.max_bytes, 1 << 20, 1 << 40);
        c.duration("cache.ttl", cache.ttl, SECOND, 7 * DAY);
        c.duration(
            "cache.partial_ttl",
            cache.partial_ttl,
            Duration::ZERO,
            cache.ttl,
        );
        c.duration("cache.refresh_after", cache.refresh_after, MS, 7 * DAY);
        c.duration(
            "cache.not_found_ttl",
            cache.not_found_ttl,
            Duration::ZERO,
            cache.ttl,
        );
        c.duration(
            "catalog.refresh_interval",
            self.catalog.refresh_interval,
            SECOND,
            DAY,
        );
        let redis = &self.redis;
        if let Some(url) = &redis.url {
            c.url("redis.url", url, REDIS_SCHEMES);
        }
        if redis.prefix.is_empty() || redis.prefix.contains(char::is_whitespace) {
            c.refuse(
                "redis.prefix",
                format!("{:?}", redis.prefix),
                "must be non-empty, without spaces",
            );
        }
        c.duration("redis.ttl", redis.ttl, SECOND, 7 * DAY);
        c.duration("redis.timeout", redis.timeout, MS, 10 * SECOND);
        for (i, key) in redis.encryption_keys.iter().enumerate() {
            if let Err(error) = parse_key(key.expose()) {
                c.refuse(
                    &format!("redis.encryption_keys[{i}]"),
                    "(hidden)",
                    &error.to_string(),
                );
            }
        }
        let keys = redis.encryption_keys.iter().map(|k| k.expose());
        if let Err(error @ KeyError::DuplicateId) = SealKeys::from_config(keys) {
            c.refuse("redis.encryption_keys", "(hidden)", &error.to_string());
        }
        let tls = redis
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("rediss://"));
        if redis.ca_file.is_some() && !tls {
            c.refuse(
                "redis.ca_file",
                "(a file)",
                "is for TLS: set redis.url to a rediss:// URL",
            );
        }
        if redis.url.is_some() && redis.encryption_keys.is_empty() {
            c.refuse(
                "redis.encryption_keys",
                "[]",
                "must hold a key when redis.url is set, so that no profile sits in Redis in \
                 clear: add one, e.g. C360_REDIS__ENCRYPTION_KEYS='[\"k1:'\"$(head -c 32 \
                 /dev/urandom | base64)\"'\"]'",
            );
        }
        c.duration(
            "feed.poll_interval",
            self.feed.poll_interval,
            10 * MS,
            MINUTE,
        );
        c.duration("feed.retention", self.feed.retention, MINUTE, 30 * DAY);
        c.duration(
            "server.max_deadline",
            self.server.max_deadline,
            MS,
            60 * MINUTE,
        );
        c.resilience(&self.resilience);
        for (i, origin) in self.server.cors_origins.iter().enumerate() {
            if !is_origin(origin) {
                c.refuse(
                    &format!("server.cors_origins[{i}]"),
                    format!("{origin:?}"),
                    "must be an origin: http:// or https://, a host, an optional port, no path \
                     (a browser's Origin header, e.g. \"https://desk.example.com\")",
                );
            }
        }
        check.0?;
        if self.auth.enabled && self.auth.jwt.is_none() && self.auth.api_keys.is_empty() {
            return Err(ConfigError::OutOfRange {
                key: "auth.enabled".into(),
                value: "true".into(),
                rule: "needs a way in: [auth.jwt] for tokens or [[auth.api_keys]] for services"
                    .into(),
            });
        }
        if let Err(error) = self.auth.authenticator() {
            return Err(ConfigError::OutOfRange {
                key: "auth".into(),
                value: "(as configured)".into(),
                rule: format!("is not usable: {error}"),
            });
        }
        let server = &self.server;
        let protected = self.auth.enabled || server.unauthenticated_beyond_loopback;
        if !server.listen.ip().is_loopback() && !protected {
            return Err(ConfigError::Unprotected {
                key: "server.listen",
                addr: server.listen,
            });
        }
        if let Some(endpoint) = &self.trace.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::OutOfRange {
                key: "trace.otlp_endpoint".into(),
                value: endpoint.clone(),
                rule: "must be an http:// or https:// URL, e.g. http://127.0.0.1:4317".into(),
            });
        }
        if let Some(metrics) = self.metrics.listen {
            if !metrics.ip().is_loopback() && !protected {
                return Err(ConfigError::Unprotected {
                    key: "metrics.listen",
                    addr: metrics,
                });
            }
            if metrics == server.listen && metrics.port() != 0 {
                return Err(ConfigError::OutOfRange {
                    key: "metrics.listen".into(),
                    value: metrics.to_string(),
                    rule: "must differ from server.listen".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        settings.auth.api_keys = vec![crate::app::config::ApiKeyConfig {
            name: "svc".into(),
            sha256: crate::edge::auth::api_key_hash("k"),
            roles: vec!["service".into()],
        }];
        settings.validate().expect("authenticated");
        for loopback in ["127.0.0.1:7000", "[::1]:7000", "127.0.0.2:7000"] {
            let mut settings = Settings::default();
            settings.server.listen = loopback.parse().unwrap();
            settings.validate().expect(loopback);
        }
    }

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
            let mut settings = Settings::default();
            settings.server.cors_origins = vec!["https://ok.example.com".into(), bad.into()];
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("`server.cors_origins[1]`"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_refused_url_is_not_repeated_in_the_message() {
        let mut settings = Settings::default();
        settings.redis.url = Some("http://user:secret@host".into());
        let error = settings.validate().unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
