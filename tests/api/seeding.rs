//! `c360 seed`: deterministic, and never on top of existing data.

use c360::seed::{self, SeedError, SeedOptions};

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
