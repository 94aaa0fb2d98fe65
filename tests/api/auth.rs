//! Authentication and RPC authorization from outside: tokens and API keys as callers send
//! them, every answer's status, health open to load balancers.

use std::time::{SystemTime, UNIX_EPOCH};

use c360::config::{ApiKeyConfig, JwtConfig, Secret, Settings};
use c360_proto as pb;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{Backend, TestApp, get, spawn_app_with};

const SECRET: &str = "the test issuer's secret, 32 bytes or more";
const SERVICE_KEY: &str = "c360_k_test_orders_service_5b0d";

fn protect(settings: &mut Settings) {
    settings.auth.enabled = true;
    settings.auth.jwt = Some(JwtConfig {
        algorithms: vec!["HS256".into()],
        issuer: "https://idp.test".into(),
        audience: "c360".into(),
        leeway: std::time::Duration::from_secs(5),
        secret: Some(Secret::new(SECRET)),
        keys_file: None,
        roles_claim: "roles".into(),
    });
    settings.auth.api_keys = vec![ApiKeyConfig {
        name: "orders-service".into(),
        sha256: c360::auth::api_key_hash(SERVICE_KEY),
        roles: vec!["service".into()],
    }];
}

fn token(roles: &[&str], expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({
        "sub": "agent-42", "iss": "https://idp.test", "aud": "c360",
        "exp": now + expires_in, "roles": roles,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

enum Credentials<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

fn with<T>(message: T, credentials: &Credentials<'_>) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    match credentials {
        Credentials::None => {}
        Credentials::Bearer(token) => {
            metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        Credentials::ApiKey(key) => {
            metadata.insert("x-api-key", key.parse().unwrap());
        }
    }
    request
}

async fn profile_code(app: &TestApp, credentials: &Credentials<'_>) -> Code {
    let mut client = app.customers.clone();
    match client.get_customer_profile(with(get(3), credentials)).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn stats_code(app: &TestApp, credentials: &Credentials<'_>) -> Code {
    let mut client = app.admin.clone();
    match client
        .get_cache_stats(with(pb::GetCacheStatsRequest {}, credentials))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

async fn calls_without_the_right_credentials_are_refused_at_the_door(backend: Backend) {
    let app = spawn_app_with(backend, protect).await;
    // Health stays open: load balancers carry no credentials.
    assert_eq!(app.health("").await, ServingStatus::Serving);

    let (agent, admin) = (token(&["agent"], 300), token(&["admin"], 300));
    let (chatbot, expired) = (token(&["chatbot"], 300), token(&["agent"], -120));
    let refused = profile_code(&app, &Credentials::None).await;
    assert_eq!(refused, Code::Unauthenticated);
    assert_eq!(
        profile_code(&app, &Credentials::Bearer(&expired)).await,
        Code::Unauthenticated
    );
    assert_eq!(
        profile_code(&app, &Credentials::Bearer("not-a-token")).await,
        Code::Unauthenticated
    );
    assert_eq!(
        profile_code(&app, &Credentials::ApiKey("c360_k_guessed")).await,
        Code::Unauthenticated
    );
    assert_eq!(
        profile_code(&app, &Credentials::Bearer(&agent)).await,
        Code::Ok
    );
    assert_eq!(
        profile_code(&app, &Credentials::Bearer(&chatbot)).await,
        Code::Ok
    );
    assert_eq!(
        profile_code(&app, &Credentials::ApiKey(SERVICE_KEY)).await,
        Code::Ok
    );
    // The admin service is the admin's alone.
    assert_eq!(
        stats_code(&app, &Credentials::Bearer(&agent)).await,
        Code::PermissionDenied
    );
    assert_eq!(
        stats_code(&app, &Credentials::ApiKey(SERVICE_KEY)).await,
        Code::PermissionDenied
    );
    assert_eq!(
        stats_code(&app, &Credentials::Bearer(&admin)).await,
        Code::Ok
    );
    // A chatbot reads profiles, and looks nobody up.
    let mut client = app.customers.clone();
    let lookup = pb::LookupCustomersRequest {
        key: Some(pb::lookup_customers_request::Key::Email(
            "a@example.com".into(),
        )),
    };
    let denied = client
        .lookup_customers(with(lookup, &Credentials::Bearer(&chatbot)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("LookupCustomers"), "{denied:?}");
    assert!(!denied.message().contains(&chatbot));
}

crate::over_both_backends!(calls_without_the_right_credentials_are_refused_at_the_door);
