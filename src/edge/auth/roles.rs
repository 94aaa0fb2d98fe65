//! Roles, as configured: the RPCs each grants (`*`, `Service/*` or `Service/Method`) and what
//! it may read. The RPC patterns of all roles are numbered once, each role holding the set of
//! its own, so a caller's RPCs are one set found when it is let in, and checking a call is a
//! walk over that set's few patterns — no role looked up by name on every call.

use std::{collections::BTreeMap, time::Duration};

use super::{AuthSetupError, Caller, DEFAULT_MAX_AGE_FLOOR, Grant, RoleSettings};
use crate::core::vocab::{Field, FieldSet, SectionSet};

/// The most distinct RPC patterns the roles may name together (there are far fewer RPCs).
const MAX_PATTERNS: usize = 64;

/// A set of RPC patterns, by their place in [`Roles::patterns`].
pub(super) type Patterns = u64;

/// What a role's `rpcs` entry grants.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// `*`: every RPC.
    Any,
    /// `Service/*`: every method of a service.
    Service(Box<str>),
    /// `Service/Method`.
    Method(Box<str>),
}

impl Pattern {
    fn parse(pattern: &str) -> Self {
        match pattern {
            "*" => Self::Any,
            _ => match pattern.strip_suffix("/*") {
                Some(service) => Self::Service(service.into()),
                None => Self::Method(pattern.into()),
            },
        }
    }

