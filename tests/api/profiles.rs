//! `GetCustomerProfile` and `BatchGetCustomerProfiles`.

use c360::{core::db::Bind, core::vocab::SourceKind};
use c360_proto::{self as pb, BatchGetCustomerProfilesRequest, GetCustomerProfileRequest};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, get, mask, masked, reads_each, spawn_app, spawn_app_with};

fn statuses(profile: &pb::CustomerProfile) -> Vec<(pb::Source, pb::SourceStatus)> {
    profile
        .sources
        .iter()
        .map(|s| (s.source(), s.status()))
        .collect()
}

async fn a_profile_merges_all_four_backends_and_is_then_served_from_memory(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.busy_customer().await;
    let customer = [Bind::Int(id)];

    let profile = app.profile(id).await;

    assert_eq!(profile.customer_id, id.to_string());
    let email = app
        .text("SELECT email FROM customers WHERE id = $1", &customer)
        .await;
    assert_eq!(profile.identity.as_ref().unwrap().email, email);
    let balance = app
        .scalar(
            "SELECT balance_minor FROM billing_accounts WHERE customer_id = $1",
            &customer,
        )
        .await;
    assert_eq!(
        profile
            .billing
            .as_ref()
            .unwrap()
            .balance
            .as_ref()
            .unwrap()
            .amount_minor,
        balance
    );
    let orders = &profile.orders.as_ref().unwrap().recent;
    let latest = app
        .scalar(
            "SELECT id FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 1",
            &customer,
        )
        .await;
    assert_eq!(orders[0].order_id, latest.to_string());
    let lines = app
        .scalar(
            "SELECT COUNT(*) FROM order_lines WHERE order_id = $1",
            &[Bind::Int(latest)],
        )
        .await;
    assert_eq!(orders[0].lines.len() as i64, lines);
    assert!(
        orders[0]
            .lines
            .iter()
            .all(|l| !l.product_name.is_empty() && l.return_eligibility.is_some())
    );
    let shipments = app
        .scalar(
            "SELECT COUNT(*) FROM shipments WHERE customer_id = $1",
            &customer,
        )
        .await;
    assert_eq!(
        profile.shipments.as_ref().unwrap().recent.len() as i64,
        shipments.min(30)
    );
    assert!(!profile.interactions.as_ref().unwrap().recent.is_empty());
    let counted = app
        .scalar(
            "SELECT COUNT(*) FROM orders WHERE customer_id = $1 AND status <> 'cancelled'",
            &customer,
        )
        .await;
    let insights = profile.insights.as_ref().unwrap();
    assert_eq!(insights.order_count, counted);
    assert!(insights.complete);
    assert!(
        statuses(&profile)
            .iter()
            .all(|(_, s)| *s == pb::SourceStatus::Ok)
    );
    assert_eq!(
        profile.cache.as_ref().unwrap().served_from(),
        pb::CacheTier::Sources
    );
    assert_eq!(app.all_reads(), reads_each(1));

    let again = app.profile(id).await;
    assert_eq!(
        again.cache.as_ref().unwrap().served_from(),
        pb::CacheTier::L1
    );
    assert_eq!(again.identity, profile.identity);
    assert_eq!(app.all_reads(), reads_each(1), "a hit reads no backend");
}

async fn a_read_mask_returns_its_sections_and_asks_only_the_backends_they_need(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.busy_customer().await;

    let profile = app.sections(id, &["billing"]).await;

    assert!(profile.billing.is_some());
    assert!(profile.identity.is_none() && profile.orders.is_none() && profile.shipments.is_none());
    assert!(profile.interactions.is_none() && profile.insights.is_none());
    assert_eq!(
        statuses(&profile),
        [
            (pb::Source::Billing, pb::SourceStatus::Ok),
            (pb::Source::Orders, pb::SourceStatus::Skipped),
            (pb::Source::Fulfilment, pb::SourceStatus::Skipped),
            (pb::Source::Crm, pb::SourceStatus::Ok),
        ]
    );
    // CRM is asked too: it says whether the customer exists.
    assert_eq!(app.reads(SourceKind::Orders), 0);
    assert_eq!(app.reads(SourceKind::Fulfilment), 0);
    assert_eq!(app.reads(SourceKind::Billing), 1);

    let shipments = app.sections(id, &["shipments", "identity"]).await;
    assert!(shipments.shipments.is_some() && shipments.identity.is_some());
    assert!(shipments.billing.is_none());
    assert_eq!(app.reads(SourceKind::Orders), 0);
    assert_eq!(app.reads(SourceKind::Fulfilment), 1);
}

async fn a_batch_answers_in_request_order_up_to_its_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids = ["17", "3", "250", "3"];
    let request = BatchGetCustomerProfilesRequest {
        customer_ids: ids.map(String::from).into(),
        read_mask: mask(&["identity"]),
        ..Default::default()
    };
    let batch = app.batch_get(request).await.unwrap();
    let answered: Vec<_> = batch
        .profiles
        .iter()
        .map(|p| p.customer_id.as_str())
        .collect();
    assert_eq!(answered, ids);
    let email = app
        .text("SELECT email FROM customers WHERE id = 250", &[])
        .await;
    assert_eq!(batch.profiles[2].identity.as_ref().unwrap().email, email);
    assert_eq!(
        app.reads(SourceKind::Crm),
        3,
        "the repeated id is read once"
    );
    let before = app.all_reads();

    let too_many = BatchGetCustomerProfilesRequest {
        customer_ids: (1..=101).map(|i| i.to_string()).collect(),
        ..Default::default()
    };
    let status = app.batch_get(too_many).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .clone();
    assert_eq!(violations[0].field, "customer_ids");
    assert_eq!(app.all_reads(), before, "a refused batch reads nothing");

    let with_unknown = BatchGetCustomerProfilesRequest {
        customer_ids: vec!["1".into(), "999999".into()],
        ..Default::default()
    };
    let status = app.batch_get(with_unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("999999"), "{}", status.message());
}

