//! `OfferService` over gRPC, on SQLite and Postgres: the envelope of a customer with a late
//! parcel and a returnable line, offers recorded once each and the envelope shrinking after
//! them, an offer beyond an agent's limit awaiting a supervisor's approval, a currency the
//! customer does not pay in refused, the ledger listed for the systems that carry offers out,
//! every call audited; and races: 100 agents offering one parcel's free shipping record one
//! offer, a retried request gives back its offer, and 20 requests each for 60 % of an agent's
//! budget record exactly one.

use std::collections::BTreeMap;

use c360::{app::config::Settings, core::db::Bind};
use c360_proto as pb;
use tonic::Code;

use crate::{
    auth::{Credentials, protect, token_for, with},
    helpers::{Backend, TestApp, spawn_app_with},
};

/// The order, line, and parcels this file adds for a customer.
const ORDER: i64 = 990_001;
const LATE_PARCEL: i64 = 990_011;

/// A customer with a late parcel and, delivered two days ago, an order of two units of a
/// returnable product at 33.99 each; its currency.
async fn with_problems(app: &TestApp, customer: i64) -> String {
    let currency = (app.text(
        "SELECT currency FROM billing_accounts WHERE customer_id = $1",
        &[Bind::Int(customer)],
    ))
    .await;
    let sku = (app.text(
        "SELECT p.sku FROM products p JOIN return_policies r ON r.category = p.category \
         WHERE p.returnable AND r.returnable AND r.window_days >= 14 \
         ORDER BY p.sku LIMIT 1",
        &[],
    ))
    .await;
    let now = chrono::Utc::now();
    let days = chrono::Duration::days;
    let statements: [(&'static str, Vec<Bind>); 4] = [
        (
            "INSERT INTO orders (id, customer_id, status, currency, total_minor, placed_at) \
             VALUES ($1, $2, 'delivered', $3, 6798, $4)",
            vec![
                Bind::Int(ORDER),
                Bind::Int(customer),
                Bind::Text(currency.clone()),
                Bind::Time(now - days(5)),
            ],
        ),
        (
            "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price_minor) \
             VALUES ($1, 1, $2, 2, 3399)",
            vec![Bind::Int(ORDER), Bind::Text(sku)],
        ),
        (
            "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
             promised_at, shipped_at, delivered_at, created_at) \
             VALUES ($1, $2, $3, 'DHL', 'DONE', 'delivered', $4, $5, $6, $5)",
            vec![
                Bind::Int(ORDER),
                Bind::Int(ORDER),
                Bind::Int(customer),
                Bind::Time(now - days(2)),
                Bind::Time(now - days(4)),
                Bind::Time(now - days(2)),
            ],
        ),
        (
            "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
             promised_at, created_at) VALUES ($1, $2, $3, 'DHL', 'LATE', 'in_transit', $4, $5)",
            vec![
                Bind::Int(LATE_PARCEL),
                Bind::Int(ORDER + 1),
                Bind::Int(customer),
                Bind::Time(now - days(3)),
                Bind::Time(now - days(6)),
            ],
        ),
    ];
    for (sql, binds) in statements {
        app.db.execute(sql, &binds).await.unwrap();
    }
    currency
}

fn money(currency: &str, minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: currency.into(),
        amount_minor: minor,
    })
}

fn line() -> String {
    format!("order_line/{ORDER}/1")
}

fn late() -> String {
    format!("late_shipment/{LATE_PARCEL}")
}

async fn envelope(app: &TestApp, customer: i64, who: &Credentials<'_>) -> pb::OfferEnvelope {
    let request = pb::GetOfferEnvelopeRequest {
        customer_id: customer.to_string(),
    };
    let mut client = app.offers.clone();
    let answer = client.get_offer_envelope(with(request, who)).await;
    answer.unwrap().into_inner()
}

fn allowance<'a>(
    envelope: &'a pb::OfferEnvelope,
    problem: &str,
    kind: pb::OfferKind,
) -> &'a pb::Allowance {
    let found = envelope.problems.iter().find(|p| p.problem_id == problem);
    let found = found.unwrap_or_else(|| panic!("{problem} in {envelope:#?}"));
    let allowance = found.allowances.iter().find(|a| a.kind() == kind);
    allowance.unwrap_or_else(|| panic!("{kind:?} for {problem}: {found:#?}"))
}

