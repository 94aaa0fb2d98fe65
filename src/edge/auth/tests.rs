//! Credentials as callers present them, good and bad.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use jsonwebtoken::Algorithm;

use super::*;

const SECRET: &str = "a development secret of at least 32 bytes";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn settings() -> JwtSettings {
    JwtSettings {
        algorithms: vec!["HS256".into()],
        issuer: "https://idp.example.com".into(),
        audience: "c360".into(),
        leeway: Duration::from_secs(30),
        secret: Some(SECRET.into()),
        keys_file: None,
        roles_claim: "roles".into(),
    }
}

fn role(rpcs: &[&str], sections: &[&str], bypass_cache: bool) -> RoleSettings {
    RoleSettings {
        rpcs: rpcs.iter().map(|r| r.to_string()).collect(),
        sections: sections.iter().map(|s| s.to_string()).collect(),
        hide: Vec::new(),
        bypass_cache,
        max_age_floor: None,
    }
}

fn roles() -> BTreeMap<String, RoleSettings> {
    BTreeMap::from([
        (
            "agent".into(),
            role(&["CustomerService/*", "CatalogService/*"], &["*"], false),
        ),
        (
            "chatbot".into(),
            role(
                &["CustomerService/GetCustomerProfile"],
                &["identity", "shipments"],
                false,
            ),
        ),
        ("admin".into(), role(&["*"], &["*"], true)),
    ])
}

const KEY: &str = "c360_k_orders-service_7c1f0e";

fn authenticator() -> Authenticator {
    let key = ApiKeySettings {
        name: "orders-service".into(),
        sha256: api_key_hash(KEY),
        roles: vec!["agent".into()],
    };
    Authenticator::new(Some(&settings()), &[key], &roles()).unwrap()
}

