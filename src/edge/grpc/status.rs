//! Errors at the edge, and the one place they become a `tonic::Status`. Callers get a clear
//! message and the standard details (`BadRequest`, `ResourceInfo`, `RetryInfo`); what went
//! wrong inside is logged, never sent.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::{core::queries::QueryError, core::read::ProfileError};

/// `InvalidArgument` → `INVALID_ARGUMENT`, as gRPC documents its codes.
pub fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// How long a caller should wait before retrying an `UNAVAILABLE`.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Most field violations an `INVALID_ARGUMENT` lists; its message counts the rest. With each
/// field and description bounded ([`MAX_FIELD`], [`MAX_DESCRIPTION`]) an error's trailers stay
/// well under the 8 KB of metadata common gRPC clients accept, whatever the request.
pub const MAX_VIOLATIONS: usize = 10;
/// Most bytes of a violation's field path.
const MAX_FIELD: usize = 64;
/// Most bytes of a violation's description (which echoes at most 64 bytes of a value).
const MAX_DESCRIPTION: usize = 160;
/// Most bytes of the violations an `INVALID_ARGUMENT`'s message lists (percent-encoded in
/// `grpc-message`, a byte may take three).
const MAX_MESSAGE: usize = 1024;

/// One bad field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path, e.g. `customer_ids[3]`.
    pub field: String,
    /// What is wrong with it, for the caller.
    pub description: String,
}