async fn record(
    app: &TestApp,
    request: pb::RecordOfferRequest,
    who: &Credentials<'_>,
) -> Result<pb::Offer, tonic::Status> {
    let mut client = app.offers.clone();
    client
        .record_offer(with(request, who))
        .await
        .map(|r| r.into_inner())
}

fn offer(customer: i64, problem: String, kind: pb::OfferKind) -> pb::RecordOfferRequest {
    pb::RecordOfferRequest {
        customer_id: customer.to_string(),
        problem_id: problem,
        kind: kind.into(),
        ..Default::default()
    }
}

fn code<T>(answer: Result<T, tonic::Status>) -> Code {
    answer.err().map_or(Code::Ok, |status| status.code())
}

async fn an_envelope_shrinks_as_offers_are_recorded_and_a_supervisor_settles_what_goes_beyond(
    backend: Backend,
) {
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.jsonl");
    let configure = |s: &mut Settings| {
        protect(s);
        s.audit.path = Some(audit_path.display().to_string());
    };
    let app = spawn_app_with(backend, configure).await;
    let customer = 8;
    let currency = with_problems(&app, customer).await;
    let (ann, bob, sue) = (
        token_for("ann", &["agent"], 300),
        token_for("bob", &["agent"], 300),
        token_for("sue", &["supervisor"], 300),
    );
    let bot = token_for("bot", &["chatbot"], 300);
    let (ann, bob, sue, bot) = (
        Credentials::Bearer(&ann),
        Credentials::Bearer(&bob),
        Credentials::Bearer(&sue),
        Credentials::Bearer(&bot),
    );

    let first = envelope(&app, customer, &ann).await;
    assert_eq!(first.currency_code, currency);
    let free = allowance(&first, &late(), pb::OfferKind::FreeShipping);
    assert!(free.available && free.own, "{free:?}");
    let refund = allowance(&first, &line(), pb::OfferKind::Refund);
    assert_eq!(refund.own_money, money(&currency, 6_798), "{refund:?}");
    assert!(
        refund
            .says
            .starts_with(&format!("refund up to 67.98 {currency}")),
        "{}",
        refund.says
    );
    assert!(
        refund
            .says
            .contains(&format!("your role's limit is 100.00 {currency}")),
        "{}",
        refund.says
    );
    let request = pb::GetOfferEnvelopeRequest {
        customer_id: customer.to_string(),
    };
    let refused = app
        .offers
        .clone()
        .get_offer_envelope(with(request, &bot))
        .await;
    assert_eq!(code(refused), Code::PermissionDenied);

    // Free shipping for the late parcel: once, whoever asks.
    let free = offer(customer, late(), pb::OfferKind::FreeShipping);
    let given = record(&app, free.clone(), &ann).await.unwrap();
    assert_eq!(
        (given.state(), given.agent.as_str()),
        (pb::OfferState::Recorded, "jwt:ann")
    );
    assert_eq!(given.offer_id.len(), 32);
    let again = record(&app, free, &bob).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    assert!(
        again.message().contains("already given by jwt:ann"),
        "{}",
        again.message()
    );

    // A refund shrinks the line's envelope; what is beyond it is refused.
    let refund = |minor| pb::RecordOfferRequest {
        amount: money(&currency, minor),
        ..offer(customer, line(), pb::OfferKind::Refund)
    };
    let refunded = record(&app, refund(4_000), &bob).await.unwrap();
    assert_eq!(refunded.state(), pb::OfferState::Recorded);
    let after = envelope(&app, customer, &ann).await;
    let left = allowance(&after, &line(), pb::OfferKind::Refund);
    assert_eq!(left.most_money, money(&currency, 2_798), "{left:?}");
    assert!(!allowance(&after, &late(), pb::OfferKind::FreeShipping).available);
    assert_eq!(after.offers_made.len(), 2);
    let beyond = record(&app, refund(2_799), &ann).await.unwrap_err();
    assert_eq!(beyond.code(), Code::FailedPrecondition, "{beyond:?}");
    let other = if currency == "EUR" { "GBP" } else { "EUR" };
    let mismatch = pb::RecordOfferRequest {
        amount: money(other, 100),
        ..refund(100)
    };
    let mismatch = record(&app, mismatch, &ann).await.unwrap_err();
    assert_eq!(mismatch.code(), Code::InvalidArgument, "{mismatch:?}");
    assert!(
        mismatch.message().contains(&format!("pays in {currency}")),
        "{}",
        mismatch.message()
    );

    // 30 % is beyond an agent's 25 %: it awaits a supervisor, who is not its agent.
    let discount = pb::RecordOfferRequest {
        percent: 30,
        ..offer(customer, late(), pb::OfferKind::Discount)
    };
    let asked = record(&app, discount, &ann).await.unwrap();
    assert_eq!(asked.state(), pb::OfferState::AwaitingApproval);
    let settle = pb::ApproveOfferRequest {
        offer_id: asked.offer_id.clone(),
    };
    let mut client = app.offers.clone();
    let own = client.approve_offer(with(settle.clone(), &ann)).await;
    assert_eq!(code(own), Code::PermissionDenied, "agents do not approve");
    let approved = client
        .approve_offer(with(settle.clone(), &sue))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (approved.state(), approved.settled_by.as_str()),
        (pb::OfferState::Approved, "jwt:sue")
    );
    let reject = pb::RejectOfferRequest {
        offer_id: asked.offer_id.clone(),
    };
    let twice = client.reject_offer(with(reject, &sue)).await;
    assert_eq!(code(twice), Code::FailedPrecondition);

    // The ledger, for what carries offers out: each offer to carry out once, in order, paged.
    let ledger = |page_token: String| pb::ListOffersRequest {
        customer_id: customer.to_string(),
        to_carry_out: true,
        page_size: 2,
        page_token,
        ..Default::default()
    };
    let first_page = client
        .list_offers(with(ledger(String::new()), &sue))
        .await
        .unwrap()
        .into_inner();
    let next = ledger(first_page.next_page_token.clone());
    let second_page = client
        .list_offers(with(next, &sue))
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<(String, pb::OfferState)> = (first_page.entries.iter())
        .chain(&second_page.entries)
        .map(|e| (e.offer.as_ref().unwrap().offer_id.clone(), e.state()))
        .collect();
    let expected = vec![
        (given.offer_id.clone(), pb::OfferState::Recorded),
        (refunded.offer_id.clone(), pb::OfferState::Recorded),
        (asked.offer_id.clone(), pb::OfferState::Approved),
    ];
    assert_eq!(entries, expected);
    assert!(second_page.next_page_token.is_empty());

    // Every envelope read and every offer is in the audit trail, with no amount of PII.
    let trail = std::fs::read_to_string(&audit_path).unwrap();
    let lines: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |rpc: &str| lines.iter().filter(|l| l["rpc"] == rpc).count();
    assert!(of("GetOfferEnvelope") >= 2, "{trail}");
    assert_eq!(of("RecordOffer"), 6, "{trail}");
    assert_eq!(of("ApproveOffer"), 1, "{trail}");
    let recorded = lines
        .iter()
        .find(|l| l["rpc"] == "RecordOffer" && l["outcome"] == "OK");
    let recorded = recorded.unwrap();
    assert_eq!(recorded["customers"][0], customer.to_string());
    assert!(
        recorded["offer"]
            .as_str()
            .unwrap()
            .contains(&given.offer_id),
        "{recorded}"
    );
}

