//! The Postgres connections the backends' reads run on (issue 25): held by c360, at most
//! `max_connections` of them, reused without a round trip of their own, several statements
//! pipelined on one when they are busy, and sound again after a statement was abandoned or a
//! connection was cut.

use std::time::Duration;

use c360::core::db::{Db, PoolOptions};
use futures::future::join_all;

use crate::helpers::{Backend, TestDatabase};

fn options(max_connections: u32) -> PoolOptions {
    PoolOptions {
        max_connections,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: None,
    }
}

/// The one number `sql` returns, as a read that serves a call would run it (`fetch_json`).
async fn value(db: &Db, sql: &'static str) -> Result<i64, sqlx::Error> {
    let (value,): (i64,) = db.fetch_json(sql, &[]).await?;
    Ok(value)
}

const BACKEND: &str = "SELECT CAST(json_build_array(pg_backend_pid()) AS TEXT)";

/// The server's connections to the test's database, this test's admin connection aside.
async fn server_connections(admin: &Db) -> i64 {
    value(
        admin,
        "SELECT CAST(json_build_array(count(*)) AS TEXT) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_share_at_most_max_connections_pipelined_and_a_quiet_replica_keeps_one() {
    let database = TestDatabase::empty(Backend::Postgres).await;
    let admin = Db::connect_lazy(&database.url, options(1)).unwrap();
    let db = Db::connect_lazy(&database.url, options(3)).unwrap();

    // One at a time: every statement on the same connection.
    let mut backends = Vec::new();
    for _ in 0..10 {
        backends.push(value(&db, BACKEND).await.unwrap());
    }
    backends.dedup();
    assert_eq!(backends.len(), 1, "sequential statements moved connections");
    assert_eq!(db.status().size, 1);

    // Twelve at once: three connections, four statements (the depth at which another opens)
    // pipelined on each; a thirteenth would wait in c360 for a place.
    let sleepers = join_all((0..12).map(|_| {
        value(
            &db,
            "SELECT CAST(json_build_array(pg_backend_pid()) AS TEXT) FROM pg_sleep(0.1)",
        )
    }));
    let (answers, seen) = tokio::join!(sleepers, async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        server_connections(&admin).await
    });
    let mut pids: Vec<i64> = answers.into_iter().map(Result::unwrap).collect();
    pids.sort_unstable();
    let mut each: Vec<usize> = pids.chunk_by(|a, b| a == b).map(<[i64]>::len).collect();
    each.sort_unstable();
    assert_eq!(each, [4, 4, 4], "statements per connection: {pids:?}");
    assert_eq!(seen, 3, "connections the server saw");
    let status = db.status();
    assert_eq!((status.size, status.idle, status.max), (3, 3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_abandoned_half_way_leaves_its_connection_answering_the_next_one() {
    let database = TestDatabase::empty(Backend::Postgres).await;
    let db = Db::connect_lazy(&database.url, options(1)).unwrap();
    assert_eq!(
        value(&db, "SELECT CAST(json_build_array(1) AS TEXT)")
            .await
            .unwrap(),
        1
    );

    // The caller gives up while the statement runs: its reply arrives after it left.
    let abandoned = tokio::time::timeout(
        Duration::from_millis(20),
        value(
            &db,
            "SELECT CAST(json_build_array(7) AS TEXT) FROM pg_sleep(0.2)",
        ),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "the statement should have been cut short"
    );

    // The one lane answers the next statement with its own reply, not the abandoned one's.
    assert_eq!(
        value(&db, "SELECT CAST(json_build_array(2) AS TEXT)")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        value(&db, "SELECT CAST(json_build_array(3) AS TEXT)")
            .await
            .unwrap(),
        3
    );
    assert_eq!(db.status().size, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_by_the_server_fails_one_statement_and_is_replaced() {
    let database = TestDatabase::empty(Backend::Postgres).await;
    let admin = Db::connect_lazy(&database.url, options(1)).unwrap();
    let db = Db::connect_lazy(&database.url, options(1)).unwrap();
    let first = value(&db, BACKEND).await.unwrap();

    let terminated: Option<(bool,)> = admin
        .fetch_optional(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(terminated, Some((true,)));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut failures = 0;
    let mut second = None;
    for _ in 0..3 {
        match value(&db, BACKEND).await {
            Ok(pid) => {
                second = Some(pid);
                break;
            }
            Err(_) => failures += 1,
        }
    }
    assert!(failures <= 1, "{failures} statements failed after the cut");
    let second = second.expect("a new connection answers");
    assert_ne!(second, first, "the cut connection was reused");
    assert_eq!(db.status().size, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_database_refuses_statements_and_holds_no_connection() {
    let database = TestDatabase::empty(Backend::Postgres).await;
    let admin = Db::connect_lazy(&database.url, options(1)).unwrap();
    let db = Db::connect_lazy(&database.url, options(2)).unwrap();
    value(&db, "SELECT CAST(json_build_array(1) AS TEXT)")
        .await
        .unwrap();
    db.close().await;
    assert!(matches!(
        value(&db, "SELECT CAST(json_build_array(1) AS TEXT)").await,
        Err(sqlx::Error::PoolClosed)
    ));
    assert_eq!(db.status().size, 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server_connections(&admin).await, 0);
}
