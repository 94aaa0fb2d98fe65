//! What an authenticated caller's roles let it read, applied to a request: its read mask
//! (a mask naming sections beyond the grant is refused `PERMISSION_DENIED`, naming them; an
//! empty mask or `*` — "everything" — is narrowed to the grant) and reads past the caches.
//! Fields a role is denied inside a section it reads (`billing.payment_methods` for agents)
//! are left out of every answer, whatever the mask.
//! A `max_age` below the grant's floor is read as the floor.
//! With authentication off every request carries [`Grant::ALL`].

use tonic::{Request, Status};

use super::{
    call::{self, CallContext},
    status::{ApiError, code_name},
};
use crate::{
    core::entry::ServedFrom,
    core::read::Freshness,
    core::vocab::SectionSet,
    edge::audit::{self, Record},
    edge::auth::{Admitted, Caller, Grant},
};

/// Who asked, and the request's id: what the audit records of a call share. Cheap to take
/// on every call (a reference count, a header's bytes); the strings are made for a record
/// only, and a made-up request id once per call.
#[derive(Debug, Clone)]
pub(super) struct Trail {
    caller: Option<std::sync::Arc<Caller>>,
    call: Option<CallContext>,
    given_id: Option<tonic::metadata::AsciiMetadataValue>,
    request_id: std::sync::OnceLock<String>,
}

impl Trail {
    /// The caller the door put on `request` (`anonymous` with authentication off), and its
    /// request id: the server's (see `call.rs`), else its `x-request-id` or, when a record
    /// needs one, a new one.
    pub(super) fn of<T>(request: &Request<T>) -> Self {
        let call = call::context(request).cloned();
        Self {
            // The server's context holds the id already; a handler called without it (in
            // tests) reads the header.
            given_id: match call {
                Some(_) => None,
                None => request.metadata().get("x-request-id").cloned(),
            },
            call,
            caller: admitted(request).map(|admitted| admitted.caller.clone()),
            request_id: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn request_id(&self) -> String {
        if let Some(call) = &self.call {
            return call.request_id().to_owned();
        }
        let id = self.request_id.get_or_init(|| {
            let given = self.given_id.as_ref().and_then(|v| v.to_str().ok());
            audit::request_id(given)
        });
        id.clone()
    }

    /// Notes that the call was refused with `status`, for the audit and the access log.
    pub(super) fn note_refused(&self, status: &Status) {
        if let Some(call) = &self.call {
            call.note_refused(status.message());
        }
    }

    /// Notes where an answer came from, for the call's access log line.
    pub(super) fn note_served(&self, from: ServedFrom) {
        if let Some(call) = &self.call {
            call.note_served(from);
        }
    }

    /// The record of `rpc` for `customers`, serving `sections`, that ended as `outcome`.
    pub(super) fn record(
        &self,
        rpc: &'static str,
        customers: Vec<String>,
        sections: SectionSet,
        outcome: Result<Option<ServedFrom>, &ApiError>,
    ) -> Record {
        let (outcome, served_from) = match outcome {
            Ok(from) => ("OK".to_owned(), from.map(served_from)),
            Err(error) => (code_name(Status::from(error.clone()).code()), None),
        };
        Record {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            request_id: self.request_id(),
            caller: self
                .caller
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), |c| c.name.clone()),
            rpc: rpc.into(),
            customers,
            key: None,
            sections: sections.iter().map(|s| s.path()).collect(),
            outcome,
            refused: None,
            attention: None,
            offer: None,
            search: None,
            served_from,
        }
    }
}

fn served_from(from: ServedFrom) -> &'static str {
    match from {
        ServedFrom::L1 => "L1",
        ServedFrom::L2 => "L2",
        ServedFrom::Sources => "SOURCES",
    }
}

/// Who the door let in, and until when its credential holds; nothing with authentication
/// off.
pub(super) fn admitted<T>(request: &Request<T>) -> Option<&Admitted> {
    call::context(request)
        .and_then(CallContext::admitted)
        .or_else(|| request.extensions().get::<Admitted>())
}

