//! Who is calling, and what they may call: bearer JWTs for agent UIs, API keys for services,
//! and roles that grant RPCs. Deny by default: with authentication on, a call with no
//! credentials is `UNAUTHENTICATED`, and one whose roles grant no access to its RPC is
//! `PERMISSION_DENIED`. No credential is ever logged: only the caller's name (a token's
//! subject, a key's configured name).
//!
//! Tokens are checked against an allow-list of algorithms (never the token's own say), the
//! issuer, the audience and the expiry (with a small leeway), under keys from the
//! configuration: an HMAC secret, a PEM public key or a JWKS file. API keys are stored hashed
//! (SHA-256) in the configuration; the key itself exists only with its holder.

use std::{collections::BTreeMap, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::core::vocab::{Field, FieldSet, SectionSet};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// A token's subject, or an API key's name.
    pub name: String,
    /// The roles it holds.
    pub roles: Vec<String>,
}

/// A caller let in, and what its roles let it read: what the door hands the services (one
/// request extension).
#[derive(Debug, Clone)]
pub struct Admitted {
    /// Who.
    pub caller: std::sync::Arc<Caller>,
    /// What it may read.
    pub grant: Grant,
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

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Algorithms accepted, e.g. `RS256`, `ES256`, `HS256`; all of one family.
    pub algorithms: Vec<String>,
    /// The issuer tokens must name.
    pub issuer: String,
    /// The audience tokens must name.
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// An HMAC secret (for `HS*`).
    pub secret: Option<String>,
    /// Public keys: a PEM file or a JWKS (JSON) file.
    pub keys_file: Option<String>,
    /// The claim holding the caller's roles (a list of strings).
    pub roles_claim: String,
}

/// A service's API key, as configured.
#[derive(Debug, Clone)]
pub struct ApiKeySettings {
    /// Who holds it, for the logs and the audit.
    pub name: String,
    /// SHA-256 of the key, hex.
    pub sha256: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// What a role grants, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    /// RPC patterns: `CustomerService/GetCustomerProfile`, `CustomerService/*`, `*`.
    pub rpcs: Vec<String>,
    /// Profile sections it may read (read-mask paths; `*`: every one).
    pub sections: Vec<String>,
    /// Fields of those sections it may not read (`billing.payment_methods`).
    pub hide: Vec<String>,
    /// Whether it may read past the caches (`bypass_cache`): each such read costs the
    /// backends four queries.
    pub bypass_cache: bool,
}

#[derive(Debug, Clone)]
struct Role {
    rpcs: Vec<String>,
    sections: SectionSet,
    hidden: FieldSet,
    bypass_cache: bool,
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

/// What an authenticated caller may read: the union of its roles' grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The profile sections.
    pub sections: SectionSet,
    /// Fields of those sections left out of what it reads.
    pub hidden: FieldSet,
    /// Reads past the caches.
    pub bypass_cache: bool,
}

impl Grant {
    /// Everything: what a call gets while authentication is off.
    pub const ALL: Self = Self {
        sections: SectionSet::ALL,
        hidden: FieldSet::NONE,
        bypass_cache: true,
    };
}

/// How many calls a caller may make: a steady rate and a burst above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls a second, sustained.
    pub per_second: u32,
    /// Calls at once above the rate.
    pub burst: u32,
}

type Limiter = governor::DefaultKeyedRateLimiter<String>;

/// Checks credentials and grants.
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    api_keys: Vec<(String, [u8; 32], Vec<String>)>,
    roles: BTreeMap<String, Role>,
    /// Per caller (by name); `None`: no limit.
    limiter: Option<Limiter>,
    /// Tokens already verified, until they expire, by their signature: a caller's every call
    /// then costs a map lookup and a comparison, not a signature check and a JSON parse.
    verified: std::sync::Mutex<std::collections::HashMap<String, Verified>>,
}

/// A verified token: the token itself, who it names and what they may read, and when it
/// expires (Unix seconds).
#[derive(Debug, Clone)]
struct Verified {
    token: String,
    admitted: Admitted,
    expires: u64,
}

/// The part of a token its memory is looked up by: the signature, the end of a JWT (short,
/// so cheap to hash). A hit is compared whole.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

/// Verified tokens remembered at most; beyond, the memory starts again.
const VERIFIED: usize = 10_000;

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

