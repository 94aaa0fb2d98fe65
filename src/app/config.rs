//! Settings: defaults, then a TOML file, then `C360_*` environment variables, then flags;
//! each overrides the one before. Nested keys are separated by `__` in variable names:
//! `C360_SOURCES__BILLING__TIMEOUT=150ms` sets `[sources.billing] timeout`. Durations are
//! written as `250ms`, `2s`, `5m`.
//!
//! Each section is the settings type of the subsystem it configures, with its defaults, its
//! ranges and its checks beside the code that uses it; this module only composes them, reads
//! the file and the variables, and checks what spans sections (`check.rs`).

use std::{net::SocketAddr, path::Path};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::Value,
};
use serde::{Deserialize, Serialize};

mod check;
mod describe;
mod show;

use crate::{
    app::telemetry::{LogSettings, TraceSettings},
    core::{
        attention::AttentionSettings,
        cache::{CacheSettings, RedisSettings, feed::FeedSettings},
        db::DatabaseSettings,
        fanout::{ResilienceSettings, SourcesSettings},
        offers::OfferSettings,
        read::CatalogSettings,
        search::SearchSettings,
        settings::OutOfRanges,
    },
    edge::{
        audit::AuditSettings,
        auth::AuthSettings,
        server::{MetricsSettings, ServerSettings},
    },
};

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named file does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    /// The named file exists but cannot be read (its permissions, or a directory's on its
    /// path; or it is not a file).
    #[error("cannot read the configuration file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why, as the system said it.
        reason: String,
    },
    /// Values missing, malformed or unknown: every one found, in the order found.
    #[error("{}", describe::describe(.0))]
    Invalid(Vec<figment::Error>),
    /// The server would listen beyond loopback with nothing authenticating its callers.
    #[error(
        "`{key}` = {addr} is beyond loopback, and authentication is off: anyone who \
         reaches that port could read every profile. Turn it on ([auth] enabled = true, with \
         [auth.jwt] or [[auth.api_keys]]), or listen on 127.0.0.1 (or [::1]); or, if a proxy in \
         front of c360 authenticates every caller, say so with \
         --unauthenticated-beyond-loopback (`server.unauthenticated_beyond_loopback = true`, \
         C360_SERVER__UNAUTHENTICATED_BEYOND_LOOPBACK=true)"
    )]
    Unprotected {
        /// `server.listen` or `metrics.listen`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// The server would take credentials in clear beyond loopback.
    #[error(
        "`{key}` = {addr} is beyond loopback in plaintext, and authentication is on: tokens, \
         API keys and profiles would cross the network in clear. Set [server.tls] (cert_file, \
         key_file), or listen on 127.0.0.1 (or [::1]); or, if a proxy in front of c360 \
         terminates TLS, say so with `server.plaintext_beyond_loopback = true` \
         (C360_SERVER__PLAINTEXT_BEYOND_LOOPBACK=true)"
    )]
    Plaintext {
        /// `server.listen` or `metrics.listen`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
    },
    /// Values out of their ranges: every one, a line each.
    #[error(transparent)]
    OutOfRange(#[from] OutOfRanges),
}

/// Everything c360 can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    // In the order c360.example.toml holds them, which `c360 config check` prints.
    /// The gRPC server.
    pub server: ServerSettings,
    /// The database every backend uses unless its own URL is set.
    pub database: DatabaseSettings,
    /// Per-backend overrides.
    pub sources: SourcesSettings,
    /// The L1 cache.
    pub cache: CacheSettings,
    /// L2 and the invalidation bus.
    pub redis: RedisSettings,
    /// Following the backends' change feeds.
    pub feed: FeedSettings,
    /// Who may call, and what.
    pub auth: AuthSettings,
    /// The audit trail of profile reads and lookups.
    pub audit: AuditSettings,
    /// Admission control, circuit breakers and hedging.
    pub resilience: ResilienceSettings,
    /// The in-memory catalog.
    pub catalog: CatalogSettings,
    /// Logs.
    pub log: LogSettings,
    /// The figures c360 keeps about itself, and the Prometheus endpoint that serves them.
    pub metrics: MetricsSettings,
    /// Spans to an OpenTelemetry collector.
    pub trace: TraceSettings,
    /// The rules that say who needs contact now, and the teams' business hours.
    pub attention: AttentionSettings,
    /// What each role may offer customers, and the offers' ledger.
    pub offers: OfferSettings,
    /// History search: the customers' conversations indexed on each replica.
    pub search: SearchSettings,
}

