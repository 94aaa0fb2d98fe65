//! Who is calling, and what they may call: bearer JWTs for agent UIs (`jwt.rs`), API keys for
//! services (`api_keys.rs`), and roles that grant RPCs and profile sections. Deny by default: with
//! authentication on, a call with no credentials is `UNAUTHENTICATED`, and one whose roles
//! grant no access to its RPC is `PERMISSION_DENIED`. No credential is ever logged: only the
//! caller's name (a token's subject, a key's configured name). What is configured is
//! `settings.rs`; tokens already verified are remembered until they expire (`tokens.rs`).

mod api_keys;
mod jwt;
mod live;
mod roles;
mod settings;
mod tokens;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use sha2::{Digest, Sha256};

pub use api_keys::{api_key_hash, new_api_key};
pub use jwt::mint;
pub use live::{LiveAuth, Presented};
pub use settings::{
    ApiKeySettings, AuthSettings, DEFAULT_MAX_AGE_FLOOR, JwtSettings, RoleSettings,
};

use self::{
    jwt::JwtVerifier,
    roles::{Patterns, Roles},
    tokens::VerifiedTokens,
};
use crate::core::vocab::{FieldSet, SectionSet};

/// What a caller's name starts with when a token's subject names it...
pub const JWT_NAMESPACE: &str = "jwt:";
/// ...and when an API key's name does: the two never share a rate limit or an audit name.
pub const KEY_NAMESPACE: &str = "key:";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// A token's subject (`jwt:alice`), or an API key's name (`key:billing-bot`).
    pub name: String,
    /// The roles it holds.
    pub roles: Vec<String>,
}

/// A caller let in, and what its roles let it read: what the door hands the services (one
/// request extension).
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Who.
    pub caller: Arc<Caller>,
    /// What it may read.
    pub grant: Grant,
    /// When its credential expires (a token's `exp`, Unix seconds); `None` for an API key.
    /// A stream it opened ends then.
    pub expires: Option<u64>,
    /// The RPCs its roles grant, as the authenticator that let it in numbers its patterns:
    /// a remembered caller's call is then checked without looking its roles up again.
    rpcs: Patterns,
}

/// A caller its credentials prove, not yet let in: see [`Authenticator::admit`].
#[derive(Debug)]
pub struct Checked {
    /// Who, and what it may read.
    pub admitted: Admitted,
    /// A bearer token verified for this call, and its `exp`: remembered once the call is in.
    verified: Option<(String, u64)>,
}

/// Why a call was refused. The texts are for the caller: they never hold a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error(
        "credentials required: a bearer token (authorization: Bearer …) or an API key (x-api-key)"
    )]
    Missing,
    /// Credentials that do not hold.
    #[error("credentials refused: {0}")]
    Invalid(&'static str),
    /// Authenticated, but no role grants this RPC.
    #[error("{caller} may not call {rpc}")]
    Denied {
        /// The caller's name.
        caller: String,
        /// The RPC, `Service/Method`.
        rpc: String,
    },
}

/// Why the authentication settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The token keys could not be read.
    #[error("cannot read the JWT keys from {path}")]
    KeysFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A key or an algorithm is not usable.
    #[error("{0}")]
    Invalid(String),
}

/// What an authenticated caller may read: the union of its roles' grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The profile sections.
    pub sections: SectionSet,
    /// Fields of those sections left out of what it reads.
    pub hidden: FieldSet,
    /// Reads past the caches.
    pub bypass_cache: bool,
    /// The youngest `max_age` served: one asked below it is read as this.
    pub max_age_floor: Duration,
}

impl Grant {
    /// Everything: what a call gets while authentication is off.
    pub const ALL: Self = Self {
        sections: SectionSet::ALL,
        hidden: FieldSet::NONE,
        bypass_cache: true,
        max_age_floor: Duration::ZERO,
    };
}

type Limiter = governor::DefaultKeyedRateLimiter<String>;

/// Checks credentials and grants.
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    api_keys: Vec<(String, [u8; 32], Vec<String>)>,
    roles: Roles,
    /// Per caller (by name); `None`: no limit. Shared with a replacement of the same rate.
    limiter: Option<Arc<Limiter>>,
    /// The rate and burst the limiter was built for.
    rate: (u32, u32),
    /// Tokens already verified, until they expire.
    verified: VerifiedTokens,
}

/// The header an API key travels in.
const API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

