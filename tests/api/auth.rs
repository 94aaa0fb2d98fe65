//! Authentication and RPC authorization from outside: tokens and API keys as callers send
//! them, every answer's status, health open to load balancers.

use std::time::{SystemTime, UNIX_EPOCH};

use c360::{
    app::config::Settings,
    core::settings::Secret,
    edge::auth::{ApiKeySettings, JwtSettings},
};
use c360_proto as pb;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tonic::{Code, Request};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{Backend, TestApp, get, spawn_app_with};

pub(crate) const SECRET: &str = "the test issuer's secret, 32 bytes or more";
pub(crate) const SERVICE_KEY: &str = "c360_k_test_orders_service_5b0d";

pub(crate) fn protect(settings: &mut Settings) {
    settings.auth.enabled = true;
    settings.auth.jwt = Some(JwtSettings {
        algorithms: vec!["HS256".into()],
        issuer: "https://idp.test".into(),
        audience: "c360".into(),
        leeway: std::time::Duration::from_secs(5),
        secret: Some(Secret::new(SECRET)),
        keys_file: None,
        roles_claim: "roles".into(),
    });
    settings.auth.api_keys = vec![ApiKeySettings {
        name: "orders-service".into(),
        sha256: c360::edge::auth::api_key_hash(SERVICE_KEY),
        roles: vec!["service".into()],
    }];
}

fn token(roles: &[&str], expires_in: i64) -> String {
    token_for("agent-42", roles, expires_in)
}

