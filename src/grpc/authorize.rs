//! What an authenticated caller's roles let it read, applied to a request: its read mask
//! (a mask naming sections beyond the grant is refused `PERMISSION_DENIED`, naming them; an
//! empty mask or `*` — "everything" — is narrowed to the grant) and reads past the caches.
//! With authentication off every request carries [`Grant::ALL`].

use tonic::Request;

use super::status::ApiError;
use crate::{auth::Grant, profiles::Freshness, vocab::SectionSet};

/// The grant the door put on `request`; everything when authentication is off.
pub(super) fn grant_of<T>(request: &Request<T>) -> Grant {
    request
        .extensions()
        .get::<Grant>()
        .copied()
        .unwrap_or(Grant::ALL)
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

/// Whether `grant` allows reading as `freshness` asks.
pub(super) fn freshness(grant: Grant, freshness: Freshness) -> Result<Freshness, ApiError> {
    match freshness {
        Freshness::Bypass if !grant.bypass_cache => Err(ApiError::PermissionDenied(
            "your roles do not grant bypass_cache".into(),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Section;

    fn chatbot() -> Grant {
        Grant {
            sections: SectionSet::of(&[Section::Identity, Section::Shipments]),
            bypass_cache: false,
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
