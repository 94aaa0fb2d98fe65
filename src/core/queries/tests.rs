//! Lookups and return checks against scripted backends.

use std::time::Duration;

use super::*;
use crate::{
    core::reference::EligibilityReason,
    core::sources::{
        fake::{FakeLookups, fake_sources},
        fixtures::{self, customer},
    },
    core::vocab::PerSource,
};

fn queries() -> (Queries, Arc<FakeLookups>) {
    let (sources, _) = fake_sources(|f| f);
    let lookups = Arc::new(FakeLookups::default());
    let timeouts = PerSource::same(Duration::from_millis(100));
    let fanout = Fanout::new(sources, lookups.clone(), timeouts);
    let catalog = Arc::new(Catalog::new(fixtures::catalog()));
    (Queries::new(fanout, catalog), lookups)
}

fn order(id: i64) -> OrderId {
    OrderId::new(id).expect("positive")
}

fn sku(text: &str) -> Sku {
    text.parse().expect("valid sku")
}

#[tokio::test]
async fn an_email_or_a_phone_finds_the_customer_with_their_identity() {
    let (queries, _) = queries();
    let identity = fixtures::identity();
    for key in [
        LookupKey::Email(identity.email.parse().unwrap()),
        LookupKey::Phone(identity.phone.parse().unwrap()),
    ] {
        let found = queries.find_customers(key, None).await.unwrap();
        let expected = CustomerMatch {
            customer: customer(),
            identity: Some(identity.clone()),
        };
        assert_eq!(found, [expected]);
    }
    let nobody = LookupKey::Email("nobody@example.com".parse().unwrap());
    assert!(
        queries
            .find_customers(nobody, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_order_finds_its_customer_even_when_crm_is_down() {
    let (queries, lookups) = queries();
    let found = queries
        .find_customers(LookupKey::Order(order(12)), None)
        .await
        .unwrap();
    assert_eq!(found[0].customer, customer());
    assert!(found[0].identity.is_some());
    lookups.set_failing(SourceKind::Crm, true);
    let found = queries
        .find_customers(LookupKey::Order(order(12)), None)
        .await
        .unwrap();
    assert_eq!((found[0].customer, &found[0].identity), (customer(), &None));
    let unknown = queries
        .find_customers(LookupKey::Order(order(99)), None)
        .await;
    assert_eq!(unknown, Ok(Vec::new()));
}

#[tokio::test]
async fn a_failing_backend_is_named_and_a_passed_deadline_is_said() {
    let (queries, lookups) = queries();
    lookups.set_failing(SourceKind::Orders, true);
    let failed = queries.check_return(order(11), &sku("ELE-1"), None).await;
    assert_eq!(failed, Err(QueryError::Unavailable(SourceKind::Orders)));
    lookups.set_failing(SourceKind::Crm, true);
    let key = LookupKey::Email(fixtures::identity().email.parse().unwrap());
    let failed = queries.find_customers(key, None).await;
    assert_eq!(failed, Err(QueryError::Unavailable(SourceKind::Crm)));

    let passed = Instant::now() - Duration::from_millis(1);
    let late = queries
        .check_return(order(11), &sku("ELE-1"), Some(passed))
        .await;
    assert_eq!(late, Err(QueryError::DeadlineExceeded));
}

#[tokio::test]
async fn a_delivered_line_is_judged_against_its_categorys_window() {
    let (queries, lookups) = queries();
    // Order 11 arrived 25 days before the fixtures' now; electronics may go back for 30 days
    // after that (judged at the real now, the window may have closed since).
    let answer = queries
        .check_return(order(11), &sku("ele-1"), None)
        .await
        .unwrap();
    assert_eq!(answer.customer, customer());
    let deadline = fixtures::days_ago(25) + chrono::Duration::days(30);
    let verdict = answer.check.eligibility;
    assert_eq!(verdict.deadline, Some(deadline));
    assert_eq!(verdict.eligible, Utc::now() <= deadline);
    assert_eq!(answer.check.returnable_quantity, 1);
    assert_eq!(
        answer.check.product.map(|p| p.name),
        Some("Headphones".into())
    );
    // Without fulfilment, nobody can say when the window opened.
    lookups.set_failing(SourceKind::Fulfilment, true);
    let unknown = queries
        .check_return(order(11), &sku("ELE-1"), None)
        .await
        .unwrap();
    let reason = unknown.check.eligibility.reason;
    assert_eq!(reason, EligibilityReason::DeliveryUnknown);
}

#[tokio::test]
async fn unknown_orders_and_foreign_skus_are_told_apart() {
    let (queries, lookups) = queries();
    let unknown = queries.check_return(order(99), &sku("ELE-1"), None).await;
    assert_eq!(unknown, Err(QueryError::OrderNotFound(order(99))));
    let foreign = queries.check_return(order(11), &sku("ZZZ-9"), None).await;
    let expected = QueryError::NoSuchLine {
        order: order(11),
        sku: sku("ZZZ-9"),
    };
    assert_eq!(foreign, Err(expected));
    assert_eq!(
        lookups.calls().fulfilment,
        0,
        "no parcels read for a refusal"
    );
}
