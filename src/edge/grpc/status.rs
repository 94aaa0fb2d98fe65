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
            field: field.into(),
            description: description.to_string(),
        }
    }
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

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::InvalidArgument(violations) => {
                let message = violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                let details = violations
                    .into_iter()
                    .map(|v| FieldViolation::new(v.field, v.description))
                    .collect::<Vec<_>>();
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: {message}"),
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
