//! The effective configuration, as `c360 config check` prints it: TOML an operator could put
//! in a file, every key with the value it takes, secrets hidden (a secret as `(hidden)`, a
//! URL's password as `***`).

use toml::Value;

use super::Settings;
use crate::core::db;

/// What a secret is shown as.
pub(super) const HIDDEN: &str = "(hidden)";

/// Keys whose values are secrets: never shown, nor repeated in an error.
pub(super) const SECRETS: [&str; 2] = ["secret", "encryption_keys"];

/// Whether the value of `key` may hold a secret though it is not one: a URL's password.
pub(super) fn may_hold_a_password(key: &str) -> bool {
    key.ends_with("url") || key.ends_with("urls") || key == "otlp_endpoint"
}

impl Settings {
    /// Every setting as TOML, secrets hidden.
    pub fn to_redacted_toml(&self) -> String {
        let mut value = Value::try_from(self).unwrap_or_else(|error| {
            Value::String(format!("the settings could not be shown: {error}"))
        });
        redact(&mut value, "");
        toml::to_string_pretty(&value).unwrap_or_else(|error| format!("# {error}\n"))
    }
}

fn redact(value: &mut Value, key: &str) {
    match value {
        Value::Table(table) => {
            for (key, inner) in table.iter_mut() {
                redact(inner, key);
            }
        }
        Value::Array(items) if SECRETS.contains(&key) => {
            for item in items {
                *item = Value::String(HIDDEN.into());
            }
        }
        Value::String(text) if SECRETS.contains(&key) => *text = HIDDEN.into(),
        Value::String(text) if may_hold_a_password(key) => {
            *text = db::redact(text);
        }
        Value::Array(items) => {
            for item in items {
                redact(item, key);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_and_the_rest_shown() {
        let text = "[auth]\nenabled = true\n[auth.jwt]\nalgorithms = [\"HS256\"]\nissuer = \"i\"\n\
                    audience = \"c360\"\nsecret = \"the-jwt-secret-of-at-least-32-bytes!\"\n\
                    [database]\nurl = \"postgres://c360:pa55word@db:5432/c360\"\n\
                    [redis]\nurl = \"redis://:redispass@127.0.0.1:6379\"\n\
                    encryption_keys = [\"k1:KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=\"]\n\
                    [cache]\nmax_bytes = \"64MiB\"\n";
        let settings = Settings::from_toml(text).unwrap();
        let shown = settings.to_redacted_toml();
        for secret in ["the-jwt-secret", "pa55word", "redispass", "KioqKioq"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(
            shown.contains("postgres://c360:***@db:5432/c360"),
            "{shown}"
        );
        assert!(shown.contains(&format!("secret = \"{HIDDEN}\"")), "{shown}");
        assert!(
            shown.contains(&format!("max_bytes = {}", 64 << 20)),
            "{shown}"
        );
        // What is shown is TOML, each of its tables as a file would hold it.
        let table: toml::Table = shown.parse().unwrap();
        let cache = toml::to_string(&toml::Table::from_iter([(
            "cache".to_owned(),
            table["cache"].clone(),
        )]))
        .unwrap();
        assert_eq!(Settings::from_toml(&cache).unwrap().cache, settings.cache);
    }

    #[test]
    fn tables_come_in_the_order_the_example_file_holds_them() {
        let shown = Settings::default().to_redacted_toml();
        let tables: Vec<&str> = shown
            .lines()
            .filter(|line| line.starts_with('[') && !line.contains('.'))
            .collect();
        assert_eq!(tables.first(), Some(&"[server]"), "{shown}");
        assert_eq!(tables.get(1), Some(&"[database]"), "{shown}");
        let example =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/c360.example.toml"))
                .unwrap();
        let first = |table: &str| example.find(&format!("\n{table}\n"));
        let placed: Vec<usize> = tables.iter().filter_map(|table| first(table)).collect();
        assert!(placed.len() >= 8, "{tables:?}");
        assert!(placed.is_sorted(), "{tables:?} against c360.example.toml");
    }
}