    /// Whether it grants `rpc` (`Service/Method`).
    fn grants(&self, rpc: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Method(method) => **method == *rpc,
            Self::Service(service) => rpc
                .strip_prefix(&**service)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

#[derive(Debug, Clone)]
struct Role {
    rpcs: Patterns,
    sections: SectionSet,
    hidden: FieldSet,
    bypass_cache: bool,
    max_age_floor: Duration,
}

impl Role {
    /// The fields it reads: those of its sections it is not denied.
    fn fields(&self) -> FieldSet {
        Field::ALL
            .into_iter()
            .filter(|f| self.sections.contains(f.section()) && !self.hidden.contains(*f))
            .fold(FieldSet::NONE, |read, f| read.union(FieldSet::of(&[f])))
    }
}

/// The roles configured, by name, and the RPC patterns they name.
#[derive(Debug, Clone)]
pub(super) struct Roles {
    roles: BTreeMap<String, Role>,
    /// Each once.
    patterns: Vec<Pattern>,
}

impl Roles {
    /// The roles `settings` configures; an unknown section or field, or more than
    /// [`MAX_PATTERNS`] distinct RPC patterns in all, is refused naming the role.
    pub(super) fn new(settings: &BTreeMap<String, RoleSettings>) -> Result<Self, AuthSetupError> {
        let mut patterns = Vec::new();
        let roles = settings
            .iter()
            .map(|(name, role)| {
                let rpcs = role.rpcs.iter().try_fold(0, |rpcs: Patterns, rpc| {
                    Ok(rpcs | 1 << number(&mut patterns, Pattern::parse(rpc), name)?)
                })?;
                let sections = SectionSet::from_mask(&role.sections).map_err(|error| {
                    AuthSetupError::Invalid(format!("auth.roles.{name}.sections: {error}"))
                })?;
                let hidden = FieldSet::from_paths(&role.hide).map_err(|error| {
                    AuthSetupError::Invalid(format!("auth.roles.{name}.hide: {error}"))
                })?;
                let role = Role {
                    rpcs,
                    sections,
                    hidden,
                    bypass_cache: role.bypass_cache,
                    max_age_floor: role.max_age_floor(),
                };
                Ok((name.clone(), role))
            })
            .collect::<Result<_, AuthSetupError>>()?;
        Ok(Self { roles, patterns })
    }

    /// The RPC patterns `caller`'s roles grant (roles not configured grant none).
    pub(super) fn rpcs(&self, caller: &Caller) -> Patterns {
        caller
            .roles
            .iter()
            .filter_map(|role| self.roles.get(role))
            .fold(0, |rpcs, role| rpcs | role.rpcs)
    }

    /// Whether one of the patterns `granted` grants `rpc` (`Service/Method`).
    pub(super) fn allows(&self, granted: Patterns, rpc: &str) -> bool {
        let mut left = granted;
        while left != 0 {
            let at = left.trailing_zeros() as usize;
            if self.patterns.get(at).is_some_and(|p| p.grants(rpc)) {
                return true;
            }
            left &= left - 1;
        }
        false
    }

    /// Whether `caller` holds a role configured here.
    pub(super) fn knows_one_of(&self, caller: &Caller) -> bool {
        caller
            .roles
            .iter()
            .any(|role| self.roles.contains_key(role))
    }

    /// What `caller`'s roles let it read: the union of their grants.
    pub(super) fn grant(&self, caller: &Caller) -> Grant {
        // A field is hidden unless some role reads it.
        let roles = || caller.roles.iter().filter_map(|role| self.roles.get(role));
        // The most any of its roles allows, as for the rest.
        let max_age_floor = roles()
            .map(|role| role.max_age_floor)
            .min()
            .unwrap_or(DEFAULT_MAX_AGE_FLOOR);
        let (sections, fields, bypass_cache) = roles().fold(
            (SectionSet::NONE, FieldSet::NONE, false),
            |(sections, fields, bypass), role| {
                (
                    sections.union(role.sections),
                    fields.union(role.fields()),
                    bypass || role.bypass_cache,
                )
            },
        );
        Grant {
            sections,
            hidden: FieldSet::ALL.without(fields),
            bypass_cache,
            max_age_floor,
        }
    }
}

/// The place of `pattern` among `patterns`, which it joins if new; an error naming `role`
/// when there is no room for it.
fn number(
    patterns: &mut Vec<Pattern>,
    pattern: Pattern,
    role: &str,
) -> Result<usize, AuthSetupError> {
    if let Some(at) = patterns.iter().position(|known| *known == pattern) {
        return Ok(at);
    }
    if patterns.len() == MAX_PATTERNS {
        return Err(AuthSetupError::Invalid(format!(
            "auth.roles.{role}.rpcs: the roles name more than {MAX_PATTERNS} distinct RPC \
             patterns in all"
        )));
    }
    patterns.push(pattern);
    Ok(patterns.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(rpcs: &[(&str, &[&str])]) -> Result<Roles, AuthSetupError> {
        let settings = rpcs
            .iter()
            .map(|(name, rpcs)| {
                let role = RoleSettings {
                    rpcs: rpcs.iter().map(|r| (*r).to_owned()).collect(),
                    sections: vec!["*".into()],
                    hide: Vec::new(),
                    bypass_cache: false,
                    max_age_floor: None,
                };
                ((*name).to_owned(), role)
            })
            .collect();
        Roles::new(&settings)
    }

    fn caller(roles: &[&str]) -> Caller {
        Caller {
            name: "jwt:someone".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn patterns_grant_a_service_a_method_or_everything() {
        let roles = roles(&[
            (
                "reader",
                &["CustomerService/*", "CatalogService/GetProduct"],
            ),
            ("root", &["*"]),
            ("other", &["CustomerService/*"]),
        ])
        .unwrap();
        assert_eq!(roles.patterns.len(), 3, "a pattern two roles name is one");
        let reader = roles.rpcs(&caller(&["reader", "unknown"]));
        assert!(roles.allows(reader, "CustomerService/GetCustomerProfile"));
        assert!(roles.allows(reader, "CatalogService/GetProduct"));
        assert!(!roles.allows(reader, "CatalogService/ListProducts"));
        assert!(!roles.allows(reader, "CacheAdminService/Invalidate"));
        // A service's name is matched whole, not as a prefix.
        assert!(!roles.allows(reader, "CustomerServiceX/GetCustomerProfile"));
        assert!(!roles.allows(reader, "CatalogService/GetProductX"));
        let root = roles.rpcs(&caller(&["root"]));
        assert!(roles.allows(root, "CacheAdminService/Invalidate"));
        assert!(!roles.allows(
            roles.rpcs(&caller(&["unknown"])),
            "CatalogService/GetProduct"
        ));
    }

    #[test]
    fn more_patterns_than_a_set_holds_are_refused_naming_the_role() {
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|n| format!("S/M{n}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let refused = roles(&[("wide", &many)]).unwrap_err().to_string();
        assert!(refused.contains("auth.roles.wide.rpcs"), "{refused}");
        assert!(roles(&[("wide", &many[..MAX_PATTERNS])]).is_ok());
    }
}