/// The grant the door put on `request`; everything when authentication is off.
pub(super) fn grant_of<T>(request: &Request<T>) -> Grant {
    admitted(request).map_or(Grant::ALL, |admitted| admitted.grant)
}

/// Whether a read mask names its sections (rather than asking for everything).
pub(super) fn names_sections(mask: Option<&prost_types::FieldMask>) -> bool {
    mask.is_some_and(|m| !(m.paths.is_empty() || (m.paths.len() == 1 && m.paths[0].trim() == "*")))
}

/// The sections to serve of those `asked`, under `grant`.
pub(super) fn sections(
    grant: Grant,
    asked: SectionSet,
    named: bool,
) -> Result<SectionSet, ApiError> {
    let beyond = asked.without(grant.sections);
    if beyond.is_empty() {
        return Ok(asked);
    }
    if !named {
        return Ok(asked.intersection(grant.sections));
    }
    let names: Vec<&str> = beyond.iter().map(|s| s.path()).collect();
    Err(ApiError::PermissionDenied(format!(
        "your roles do not grant the sections {}",
        names.join(", ")
    )))
}

/// Whether `grant` allows reading as `freshness` asks, and how: a `max_age` below the
/// grant's floor is read as the floor (a caller without `bypass_cache` cannot force a load
/// on every call by asking for a copy no older than nothing).
pub(super) fn freshness(grant: Grant, freshness: Freshness) -> Result<Freshness, ApiError> {
    match freshness {
        Freshness::Bypass if !grant.bypass_cache => Err(ApiError::PermissionDenied(
            "your roles do not grant bypass_cache".into(),
        )),
        Freshness::MaxAge(age) => Ok(Freshness::MaxAge(age.max(grant.max_age_floor))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::core::vocab::Section;

    fn chatbot() -> Grant {
        Grant {
            sections: SectionSet::of(&[Section::Identity, Section::Shipments]),
            hidden: crate::core::vocab::FieldSet::ALL,
            bypass_cache: false,
            max_age_floor: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_mask_within_the_grant_is_served_as_asked() {
        let identity = SectionSet::of(&[Section::Identity]);
        assert_eq!(sections(chatbot(), identity, true), Ok(identity));
    }

    #[test]
    fn a_mask_naming_more_is_refused_naming_what_is_not_granted() {
        let asked = SectionSet::of(&[Section::Identity, Section::Billing, Section::Orders]);
        let refused = sections(chatbot(), asked, true).unwrap_err();
        assert_eq!(
            refused,
            ApiError::PermissionDenied(
                "your roles do not grant the sections billing, orders".into()
            )
        );
    }

    #[test]
    fn everything_is_narrowed_to_the_grant() {
        assert_eq!(
            sections(chatbot(), SectionSet::ALL, false),
            Ok(chatbot().sections)
        );
        assert_eq!(
            sections(Grant::ALL, SectionSet::ALL, false),
            Ok(SectionSet::ALL)
        );
    }

    #[test]
    fn bypass_cache_needs_its_grant() {
        assert!(freshness(chatbot(), Freshness::Bypass).is_err());
        assert_eq!(
            freshness(chatbot(), Freshness::AnyAge),
            Ok(Freshness::AnyAge)
        );
        assert_eq!(
            freshness(Grant::ALL, Freshness::Bypass),
            Ok(Freshness::Bypass)
        );
    }

    #[test]
    fn a_max_age_below_the_floor_is_read_as_the_floor() {
        let age = |secs| Freshness::MaxAge(Duration::from_secs(secs));
        assert_eq!(freshness(chatbot(), age(0)), Ok(age(5)));
        assert_eq!(freshness(chatbot(), age(60)), Ok(age(60)));
        assert_eq!(freshness(Grant::ALL, age(0)), Ok(age(0)));
    }

    #[test]
    fn a_mask_names_sections_unless_empty_or_star() {
        let mask = |paths: &[&str]| prost_types::FieldMask {
            paths: paths.iter().map(|p| p.to_string()).collect(),
        };
        assert!(!names_sections(None));
        assert!(!names_sections(Some(&mask(&[]))));
        assert!(!names_sections(Some(&mask(&["*"]))));
        assert!(names_sections(Some(&mask(&["billing"]))));
    }
}
