//! Bearer tokens (JWT): checked against an allow-list of algorithms (never the token's own
//! say), the issuer, the audience and the expiry (with a small leeway), under keys from the
//! configuration — an HMAC secret, a PEM public key or a JWKS file; and minted, for
//! development, with the HMAC secret.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;

use super::{AuthError, AuthSetupError, Caller, JwtSettings};

/// Checks tokens as the configuration says.
pub(super) struct JwtVerifier {
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
    if subject.trim().is_empty() {
        return Err(invalid(
            "a token needs a subject: tokens with an empty one are refused",
        ));
    }
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
        &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()),
    )
    .map_err(|_| invalid("the token could not be signed"))
}

/// The token of an `authorization: Bearer <token>` header's value.
pub(super) fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
}

/// [`bearer_token`] over a header's bytes, not yet known to be text: the same token where
/// the header is ASCII (a token is: base64url and dots).
pub(super) fn bearer_token_bytes(authorization: &[u8]) -> Option<&[u8]> {
    authorization
        .strip_prefix(b"Bearer ")
        .or_else(|| authorization.strip_prefix(b"bearer "))
        .map(<[u8]>::trim_ascii)
}

impl JwtVerifier {
    /// The `exp` of a token already verified.
    pub(super) fn expiry(&self, token: &str) -> Option<u64> {
        let payload = token.split('.').nth(1)?;
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        claims.get("exp")?.as_u64()
    }

    pub(super) fn new(settings: &JwtSettings) -> Result<Self, AuthSetupError> {
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
            let secret = secret.expose();
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

    pub(super) fn verify(&self, token: &str) -> Result<Caller, AuthError> {
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
        if data.claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("token has an empty subject"));
        }
        Ok(Caller {
            name: format!("{}{}", super::JWT_NAMESPACE, data.claims.sub),
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