pub(crate) fn token_for(subject: &str, roles: &[&str], expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({
        "sub": subject, "iss": "https://idp.test", "aud": "c360",
        "exp": now + expires_in, "roles": roles,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub(crate) enum Credentials<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

pub(crate) fn with<T>(message: T, credentials: &Credentials<'_>) -> Request<T> {
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

pub(crate) async fn profile_code(app: &TestApp, credentials: &Credentials<'_>) -> Code {
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

/// The policy the default roles are documented to have, written out here on its own, so
/// that the matrix below checks the code against it rather than against itself.
fn may_call(role: &str, rpc: &str) -> bool {
    let service = rpc.split('/').next().unwrap();
    match role {
        "admin" => true,
        "agent" => {
            matches!(service, "CustomerService" | "CatalogService")
                || matches!(
                    rpc,
                    "OfferService/GetOfferEnvelope" | "OfferService/RecordOffer"
                )
        }
        "supervisor" => matches!(
            service,
            "CustomerService" | "CatalogService" | "OfferService"
        ),
        "service" => {
            matches!(service, "CustomerService" | "CatalogService")
                || matches!(rpc, "OfferService/ListOffers" | "OfferService/WatchOffers")
        }
        "chatbot" => matches!(
            rpc,
            "CustomerService/GetCustomerProfile" | "CatalogService/CheckReturnEligibility"
        ),
        _ => false,
    }
}

/// Whether `role` reads `part`: a section, or the field `billing.payment_methods`.
fn may_read(role: &str, part: &str) -> bool {
    match role {
        "agent" | "supervisor" => part != "billing.payment_methods",
        "admin" | "service" => true,
        "chatbot" => matches!(part, "identity" | "shipments"),
        _ => false,
    }
}

const SECTIONS: [&str; 6] = [
    "identity",
    "billing",
    "orders",
    "shipments",
    "interactions",
    "insights",
];

/// The sections a profile carries, and `billing.payment_methods` after `billing` when it has
/// cards.
fn carried(profile: &pb::CustomerProfile) -> Vec<&'static str> {
    let present = [
        profile.identity.is_some(),
        profile.billing.is_some(),
        profile.orders.is_some(),
        profile.shipments.is_some(),
        profile.interactions.is_some(),
        profile.insights.is_some(),
    ];
    let cards = profile
        .billing
        .as_ref()
        .is_some_and(|b| !b.payment_methods.is_empty());
    SECTIONS
        .iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .flat_map(|(s, _)| match *s {
            "billing" if cards => vec!["billing", "billing.payment_methods"],
            s => vec![s],
        })
        .collect()
}

/// What `role` is expected to be sent of `sections` (the busy customer has cards).
fn readable(role: &str, sections: &[&'static str]) -> Vec<&'static str> {
    sections
        .iter()
        .filter(|s| may_read(role, s))
        .flat_map(|s| match *s {
            "billing" => vec!["billing", "billing.payment_methods"],
            s => vec![s],
        })
        .filter(|s| may_read(role, s))
        .collect()
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map_or_else(|s| s.code(), |_| Code::Ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix_every_rpc_role_and_section() {
    let app = spawn_app_with(Backend::Sqlite, protect).await;
    let customer = app.busy_customer().await;
    let mut cases = 0;
    for role in [
        "agent",
        "supervisor",
        "chatbot",
        "service",
        "admin",
        "no-role",
    ] {
        let token = token(&[role], 300);
        let creds = Credentials::Bearer(&token);
        let denied = |rpc: &str, got: Code| {
            let expected_denied = !may_call(role, rpc);
            assert_eq!(
                got == Code::PermissionDenied,
                expected_denied,
                "{role} calling {rpc}: {got:?}"
            );
        };
        // The profile RPCs, section by section, and "everything".
        for section in SECTIONS.iter().map(|s| Some(*s)).chain([None]) {
            let read_mask = section.map(|s| prost_types::FieldMask {
                paths: vec![s.to_owned()],
            });
            let mut customers = app.customers.clone();
            let single = pb::GetCustomerProfileRequest {
                customer_id: customer.to_string(),
                read_mask: read_mask.clone(),
                ..Default::default()
            };
            let batch = pb::BatchGetCustomerProfilesRequest {
                customer_ids: vec![customer.to_string()],
                read_mask: read_mask.clone(),
                ..Default::default()
            };
            let watch = pb::WatchCustomerProfileRequest {
                customer_id: customer.to_string(),
                read_mask: read_mask.clone(),
            };
            let got = [
                (
                    "CustomerService/GetCustomerProfile",
                    customers
                        .get_customer_profile(with(single, &creds))
                        .await
                        .map(|r| r.into_inner()),
                ),
                (
                    "CustomerService/BatchGetCustomerProfiles",
                    customers
                        .batch_get_customer_profiles(with(batch, &creds))
                        .await
                        .map(|r| r.into_inner().profiles.remove(0)),
                ),
                (
                    "CustomerService/WatchCustomerProfile",
                    match customers.watch_customer_profile(with(watch, &creds)).await {
                        Ok(stream) => {
                            let mut stream = stream.into_inner();
                            Ok(stream.message().await.unwrap().expect("a first profile"))
                        }
                        Err(status) => Err(status),
                    },
                ),
            ];
            for (rpc, result) in got {
                cases += 1;
                let allowed_rpc = may_call(role, rpc);
                match (section, result) {
                    (Some(section), Ok(profile)) => {
                        assert!(
                            allowed_rpc && may_read(role, section),
                            "{role} {rpc} {section}"
                        );
                        assert_eq!(
                            carried(&profile),
                            readable(role, &[section]),
                            "{role} {rpc}"
                        );
                    }
                    (Some(section), Err(status)) => {
                        assert_eq!(
                            status.code(),
                            Code::PermissionDenied,
                            "{role} {rpc} {section}"
                        );
                        assert!(
                            !allowed_rpc || !may_read(role, section),
                            "{role} {rpc} {section}"
                        );
                        if allowed_rpc {
                            assert!(status.message().contains(section), "{status:?}");
                        }
                    }
                    // Everything asked: narrowed to what the roles grant.
                    (None, Ok(profile)) => {
                        assert!(allowed_rpc, "{role} {rpc}");
                        assert_eq!(carried(&profile), readable(role, &SECTIONS), "{role} {rpc}");
                    }
                    (None, Err(status)) => {
                        assert_eq!(status.code(), Code::PermissionDenied, "{role} {rpc}");
                        assert!(!allowed_rpc, "{role} {rpc}");
                    }
                }
            }
        }
        // Reads past the caches: the admin's alone.
        let bypass = pb::GetCustomerProfileRequest {
            customer_id: customer.to_string(),
            bypass_cache: true,
            ..Default::default()
        };
        let got = code(
            app.customers
                .clone()
                .get_customer_profile(with(bypass, &creds))
                .await,
        );
        assert_eq!(
            got == Code::Ok,
            role == "admin",
            "{role} bypass_cache: {got:?}"
        );
        cases += 1;
        // The other RPCs: refused or not at the door (what they answer past it is theirs).
        let (mut customers, mut catalog, mut admin) = (
            app.customers.clone(),
            app.catalog.clone(),
            app.admin.clone(),
        );
        let lookup = pb::LookupCustomersRequest {
            key: Some(pb::lookup_customers_request::Key::OrderId("1".into())),
        };
        denied(
            "CustomerService/LookupCustomers",
            code(customers.lookup_customers(with(lookup, &creds)).await),
        );
        denied(
            "CatalogService/GetProduct",
            code(
                catalog
                    .get_product(with(
                        pb::GetProductRequest {
                            sku: "ELE-00001".into(),
                        },
                        &creds,
                    ))
                    .await,
            ),
        );
        denied(
            "CatalogService/BatchGetProducts",
            code(
                catalog
                    .batch_get_products(with(pb::BatchGetProductsRequest::default(), &creds))
                    .await,
            ),
        );
        denied(
            "CatalogService/ListReturnPolicies",
            code(
                catalog
                    .list_return_policies(with(pb::ListReturnPoliciesRequest::default(), &creds))
                    .await,
            ),
        );
        let check = pb::CheckReturnEligibilityRequest {
            order_id: "1".into(),
            sku: "ELE-00001".into(),
        };
        denied(
            "CatalogService/CheckReturnEligibility",
            code(catalog.check_return_eligibility(with(check, &creds)).await),
        );
        denied(
            "CacheAdminService/InvalidateCustomers",
            code(
                admin
                    .invalidate_customers(with(
                        pb::InvalidateCustomersRequest {
                            customer_ids: vec!["1".into()],
                        },
                        &creds,
                    ))
                    .await,
            ),
        );
        denied(
            "CacheAdminService/WarmCustomers",
            code(
                admin
                    .warm_customers(with(
                        pb::WarmCustomersRequest {
                            customer_ids: vec!["1".into()],
                            read_mask: None,
                        },
                        &creds,
                    ))
                    .await,
            ),
        );
        denied(
            "CacheAdminService/GetCacheStats",
            code(
                admin
                    .get_cache_stats(with(pb::GetCacheStatsRequest {}, &creds))
                    .await,
            ),
        );
        cases += 8;
        // The offers: refused or not at the door (past it, a made-up offer is not found).
        let mut offers = app.offers.clone();
        let envelope = pb::GetOfferEnvelopeRequest {
            customer_id: customer.to_string(),
        };
        denied(
            "OfferService/GetOfferEnvelope",
            code(offers.get_offer_envelope(with(envelope, &creds)).await),
        );
        let asked = pb::RecordOfferRequest {
            customer_id: customer.to_string(),
            problem_id: "late_shipment/1".into(),
            kind: pb::OfferKind::FreeShipping.into(),
            ..Default::default()
        };
        denied(
            "OfferService/RecordOffer",
            code(offers.record_offer(with(asked, &creds)).await),
        );
        let offer_id = "0".repeat(32);
        let approve = pb::ApproveOfferRequest {
            offer_id: offer_id.clone(),
        };
        denied(
            "OfferService/ApproveOffer",
            code(offers.approve_offer(with(approve, &creds)).await),
        );
        denied(
            "OfferService/RejectOffer",
            code(
                offers
                    .reject_offer(with(pb::RejectOfferRequest { offer_id }, &creds))
                    .await,
            ),
        );
        denied(
            "OfferService/ListOffers",
            code(
                offers
                    .list_offers(with(pb::ListOffersRequest::default(), &creds))
                    .await,
            ),
        );
        denied(
            "OfferService/WatchOffers",
            code(
                offers
                    .watch_offers(with(pb::WatchOffersRequest::default(), &creds))
                    .await,
            ),
        );
        cases += 6;
    }
    println!("authorization matrix: {cases} cases (6 roles)");
    assert_eq!(cases, 6 * (7 * 3 + 1 + 8 + 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_over_its_rate_is_told_when_to_retry_and_others_are_not_held_back() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        protect(s);
        s.auth.rate_limit = 2;
        s.auth.rate_burst = 5;
    })
    .await;
    let agent = token(&["agent"], 300);
    let mut refused = Vec::new();
    for _ in 0..20 {
        let mut client = app.customers.clone();
        if let Err(status) = client
            .get_customer_profile(with(get(3), &Credentials::Bearer(&agent)))
            .await
        {
            refused.push(status);
        }
    }
    // The burst passes, then about two a second: most of twenty at once are refused.
    assert!(refused.len() >= 10, "{} refused", refused.len());
    for status in &refused {
        use tonic_types::StatusExt;
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_error_details().retry_info().cloned();
        let delay = retry.and_then(|r| r.retry_delay).expect("a retry delay");
        assert!(delay <= std::time::Duration::from_secs(1), "{delay:?}");
    }
    // A service with its own key is not held back by the agent.
    assert_eq!(
        profile_code(&app, &Credentials::ApiKey(SERVICE_KEY)).await,
        Code::Ok
    );
    // The refusals are the agent's errors, not the service's: the availability objective
    // subtracts c360_grpc_caller_errors_total (issue 24, item 5).
    let (status, body) = app
        .scrape_with("/metrics", &[("x-api-key", SERVICE_KEY)])
        .await;
    assert_eq!(status, 200, "{body}");
    let labels = [
        ("grpc_type", "unary"),
        ("grpc_service", "customer360.v1.CustomerService"),
        ("grpc_method", "GetCustomerProfile"),
        ("grpc_code", "ResourceExhausted"),
    ];
    let scraped = crate::helpers::Metrics(body);
    let handled = scraped.get("grpc_server_handled_total", &labels);
    assert_eq!(handled, refused.len() as f64);
    assert_eq!(
        scraped.get("c360_grpc_caller_errors_total", &labels),
        handled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_read_and_lookup_is_audited_hits_included_with_keys_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let app = spawn_app_with(Backend::Sqlite, |s| {
        protect(s);
        s.audit.path = Some(path.display().to_string());
    })
    .await;
    let agent = token(&["agent"], 300);
    let creds = Credentials::Bearer(&agent);
    let mut customers = app.customers.clone();
    let mut first = with(get(3), &creds);
    first
        .metadata_mut()
        .insert("x-request-id", "req-7".parse().unwrap());
    let profile = customers
        .get_customer_profile(first)
        .await
        .unwrap()
        .into_inner();
    customers
        .get_customer_profile(with(get(3), &creds))
        .await
        .unwrap();
    let unknown = customers
        .get_customer_profile(with(get(999_999), &creds))
        .await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
    let email = profile.identity.unwrap().email;
    let lookup = pb::LookupCustomersRequest {
        key: Some(pb::lookup_customers_request::Key::Email(email.clone())),
    };
    customers
        .lookup_customers(with(lookup, &creds))
        .await
        .unwrap();

    let mut lines = Vec::new();
    for _ in 0..200 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        lines = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if lines.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let (miss, hit, missing, found) = (&lines[0], &lines[1], &lines[2], &lines[3]);
    assert_eq!(miss["rpc"], "GetCustomerProfile");
    assert_eq!(miss["caller"], "jwt:agent-42");
    assert_eq!(miss["request_id"], "req-7");
    assert_eq!(miss["customers"], serde_json::json!(["3"]));
    assert_eq!(miss["outcome"], "OK");
    assert_eq!(miss["served_from"], "SOURCES");
    assert_eq!(miss["sections"].as_array().unwrap().len(), 6);
    assert_eq!(hit["served_from"], "L1");
    assert_ne!(hit["request_id"], "req-7", "a request id of its own");
    assert_eq!(missing["outcome"], "NOT_FOUND");
    assert_eq!(found["rpc"], "LookupCustomers");
    assert_eq!(found["customers"], serde_json::json!(["3"]));
    let masked = found["key"].as_str().unwrap();
    assert!(
        masked.starts_with(&email[..1]) && masked.contains("***@"),
        "{masked}"
    );
    // The email itself appears nowhere in the trail.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&email), "{text}");
}

/// Every refusal leaves a record (issue 24, item 6): at the door (no credentials, a token of
/// no subject, an RPC no role grants) and inside (a freshness the role is not granted), with
/// the caller when known — token subjects and key names kept apart — the RPC, and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_audited_with_the_caller_the_rpc_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let app = spawn_app_with(Backend::Sqlite, |s| {
        protect(s);
        s.audit.path = Some(path.display().to_string());
    })
    .await;
    let (agent, nobody) = (token(&["agent"], 300), token_for("", &["agent"], 300));
    assert_eq!(
        profile_code(&app, &Credentials::None).await,
        Code::Unauthenticated
    );
    assert_eq!(
        profile_code(&app, &Credentials::Bearer(&nobody)).await,
        Code::Unauthenticated,
        "an empty subject names no one"
    );
    assert_eq!(
        stats_code(&app, &Credentials::ApiKey(SERVICE_KEY)).await,
        Code::PermissionDenied
    );
    let bypass = pb::GetCustomerProfileRequest {
        bypass_cache: true,
        ..get(3)
    };
    let mut customers = app.customers.clone();
    let denied = customers
        .get_customer_profile(with(bypass, &Credentials::Bearer(&agent)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut refusals = Vec::new();
    for _ in 0..200 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        refusals = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|record| record.get("refused").is_some())
            .collect();
        if refusals.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let seen: Vec<(&str, &str, &str)> = refusals
        .iter()
        .map(|r| {
            let field = |name: &str| r[name].as_str().unwrap_or_default();
            (field("caller"), field("outcome"), field("rpc"))
        })
        .map(|(caller, outcome, rpc)| (caller, outcome, rpc.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("unknown", "UNAUTHENTICATED", "GetCustomerProfile"),
            ("unknown", "UNAUTHENTICATED", "GetCustomerProfile"),
            ("key:orders-service", "PERMISSION_DENIED", "GetCacheStats"),
            ("jwt:agent-42", "PERMISSION_DENIED", "GetCustomerProfile"),
        ]
    );
    let why: Vec<&str> = refusals
        .iter()
        .map(|r| r["refused"].as_str().unwrap())
        .collect();
    assert!(why[0].contains("credentials required"), "{why:?}");
    assert!(why[1].contains("empty subject"), "{why:?}");
    assert!(why[2].contains("may not call"), "{why:?}");
    assert!(why[3].contains("bypass"), "{why:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&agent) && !text.contains(SERVICE_KEY),
        "no credential kept"
    );
}

async fn watch(
    app: &TestApp,
    token: &str,
) -> Result<tonic::Streaming<pb::CustomerProfile>, tonic::Status> {
    watch_with(app, &Credentials::Bearer(token)).await
}

/// A watch of customer 3 opened with `credentials`, its first message (the profile) read.
pub(crate) async fn watch_with(
    app: &TestApp,
    credentials: &Credentials<'_>,
) -> Result<tonic::Streaming<pb::CustomerProfile>, tonic::Status> {
    let request = pb::WatchCustomerProfileRequest {
        customer_id: "3".into(),
        read_mask: None,
    };
    let mut client = app.customers.clone();
    let mut stream = client
        .watch_customer_profile(with(request, credentials))
        .await?
        .into_inner();
    let first = stream.message().await?;
    assert!(first.is_some(), "a watch starts with the profile");
    Ok(stream)
}

/// A watch lives no longer than the token it was opened with (issue 24, item 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_unauthenticated_when_its_token_expires() {
    let app = spawn_app_with(Backend::Sqlite, protect).await;
    let mut stream = watch(&app, &token(&["agent"], 2)).await.unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), stream.message())
        .await
        .expect("the watch outlived its token");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");
    // One opened with a token valid for longer is still open.
    let mut lasting = watch(&app, &token(&["agent"], 300)).await.unwrap();
    let quiet =
        tokio::time::timeout(std::time::Duration::from_millis(500), lasting.message()).await;
    assert!(
        quiet.is_err(),
        "nothing changed, so nothing came: {quiet:?}"
    );
}

/// One caller holds at most its share of a replica's watches, and others still get theirs
/// (issue 24, item 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_caller_holds_at_most_its_share_of_the_watches() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        protect(s);
        s.server.max_watch_streams = 4;
        s.server.watch_share = 0.5;
    })
    .await;
    let greedy = token_for("greedy", &["agent"], 300);
    let held = [
        watch(&app, &greedy).await.unwrap(),
        watch(&app, &greedy).await.unwrap(),
    ];
    let refused = watch(&app, &greedy).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("one caller"), "{refused:?}");
    let other = watch(&app, &token_for("patient", &["agent"], 300)).await;
    assert!(
        other.is_ok(),
        "another caller was held back: {:?}",
        other.err()
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_on_a_scrape_needs_credentials_of_any_role() {
    let app = spawn_app_with(Backend::Sqlite, protect).await;
    let (status, body) = app.scrape_with("/metrics", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("grpc_server"), "nothing leaks: {body}");
    let (status, _) = app
        .scrape_with("/metrics", &[("x-api-key", "c360_k_not_a_key")])
        .await;
    assert_eq!(status, 401);
    let (status, body) = app
        .scrape_with("/metrics", &[("x-api-key", SERVICE_KEY)])
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("grpc_server_started_total"));
    let bearer = format!("Bearer {}", token(&["agent"], 60));
    let (status, _) = app
        .scrape_with("/metrics", &[("authorization", &bearer)])
        .await;
    assert_eq!(status, 200);
    // A valid token of no role, or of roles the configuration does not name, is not enough.
    for roles in [&[][..], &["intern"][..]] {
        let bearer = format!("Bearer {}", token(roles, 60));
        let (status, body) = app
            .scrape_with("/metrics", &[("authorization", &bearer)])
            .await;
        assert_eq!(status, 403, "{roles:?}: {body}");
        assert!(!body.contains("grpc_server"), "nothing leaks: {body}");
    }
}

/// Reflection describes the API to any caller holding a role, and to no one else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_needs_a_role_the_configuration_names() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let app = spawn_app_with(Backend::Sqlite, protect).await;
    let list = |token: &str| {
        let mut client = ServerReflectionClient::new(app.channel.clone());
        let request = ServerReflectionRequest {
            message_request: Some(MessageRequest::ListServices(String::new())),
            ..Default::default()
        };
        let request = with(tokio_stream::iter([request]), &Credentials::Bearer(token));
        async move {
            let mut answers = client.server_reflection_info(request).await?.into_inner();
            answers.message().await.map(|answer| answer.is_some())
        }
    };
    assert!(list(&token(&["agent"], 60)).await.unwrap());
    for roles in [&[][..], &["intern"][..]] {
        let refused = list(&token(roles, 60)).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{roles:?}");
    }
}