/// Now, in Unix seconds (what a token's `exp` counts).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("jwt", &self.jwt.is_some())
            .field("api_keys", &self.api_keys.len())
            .field("roles", &self.roles)
            .field("rate_limited", &self.limiter.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Checks tokens as `jwt` says (if set) and the `api_keys`, granting as `roles` say.
    pub fn new(
        jwt: Option<&JwtSettings>,
        api_keys: &[ApiKeySettings],
        roles: &BTreeMap<String, RoleSettings>,
    ) -> Result<Self, AuthSetupError> {
        let roles = Roles::new(roles)?;
        let jwt = jwt.map(JwtVerifier::new).transpose()?;
        let api_keys = api_keys
            .iter()
            .map(|key| {
                let hash = api_keys::parse_hex32(&key.sha256).ok_or_else(|| {
                    AuthSetupError::Invalid(format!(
                        "the API key of {} must be its SHA-256, 64 hex digits",
                        key.name
                    ))
                })?;
                Ok((key.name.clone(), hash, key.roles.clone()))
            })
            .collect::<Result<_, AuthSetupError>>()?;
        Ok(Self {
            jwt,
            api_keys,
            roles,
            limiter: None,
            rate: (0, 0),
            verified: VerifiedTokens::new(),
        })
    }

    /// The same, each caller limited to `per_second` calls a second sustained and `burst` at
    /// once above it (GCRA, as `governor` keeps it); 0 a second: no limit.
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        let quota = std::num::NonZeroU32::new(per_second).map(|rate| {
            let burst = std::num::NonZeroU32::new(burst).unwrap_or(rate);
            governor::Quota::per_second(rate).allow_burst(burst)
        });
        self.limiter = quota.map(|quota| Arc::new(Limiter::keyed(quota)));
        self.rate = (per_second, burst);
        self
    }

    /// Whether `caller` may make one more call now; how long to wait if not.
    pub fn check_rate(&self, caller: &Caller) -> Result<(), Duration> {
        use governor::clock::{Clock, DefaultClock};
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&caller.name)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// The caller the headers of a call prove and what it may read. A bearer token already
    /// verified is looked up (by the token itself, whatever spaces or `Bearer`'s case
    /// surround it); one verified now is remembered only by [`Self::keep`], once the call
    /// is let in, so that refused calls (over the rate, denied) never fill the memory.
    pub fn admit(&self, headers: &http::HeaderMap) -> Result<Checked, AuthError> {
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .filter(|_| !headers.contains_key(&API_KEY));
        // Looked up by its bytes: a token remembered was checked whole once, so one equal to
        // it needs no check of its characters again.
        let remembered = presented
            .and_then(|value| jwt::bearer_token_bytes(value.as_bytes()))
            .and_then(|token| self.verified.get(token, std::time::SystemTime::now()));
        if let Some(admitted) = remembered {
            return Ok(Checked {
                admitted,
                verified: None,
            });
        }
        let token = presented
            .and_then(|value| value.to_str().ok())
            .and_then(jwt::bearer_token);
        let caller = self.authenticate(headers)?;
        let verified = token
            .zip(self.jwt.as_ref())
            .and_then(|(token, jwt)| Some((token.to_owned(), jwt.expiry(token)?)));
        let admitted = Admitted {
            grant: self.grant(&caller),
            rpcs: self.roles.rpcs(&caller),
            caller: Arc::new(caller),
            expires: verified.as_ref().map(|(_, expires)| *expires),
        };
        Ok(Checked { admitted, verified })
    }

    /// The call `checked` let in: its token, if verified just now, is remembered until it
    /// expires (no longer than its `exp`: the leeway applies to the first check only).
    pub fn keep(&self, checked: Checked) -> Admitted {
        if let Some((token, expires)) = checked.verified {
            self.verified
                .remember(&token, checked.admitted.clone(), expires);
        }
        checked.admitted
    }

    /// The caller the headers of a call prove: `authorization: Bearer <jwt>` or
    /// `x-api-key: <key>`.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, AuthError> {
        if let Some(key) = headers.get(&API_KEY) {
            let key = key
                .to_str()
                .map_err(|_| AuthError::Invalid("malformed API key"))?;
            let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            return self
                .api_keys
                .iter()
                .find(|(_, known, _)| *known == hash)
                .map(|(name, _, roles)| Caller {
                    name: format!("{KEY_NAMESPACE}{name}"),
                    roles: roles.clone(),
                })
                .ok_or(AuthError::Invalid("unknown API key"));
        }
        let Some(authorization) = headers.get(http::header::AUTHORIZATION) else {
            return Err(AuthError::Missing);
        };
        let token = authorization
            .to_str()
            .ok()
            .and_then(jwt::bearer_token)
            .ok_or(AuthError::Invalid("authorization must be Bearer <token>"))?;
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(AuthError::Invalid("bearer tokens are not accepted here"))?;
        jwt.verify(token)
    }

    /// Whether `caller` may call `rpc` (`Service/Method`, the package left out).
    pub fn authorize(&self, caller: &Caller, rpc: &str) -> Result<(), AuthError> {
        self.allow(caller, self.roles.rpcs(caller), rpc)
    }

    /// Whether the caller this authenticator let in as `admitted` may call `rpc`: the RPCs
    /// its roles grant were found when it was let in.
    pub fn authorize_admitted(&self, admitted: &Admitted, rpc: &str) -> Result<(), AuthError> {
        self.allow(&admitted.caller, admitted.rpcs, rpc)
    }

    fn allow(&self, caller: &Caller, granted: Patterns, rpc: &str) -> Result<(), AuthError> {
        match self.roles.allows(granted, rpc) {
            true => Ok(()),
            false => Err(AuthError::Denied {
                caller: caller.name.clone(),
                rpc: rpc.to_owned(),
            }),
        }
    }

    /// Whether `caller` holds a role this service knows: what reflection and `/metrics` ask,
    /// beyond a valid credential (a token of no role, or only unknown ones, is refused).
    pub fn knows_a_role(&self, caller: &Caller) -> bool {
        self.roles.knows_one_of(caller)
    }

    /// What `caller`'s roles let it read.
    pub fn grant(&self, caller: &Caller) -> Grant {
        self.roles.grant(caller)
    }
}

#[cfg(test)]
mod tests;
