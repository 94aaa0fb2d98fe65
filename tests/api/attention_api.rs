//! `AttentionService` over gRPC, on SQLite and Postgres, with the queue kept live by the
//! replica from the change feed: agents list, page and filter the queue; one claim wins and
//! the others are told who holds it; renewals and resolutions on a stale claim are refused;
//! roles keep chatbots out; claims and resolutions are audited; a second replica gives the
//! same queue, and a restart keeps every claim. A watch gets the queue, then each change,
//! and resumed after a disconnection loses none.

use std::time::Duration;

use c360::{app::config::Settings, core::db::Bind};
use c360_proto::{self as pb, attention_event::Kind};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::{
    auth::{Credentials, protect, token_for, with},
    helpers::{Backend, TestApp, TestDatabase, eventually, spawn_replica},
};

/// A late parcel for `customer`, promised `years_ago`: long before any the seed made, so
/// that it comes first in the queue.
async fn late_parcel(app: &TestApp, id: i64, customer: i64, years_ago: i64) {
    let promised = chrono::Utc::now() - chrono::Duration::days(365 * years_ago);
    app.db
        .execute(
            "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
             promised_at, created_at) VALUES ($1, 1, $2, 'DHL', 'LATE', 'in_transit', $3, $4)",
            &[
                Bind::Int(id),
                Bind::Int(customer),
                Bind::Time(promised),
                Bind::Time(promised - chrono::Duration::days(2)),
            ],
        )
        .await
        .unwrap();
}

async fn delivered(app: &TestApp, id: i64) {
    app.db
        .execute(
            "UPDATE shipments SET status = 'delivered', delivered_at = $1 WHERE id = $2",
            &[Bind::Time(chrono::Utc::now()), Bind::Int(id)],
        )
        .await
        .unwrap();
}

fn key(customer: i64, parcel: i64) -> pb::AttentionItemKey {
    pb::AttentionItemKey {
        customer_id: customer.to_string(),
        reason: pb::AttentionReason::LateShipment.into(),
        cause: parcel.to_string(),
    }
}

fn late_only() -> pb::AttentionFilter {
    pb::AttentionFilter {
        reasons: vec![pb::AttentionReason::LateShipment.into()],
        ..pb::AttentionFilter::default()
    }
}

async fn list(
    app: &TestApp,
    request: pb::ListAttentionRequest,
    who: &Credentials<'_>,
) -> Result<pb::ListAttentionResponse, tonic::Status> {
    let mut client = app.attention.clone();
    client
        .list_attention(with(request, who))
        .await
        .map(|r| r.into_inner())
}

/// Who holds what, in the queue's order: what two replicas must agree on.
fn holders(items: &[pb::AttentionItem]) -> Vec<(String, String, String, i64)> {
    let of = |i: &pb::AttentionItem| {
        (
            i.customer_id.clone(),
            i.cause.clone(),
            i.claimed_by.clone(),
            i.version,
        )
    };
    items.iter().map(of).collect()
}

async fn holders_of(app: &TestApp, who: &Credentials<'_>) -> Vec<(String, String, String, i64)> {
    let everything = pb::ListAttentionRequest {
        filter: Some(late_only()),
        ..Default::default()
    };
    holders(&list(app, everything, who).await.unwrap().items)
}

/// The causes of this test's own items (the seed makes others), in the queue's order.
fn ours(items: &[pb::AttentionItem]) -> Vec<&str> {
    let mine = |i: &&pb::AttentionItem| i.cause.starts_with("9900");
    items
        .iter()
        .filter(mine)
        .map(|i| i.cause.as_str())
        .collect()
}

fn code<T>(answer: Result<T, tonic::Status>) -> Code {
    answer.err().map_or(Code::Ok, |status| status.code())
}

fn queue_on(settings: &mut Settings) {
    settings.attention.enabled = true;
}

