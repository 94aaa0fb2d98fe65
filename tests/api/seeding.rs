//! `c360 seed`: deterministic, and never on top of existing data.

use c360::tools::seed::{self, SeedError, SeedOptions};

use crate::helpers::{Backend, CUSTOMERS, TestDatabase};

type Customer = (i64, String, String, String);

async fn first_customers(database: &TestDatabase) -> Vec<Customer> {
    let db = database.connect_or_create().await;
    db.fetch_all(
        "SELECT id, email, phone_e164, tier FROM customers ORDER BY id LIMIT 50",
        &[],
    )
    .await
    .unwrap()
}

async fn seeding_refuses_a_database_that_already_has_data(backend: Backend) {
    let database = TestDatabase::seeded(backend).await;
    let db = database.connect_or_create().await;
    let count = || async {
        let (n,): (i64,) = db
            .fetch_optional("SELECT COUNT(*) FROM orders", &[])
            .await
            .unwrap()
            .unwrap();
        n
    };
    let before = count().await;
    let again = seed::seed(&db, &SeedOptions::new(10, 7), |_| {}).await;
    assert!(
        matches!(again, Err(SeedError::NotEmpty(n)) if n as u64 >= CUSTOMERS),
        "{again:?}"
    );
    assert_eq!(count().await, before, "a refused seed writes nothing");
}

crate::over_both_backends!(seeding_refuses_a_database_that_already_has_data);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_writes_the_same_customers_into_sqlite_and_postgres() {
    let sqlite = TestDatabase::seeded(Backend::Sqlite).await;
    let postgres = TestDatabase::seeded(Backend::Postgres).await;
    let (a, b) = (
        first_customers(&sqlite).await,
        first_customers(&postgres).await,
    );
    assert_eq!(a.len(), 50);
    assert_eq!(a, b);
}

/// Nothing in a data set happens after its "today": every timestamp column of every table
/// (but the deadlines, which are promises about the future) is at or before `as_of`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_dated_after_the_data_sets_today() {
    use c360::core::db::Bind;
    use chrono::{DateTime, TimeZone, Utc};
    /// Dates the data set promises or bills for: in the future by design.
    const DEADLINES: [(&str, &str); 2] = [("shipments", "promised_at"), ("invoices", "due_at")];
    let database = TestDatabase::empty(Backend::Postgres).await;
    let db = database.connect_or_create().await;
    let as_of = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut options = SeedOptions::new(3_000, 42);
    options.as_of = as_of;
    seed::seed(&db, &options, |_| {}).await.unwrap();

    // The change feed's and the migrations' own columns record when rows were written, in
    // real time.
    let columns: Vec<(String, String)> = db
        .fetch_all(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND data_type = 'timestamp with time zone' \
             AND table_name NOT LIKE 'change%' AND table_name NOT LIKE '%sqlx%' ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<String> = columns.iter().map(|(t, c)| format!("{t}.{c}")).collect();
    for expected in [
        "customers.created_at",
        "invoices.paid_at",
        "invoices.failed_at",
        "orders.placed_at",
        "shipments.delivered_at",
        "interactions.updated_at",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for (table, column) in &columns {
        if DEADLINES.contains(&(table.as_str(), column.as_str())) {
            continue;
        }
        // Identifiers from the catalog, not from input.
        let sql = format!("SELECT COUNT(*), MAX({column}) FROM {table} WHERE {column} > $1");
        let (after, latest): (i64, Option<DateTime<Utc>>) = db
            .fetch_optional(Box::leak(sql.into_boxed_str()), &[Bind::Time(as_of)])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            after, 0,
            "{table}.{column}: {after} after {as_of}, the latest {latest:?}"
        );
    }
    let (failed,): (i64,) = db
        .fetch_optional(
            "SELECT COUNT(*) FROM invoices WHERE failed_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    assert!(failed > 0, "the data set has failed payments to check");
}