async fn an_unknown_customer_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = app.try_get(get(987_654)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "customer 987654 does not exist");
    let resource = status.get_error_details().resource_info().cloned().unwrap();
    assert_eq!(resource.resource_name, "987654");
}

async fn a_malformed_id_and_mask_are_refused_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = app
        .try_get(masked("12ab", &["billing.balance"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let details = status.get_error_details();
    let fields: Vec<_> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["customer_id", "read_mask"]);
    let both_freshness = GetCustomerProfileRequest {
        max_age: Some(prost_types::Duration {
            seconds: 5,
            nanos: 0,
        }),
        bypass_cache: true,
        ..get(1)
    };
    let status = app.try_get(both_freshness).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(app.all_reads(), reads_each(0), "bad input reads nothing");
}

async fn freshness_options_choose_between_memory_and_the_backends(backend: Backend) {
    let app = spawn_app(backend).await;
    let tier = |p: pb::CustomerProfile| p.cache.unwrap().served_from();
    let first = app.profile(5).await;
    assert_eq!(tier(first), pb::CacheTier::Sources);
    let bypass = GetCustomerProfileRequest {
        bypass_cache: true,
        ..get(5)
    };
    let fresh = app.try_get(bypass).await.unwrap();
    assert_eq!(tier(fresh), pb::CacheTier::Sources);
    let recent_enough = GetCustomerProfileRequest {
        max_age: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        ..get(5)
    };
    let hit = app.try_get(recent_enough).await.unwrap();
    assert_eq!(tier(hit), pb::CacheTier::L1);
    let zero = GetCustomerProfileRequest {
        max_age: Some(prost_types::Duration {
            seconds: 0,
            nanos: 0,
        }),
        ..get(5)
    };
    let reloaded = app.try_get(zero).await.unwrap();
    assert_eq!(tier(reloaded), pb::CacheTier::Sources);
    assert_eq!(app.reads(SourceKind::Billing), 3);
}

async fn a_failing_backend_gives_a_partial_profile_that_says_why(backend: Backend) {
    // Billing points at a database without its tables (SQLite: an empty file; a file that
    // does not exist stops the start instead), or one that does not exist (Postgres).
    let empty = tempfile::NamedTempFile::new().unwrap();
    let broken = match backend {
        Backend::Sqlite => format!("sqlite://{}", empty.path().display()),
        Backend::Postgres => "postgres://postgres@127.0.0.1:5432/c360_no_such_database".to_owned(),
    };
    // (Its change feed could never start, and the replica would never say it is ready.)
    let app = spawn_app_with(backend, |settings| {
        settings.sources.billing.url = Some(broken);
        settings.feed.enabled = false;
    })
    .await;
    let id = app.busy_customer().await;
    let profile = app.profile(id).await;
    assert!(profile.billing.is_none());
    assert!(profile.identity.is_some() && profile.orders.is_some() && profile.shipments.is_some());
    let billing = &profile.sources[0];
    assert_eq!(
        (billing.source(), billing.status()),
        (pb::Source::Billing, pb::SourceStatus::Unavailable)
    );
    assert!(billing.fetched_at.is_none());
    assert!(
        profile.sources[1..]
            .iter()
            .all(|s| s.status() == pb::SourceStatus::Ok)
    );
    assert!(!profile.insights.unwrap().complete);
}

/// What an error's trailers take on the wire: `grpc-message` percent-encoded, the details
/// base64-encoded, and any other metadata.
fn trailer_bytes(status: &tonic::Status) -> usize {
    let message: usize = status
        .message()
        .bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) && b != b'%' {
                1
            } else {
                3
            }
        })
        .sum();
    let metadata: usize = status
        .metadata()
        .iter()
        .map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => k.as_str().len() + v.len(),
            tonic::metadata::KeyAndValueRef::Binary(k, v) => {
                k.as_str().len() + v.as_encoded_bytes().len()
            }
        })
        .sum();
    message + status.details().len().div_ceil(3) * 4 + metadata
}

#[tokio::test]
async fn errors_stay_under_what_common_clients_accept_whatever_the_input() {
    let app = spawn_app(Backend::Sqlite).await;
    let junk = |i: usize| format!("{i}-{}", "é∂x".repeat(100));
    let batch = BatchGetCustomerProfilesRequest {
        customer_ids: (0..100).map(junk).collect(),
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["wallet".repeat(1_000)],
        }),
        ..Default::default()
    };
    let status = app.batch_get(batch).await.unwrap_err();
    let ids: Vec<String> = (0..1_000).map(junk).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let invalidation = app.invalidate(&ids).await.unwrap_err();
    for status in [status, invalidation] {
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let listed = &details.bad_request().unwrap().field_violations;
        assert_eq!(listed.len(), 10, "{listed:?}");
        assert!(status.message().contains(" more"), "{}", status.message());
        let size = trailer_bytes(&status);
        assert!(size < 8 * 1024, "{size} bytes of trailers");
    }
}

crate::over_both_backends!(
    a_profile_merges_all_four_backends_and_is_then_served_from_memory,
    a_read_mask_returns_its_sections_and_asks_only_the_backends_they_need,
    a_batch_answers_in_request_order_up_to_its_limit,
    an_unknown_customer_is_not_found,
    a_malformed_id_and_mask_are_refused_field_by_field,
    freshness_options_choose_between_memory_and_the_backends,
    a_failing_backend_gives_a_partial_profile_that_says_why,
);