/// A `max_age` of nothing, sent by a role without `bypass_cache` (issue 24, 1): read as the
/// role's floor (5 s unless it names one), so a hundred calls, or a batch of a hundred
/// times the same customer, cost one load between them. The admin's role keeps its bypass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_cannot_get_round_the_bypass_cache_grant() {
    use c360::core::vocab::SourceKind;
    let app = spawn_app_with(Backend::Sqlite, protect).await;
    let no_older_than = |nanos| Some(prost_types::Duration { seconds: 0, nanos });
    let agent = token(&["agent"], 300);
    let loads = || app.reads(SourceKind::Billing);
    let get_no_older_than_nothing = |token: &str| {
        let request = pb::GetCustomerProfileRequest {
            max_age: no_older_than(0),
            ..get(7)
        };
        let request = with(request, &Credentials::Bearer(token));
        let mut client = app.customers.clone();
        async move { client.get_customer_profile(request).await.unwrap() }
    };
    for _ in 0..100 {
        get_no_older_than_nothing(&agent).await;
    }
    // One load, or two should the hundred calls take longer than the floor.
    assert!(loads() <= 2, "{} loads for 100 calls", loads());

    let before = loads();
    let batch = pb::BatchGetCustomerProfilesRequest {
        customer_ids: vec!["8".into(); 100],
        max_age: no_older_than(1),
        ..Default::default()
    };
    let mut client = app.customers.clone();
    let answer = client
        .batch_get_customer_profiles(with(batch, &Credentials::ApiKey(SERVICE_KEY)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.profiles.len(), 100, "every id answered, in order");
    assert!(answer.profiles.iter().all(|p| p.customer_id == "8"));
    assert_eq!(
        loads() - before,
        1,
        "a batch of one customer a hundred times"
    );

    // A role with bypass_cache has no floor: each call with max_age 0 is a load.
    let admin = token(&["admin"], 300);
    let before = loads();
    for _ in 0..3 {
        get_no_older_than_nothing(&admin).await;
    }
    assert_eq!(
        loads() - before,
        3,
        "the admin's max_age 0 reads the backends"
    );
    // Past the caches too, a batch reads each customer once.
    let before = loads();
    let batch = pb::BatchGetCustomerProfilesRequest {
        customer_ids: ["9", "10", "9"]
            .repeat(30)
            .into_iter()
            .map(String::from)
            .collect(),
        bypass_cache: true,
        ..Default::default()
    };
    let mut client = app.customers.clone();
    let answer = client
        .batch_get_customer_profiles(with(batch, &Credentials::Bearer(&admin)))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = answer
        .profiles
        .iter()
        .map(|p| p.customer_id.as_str())
        .collect();
    assert_eq!(ids, ["9", "10", "9"].repeat(30));
    assert_eq!(loads() - before, 2, "two customers, each read once");
}