async fn agents_share_the_queue_each_act_fenced_and_a_restart_keeps_the_claims(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::seeded(backend).await);
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.jsonl");
    let configure = |s: &mut Settings| {
        queue_on(s);
        protect(s);
        s.audit.path = Some(audit_path.display().to_string());
    };
    let first = spawn_replica(database.clone(), configure).await;
    let (alice, bob) = (
        token_for("alice", &["agent"], 300),
        token_for("bob", &["agent"], 300),
    );
    let bot = token_for("bot", &["chatbot"], 300);
    let (alice, bob, bot) = (
        Credentials::Bearer(&alice),
        Credentials::Bearer(&bob),
        Credentials::Bearer(&bot),
    );
    late_parcel(&first, 990_001, 5, 30).await;
    late_parcel(&first, 990_002, 6, 29).await;
    let everything = pb::ListAttentionRequest {
        filter: Some(late_only()),
        ..Default::default()
    };
    let both = eventually(Duration::from_secs(10), || async {
        let items = list(&first, everything.clone(), &alice)
            .await
            .unwrap()
            .items;
        ours(&items).len() == 2
    })
    .await;
    assert!(both.is_some(), "the late parcels never reached the queue");
    let queue = list(&first, everything.clone(), &alice).await.unwrap();
    let causes: Vec<&str> = queue.items.iter().map(|i| i.cause.as_str()).collect();
    assert_eq!(
        causes[..2],
        ["990001", "990002"],
        "the most overdue come first"
    );
    assert!(queue.items[0].overdue.unwrap().seconds >= 30 * 365 * 86_400);
    assert!(queue.items[0].evidence.contains("990001"));
    assert_eq!(
        code(list(&first, everything.clone(), &bot).await),
        Code::PermissionDenied
    );

    // Paged one by one, each token bound to its filter.
    let one = pb::ListAttentionRequest {
        page_size: 1,
        ..everything.clone()
    };
    let page = list(&first, one.clone(), &alice).await.unwrap();
    assert_eq!(
        (page.items.len(), page.items[0].cause.as_str()),
        (1, "990001")
    );
    let next = pb::ListAttentionRequest {
        page_token: page.next_page_token.clone(),
        ..one.clone()
    };
    let last = list(&first, next.clone(), &alice).await.unwrap();
    assert_eq!(last.items[0].cause, "990002");
    let other_filter = pb::ListAttentionRequest {
        filter: None,
        ..next
    };
    assert_eq!(
        code(list(&first, other_filter, &alice).await),
        Code::InvalidArgument
    );

    // One claim wins; the loser learns who holds it; claiming again is idempotent.
    let mut client = first.attention.clone();
    let claim = |lease: Option<u64>| pb::ClaimAttentionRequest {
        key: Some(key(5, 990_001)),
        lease: lease.map(|s| prost_types::Duration {
            seconds: s as i64,
            nanos: 0,
        }),
    };
    let held = client
        .claim_attention(with(claim(None), &alice))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.claimed_by, "jwt:alice");
    let lost = client
        .claim_attention(with(claim(None), &bob))
        .await
        .unwrap_err();
    assert_eq!(lost.code(), Code::FailedPrecondition);
    assert!(lost.message().contains("jwt:alice"), "{}", lost.message());
    let again = client
        .claim_attention(with(claim(None), &alice))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.version, held.version);
    assert_eq!(
        code(client.claim_attention(with(claim(Some(1)), &alice)).await),
        Code::InvalidArgument
    );
    let unclaimed = pb::ListAttentionRequest {
        filter: Some(pb::AttentionFilter {
            claimed: Some(false),
            ..late_only()
        }),
        ..Default::default()
    };
    let open = list(&first, unclaimed, &alice).await.unwrap();
    assert_eq!(ours(&open.items), ["990002"]);

    // A second replica gives the same queue; a restart keeps the claim.
    let second = spawn_replica(database.clone(), configure).await;
    assert_eq!(
        holders_of(&first, &alice).await,
        holders_of(&second, &alice).await
    );
    first.stop_and_wait().await;
    let restarted = spawn_replica(database.clone(), configure).await;
    assert_eq!(
        holders_of(&restarted, &alice).await,
        holders_of(&second, &alice).await
    );
    assert_eq!(holders_of(&restarted, &alice).await[0].2, "jwt:alice");

    // Acts on a claim that is not the item's are refused; the holder renews and resolves.
    let mut client = restarted.attention.clone();
    let renew = |version| pb::RenewAttentionRequest {
        key: Some(key(5, 990_001)),
        version,
        lease: None,
    };
    assert_eq!(
        code(
            client
                .renew_attention(with(renew(held.version), &bob))
                .await
        ),
        Code::Aborted
    );
    let renewed = client
        .renew_attention(with(renew(held.version), &alice))
        .await
        .unwrap()
        .into_inner();
    assert!(renewed.lease_expire_time.unwrap().seconds >= held.lease_expire_time.unwrap().seconds);
    let resolve = |version| pb::ResolveAttentionRequest {
        key: Some(key(5, 990_001)),
        version,
        outcome: pb::AttentionOutcome::Contacted.into(),
    };
    assert_eq!(
        code(
            client
                .resolve_attention(with(resolve(held.version + 1), &alice))
                .await
        ),
        Code::Aborted
    );
    let resolved = client
        .resolve_attention(with(resolve(held.version), &alice))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state, pb::AttentionState::Resolved as i32);
    assert_eq!(resolved.outcome, pb::AttentionOutcome::Contacted as i32);
    let left = list(&second, everything.clone(), &alice).await.unwrap();
    assert_eq!(
        ours(&left.items),
        ["990002"],
        "the resolved item is still listed"
    );

    // Every claim and resolution is in the audit trail, with who made it.
    let audited = eventually(Duration::from_secs(5), || async {
        let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
        let of = |rpc: &str| {
            text.lines()
                .filter(|l| l.contains(rpc) && l.contains("jwt:alice"))
                .count()
        };
        of("\"ClaimAttention\"") >= 2 && of("\"ResolveAttention\"") >= 1
    })
    .await;
    assert!(
        audited.is_some(),
        "{}",
        std::fs::read_to_string(&audit_path).unwrap_or_default()
    );
}