async fn racing_agents_record_one_offer_and_a_budget_is_spent_once(backend: Backend) {
    let configure = |s: &mut Settings| {
        protect(s);
        let agent = s.offers.roles.get_mut("agent").unwrap();
        let each = |minor| {
            BTreeMap::from(
                [("EUR", minor), ("GBP", minor), ("USD", minor)].map(|(c, m)| (c.to_owned(), m)),
            )
        };
        agent.daily_budget_minor = each(10_000);
        agent.refund_per_customer_minor = each(1_000_000);
    };
    let app = spawn_app_with(backend, configure).await;
    let customer = 8;
    let currency = with_problems(&app, customer).await;
    // Make the line worth far more than the budget: only the budget can stop a refund.
    let sql = "UPDATE order_lines SET unit_price_minor = 100000 WHERE order_id = $1";
    app.db.execute(sql, &[Bind::Int(ORDER)]).await.unwrap();
    let tokens: Vec<String> = (0..100)
        .map(|i| token_for(&format!("agent{i}"), &["agent"], 300))
        .collect();

    // 100 agents at once, each offering the late parcel's free shipping: one offer.
    let free = offer(customer, late(), pb::OfferKind::FreeShipping);
    let app = &app;
    let racing = tokens.iter().map(|token| {
        let free = free.clone();
        async move { record(app, free, &Credentials::Bearer(token)).await }
    });
    let answers = futures::future::join_all(racing).await;
    let won: Vec<&pb::Offer> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    let lost = (answers.iter())
        .filter(|a| {
            a.as_ref()
                .is_err_and(|s| s.code() == Code::FailedPrecondition)
        })
        .count();
    assert_eq!(lost, 99);

    // One agent's request, retried 20 times at once under its key: one offer, given back.
    let one = Credentials::Bearer(&tokens[0]);
    let keyed = pb::RecordOfferRequest {
        percent: 10,
        request_id: "retry-7f3a".into(),
        ..offer(customer, late(), pb::OfferKind::Discount)
    };
    let retries = (0..20).map(|_| record(app, keyed.clone(), &one));
    let answers = futures::future::join_all(retries).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|a| a.as_ref().unwrap().offer_id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");

    // 20 refunds at once, each 60 % of the agent's 100.00 budget: exactly one.
    let two = Credentials::Bearer(&tokens[1]);
    let refund = pb::RecordOfferRequest {
        amount: money(&currency, 6_000),
        ..offer(customer, line(), pb::OfferKind::Refund)
    };
    let racing = (0..20).map(|_| record(app, refund.clone(), &two));
    let answers = futures::future::join_all(racing).await;
    let recorded = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(recorded, 1, "{answers:?}");
    let refused = answers.iter().find_map(|a| a.as_ref().err()).unwrap();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("budget today has 40.00"),
        "{}",
        refused.message()
    );
}