impl Violation {
    /// `field` is wrong because of `description`.
    pub fn new(field: impl Into<String>, description: impl ToString) -> Self {
        Self {
            field: truncated(field.into(), MAX_FIELD),
            description: truncated(description.to_string(), MAX_DESCRIPTION),
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary, marked `…` when cut.
fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// The caller's fault: these fields are wrong. Nothing was read or changed.
    InvalidArgument(Vec<Violation>),
    /// The named resource does not exist.
    NotFound {
        /// Its type, e.g. `customer`.
        resource: &'static str,
        /// Its id.
        id: String,
    },
    /// Ours: a backend the answer depends on did not answer.
    Unavailable(String),
    /// The caller's deadline passed before anything could be served.
    DeadlineExceeded,
    /// The caller's roles do not grant what it asked for.
    PermissionDenied(String),
    /// The resource is not in the state the call needs (an item claimed by another agent,
    /// or closed): retrying the same call will not help.
    FailedPrecondition(String),
    /// A concurrent change won (a claim acted on is no longer the item's): read again and
    /// decide.
    Aborted(String),
    /// A limit of this replica is reached: try again later (or another replica).
    ResourceExhausted {
        /// What ran out, e.g. `watch streams`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl From<Vec<Violation>> for ApiError {
    fn from(violations: Vec<Violation>) -> Self {
        Self::InvalidArgument(violations)
    }
}

impl From<Violation> for ApiError {
    fn from(violation: Violation) -> Self {
        Self::InvalidArgument(vec![violation])
    }
}

impl From<ProfileError> for ApiError {
    fn from(error: ProfileError) -> Self {
        match error {
            ProfileError::NotFound(customer) => Self::NotFound {
                resource: "customer",
                id: customer.to_string(),
            },
            ProfileError::Unavailable(customer) => {
                Self::Unavailable(format!("no backend answered for customer {customer}"))
            }
            ProfileError::DeadlineExceeded => Self::DeadlineExceeded,
            ProfileError::Overloaded(shed) => Self::ResourceExhausted {
                what: "backend loads",
                limit: shed.limit,
            },
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        match error {
            QueryError::OrderNotFound(order) => Self::NotFound {
                resource: "order",
                id: order.to_string(),
            },
            QueryError::NoSuchLine { .. } => Self::from(Violation::new("sku", error)),
            // The backend's own error was logged where it failed: the caller learns which
            // backend, never why.
            QueryError::Unavailable(_) => Self::Unavailable(error.to_string()),
            QueryError::DeadlineExceeded => Self::DeadlineExceeded,
            QueryError::Overloaded(shed) => Self::ResourceExhausted {
                what: "backend loads",
                limit: shed.limit,
            },
        }
    }
}

/// `invalid request: field: what; …`, listing violations while the message stays under
/// [`MAX_MESSAGE`] bytes and counting the rest.
fn invalid_argument_message(violations: &[Violation]) -> String {
    let mut message = String::from("invalid request: ");
    let mut listed = 0;
    for v in violations.iter().take(MAX_VIOLATIONS) {
        let item = format!("{}: {}", v.field, v.description);
        if listed > 0 && message.len() + item.len() + 2 > MAX_MESSAGE {
            break;
        }
        if listed > 0 {
            message.push_str("; ");
        }
        message.push_str(&item);
        listed += 1;
    }
    if violations.len() > listed {
        message.push_str(&format!("; and {} more", violations.len() - listed));
    }
    message
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(mut violations) => {
                let message = invalid_argument_message(&violations);
                violations.truncate(MAX_VIOLATIONS);
                let details = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>();
                Status::with_error_details(
                    Code::InvalidArgument,
                    message,
                    ErrorDetails::with_bad_request(details),
                )
            }
            ApiError::NotFound { resource, id } => Status::with_error_details(
                Code::NotFound,
                format!("{resource} {id} does not exist"),
                ErrorDetails::with_resource_info(
                    format!("customer360.v1.{resource}"),
                    id,
                    "",
                    "not found",
                ),
            ),
            ApiError::Unavailable(message) => Status::with_error_details(
                Code::Unavailable,
                format!("{message}; retry shortly"),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
            ),
            ApiError::PermissionDenied(message) => Status::permission_denied(message),
            ApiError::FailedPrecondition(message) => Status::failed_precondition(message),
            ApiError::Aborted(message) => Status::aborted(message),
            ApiError::DeadlineExceeded => Status::new(
                Code::DeadlineExceeded,
                "the deadline passed before any backend answered",
            ),
            ApiError::ResourceExhausted { what, limit } => Status::with_error_details(
                Code::ResourceExhausted,
                format!("this replica has {limit} {what} open, its limit; retry shortly"),
                ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        core::fanout::Fanout,
        core::queries::Queries,
        core::reference::Catalog,
        core::sources::{
            fake::{FakeLookups, fake_sources},
            fixtures,
        },
        core::vocab::{CustomerId, OrderId, PerSource, SourceKind},
    };

    #[test]
    fn bad_fields_are_invalid_argument_with_a_violation_each() {
        let status = Status::from(ApiError::InvalidArgument(vec![
            Violation::new("customer_id", "must be a positive integer"),
            Violation::new("read_mask", "unknown path"),
        ]));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains("customer_id: must be a positive integer")
        );
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("BadRequest detail");
        let fields: Vec<_> = bad_request
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["customer_id", "read_mask"]);
    }

    #[test]
    fn however_many_and_long_the_violations_the_error_stays_small() {
        let long = "é".repeat(5_000);
        let violations = (0..1_000)
            .map(|i| Violation::new(format!("customer_ids[{i}]{long}"), &long))
            .collect();
        let status = Status::from(ApiError::InvalidArgument(violations));
        let details = status.get_error_details();
        let listed = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(listed.len(), MAX_VIOLATIONS);
        assert!(listed.iter().all(|v| v.field.len() <= MAX_FIELD));
        assert!(
            listed
                .iter()
                .all(|v| v.description.len() <= MAX_DESCRIPTION)
        );
        assert!(listed[0].field.starts_with("customer_ids[0]"));
        assert!(
            status
                .message()
                .starts_with("invalid request: customer_ids[0]")
        );
        assert!(status.message().len() <= MAX_MESSAGE + 20);
        let shown = status.message().matches("customer_ids[").count();
        let rest = format!("; and {} more", 1_000 - shown);
        assert!(status.message().ends_with(&rest), "{}", status.message());
        // Sent as grpc-message (percent-encoded: at most 3 bytes per byte) and
        // grpc-status-details-bin (base64).
        let trailers = status.message().len() * 3 + status.details().len() * 4 / 3;
        assert!(trailers < 8 * 1024, "{trailers} bytes of trailers");
    }

    #[test]
    fn an_unknown_customer_is_not_found_with_its_id() {
        let customer = CustomerId::new(9).expect("positive");
        let status = Status::from(ApiError::from(ProfileError::NotFound(customer)));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "customer 9 does not exist");
        let details = status.get_error_details();
        assert_eq!(
            details.resource_info().map(|r| r.resource_name.as_str()),
            Some("9")
        );
    }

    #[tokio::test]
    async fn unavailable_says_when_to_retry_and_hides_the_internal_error() {
        // The orders backend fails with "password authentication failed for user app".
        let (sources, _) = fake_sources(|f| f);
        let lookups = Arc::new(FakeLookups::default());
        lookups.set_failing(SourceKind::Orders, true);
        let timeouts = PerSource::same(std::time::Duration::from_secs(1));
        let fanout = Fanout::new(sources, lookups, timeouts);
        let queries = Queries::new(fanout, Arc::new(Catalog::new(fixtures::catalog())));
        let order = OrderId::new(11).expect("positive");
        let sku = "ELE-1".parse().expect("valid sku");
        let error = queries.check_return(order, &sku, None).await.unwrap_err();
        let status = Status::from(ApiError::from(error));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "the orders backend is unavailable; retry shortly"
        );
        assert!(!status.message().contains("password"));
        let retry = status.get_error_details().retry_info().cloned();
        assert_eq!(retry.and_then(|r| r.retry_delay), Some(RETRY_AFTER));
    }

    #[test]
    fn nothing_served_by_the_deadline_is_deadline_exceeded() {
        let status = Status::from(ApiError::from(ProfileError::DeadlineExceeded));
        assert_eq!(status.code(), Code::DeadlineExceeded);
        let unavailable = ProfileError::Unavailable(CustomerId::new(1).expect("positive"));
        assert_eq!(
            Status::from(ApiError::from(unavailable)).code(),
            Code::Unavailable
        );
    }
}