/// The next event about this test's own items (or the snapshot's end).
async fn next(stream: &mut tonic::Streaming<pb::AttentionEvent>) -> pb::AttentionEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an event within 10 s")
            .expect("the watch went on")
            .expect("an event, not an error");
        let cause = event.item.as_ref().map(|i| i.cause.as_str());
        if cause.is_none_or(|cause| cause.starts_with("9900")) {
            return event;
        }
    }
}

fn told(event: &pb::AttentionEvent) -> (Kind, String, String) {
    let cause = event
        .item
        .as_ref()
        .map_or(String::new(), |i| i.cause.clone());
    (event.kind(), cause, event.transition.clone())
}

async fn a_watch_gets_the_queue_then_each_change_and_resumes_losing_none(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::seeded(backend).await);
    let app = spawn_replica(database, queue_on).await;
    late_parcel(&app, 990_011, 5, 30).await;
    let listed = eventually(Duration::from_secs(10), || async {
        let request = pb::ListAttentionRequest::default();
        let items = list(&app, request, &Credentials::None).await.unwrap().items;
        ours(&items) == ["990011"]
    })
    .await;
    assert!(listed.is_some(), "the late parcel never reached the queue");
    let mut client = app.attention.clone();
    let watch = |resume_token: String| pb::WatchAttentionRequest {
        filter: Some(late_only()),
        resume_token,
    };
    let mut stream = client
        .watch_attention(watch(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        told(&next(&mut stream).await),
        (Kind::Added, "990011".into(), String::new())
    );
    let end = next(&mut stream).await;
    assert_eq!(end.kind(), Kind::SnapshotEnd);

    // A new item, then its claim, as they happen.
    late_parcel(&app, 990_012, 6, 29).await;
    let added = next(&mut stream).await;
    assert_eq!(
        told(&added),
        (Kind::Added, "990012".into(), "created".into())
    );
    let claimed = client
        .claim_attention(pb::ClaimAttentionRequest {
            key: Some(key(6, 990_012)),
            lease: None,
        })
        .await
        .unwrap()
        .into_inner();
    let change = next(&mut stream).await;
    assert_eq!(
        told(&change),
        (Kind::Changed, "990012".into(), "claimed".into())
    );
    assert_eq!(change.item.unwrap().claimed_by, "anonymous");

    // Away: one item resolved, the other's parcel delivered. Back: both removals come.
    drop(stream);
    let resolve = pb::ResolveAttentionRequest {
        key: Some(key(6, 990_012)),
        version: claimed.version,
        outcome: pb::AttentionOutcome::NoAction.into(),
    };
    client.resolve_attention(resolve).await.unwrap();
    delivered(&app, 990_011).await;
    let cleared = eventually(Duration::from_secs(10), || async {
        let items = list(
            &app,
            pb::ListAttentionRequest::default(),
            &Credentials::None,
        )
        .await
        .unwrap()
        .items;
        ours(&items).is_empty()
    })
    .await;
    assert!(
        cleared.is_some(),
        "the delivered parcel stayed in the queue"
    );
    let mut resumed = client
        .watch_attention(watch(change.resume_token))
        .await
        .unwrap()
        .into_inner();
    let mut removed = vec![
        told(&next(&mut resumed).await),
        told(&next(&mut resumed).await),
    ];
    removed.sort();
    assert_eq!(
        removed,
        [
            (Kind::Removed, "990011".into(), "cleared".into()),
            (Kind::Removed, "990012".into(), "resolved".into()),
        ]
    );
    assert_eq!(
        code(client.watch_attention(watch("nonsense".into())).await),
        Code::InvalidArgument
    );
}