async fn the_ledger_is_watched_from_a_position_and_offers_show_on_the_profiles_insights(
    backend: Backend,
) {
    let app = spawn_app_with(backend, protect).await;
    let customer = 8;
    let currency = with_problems(&app, customer).await;
    let (ann, sue, orders) = (
        token_for("ann", &["agent"], 300),
        token_for("sue", &["supervisor"], 300),
        Credentials::ApiKey(crate::auth::SERVICE_KEY),
    );
    let (ann, sue) = (Credentials::Bearer(&ann), Credentials::Bearer(&sue));
    let insights = || async {
        let request = pb::GetCustomerProfileRequest {
            customer_id: customer.to_string(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["insights".into()],
            }),
            ..Default::default()
        };
        let mut customers = app.customers.clone();
        let profile = customers.get_customer_profile(with(request, &ann)).await;
        profile.unwrap().into_inner().insights.unwrap()
    };
    let before = insights().await;
    assert!(before.offers_made.is_empty(), "{before:?}");

    // A system that carries offers out watches the ledger's offers to carry out.
    let watch = pb::WatchOffersRequest {
        to_carry_out: true,
        ..Default::default()
    };
    let mut offers = app.offers.clone();
    let mut stream = offers
        .watch_offers(with(watch, &orders))
        .await
        .unwrap()
        .into_inner();
    let free = record(
        &app,
        offer(customer, late(), pb::OfferKind::FreeShipping),
        &ann,
    );
    let free = free.await.unwrap();
    let credit = pb::RecordOfferRequest {
        amount: money(&currency, 3_000),
        ..offer(customer, late(), pb::OfferKind::GoodwillCredit)
    };
    let credit = record(&app, credit, &ann).await.unwrap();
    assert_eq!(credit.state(), pb::OfferState::AwaitingApproval);
    let first = next_entry(&mut stream).await;
    assert_eq!(first.offer.as_ref().unwrap().offer_id, free.offer_id);
    // The credit awaits approval: not to carry out until a supervisor approves it.
    let approve = pb::ApproveOfferRequest {
        offer_id: credit.offer_id.clone(),
    };
    offers.approve_offer(with(approve, &sue)).await.unwrap();
    let second = next_entry(&mut stream).await;
    assert_eq!(
        (
            second.offer.as_ref().unwrap().offer_id.as_str(),
            second.state()
        ),
        (credit.offer_id.as_str(), pb::OfferState::Approved)
    );
    assert!(second.position > first.position);
    drop(stream);

    // Watched again from the first entry's position: the second, and nothing before it.
    let resumed = pb::WatchOffersRequest {
        after_position: first.position,
        to_carry_out: true,
        ..Default::default()
    };
    let mut stream = offers
        .watch_offers(with(resumed, &orders))
        .await
        .unwrap()
        .into_inner();
    let again = next_entry(&mut stream).await;
    assert_eq!(again.position, second.position);

    // The profile's insights show both offers, within the tail's second.
    let shown = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        insights().await.offers_made.len() == 2
    })
    .await;
    assert!(shown.is_some(), "{:?}", insights().await);
    let after = insights().await;
    let ids: Vec<&str> = after
        .offers_made
        .iter()
        .map(|o| o.offer_id.as_str())
        .collect();
    assert_eq!(ids, [free.offer_id.as_str(), credit.offer_id.as_str()]);
    // The cached insights are still there beside them.
    assert_eq!(after.lifetime_value, before.lifetime_value);
}

