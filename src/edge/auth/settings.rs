//! Who may call, and what (`[auth]`): bearer tokens for agent UIs, API keys for services,
//! roles that grant RPCs and profile sections, and each caller's rate.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{AuthSetupError, Authenticator};
use crate::core::settings::{Check, MS, Secret};

const HOUR: Duration = Duration::from_secs(3600);

/// Authentication and the roles it grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Every call but health's must carry credentials whose roles grant its RPC.
    pub enabled: bool,
    /// Bearer tokens, for agent UIs.
    pub jwt: Option<JwtSettings>,
    /// API keys, for services.
    pub api_keys: Vec<ApiKeySettings>,
    /// Role name → the RPCs it grants: `CustomerService/GetCustomerProfile`,
    /// `CustomerService/*`, or `*`.
    pub roles: BTreeMap<String, RoleSettings>,
    /// Calls a second each caller may make, sustained (0: no limit); beyond it calls are
    /// refused `RESOURCE_EXHAUSTED` with the wait in a `RetryInfo`.
    pub rate_limit: u32,
    /// Calls a caller may make at once above the rate.
    pub rate_burst: u32,
    /// How often `c360 serve` looks for a change to its configuration file (and the JWT keys
    /// file): on one, and on SIGHUP, `[auth]` is read again and put in service if it holds.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|r| (*r).to_owned()).collect();
        let role = |rpcs: &[&str]| RoleSettings {
            rpcs: strings(rpcs),
            sections: vec!["*".into()],
            hide: Vec::new(),
            bypass_cache: false,
            max_age_floor: None,
        };
        // Agents see that a card is on file and expiring (the insights say so), not the
        // cards themselves; they read profiles and the catalog, work the queue, and search
        // the history of the customer in front of them.
        let agent = |more: &[&str]| {
            let rpcs = [
                "CustomerService/*",
                "CatalogService/*",
                "AttentionService/*",
                "HistoryService/SearchHistory",
            ];
            RoleSettings {
                hide: strings(&["billing.payment_methods"]),
                ..role(&[&rpcs[..], more].concat())
            }
        };
        Self {
            enabled: false,
            jwt: None,
            api_keys: Vec::new(),
            rate_limit: 500,
            rate_burst: 1000,
            reload_interval: Duration::from_secs(5),
            roles: BTreeMap::from([
                (
                    "agent".to_owned(),
                    agent(&["OfferService/GetOfferEnvelope", "OfferService/RecordOffer"]),
                ),
                (
                    // An agent who also approves what goes beyond an agent's limits, and
                    // searches every customer's history.
                    "supervisor".to_owned(),
                    agent(&["OfferService/*", "HistoryService/*"]),
                ),
                (
                    "chatbot".to_owned(),
                    RoleSettings {
                        sections: strings(&["identity", "shipments"]),
                        ..role(&[
                            "CustomerService/GetCustomerProfile",
                            "CatalogService/CheckReturnEligibility",
                        ])
                    },
                ),
                (
                    "service".to_owned(),
                    // Services read profiles, and carry out the offers agents made.
                    role(&[
                        "CustomerService/*",
                        "CatalogService/*",
                        "OfferService/ListOffers",
                        "OfferService/WatchOffers",
                    ]),
                ),
                (
                    "admin".to_owned(),
                    RoleSettings {
                        bypass_cache: true,
                        ..role(&["*"])
                    },
                ),
            ]),
        }
    }
}

/// How bearer tokens are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// Accepted algorithms, all of one family: `["RS256"]`, `["ES256"]`, `["HS256"]`.
    pub algorithms: Vec<String>,
    /// The issuer (`iss`) tokens must name.
    pub issuer: String,
    /// The audience (`aud`) tokens must name.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde", default = "default_leeway")]
    pub leeway: Duration,
    /// An HMAC secret, for `HS*` (development; at least 32 bytes).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// The issuer's public keys: a PEM file or a JWKS (JSON) file.
    #[serde(default)]
    pub keys_file: Option<String>,
    /// The claim that lists the caller's roles.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

fn default_roles_claim() -> String {
    "roles".into()
}

/// A service's API key: only its hash is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettings {
    /// Who holds it (logs and audit name it so).
    pub name: String,
    /// SHA-256 of the key, 64 hex digits (`c360 key-hash`, or `printf %s KEY | sha256sum`).
    pub sha256: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// What a role grants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSettings {
    /// RPCs: `Service/Method`, `Service/*` or `*`.
    pub rpcs: Vec<String>,
    /// Profile sections it reads, as read-mask paths (`identity`, `billing`, …); `*`: all.
    #[serde(default = "every_section")]
    pub sections: Vec<String>,
    /// Fields of those sections it may not read: `billing.payment_methods`.
    #[serde(default)]
    pub hide: Vec<String>,
    /// Whether it may read past the caches (`bypass_cache`).
    #[serde(default)]
    pub bypass_cache: bool,
    /// The youngest copy its callers may ask for: a `max_age` below it is read as this age,
    /// so that all of the role's callers together cause at most one load per customer in
    /// each such span. Unset: none for a role with `bypass_cache`, 5 s for one without.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age_floor: Option<Duration>,
}

/// The floor on `max_age` of a role without `bypass_cache` that names none of its own.
pub const DEFAULT_MAX_AGE_FLOOR: Duration = Duration::from_secs(5);

impl RoleSettings {
    /// The youngest `max_age` its callers are served (see `max_age_floor`).
    pub fn max_age_floor(&self) -> Duration {
        let default = match self.bypass_cache {
            true => Duration::ZERO,
            false => DEFAULT_MAX_AGE_FLOOR,
        };
        self.max_age_floor.unwrap_or(default)
    }
}

fn every_section() -> Vec<String> {
    vec!["*".into()]
}

impl AuthSettings {
    /// The authenticator these settings describe; `None` when authentication is off.
    pub fn authenticator(&self) -> Result<Option<Authenticator>, AuthSetupError> {
        if !self.enabled {
            return Ok(None);
        }
        let auth = Authenticator::new(self.jwt.as_ref(), &self.api_keys, &self.roles)?;
        Ok(Some(auth.with_rate_limit(self.rate_limit, self.rate_burst)))
    }

    /// Refuses settings that let nobody in, or that cannot be used: keys that do not read,
    /// algorithms that do not go together, roles naming unknown sections.
    pub fn check(&self, c: &mut Check) {
        c.duration("reload_interval", self.reload_interval, 100 * MS, HOUR);
        if self.enabled && self.jwt.is_none() && self.api_keys.is_empty() {
            let rule = "needs a way in: [auth.jwt] for tokens or [[auth.api_keys]] for services";
            c.refuse("enabled", "true", rule);
        }
        // Credentials set while authentication is off would serve every call without one:
        // refused, naming what is set, rather than guessed at.
        let set: Vec<&str> = [
            (self.jwt.is_some(), "[auth.jwt]"),
            (!self.api_keys.is_empty(), "[[auth.api_keys]]"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if !self.enabled && !set.is_empty() {
            let (named, verb) = (set.join(" and "), if set.len() == 1 { "is" } else { "are" });
            let rule = format!(
                "must be true while {named} {verb} set (off, every call would be served \
                 without credentials), or {named} removed"
            );
            c.refuse("enabled", "false", rule);
        }
        if let Err(error) = self.authenticator() {
            c.refuse("", "(as configured)", format!("is not usable: {error}"));
        }
    }
}
