//! The sources' statements: Postgres reads each backend's part of a customer in one statement
//! (issue 25), SQLite in the several it always has; both must answer the same.

use std::time::Duration;

use c360::core::{
    cache::CachedProfile,
    entry::EncodedProfile,
    fanout::Outcome,
    profile::{Collected, collect},
    reference::CatalogSnapshot,
    sources::{
        BillingSource, CrmSource, CustomerKey, FulfilmentSource, Lookups, OrdersSource, Source,
        SourceData, SqlLookups,
    },
    vocab::{CustomerId, Email, OrderId, Phone},
};

use crate::helpers::{Backend, CUSTOMERS, TestDatabase};

fn sources(db: &c360::core::db::Db) -> Vec<Box<dyn Source>> {
    vec![
        Box::new(BillingSource::new(db.clone())),
        Box::new(OrdersSource::new(db.clone())),
        Box::new(FulfilmentSource::new(db.clone())),
        Box::new(CrmSource::new(db.clone())),
    ]
}

/// The same seed in both databases: every source's answer for every customer (and for one
/// that does not exist) is the same, field for field, whichever statements read it, one at a
/// time or batched with the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_statement_per_source_answers_as_the_separate_statements_do() {
    let (sqlite, postgres) = (
        TestDatabase::seeded(Backend::Sqlite).await,
        TestDatabase::seeded(Backend::Postgres).await,
    );
    let (sqlite, postgres) = (
        sqlite.connect_or_create().await,
        postgres.connect_or_create().await,
    );
    assert!(postgres.is_postgres() && !sqlite.is_postgres());
    let (several, one) = (sources(&sqlite), sources(&postgres));
    let mut compared = 0;
    let mut nonempty = 0;
    for id in (1..=CUSTOMERS as i64 + 1).filter_map(CustomerId::new) {
        for (a, b) in several.iter().zip(&one) {
            let (a, b) = (a.fetch(id).await, b.fetch(id).await);
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a, b, "customer {id}");
            compared += 1;
            nonempty += usize::from(has_rows(&a));
        }
    }
    assert_eq!(compared, 4 * (CUSTOMERS as usize + 1));
    // Most answers carry rows: the comparison is not of empty lists.
    assert!(nonempty > compared / 2, "{nonempty} of {compared}");

    // Asked all at once, Postgres reads the customers in batches: each answer is still the
    // one its customer's statements give.
    let ids: Vec<_> = (1..=CUSTOMERS as i64 + 1)
        .filter_map(CustomerId::new)
        .collect();
    for (a, b) in several.iter().zip(&one) {
        let at_once = futures::future::join_all(ids.iter().map(|id| b.fetch(*id))).await;
        for (id, b) in ids.iter().zip(at_once) {
            assert_eq!(
                a.fetch(*id).await.unwrap(),
                b.unwrap(),
                "customer {id}, at once"
            );
        }
    }
}

fn lookups(db: &c360::core::db::Db) -> SqlLookups {
    SqlLookups::new(
        CrmSource::new(db.clone()),
        OrdersSource::new(db.clone()),
        FulfilmentSource::new(db.clone()),
    )
}