fn token(claims: serde_json::Value, algorithm: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(exp: u64) -> serde_json::Value {
    json!({"sub": "agent-17", "iss": "https://idp.example.com", "aud": "c360", "exp": exp, "roles": ["agent"]})
}

fn bearer(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    headers
}

fn check(token: &str) -> Result<Caller, AuthError> {
    authenticator().authenticate(&bearer(token))
}

#[test]
fn a_valid_token_names_the_caller_and_its_roles() {
    let caller = check(&token(claims(now() + 600), Algorithm::HS256, SECRET)).unwrap();
    assert_eq!(caller.name, "jwt:agent-17");
    assert_eq!(caller.roles, ["agent"]);
}

#[test]
fn expiry_holds_with_a_small_leeway() {
    let just_expired = token(claims(now() - 10), Algorithm::HS256, SECRET);
    assert!(check(&just_expired).is_ok(), "within the 30 s leeway");
    let expired = token(claims(now() - 120), Algorithm::HS256, SECRET);
    assert_eq!(check(&expired), Err(AuthError::Invalid("token expired")));
}

#[test]
fn tokens_for_others_from_others_or_forged_are_refused() {
    let exp = now() + 600;
    let mut other_audience = claims(exp);
    other_audience["aud"] = json!("billing");
    assert_eq!(
        check(&token(other_audience, Algorithm::HS256, SECRET)),
        Err(AuthError::Invalid("token for another audience"))
    );
    let mut other_issuer = claims(exp);
    other_issuer["iss"] = json!("https://evil.example.net");
    assert_eq!(
        check(&token(other_issuer, Algorithm::HS256, SECRET)),
        Err(AuthError::Invalid("token from another issuer"))
    );
    let forged = token(
        claims(exp),
        Algorithm::HS256,
        "another secret of at least 32 bytes!!",
    );
    assert_eq!(
        check(&forged),
        Err(AuthError::Invalid("token signature does not verify"))
    );
    // An algorithm the allow-list does not name, even with the right secret.
    let hs384 = token(claims(exp), Algorithm::HS384, SECRET);
    assert_eq!(
        check(&hs384),
        Err(AuthError::Invalid("token algorithm not accepted"))
    );
    // "alg": "none", unsigned.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(exp).to_string());
    assert!(check(&format!("{header}.{payload}.")).is_err());
    // A subject is required.
    let mut anonymous = claims(exp);
    anonymous.as_object_mut().unwrap().remove("sub");
    assert!(check(&token(anonymous, Algorithm::HS256, SECRET)).is_err());
    assert_eq!(
        check("not.a.token"),
        Err(AuthError::Invalid("malformed token"))
    );
}

#[test]
fn api_keys_are_checked_against_their_hashes() {
    let auth = authenticator();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-api-key", KEY.parse().unwrap());
    let caller = auth.authenticate(&headers).unwrap();
    assert_eq!(caller.name, "key:orders-service");
    headers.insert("x-api-key", "c360_k_guess".parse().unwrap());
    assert_eq!(
        auth.authenticate(&headers),
        Err(AuthError::Invalid("unknown API key"))
    );
    assert_eq!(
        auth.authenticate(&http::HeaderMap::new()),
        Err(AuthError::Missing)
    );
    let mut basic = http::HeaderMap::new();
    basic.insert(
        http::header::AUTHORIZATION,
        "Basic YWRtaW4=".parse().unwrap(),
    );
    assert!(matches!(
        auth.authenticate(&basic),
        Err(AuthError::Invalid(_))
    ));
}

#[test]
fn roles_grant_rpcs_and_nothing_else() {
    let auth = authenticator();
    let caller = |roles: &[&str]| Caller {
        name: "c".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let (agent, chatbot, admin, nobody) = (
        caller(&["agent"]),
        caller(&["chatbot"]),
        caller(&["admin"]),
        caller(&["unknown-role"]),
    );
    let get = "CustomerService/GetCustomerProfile";
    let warm = "CacheAdminService/WarmCustomers";
    assert!(auth.authorize(&agent, get).is_ok());
    assert!(auth.authorize(&agent, "CatalogService/GetProduct").is_ok());
    assert!(auth.authorize(&agent, warm).is_err());
    assert!(auth.authorize(&chatbot, get).is_ok());
    assert!(
        auth.authorize(&chatbot, "CustomerService/LookupCustomers")
            .is_err()
    );
    assert!(auth.authorize(&admin, warm).is_ok());
    assert_eq!(
        auth.authorize(&nobody, get),
        Err(AuthError::Denied {
            caller: "c".into(),
            rpc: get.into()
        })
    );
}

#[test]
fn unsafe_settings_are_refused() {
    let mut mixed = settings();
    mixed.algorithms = vec!["HS256".into(), "RS256".into()];
    assert!(Authenticator::new(Some(&mixed), &[], &roles()).is_err());
    let mut short = settings();
    short.secret = Some("short".into());
    assert!(Authenticator::new(Some(&short), &[], &roles()).is_err());
    let mut keyless = settings();
    keyless.secret = None;
    assert!(Authenticator::new(Some(&keyless), &[], &roles()).is_err());
    let bad_hash = ApiKeySettings {
        name: "x".into(),
        sha256: "abc".into(),
        roles: vec![],
    };
    assert!(Authenticator::new(None, &[bad_hash], &roles()).is_err());
}

#[test]
fn a_minted_development_token_passes_for_its_roles() {
    let token = mint(
        &settings(),
        "dev",
        &["chatbot".into()],
        Duration::from_secs(60),
    )
    .unwrap();
    let caller = check(&token).unwrap();
    assert_eq!(
        (caller.name.as_str(), caller.roles.as_slice()),
        ("jwt:dev", &["chatbot".to_owned()][..])
    );
    let no_one = mint(&settings(), " ", &[], Duration::from_secs(60));
    assert!(no_one.is_err(), "no token of an empty subject is minted");
    let mut public = settings();
    public.algorithms = vec!["RS256".into()];
    assert!(mint(&public, "dev", &[], Duration::from_secs(60)).is_err());
}

#[test]
fn new_api_keys_are_random_and_pass_by_their_hash() {
    let (one, two) = (new_api_key(), new_api_key());
    assert_ne!(one, two);
    let key = ApiKeySettings {
        name: "svc".into(),
        sha256: api_key_hash(&one),
        roles: vec!["agent".into()],
    };
    let auth = Authenticator::new(None, &[key], &roles()).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-api-key", one.parse().unwrap());
    assert_eq!(auth.authenticate(&headers).unwrap().name, "key:svc");
}

#[test]
fn a_callers_grant_is_the_union_of_its_roles() {
    use crate::core::vocab::Section;
    let auth = authenticator();
    let caller = |roles: &[&str]| Caller {
        name: "c".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let chatbot = auth.grant(&caller(&["chatbot"]));
    assert_eq!(
        chatbot.sections,
        SectionSet::of(&[Section::Identity, Section::Shipments])
    );
    assert!(!chatbot.bypass_cache);
    assert_eq!(auth.grant(&caller(&["chatbot", "admin"])), Grant::ALL);
    assert_eq!(auth.grant(&caller(&["unknown"])).sections, SectionSet::NONE);
    let bad = BTreeMap::from([("x".to_owned(), role(&["*"], &["wallet"], false))]);
    assert!(Authenticator::new(None, &[], &bad).is_err());
}

#[test]
fn the_max_age_floor_is_the_least_of_the_roles_and_five_seconds_unless_set() {
    let mut roles = roles();
    roles.insert(
        "dashboard".into(),
        RoleSettings {
            max_age_floor: Some(Duration::from_secs(1)),
            ..role(&["*"], &["*"], false)
        },
    );
    let auth = Authenticator::new(None, &[], &roles).unwrap();
    let floor = |roles: &[&str]| {
        let caller = Caller {
            name: "c".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        auth.grant(&caller).max_age_floor
    };
    assert_eq!(floor(&["agent"]), DEFAULT_MAX_AGE_FLOOR);
    assert_eq!(floor(&["agent", "dashboard"]), Duration::from_secs(1));
    assert_eq!(floor(&["dashboard", "admin"]), Duration::ZERO);
    assert_eq!(floor(&["unknown"]), DEFAULT_MAX_AGE_FLOOR);
    let parsed: RoleSettings =
        serde_json::from_value(json!({"rpcs": ["*"], "max_age_floor": "250ms"})).unwrap();
    assert_eq!(parsed.max_age_floor(), Duration::from_millis(250));
}

#[test]
fn each_caller_is_held_to_its_own_rate() {
    let auth = authenticator().with_rate_limit(10, 3);
    let caller = |name: &str| Caller {
        name: name.into(),
        roles: vec!["agent".into()],
    };
    let (busy, quiet) = (caller("busy"), caller("quiet"));
    for _ in 0..3 {
        assert!(auth.check_rate(&busy).is_ok());
    }
    let wait = auth.check_rate(&busy).unwrap_err();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(100),
        "{wait:?}"
    );
    // Another caller is not held back by the first.
    assert!(auth.check_rate(&quiet).is_ok());
    // No limit configured: never held.
    let unlimited = authenticator();
    assert!((0..1000).all(|_| unlimited.check_rate(&busy).is_ok()));
}

#[test]
fn a_verified_token_is_remembered_until_it_expires_and_nothing_else_is() {
    let auth = authenticator();
    let good = bearer(&token(claims(now() + 600), Algorithm::HS256, SECRET));
    let first = auth.keep(auth.admit(&good).unwrap());
    let again = auth.keep(auth.admit(&good).unwrap());
    assert!(
        std::sync::Arc::ptr_eq(&first.caller, &again.caller),
        "served from memory"
    );
    let grant = first.grant;
    assert!(grant.sections == SectionSet::ALL && !grant.bypass_cache);
    // Within the leeway but past its exp: accepted once, never remembered.
    let late = bearer(&token(claims(now() - 5), Algorithm::HS256, SECRET));
    let one = auth.keep(auth.admit(&late).unwrap());
    let two = auth.keep(auth.admit(&late).unwrap());
    assert!(!std::sync::Arc::ptr_eq(&one.caller, &two.caller));
    // The memory is looked up by signature: a remembered signature under another payload is
    // checked, and fails.
    let remembered = token(claims(now() + 600), Algorithm::HS256, SECRET);
    let other = token(claims(now() + 900), Algorithm::HS256, SECRET);
    let _ = auth.keep(auth.admit(&bearer(&remembered)).unwrap());
    let parts: Vec<&str> = remembered.split('.').collect();
    let other_payload = other.split('.').nth(1).unwrap();
    let spliced = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    assert!(auth.admit(&bearer(&spliced)).is_err());
    // A forged token is checked, whatever is remembered.
    let forged = bearer(&token(
        claims(now() + 600),
        Algorithm::HS256,
        "x".repeat(40).as_str(),
    ));
    assert!(auth.admit(&forged).is_err());
}

/// One token, however it is spelt around (spaces, `bearer`), is one entry; a call that is
/// checked but not let in (over its rate, denied: the door never keeps it) adds none; a token
/// of no subject is refused; subjects and key names never share a name (issue 24, 4 and 6).
#[test]
fn the_token_memory_holds_one_entry_per_token_and_only_for_calls_let_in() {
    let auth = authenticator();
    let jwt = token(claims(now() + 600), Algorithm::HS256, SECRET);
    for spelling in [
        format!("Bearer {jwt}"),
        format!("Bearer {jwt}    "),
        format!("bearer   {jwt}"),
        format!("Bearer {jwt}{}", " ".repeat(300)),
    ] {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, spelling.parse().unwrap());
        let admitted = auth.keep(auth.admit(&headers).unwrap());
        assert_eq!(admitted.caller.name, "jwt:agent-17");
    }
    assert_eq!(auth.verified.len(), 1, "one token, one entry");
    for n in 0..50 {
        let refused = token(claims(now() + 600 + n), Algorithm::HS256, SECRET);
        let _checked_only = auth.admit(&bearer(&refused)).unwrap();
    }
    assert_eq!(auth.verified.len(), 1, "calls not let in keep nothing");

    let mut nameless = claims(now() + 600);
    nameless["sub"] = json!("  ");
    let refused = check(&token(nameless, Algorithm::HS256, SECRET)).unwrap_err();
    assert_eq!(refused, AuthError::Invalid("token has an empty subject"));
}
