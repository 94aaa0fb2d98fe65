//! What every subsystem's settings share: the range checks that keep a value usable, and the
//! refusal that names its key. Each subsystem owns its settings — a `Settings` type with its
//! defaults, ranges and validation beside the code that uses it — and `app::config` composes
//! them, reads the file and the `C360_*` variables, and checks everything before anything
//! starts: a zero interval would panic a timer, a huge duration would overflow a deadline, an
//! empty URL would fail on first use.

pub mod byte_size;

use std::{fmt::Display, time::Duration};

use humantime_serde::re::humantime;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// A millisecond.
pub const MS: Duration = Duration::from_millis(1);
/// A second.
pub const SECOND: Duration = Duration::from_secs(1);
/// A minute.
pub const MINUTE: Duration = Duration::from_secs(60);
/// A day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// A value out of its range, named by its dotted key as the file spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` = {value} is out of range: it {rule}")]
pub struct OutOfRange {
    /// The dotted key, as in the file.
    pub key: String,
    /// The value, as given (a URL only by its scheme, a secret not at all).
    pub value: String,
    /// What it must be.
    pub rule: String,
}

/// Every value out of its range, in the order checked (at most [`MOST_REFUSALS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRanges(pub Vec<OutOfRange>);

impl Display for OutOfRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, refused) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{refused}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OutOfRanges {}

impl From<OutOfRange> for OutOfRanges {
    fn from(refused: OutOfRange) -> Self {
        Self(vec![refused])
    }
}

/// The most refusals one check reports: a file wrong everywhere still reads on a screen.
pub const MOST_REFUSALS: usize = 32;

/// Checks values, keeping every refusal (an operator fixes them all in one go); keys are
/// named under the section being checked.
#[derive(Debug, Default)]
pub struct Check {
    section: String,
    refused: Vec<OutOfRange>,
}

impl Check {
    /// Nothing checked yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `check` with its keys under `section` (`server`, `sources.billing`).
    pub fn section(&mut self, section: &str, check: impl FnOnce(&mut Self)) {
        let inner = self.key(section);
        let outer = std::mem::replace(&mut self.section, inner);
        check(self);
        self.section = outer;
    }

    /// Every refusal, if any.
    pub fn finish(self) -> Result<(), OutOfRanges> {
        match self.refused.is_empty() {
            true => Ok(()),
            false => Err(OutOfRanges(self.refused)),
        }
    }

    /// `key` under the section; an empty key names the section itself.
    fn key(&self, key: &str) -> String {
        match (self.section.is_empty(), key.is_empty()) {
            (true, _) => key.to_owned(),
            (false, true) => self.section.clone(),
            (false, false) => format!("{}.{key}", self.section),
        }
    }

    /// Refuses `key` = `value`, which must be as `rule` says ("must be …").
    pub fn refuse(&mut self, key: &str, value: impl Display, rule: impl Into<String>) {
        if self.refused.len() < MOST_REFUSALS {
            self.refused.push(OutOfRange {
                key: self.key(key),
                value: value.to_string(),
                rule: rule.into(),
            });
        }
    }

    /// A duration from `min` to `max`; whether it is (a value others are checked against
    /// is only used when it holds itself).
    pub fn duration(&mut self, key: &str, value: Duration, min: Duration, max: Duration) -> bool {
        let holds = value >= min && value <= max;
        if !holds {
            let rule = format!(
                "must be from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            );
            self.refuse(key, humantime::format_duration(value), rule);
        }
        holds
    }

    /// A count from `min` to `max`.
    pub fn count(&mut self, key: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.refuse(key, value, format!("must be from {min} to {max}"));
        }
    }

    /// A number from `min` to `max` (NaN is refused).
    pub fn fraction(&mut self, key: &str, value: f64, min: f64, max: f64) {
        if !(min..=max).contains(&value) {
            self.refuse(key, value, format!("must be from {min} to {max}"));
        }
    }

    /// A URL with one of `schemes`; refused by its scheme alone, since the rest may hold a
    /// password.
    pub fn url(&mut self, key: &str, value: &str, schemes: &[&str]) {
        if !schemes.iter().any(|scheme| value.starts_with(scheme)) {
            let rule = format!("must start with {}", schemes.join(" or "));
            let shown = value.split_once("://").map_or("(no scheme)", |(s, _)| s);
            self.refuse(key, format!("{shown}://…"), rule);
        }
    }
}

/// A configured secret (an L2 key, a JWT secret): never shown by `Debug` (`secrecy` prints it
/// redacted) and wiped from memory when dropped. It serializes as itself, because figment
/// composes the configuration from serialized values; nothing else serializes settings.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(SecretString);

impl Secret {
    /// A secret of `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.expose().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_kept_in_order_and_named_under_its_section() {
        let mut check = Check::new();
        check.section("feed", |c| {
            c.duration("poll_interval", Duration::ZERO, 10 * MS, MINUTE);
            c.count("batch", 0, 1, 10);
        });
        check.count("later", 0, 1, 10);
        check.count("fine", 5, 1, 10);
        let refused = check.finish().unwrap_err();
        assert_eq!(
            refused.to_string(),
            "`feed.poll_interval` = 0s is out of range: it must be from 10ms to 1m\n\
             `feed.batch` = 0 is out of range: it must be from 1 to 10\n\
             `later` = 0 is out of range: it must be from 1 to 10"
        );
        let mut flood = Check::new();
        for _ in 0..100 {
            flood.count("x", 0, 1, 2);
        }
        assert_eq!(flood.finish().unwrap_err().0.len(), MOST_REFUSALS);
    }

    #[test]
    fn sections_nest_and_a_url_is_shown_by_its_scheme_only() {
        let mut check = Check::new();
        check.section("sources", |c| {
            c.section("billing", |c| {
                c.url("url", "http://u:secret@h", &["postgres://"])
            })
        });
        let refused = &check.finish().unwrap_err().0[0];
        assert_eq!(refused.key, "sources.billing.url");
        assert_eq!(refused.value, "http://…");
        assert!(Check::new().finish().is_ok());
    }

    #[test]
    fn a_secret_is_never_shown() {
        let secret = Secret::new("k1:hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert_eq!(secret.expose(), "k1:hunter2");
    }
}