/// Whether the variable `C360_<name>` is configuration: `C360_<TABLE>__<KEY>` only (every
/// setting lives in a table). Others are left alone: the client commands' own (`C360_TOKEN`,
/// `C360_ADDR`, …), and what platforms set beside them, such as the service links Kubernetes
/// injects for a Service named `c360` (`C360_PORT=tcp://…`, `C360_SERVICE_HOST`).
fn is_configuration(name: &str) -> bool {
    name.contains("__")
}

impl Settings {
    /// Reads the defaults, then `file` (which must exist when named), then `C360_*`
    /// variables, then `flags` (dotted keys, e.g. `server.listen`).
    pub fn load(
        file: Option<&Path>,
        flags: impl IntoIterator<Item = (&'static str, Value)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(file) = file {
            readable(file)?;
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("C360_")
                .filter(|key| is_configuration(key.as_str()))
                .split("__"),
        );
        for (key, value) in flags {
            figment = figment.merge(Serialized::default(key, value));
        }
        Self::extract(figment)
    }

    /// The defaults, then the TOML `text` (nothing from the environment): what a
    /// configuration file alone says.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::extract(
            Figment::from(Serialized::defaults(Self::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Self = figment
            .extract()
            .map_err(|first| ConfigError::Invalid(describe::every_problem(&figment, first)))?;
        settings.validate()?;
        Ok(settings)
    }
}

/// Whether `file` can be read: missing is told apart from unreadable, which says why (a
/// service's user not allowed into its directory is the usual cause).
fn readable(file: &Path) -> Result<(), ConfigError> {
    let path = || file.display().to_string();
    let unreadable = |reason: String| ConfigError::Unreadable {
        path: path(),
        reason,
    };
    match std::fs::metadata(file) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::MissingFile(path()))
        }
        Err(error) => Err(unreadable(error.to_string())),
        Ok(meta) if meta.is_dir() => Err(unreadable("it is a directory, not a file".into())),
        Ok(_) => match std::fs::File::open(file) {
            Ok(_) => Ok(()),
            Err(error) => Err(unreadable(error.to_string())),
        },
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error.
mod tests {
    use std::time::Duration;

    use figment::Jail;

    use super::*;

    fn flag(key: &'static str, value: &str) -> (&'static str, Value) {
        (key, Value::from(value.to_owned()))
    }