/// A replica started over backends that already hold late parcels lists them with no row
/// changing, having read the profiles only of the customers the backends' indexes name, not
/// every customer's.
async fn a_fresh_start_builds_the_queue_from_the_backends_reading_only_whom_it_may_hold(
    backend: Backend,
) {
    let database = std::sync::Arc::new(TestDatabase::seeded(backend).await);
    let late: Vec<(i64,)> = {
        let db = database.connect_or_create().await;
        let late = db
            .fetch_all(
                "SELECT id FROM shipments WHERE delivered_at IS NULL AND promised_at < $1 \
                 ORDER BY id",
                &[Bind::Time(
                    chrono::Utc::now() - chrono::Duration::minutes(1),
                )],
            )
            .await
            .unwrap();
        db.close().await;
        late
    };
    assert!(late.len() >= 3, "the seed made {} late parcels", late.len());
    let app = spawn_replica(database, queue_on).await;
    let wanted: Vec<String> = late.iter().map(|(id,)| id.to_string()).collect();
    let listed = eventually(Duration::from_secs(20), || async {
        let request = pb::ListAttentionRequest {
            filter: Some(late_only()),
            page_size: 1000,
            ..Default::default()
        };
        let items = list(&app, request, &Credentials::None).await.unwrap().items;
        let mut causes: Vec<String> = items.into_iter().map(|item| item.cause).collect();
        causes.sort_by_key(|cause| cause.parse::<i64>().unwrap_or_default());
        causes == wanted
    })
    .await;
    assert!(
        listed.is_some(),
        "the seeded late parcels never all reached the queue"
    );
    let read = app.reads(c360::core::vocab::SourceKind::Fulfilment);
    assert!(
        read < crate::helpers::CUSTOMERS,
        "{read} profiles read to build a queue over {} customers",
        crate::helpers::CUSTOMERS
    );
}

crate::over_both_backends!(
    a_fresh_start_builds_the_queue_from_the_backends_reading_only_whom_it_may_hold,
    agents_share_the_queue_each_act_fenced_and_a_restart_keeps_the_claims,
    a_watch_gets_the_queue_then_each_change_and_resumes_losing_none,
);