/// The next entry of a watch of the ledger, within 5 s.
async fn next_entry(stream: &mut tonic::Streaming<pb::OfferLedgerEntry>) -> pb::OfferLedgerEntry {
    let entry = tokio::time::timeout(std::time::Duration::from_secs(5), stream.message());
    entry.await.expect("an entry within 5 s").unwrap().unwrap()
}

async fn every_limit_of_a_role_holds_and_beyond_it_a_supervisor_approves(backend: Backend) {
    let configure = |s: &mut Settings| {
        protect(s);
        let agent = s.offers.roles.get_mut("agent").unwrap();
        let each = |minor: i64| {
            ["EUR", "GBP", "USD"]
                .map(|c| (c.to_owned(), minor))
                .into_iter()
                .collect::<BTreeMap<_, _>>()
        };
        agent.refund_per_customer_minor = each(1_000);
        agent.goodwill_credit_minor = each(500);
        agent.max_discount_percent = 10;
        agent.free_shipping = false;
    };
    let app = spawn_app_with(backend, configure).await;
    let customer = 8;
    let currency = with_problems(&app, customer).await;
    let ann = token_for("ann", &["agent"], 300);
    let ann = Credentials::Bearer(&ann);
    let state = |answer: Result<pb::Offer, tonic::Status>| answer.unwrap().state();
    // The refund limit counts the customer's refunds: 10.00 on its own, then beyond.
    let refund = |minor| pb::RecordOfferRequest {
        amount: money(&currency, minor),
        ..offer(customer, line(), pb::OfferKind::Refund)
    };
    assert_eq!(
        state(record(&app, refund(600), &ann).await),
        pb::OfferState::Recorded
    );
    let beyond = state(record(&app, refund(401), &ann).await);
    assert_eq!(beyond, pb::OfferState::AwaitingApproval);
    // Free shipping needs approval for a role that may not give it.
    let free = offer(customer, late(), pb::OfferKind::FreeShipping);
    let free = state(record(&app, free, &ann).await);
    assert_eq!(free, pb::OfferState::AwaitingApproval);
    // The discount and the credit: at the limit on its own, beyond it for approval, each once.
    let discount = pb::RecordOfferRequest {
        percent: 10,
        ..offer(customer, late(), pb::OfferKind::Discount)
    };
    assert_eq!(
        state(record(&app, discount, &ann).await),
        pb::OfferState::Recorded
    );
    let credit = pb::RecordOfferRequest {
        amount: money(&currency, 501),
        ..offer(customer, late(), pb::OfferKind::GoodwillCredit)
    };
    let credit = state(record(&app, credit, &ann).await);
    assert_eq!(credit, pb::OfferState::AwaitingApproval);
    let envelope = envelope(&app, customer, &ann).await;
    let left = allowance(&envelope, &line(), pb::OfferKind::Refund);
    assert_eq!(
        (left.own, left.own_money.clone()),
        (false, None),
        "{left:?}"
    );
    assert!(
        left.says.contains(&format!("(0.00 {currency} left)")),
        "{}",
        left.says
    );
}

#[test]
fn a_bad_limit_or_an_unknown_role_is_refused_at_start_by_its_key() {
    for (toml, key) in [
        (
            "[offers.roles.agent]\nmax_discount_percent = 120\n",
            "offers.roles.agent.max_discount_percent",
        ),
        (
            "[offers.roles.agent]\ndaily_budget_minor = { GBP = -5 }\n",
            "offers.roles.agent.daily_budget_minor.GBP",
        ),
        (
            "[offers.roles.intern]\nfree_shipping = true\n",
            "offers.roles.intern",
        ),
        ("[offers]\nrefund_period = \"1h\"\n", "offers.refund_period"),
    ] {
        let refused = Settings::from_toml(toml).unwrap_err().to_string();
        assert!(refused.contains(&format!("`{key}`")), "{toml}: {refused}");
    }
}

crate::over_both_backends!(
    every_limit_of_a_role_holds_and_beyond_it_a_supervisor_approves,
    the_ledger_is_watched_from_a_position_and_offers_show_on_the_profiles_insights,
    an_envelope_shrinks_as_offers_are_recorded_and_a_supervisor_settles_what_goes_beyond,
    racing_agents_record_one_offer_and_a_budget_is_spent_once,
);