    #[test]
    fn flags_beat_variables_which_beat_the_file_which_beats_the_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c360.toml",
                r#"
                [server]
                listen = "127.0.0.1:7000"
                [database]
                url = "postgres://file"
                [sources.billing]
                timeout = "150ms"
                [cache]
                ttl = "1m"
                "#,
            )?;
            jail.set_env("C360_DATABASE__URL", "postgres://env");
            jail.set_env("C360_CACHE__TTL", "2m");
            let settings = Settings::load(Some(Path::new("c360.toml")), [flag("cache.ttl", "3m")])
                .map_err(|e| e.to_string())?;
            assert_eq!(settings.server.listen, "127.0.0.1:7000".parse().unwrap());
            assert_eq!(settings.database.url, "postgres://env");
            assert_eq!(settings.cache.ttl, Duration::from_secs(180));
            assert_eq!(settings.sources.billing.timeout, Duration::from_millis(150));
            assert_eq!(settings.sources.orders.timeout, Duration::from_millis(500));
            assert_eq!(
                settings.sources.crm.url(&settings.database),
                "postgres://env"
            );
            Ok(())
        });
    }

    #[test]
    fn only_table_and_key_variables_are_configuration() {
        Jail::expect_with(|jail| {
            let others = [
                // The client commands'.
                ("C360_TOKEN", "client's"),
                ("C360_API_KEY", "client's"),
                ("C360_ADDR", "127.0.0.1:50051"),
                // Kubernetes' service links for a Service named c360.
                ("C360_PORT", "tcp://10.96.0.12:50051"),
                ("C360_PORT_50051_TCP", "tcp://10.96.0.12:50051"),
                ("C360_PORT_50051_TCP_ADDR", "10.96.0.12"),
                ("C360_SERVICE_HOST", "10.96.0.12"),
                ("C360_SERVICE_PORT", "50051"),
                // The test suite's.
                ("C360_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432"),
            ];
            for (name, value) in others {
                jail.set_env(name, value);
            }
            assert_eq!(Settings::load(None, []).unwrap(), Settings::default());
            jail.set_env("C360_CACHE__TTLL", "1m");
            let typo = Settings::load(None, []).unwrap_err().to_string();
            assert!(typo.contains("ttll"), "{typo}");
            Ok(())
        });
    }

    /// Every key that holds a secret (or may: a URL's password), given in a wrong shape by a
    /// variable and by the file: the error names the key and never the value.
    #[test]
    fn errors_about_secrets_never_repeat_them() {
        let marker = "uX7sEcReT0000000000000000000000000000000000=";
        let keys = [
            "auth.jwt.secret",
            "redis.encryption_keys",
            "redis.url",
            "redis.cluster_urls",
            "database.url",
            "sources.billing.url",
            "sources.crm.url",
        ];
        let mut refusals = 0;
        for key in keys {
            let variable = format!("C360_{}", key.to_uppercase().replace('.', "__"));
            let (table, name) = key.rsplit_once('.').unwrap();
            for (shape, text) in [
                (
                    "a string where a list goes, or the reverse",
                    format!("k1:{marker}"),
                ),
                ("a list", format!("[\"k1:{marker}\"]")),
                ("a table", format!("{{ key = \"{marker}\" }}")),
            ] {
                Jail::expect_with(|jail| {
                    jail.set_env(&variable, &text);
                    let read = Settings::load(None, []);
                    refusals += usize::from(read.is_err());
                    if let Err(refused) = read {
                        let refused = refused.to_string();
                        assert!(
                            !refused.contains("sEcReT"),
                            "{variable} as {shape}: {refused}"
                        );
                    }
                    jail.clear_env();
                    let toml = format!("[{table}]\n{name} = {}\n", toml_value(&text));
                    jail.create_file("c360.toml", &toml)?;
                    let read = Settings::load(Some(Path::new("c360.toml")), []);
                    refusals += usize::from(read.is_err());
                    if let Err(refused) = read {
                        let refused = refused.to_string();
                        assert!(!refused.contains("sEcReT"), "{key} as {shape}: {refused}");
                    }
                    Ok(())
                });
            }
        }
        // Most shapes are wrong for each key: the test saw errors, not only settings.
        assert!(refusals >= 2 * keys.len() * 2, "{refusals} refusals");
    }

    /// `text` as a TOML value: itself when it is a list or a table, else a string.
    fn toml_value(text: &str) -> String {
        if text.starts_with('[') || text.starts_with('{') {
            text.to_owned()
        } else {
            format!("{text:?}")
        }
    }

    #[test]
    fn problems_are_reported_all_at_once_with_what_was_meant() {
        let text =
            "[cache]\nttll = \"1m\"\nmax_bytes = \"lots\"\n[server]\nlisten = 5\n[nonsense]\n";
        let refused = Settings::from_toml(text).unwrap_err().to_string();
        let lines: Vec<&str> = refused.lines().collect();
        assert_eq!(lines.len(), 4, "{refused}");
        assert!(
            refused.contains("unknown key `cache.ttll`; did you mean `cache.ttl`?"),
            "{refused}"
        );
        assert!(
            refused.contains("`cache.max_bytes`: must be a byte size"),
            "{refused}"
        );
        assert!(refused.contains("`server.listen`: must be"), "{refused}");
        assert!(
            refused.contains("unknown key `nonsense` (known here: server,"),
            "{refused}"
        );
        assert!(
            !refused.contains("default."),
            "the library's profile: {refused}"
        );
        let sized = Settings::from_toml("[cache]\nmax_bytes = \"64MiB\"\n").unwrap();
        assert_eq!(sized.cache.max_bytes, 64 << 20);
        // Values out of range: every one too, a line each.
        let ranges = "[cache]\nttl = \"0s\"\n[feed]\npoll_interval = \"0s\"\n[database]\nmax_connections = 0\n";
        let refused = Settings::from_toml(ranges).unwrap_err().to_string();
        let keys: Vec<&str> = refused
            .lines()
            .filter_map(|line| line.split('`').nth(1))
            .collect();
        assert_eq!(
            keys,
            [
                "database.max_connections",
                "cache.ttl",
                "feed.poll_interval"
            ],
            "{refused}"
        );
    }

    #[test]
    fn a_file_that_cannot_be_read_is_told_apart_from_one_that_does_not_exist() {
        Jail::expect_with(|jail| {
            let dir = jail.directory().join("conf.d");
            std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
            let refused = Settings::load(Some(&dir), []).unwrap_err().to_string();
            assert_eq!(
                refused,
                format!(
                    "cannot read the configuration file {}: it is a directory, not a file",
                    dir.display()
                )
            );
            let missing = Settings::load(Some(&dir.join("c360.toml")), []).unwrap_err();
            assert!(matches!(missing, ConfigError::MissingFile(_)), "{missing}");
            Ok(())
        });
    }

    #[test]
    fn a_named_file_must_exist_and_unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            let missing = Settings::load(Some(Path::new("nope.toml")), []);
            assert!(matches!(missing, Err(ConfigError::MissingFile(_))));
            jail.create_file("typo.toml", "[cache]\nttl_seconds = 5\n")?;
            let typo = Settings::load(Some(Path::new("typo.toml")), []);
            assert!(typo.is_err());
            jail.create_file("bad.toml", "[cache]\nttl = \"soon\"\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml")), []).is_err());
            jail.set_env("C360_FEED__POLL_INTERVAL", "0s");
            let zero = Settings::load(None, []).expect_err("a zero interval");
            assert_eq!(
                zero.to_string(),
                "`feed.poll_interval` = 0s is out of range: it must be from 10ms to 1m"
            );
            Ok(())
        });
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("c360.example.toml");
        Jail::expect_with(|_| {
            let settings = Settings::load(Some(&example), []).map_err(|e| e.to_string())?;
            assert_eq!(settings.server.listen, ServerSettings::default().listen);
            // The file's text alone says the same.
            let text = std::fs::read_to_string(&example).map_err(|e| e.to_string())?;
            assert_eq!(Settings::from_toml(&text).ok(), Some(settings));
            Ok(())
        });
    }

    #[test]
    fn text_that_is_not_a_valid_configuration_is_refused_with_its_key() {
        let refused = Settings::from_toml("[server]\nmax_deadline = \"0s\"\n").unwrap_err();
        assert!(
            refused.to_string().contains("server.max_deadline"),
            "{refused}"
        );
        assert!(Settings::from_toml("[server]\nlisten = 5\n").is_err());
        assert!(Settings::from_toml("[nonsense]\n").is_err());
    }

    #[test]
    fn credentials_with_authentication_off_are_refused_naming_them() {
        let jwt = "[auth.jwt]\nalgorithms = [\"HS256\"]\nissuer = \"i\"\naudience = \"c360\"\n\
                   secret = \"a development secret of at least 32 bytes\"\n";
        let key = "[[auth.api_keys]]\nname = \"k\"\nsha256 = \"0fd3\"\nroles = [\"service\"]\n";
        let refused = Settings::from_toml(jwt).unwrap_err().to_string();
        assert!(refused.contains("auth.enabled"), "{refused}");
        assert!(refused.contains("[auth.jwt] is set"), "{refused}");
        let refused = Settings::from_toml(&format!("{jwt}{key}"))
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("[auth.jwt] and [[auth.api_keys]] are set"),
            "{refused}"
        );
        // On, the same credentials load.
        assert!(Settings::from_toml(&format!("[auth]\nenabled = true\n{jwt}")).is_ok());
    }
}
