//! History search from outside: the seeded conversations searched over gRPC on SQLite and
//! Postgres — one customer's and everyone's, filtered and paged, a new message found within a
//! second of its commit, bad requests refused field by field, roles and the audit.

use std::time::{Duration, Instant};

use c360::core::db::Bind;
use c360_proto::{self as pb, history_service_client::HistoryServiceClient};
use tonic::{Code, Status};

use c360::app::config::Settings;

use crate::{
    auth::{Credentials, protect, token_for, with},
    helpers::{Backend, TestApp, eventually, spawn_app_with},
};

/// A replica with history search on (the tests' default turns it off).
async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, searching).await
}

fn searching(settings: &mut Settings) {
    settings.search.enabled = true;
}

fn client(app: &TestApp) -> HistoryServiceClient<tonic::transport::Channel> {
    HistoryServiceClient::new(app.channel.clone())
}

fn asking(customer: impl ToString, query: &str) -> pb::SearchHistoryRequest {
    pb::SearchHistoryRequest {
        customer_id: customer.to_string(),
        query: query.into(),
        ..Default::default()
    }
}

/// `request`'s answer, once the replica's index is made (it answers `UNAVAILABLE` before).
async fn search(app: &TestApp, request: pb::SearchHistoryRequest) -> pb::SearchHistoryResponse {
    let started = Instant::now();
    loop {
        match client(app).search_history(request.clone()).await {
            Ok(answer) => return answer.into_inner(),
            Err(status) if status.code() == Code::Unavailable => {
                assert!(started.elapsed() < Duration::from_secs(30), "{status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}

async fn search_all(app: &TestApp, query: &str) -> Result<pb::SearchHistoryResponse, Status> {
    let request = pb::SearchAllHistoryRequest {
        query: query.into(),
        page_size: 100,
        ..Default::default()
    };
    Ok(client(app).search_all_history(request).await?.into_inner())
}

fn text(hit: &pb::HistoryHit) -> String {
    hit.snippet.iter().map(|p| p.text.as_str()).collect()
}

fn marked(hit: &pb::HistoryHit) -> Vec<String> {
    (hit.snippet.iter())
        .filter(|p| p.matched)
        .map(|p| p.text.clone())
        .collect()
}

/// A tracking number the conversations mention, its parcel's customer, and how many
/// messages mention it.
async fn mentioned_tracking(app: &TestApp) -> (String, i64, i64) {
    let tracking = app
        .text(
            "SELECT s.tracking_number FROM shipments s WHERE EXISTS \
             (SELECT 1 FROM interaction_messages m WHERE m.body LIKE '%' || s.tracking_number || '%') \
             ORDER BY s.id LIMIT 1",
            &[],
        )
        .await;
    let owner = app
        .scalar(
            "SELECT o.customer_id FROM shipments s JOIN orders o ON o.id = s.order_id \
             WHERE s.tracking_number = $1",
            &[Bind::Text(tracking.clone())],
        )
        .await;
    let count = app
        .scalar(
            "SELECT COUNT(*) FROM interaction_messages WHERE body LIKE '%' || $1 || '%'",
            &[Bind::Text(tracking.clone())],
        )
        .await;
    (tracking, owner, count)
}

/// The customer with the most messages about an order.
async fn talkative(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT customer_id FROM interaction_messages WHERE LOWER(body) LIKE '%order%' \
         GROUP BY customer_id ORDER BY COUNT(*) DESC, customer_id LIMIT 1",
        &[],
    )
    .await
}

async fn a_tracking_number_finds_its_thread_for_its_customer_and_across_customers(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let (tracking, owner, mentions) = mentioned_tracking(&app).await;
    let found = search(&app, asking(owner, &tracking)).await;
    assert_eq!(
        found.total_size as i64, mentions,
        "every message that names it"
    );
    for hit in &found.hits {
        assert_eq!(hit.customer_id, owner.to_string());
        assert_eq!(marked(hit), vec![tracking.clone()], "{}", text(hit));
    }
    let everyone = search_all(&app, &tracking).await.unwrap();
    assert_eq!(
        everyone.total_size, found.total_size,
        "nobody else wrote it"
    );
    let other = search(&app, asking(owner + 1, &tracking)).await;
    assert_eq!(
        other.total_size, 0,
        "another customer's history does not have it"
    );
}

async fn hits_are_filtered_by_channel_and_time_and_paged_without_a_repeat(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = talkative(&app).await;
    let all = search(&app, asking(customer, "order")).await;
    assert!(all.total_size >= 3, "{}", all.total_size);
    let mut paged = Vec::new();
    let mut request = pb::SearchHistoryRequest {
        page_size: 2,
        ..asking(customer, "order")
    };
    loop {
        let page = search(&app, request.clone()).await;
        assert!(page.hits.len() <= 2);
        paged.extend(page.hits.iter().map(|h| h.message_id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let whole: Vec<String> = all.hits.iter().map(|h| h.message_id.clone()).collect();
    assert_eq!(paged, whole, "the pages are the whole answer, in its order");
    // Ranked, newest first among equals.
    for pair in all.hits.windows(2) {
        let at = |h: &pb::HistoryHit| h.sent_at.as_ref().map(|t| (t.seconds, t.nanos));
        assert!(
            pair[0].score > pair[1].score
                || (pair[0].score == pair[1].score && at(&pair[0]) >= at(&pair[1])),
            "{pair:?}"
        );
    }
    let channel = all.hits[0].channel;
    let by_channel = search(
        &app,
        pb::SearchHistoryRequest {
            channels: vec![channel],
            page_size: 100,
            ..asking(customer, "order")
        },
    )
    .await;
    assert!(by_channel.total_size >= 1);
    assert!(by_channel.hits.iter().all(|h| h.channel == channel));
    let newest = all
        .hits
        .iter()
        .filter_map(|h| h.sent_at)
        .max_by_key(|t| t.seconds)
        .unwrap();
    let since_newest = search(
        &app,
        pb::SearchHistoryRequest {
            sent_after: Some(newest),
            ..asking(customer, "order")
        },
    )
    .await;
    assert!(
        since_newest
            .hits
            .iter()
            .all(|h| h.sent_at.unwrap().seconds >= newest.seconds)
    );
    let before_newest = search(
        &app,
        pb::SearchHistoryRequest {
            sent_before: Some(newest),
            page_size: 100,
            ..asking(customer, "order")
        },
    )
    .await;
    assert_eq!(
        since_newest.total_size + before_newest.total_size,
        all.total_size,
        "after (included) and before (excluded) split the history"
    );
}

async fn a_new_message_is_found_within_a_second_of_its_commit(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.busy_customer().await;
    let interaction = app
        .scalar(
            "SELECT id FROM interactions WHERE customer_id = $1 ORDER BY id LIMIT 1",
            &[Bind::Int(customer)],
        )
        .await;
    // Made at start first.
    search(&app, asking(customer, "order")).await;
    let word = "quokkaborne";
    assert_eq!(search(&app, asking(customer, word)).await.total_size, 0);
    let sent = chrono::Utc::now();
    app.db
        .execute(
            "INSERT INTO interaction_messages \
             (interaction_id, customer_id, position, kind, author, sent_at, body) \
             VALUES ($1, $2, 1000, 'message', 'customer', $3, $4)",
            &[
                Bind::Int(interaction),
                Bind::Int(customer),
                Bind::Time(sent),
                Bind::Text(format!("Is the {word} charger in stock?")),
            ],
        )
        .await
        .unwrap();
    let committed = Instant::now();
    let found = loop {
        let found = search(&app, asking(customer, &format!("{word} charger"))).await;
        if found.total_size > 0 || committed.elapsed() > Duration::from_secs(5) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = committed.elapsed();
    assert_eq!(found.total_size, 1);
    assert!(took < Duration::from_secs(1), "found after {took:?}");
    let hit = &found.hits[0];
    assert_eq!(hit.interaction_id, interaction.to_string());
    assert_eq!(text(hit), format!("Is the {word} charger in stock?"));
    assert_eq!(marked(hit), vec![word.to_owned(), "charger".to_owned()]);
}

async fn phrases_and_the_three_languages_are_found_as_written_or_romanised(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.busy_customer().await;
    let ids: Vec<String> = app
        .conversation(
            990_301,
            customer,
            &[
                "The quokka charger is broken again",
                "Broken: the quokka, not the charger",
                "मेरा क्वोक्का ऑर्डर नहीं आया",
                "আমার কোয়োক্কা অর্ডার এখনও আসেনি",
                "quokka order nahi aaya abhi tak",
            ],
        )
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let found = |query: &str| {
        let request = pb::SearchHistoryRequest {
            page_size: 100,
            ..asking(customer, query)
        };
        let app = &app;
        async move {
            let mut hits: Vec<String> = (search(app, request).await.hits.iter())
                .map(|h| h.message_id.clone())
                .filter(|id| id.starts_with("9903"))
                .collect();
            hits.sort();
            hits
        }
    };
    // Appears within the poll.
    let started = Instant::now();
    while found("quokka").await.len() < 3 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found("quokka charger broken").await, ids[0..2]);
    assert_eq!(
        found("\"charger is broken\"").await,
        ids[0..1],
        "a phrase, in order"
    );
    assert!(found("\"broken charger\"").await.is_empty());
    // Devanagari finds itself and the romanised; romanised Hindi finds the Devanagari.
    assert_eq!(found("नहीं आया").await, [ids[2].clone(), ids[4].clone()]);
    assert_eq!(found("nahi aaya").await, [ids[2].clone(), ids[4].clone()]);
    // Bengali, found in its script and romanised.
    assert_eq!(found("এখনও আসেনি").await, ids[3..4]);
    assert_eq!(found("ekhono asheni").await, ids[3..4]);
}

async fn bad_requests_are_refused_naming_each_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = pb::SearchHistoryRequest {
        customer_id: "x".into(),
        query: " ?! ".into(),
        channels: vec![99],
        page_size: 101,
        page_token: "forged".into(),
        sent_after: Some(prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        }),
        ..Default::default()
    };
    let status = client(&app).search_history(bad.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let message = status.message();
    assert!(message.contains("customer_id"), "{message}");
    // The customer id is checked first; the rest with a good one.
    let request = pb::SearchHistoryRequest {
        customer_id: "1".into(),
        ..bad
    };
    let status = client(&app).search_history(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for field in [
        "query",
        "channels[0]",
        "page_size",
        "page_token",
        "sent_after",
    ] {
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
    }
    // A token is good for the request that gave it only.
    let customer = talkative(&app).await;
    let first = search(
        &app,
        pb::SearchHistoryRequest {
            page_size: 1,
            ..asking(customer, "order")
        },
    )
    .await;
    assert!(!first.next_page_token.is_empty());
    let reused = pb::SearchHistoryRequest {
        page_size: 1,
        page_token: first.next_page_token,
        ..asking(customer, "refund")
    };
    let status = client(&app).search_history(reused).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("page_token"));
}

async fn roles_grant_each_search_and_every_search_is_audited_without_its_words(backend: Backend) {
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.jsonl");
    let app = spawn_app_with(backend, |s| {
        searching(s);
        protect(s);
        s.audit.path = Some(audit_path.display().to_string());
    })
    .await;
    let (tracking, owner, _) = mentioned_tracking(&app).await;
    let (agent, supervisor, bot) = (
        token_for("alice", &["agent"], 300),
        token_for("sam", &["supervisor"], 300),
        token_for("bot", &["chatbot"], 300),
    );
    let one = |token: &str| {
        let request = asking(owner, &tracking);
        let mut client = client(&app);
        let token = token.to_owned();
        async move {
            let started = Instant::now();
            loop {
                let request = with(request.clone(), &Credentials::Bearer(&token));
                match client.search_history(request).await {
                    Err(s) if s.code() == Code::Unavailable && started.elapsed().as_secs() < 30 => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    answer => return answer.map(tonic::Response::into_inner),
                }
            }
        }
    };
    let across = |token: &str| {
        let request = pb::SearchAllHistoryRequest {
            query: tracking.clone(),
            ..Default::default()
        };
        let request = with(request, &Credentials::Bearer(token));
        let mut client = client(&app);
        async move { client.search_all_history(request).await }
    };
    // An agent searches the customer in front of it, not everyone.
    assert!(one(&agent).await.unwrap().total_size >= 1);
    let status = across(&agent).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // A supervisor may search everyone's.
    let everyone = across(&supervisor).await.unwrap().into_inner();
    assert!(
        everyone
            .hits
            .iter()
            .all(|h| h.customer_id == owner.to_string())
    );
    // A chatbot reads no interactions: no search either, whatever its RPCs.
    let status = one(&bot).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client(&app)
        .search_history(asking(owner, &tracking))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let searches = || {
        let text = std::fs::read_to_string(&audit_path).unwrap_or_default();
        (text.lines())
            .filter(|l| l.contains("SearchHistory") || l.contains("SearchAllHistory"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(5), || async { searches().len() >= 5 }).await;
    let audited = searches();
    let text = audited.join("\n");
    assert!(
        !text.contains(&tracking),
        "the words searched are never recorded: {text}"
    );
    let alice = audited
        .iter()
        .find(|l| {
            l.contains("jwt:alice") && l.contains("\"SearchHistory\"") && l.contains("\"OK\"")
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(alice.contains(&format!("\"{owner}\"")), "{alice}");
    assert!(alice.contains("hits of"), "{alice}");
    assert!(
        audited
            .iter()
            .any(|l| l.contains("jwt:sam") && l.contains("\"SearchAllHistory\"")),
        "{text}"
    );
    assert!(
        audited
            .iter()
            .any(|l| l.contains("jwt:bot") && l.contains("PERMISSION_DENIED")),
        "{text}"
    );
}

crate::over_both_backends!(
    roles_grant_each_search_and_every_search_is_audited_without_its_words,
    a_tracking_number_finds_its_thread_for_its_customer_and_across_customers,
    hits_are_filtered_by_channel_and_time_and_paged_without_a_repeat,
    a_new_message_is_found_within_a_second_of_its_commit,
    phrases_and_the_three_languages_are_found_as_written_or_romanised,
    bad_requests_are_refused_naming_each_field,
);