/// The lookups' one JSON statement each on Postgres answer as their row statements do on
/// SQLite, over every seeded customer: by id, email and phone, and every order of theirs (and
/// its parcels) by the order's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lookups_answer_as_the_row_statements_do() {
    let (sqlite, postgres) = (
        TestDatabase::seeded(Backend::Sqlite).await,
        TestDatabase::seeded(Backend::Postgres).await,
    );
    let (sqlite, postgres) = (
        sqlite.connect_or_create().await,
        postgres.connect_or_create().await,
    );
    let (rows, json) = (lookups(&sqlite), lookups(&postgres));
    let (mut customers, mut orders, mut parcels) = (0, 0, 0);
    for id in (1..=CUSTOMERS as i64 + 1).filter_map(CustomerId::new) {
        let found = rows.customers(CustomerKey::Id(id)).await.unwrap();
        assert_eq!(found, json.customers(CustomerKey::Id(id)).await.unwrap());
        let Some((_, identity)) = found.first() else {
            continue;
        };
        customers += 1;
        let email: Email = identity.email.parse().expect("a seeded email");
        let phone: Phone = identity.phone.parse().expect("a seeded phone");
        for key in [CustomerKey::Email(email), CustomerKey::Phone(phone)] {
            let (a, b) = (rows.customers(key.clone()).await, json.customers(key).await);
            assert_eq!(a.unwrap(), b.unwrap(), "customer {id}");
        }
        let Ok(SourceData::Orders(history)) = OrdersSource::new(sqlite.clone()).fetch(id).await
        else {
            panic!("customer {id}'s orders");
        };
        for order in history.recent.iter().map(|o| o.id) {
            let (a, b) = (
                rows.order(order).await.unwrap(),
                json.order(order).await.unwrap(),
            );
            assert!(a.is_some(), "order {order}");
            assert_eq!(a, b, "order {order}");
            let (a, b) = (
                rows.shipments_of(order).await,
                json.shipments_of(order).await,
            );
            let a = a.unwrap();
            parcels += a.len();
            assert_eq!(a, b.unwrap(), "order {order}");
            orders += 1;
        }
    }
    let missing = OrderId::new(i64::MAX).expect("an order id");
    assert_eq!(json.order(missing).await.unwrap(), None);
    assert!(json.shipments_of(missing).await.unwrap().is_empty());
    // The comparison is not of empty answers.
    assert_eq!(customers, CUSTOMERS as usize);
    assert!(
        orders > customers && parcels > 0,
        "{orders} orders, {parcels} parcels"
    );
}

/// A cached entry keeps no copy of its backends' answers: it gives them back from the profile
/// it shows (with the order totals it keeps), for a catalog change to be applied again. For
/// every seeded customer, what it gives back is what the backends answered, field for field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seeded_customer_s_entry_gives_back_the_answers_it_was_made_of() {
    let db = TestDatabase::seeded(Backend::Sqlite).await;
    let sources = sources(&db.connect_or_create().await);
    let catalog = CatalogSnapshot::default();
    let mut given_back = 0;
    for id in (1..=CUSTOMERS as i64).filter_map(CustomerId::new) {
        let mut outcomes = Vec::new();
        for source in &sources {
            outcomes.push(Outcome {
                kind: source.kind(),
                result: Ok(source.fetch(id).await.unwrap()),
                fetched_at: chrono::Utc::now(),
                latency: Duration::from_millis(1),
            });
        }
        let Collected::Answers(answers) = collect(id, outcomes) else {
            continue;
        };
        let now = chrono::Utc::now();
        let profile = answers.clone().into_profile(&catalog, now);
        let entry = CachedProfile::new(
            EncodedProfile::encode(&profile, now),
            tokio::time::Instant::now(),
            now,
            0,
            answers.unshown(),
        );
        assert_eq!(entry.answers().as_ref(), Some(&*answers), "customer {id}");
        given_back += 1;
    }
    assert!(given_back > CUSTOMERS / 2, "{given_back} of {CUSTOMERS}");
}

/// Whether an answer holds more than a customer's bare existence: invoices, orders with
/// lines, parcels, interactions.
fn has_rows(data: &SourceData) -> bool {
    match data {
        SourceData::Billing(billing) => billing
            .as_ref()
            .is_some_and(|b| !b.recent_invoices.is_empty() && !b.payment_methods.is_empty()),
        SourceData::Orders(history) => history.recent.iter().any(|o| !o.lines.is_empty()),
        SourceData::Fulfilment(shipments) => !shipments.is_empty(),
        SourceData::Crm(record) => record.as_ref().is_some_and(|r| !r.interactions.is_empty()),
    }
}