struct JwtVerifier {
    validation: Validation,
    /// Keys by id (`kid`); the key of a token without `kid` is the one under `None`.
    keys: Vec<(Option<String>, DecodingKey)>,
    roles_claim: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

/// A token for `subject` with `roles`, valid for `ttl`, signed with the HMAC secret of
/// `settings`: for development and tests (`c360 token`). Production tokens come from the
/// identity provider, signed with its private key.
pub fn mint(
    settings: &JwtSettings,
    subject: &str,
    roles: &[String],
    ttl: Duration,
) -> Result<String, AuthSetupError> {
    let invalid = |m: &str| AuthSetupError::Invalid(m.to_owned());
    let secret = settings
        .secret
        .as_ref()
        .ok_or_else(|| invalid("minting needs auth.jwt.secret (an HS* algorithm)"))?;
    let algorithm = settings
        .algorithms
        .first()
        .and_then(|a| a.parse::<Algorithm>().ok())
        .filter(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        .ok_or_else(|| invalid("minting needs an HS* algorithm first in auth.jwt.algorithms"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({
        "sub": subject,
        "iss": settings.issuer,
        "aud": settings.audience,
        "iat": now,
        "exp": now + ttl.as_secs(),
        settings.roles_claim.clone(): roles,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| invalid("the token could not be signed"))
}

/// A new random API key (`c360_k_` and 32 random bytes, hex): give it to the service, put its
/// [`api_key_hash`] in the configuration.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("c360_k_{hex}")
}

/// The token of an `authorization: Bearer <token>` header's value.
fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
}

/// SHA-256 of `key`, hex: what the configuration stores for an API key.
pub fn api_key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Authenticator {
    /// Checks tokens as `jwt` says (if set) and the `api_keys`, granting as `roles` say.
    pub fn new(
        jwt: Option<&JwtSettings>,
        api_keys: &[ApiKeySettings],
        roles: &BTreeMap<String, RoleSettings>,
    ) -> Result<Self, AuthSetupError> {
        let roles = roles
            .iter()
            .map(|(name, role)| {
                let sections = SectionSet::from_mask(&role.sections).map_err(|error| {
                    AuthSetupError::Invalid(format!("auth.roles.{name}.sections: {error}"))
                })?;
                let hidden = FieldSet::from_paths(&role.hide).map_err(|error| {
                    AuthSetupError::Invalid(format!("auth.roles.{name}.hide: {error}"))
                })?;
                let role = Role {
                    rpcs: role.rpcs.clone(),
                    sections,
                    hidden,
                    bypass_cache: role.bypass_cache,
                };
                Ok((name.clone(), role))
            })
            .collect::<Result<_, AuthSetupError>>()?;
        let jwt = jwt.map(JwtVerifier::new).transpose()?;
        let api_keys = api_keys
            .iter()
            .map(|key| {
                let hash = parse_hex32(&key.sha256).ok_or_else(|| {
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
            verified: std::sync::Mutex::default(),
        })
    }

    /// The same, each caller limited to `limit` (GCRA, as `governor` keeps it).
    pub fn with_rate_limit(mut self, limit: RateLimit) -> Self {
        let quota = std::num::NonZeroU32::new(limit.per_second).map(|rate| {
            let burst = std::num::NonZeroU32::new(limit.burst).unwrap_or(rate);
            governor::Quota::per_second(rate).allow_burst(burst)
        });
        self.limiter = quota.map(Limiter::keyed);
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

    /// The caller the headers of a call prove and what it may read, remembered for a bearer
    /// token until it expires (no longer than its `exp` plus nothing: the leeway applies to
    /// the first check only).
    pub fn admit(&self, headers: &http::HeaderMap) -> Result<Admitted, AuthError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| !headers.contains_key("x-api-key"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if let Some(token) = token {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(known) = verified.get(signature(token))
                && known.token == token
                && known.expires > now
            {
                return Ok(known.admitted.clone());
            }
        }
        let caller = self.authenticate(headers)?;
        let admitted = Admitted {
            grant: self.grant(&caller),
            caller: std::sync::Arc::new(caller),
        };
        if let Some(token) = token
            && let Some(jwt) = &self.jwt
            && let Some(expires) = jwt.expiry(token)
        {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= VERIFIED {
                verified.clear();
            }
            let entry = Verified {
                token: token.to_owned(),
                admitted: admitted.clone(),
                expires,
            };
            verified.insert(signature(token).to_owned(), entry);
        }
        Ok(admitted)
    }

    /// The caller the headers of a call prove: `authorization: Bearer <jwt>` or
    /// `x-api-key: <key>`.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, AuthError> {
        if let Some(key) = headers.get("x-api-key") {
            let key = key
                .to_str()
                .map_err(|_| AuthError::Invalid("malformed API key"))?;
            let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            return self
                .api_keys
                .iter()
                .find(|(_, known, _)| *known == hash)
                .map(|(name, _, roles)| Caller {
                    name: name.clone(),
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
            .and_then(bearer_token)
            .ok_or(AuthError::Invalid("authorization must be Bearer <token>"))?;
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(AuthError::Invalid("bearer tokens are not accepted here"))?;
        jwt.verify(token)
    }

    /// Whether `caller` may call `rpc` (`Service/Method`, the package left out).
    pub fn authorize(&self, caller: &Caller, rpc: &str) -> Result<(), AuthError> {
        let service = rpc.split('/').next().unwrap_or_default();
        let granted = caller
            .roles
            .iter()
            .filter_map(|role| self.roles.get(role))
            .flat_map(|role| &role.rpcs)
            .any(|pattern| {
                pattern == "*"
                    || pattern == rpc
                    || pattern
                        .strip_suffix("/*")
                        .is_some_and(|granted| granted == service)
            });
        match granted {
            true => Ok(()),
            false => Err(AuthError::Denied {
                caller: caller.name.clone(),
                rpc: rpc.to_owned(),
            }),
        }
    }
}

impl Authenticator {
    /// What `caller`'s roles let it read.
    pub fn grant(&self, caller: &Caller) -> Grant {
        // A field is hidden unless some role reads it.
        let roles = caller.roles.iter().filter_map(|role| self.roles.get(role));
        let (sections, fields, bypass_cache) = roles.fold(
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
        }
    }
}

impl JwtVerifier {
    /// The `exp` of a token already verified.
    fn expiry(&self, authorization: &str) -> Option<u64> {
        let token = bearer_token(authorization)?;
        let payload = token.split('.').nth(1)?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        claims.get("exp")?.as_u64()
    }

    fn new(settings: &JwtSettings) -> Result<Self, AuthSetupError> {
        let invalid = |m: String| AuthSetupError::Invalid(m);
        let algorithms = settings
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| invalid(format!("unknown JWT algorithm {a:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let hmac =
            |a: &Algorithm| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
        if algorithms.is_empty() {
            return Err(invalid("auth.jwt.algorithms must name at least one".into()));
        }
        if algorithms.iter().any(hmac) && !algorithms.iter().all(hmac) {
            // A public key must never be taken for an HMAC secret (RFC 8725 §2.1).
            return Err(invalid(
                "auth.jwt.algorithms mixes HMAC (HS*) with public-key algorithms".into(),
            ));
        }
        let mut keys = Vec::new();
        if let Some(secret) = &settings.secret {
            if !algorithms.iter().all(hmac) {
                return Err(invalid("auth.jwt.secret is for HS* algorithms only".into()));
            }
            if secret.len() < 32 {
                return Err(invalid("auth.jwt.secret must be at least 32 bytes".into()));
            }
            keys.push((None, DecodingKey::from_secret(secret.as_bytes())));
        }
        if let Some(path) = &settings.keys_file {
            let text = std::fs::read_to_string(path).map_err(|error| AuthSetupError::KeysFile {
                path: path.clone(),
                error,
            })?;
            keys.extend(public_keys(&text, &algorithms)?);
        }
        if keys.is_empty() {
            return Err(invalid(
                "auth.jwt needs a secret (HS*) or a keys_file (a PEM key or a JWKS)".into(),
            ));
        }
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(Self {
            validation,
            keys,
            roles_claim: settings.roles_claim.clone(),
        })
    }

    fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token"))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|(id, _)| id.as_deref() == Some(kid.as_str()))
                .or_else(|| self.keys.iter().find(|(id, _)| id.is_none())),
            None => self.keys.first(),
        }
        .ok_or(AuthError::Invalid("token signed with an unknown key"))?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.1, &self.validation).map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                AuthError::Invalid(match error.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::ImmatureSignature => "token not valid yet",
                    ErrorKind::InvalidAudience => "token for another audience",
                    ErrorKind::InvalidIssuer => "token from another issuer",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                    ErrorKind::InvalidSignature => "token signature does not verify",
                    ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                    _ => "token invalid",
                })
            })?;
        let roles = match data.claims.rest.get(&self.roles_claim) {
            Some(serde_json::Value::Array(roles)) => roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(role)) => vec![role.clone()],
            _ => Vec::new(),
        };
        Ok(Caller {
            name: data.claims.sub,
            roles,
        })
    }
}

/// The public keys of a PEM file or a JWKS document.
fn public_keys(
    text: &str,
    algorithms: &[Algorithm],
) -> Result<Vec<(Option<String>, DecodingKey)>, AuthSetupError> {
    let invalid = |m: &str| AuthSetupError::Invalid(format!("auth.jwt.keys_file: {m}"));
    if text.trim_start().starts_with('{') {
        let set: JwkSet = serde_json::from_str(text).map_err(|_| invalid("not a JWKS"))?;
        return set
            .keys
            .iter()
            .map(|jwk| {
                let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("a key is unusable"))?;
                Ok((jwk.common.key_id.clone(), key))
            })
            .collect();
    }
    let pem = text.as_bytes();
    let key = match algorithms[0] {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => DecodingKey::from_rsa_pem(pem),
        Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => return Err(invalid("a PEM key goes with a public-key algorithm")),
    }
    .map_err(|_| invalid("not a PEM public key for the algorithms named"))?;
    Ok(vec![(None, key)])
}

#[cfg(test)]
mod tests;
