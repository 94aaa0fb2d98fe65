//! What the benches share: a seeded SQLite database and a typical customer in it.

use c360::{
    app::Backends,
    app::config::Settings,
    core::db::Db,
    core::vocab::CustomerId,
    tools::seed::{self, SeedOptions},
};

/// 300 seeded customers, their backends, and a typical one (4 to 6 orders). Keep the
/// directory alive as long as the backends.
pub(crate) async fn typical_customer() -> (Settings, Backends, CustomerId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect_or_create(&url, Default::default())
        .await
        .unwrap();
    seed::seed(&db, &SeedOptions::new(300, 42), |_| {})
        .await
        .unwrap();
    let (id,): (i64,) = db
        .fetch_optional(
            "SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) BETWEEN 4 AND 6 \
             ORDER BY customer_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    db.close().await;
    let mut settings = Settings::default();
    settings.database.url = url;
    // The read path alone: the attention queue's build would read (and hold admission) too.
    settings.attention.enabled = false;
    let backends = Backends::connect(&settings).unwrap();
    (settings, backends, CustomerId::new(id).unwrap(), dir)
}
