//! The shared vocabulary, at the bottom of every dependency: the words each layer uses to talk
//! to the others. Times, money, ids and lookup keys, the four backends (and [`PerSource`], one
//! value for each), how a backend answered, and the sections of a profile. It depends on no
//! other module of the crate.

mod keys;
mod money;
mod report;
mod section;
mod source;

pub use keys::{CustomerId, Email, KeyError, OrderId, Phone, Sku};
pub use money::{Currency, Money};
pub use report::{SourceReport, SourceReports, SourceStatus};
pub use section::{Field, FieldSet, MaskError, Section, SectionSet};
pub use source::{PerSource, SourceKind, SourceSet};

/// A point in time, in UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A backend value that is not one the reference schema allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected {what} value {value:?}")]
pub struct InvalidValue {
    what: &'static str,
    value: String,
}

impl InvalidValue {
    /// `value` is not a valid `what`. Only the value's first 64 characters are kept: it came
    /// from a backend, and ends up in logs.
    pub fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.chars().take(64).collect(),
        }
    }
}
