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
    /// `value` is not a valid `what`. Only the value's first bytes are kept ([`echo`]): it
    /// came from a backend, and ends up in logs.
    pub fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: echo(value),
        }
    }
}

/// Most bytes of a caller's or a backend's value repeated in an error.
pub const MAX_ECHO: usize = 64;

/// At most the first [`MAX_ECHO`] bytes of `value`, cut at a character boundary: what an
/// error may repeat of something it did not choose, so that its size never depends on it.
pub fn echo(value: &str) -> String {
    let mut end = value.len().min(MAX_ECHO);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}
