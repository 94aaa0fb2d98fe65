//! Changes followed by logical decoding, on a Postgres of the test's own with
//! `wal_level = logical`: one replica leads and publishes on the bus, a standby takes over
//! when it stops, a deployment moves from triggers to logical decoding and back without
//! losing a change, and a slot the server gave up on or a DBA dropped is made again with
//! every cache flushed.

use std::{sync::Arc, time::Duration};

use c360::{app::App, app::config::Settings, core::cache::feed::Capture};
use c360_proto::CacheTier;

use c360::core::db::Bind;

use crate::helpers::{
    Backend, TestApp, TestDatabase, TestPostgres, TestRedis, eventually, redis_prefix,
    settings_for, shared_redis_url, spawn_replica,
};

const TRIGGERS_OFF: &str = "SELECT COUNT(*) FROM pg_trigger \
     WHERE tgname LIKE '%change_feed' AND tgenabled = 'D'";
const TRIGGERS_ON: &str = "SELECT COUNT(*) FROM pg_trigger \
     WHERE tgname LIKE '%change_feed' AND tgenabled <> 'D'";
const SLOTS: &str = "SELECT COUNT(*) FROM pg_replication_slots";

/// The settings of every replica of one test: the shared Redis under a prefix of its own.
fn sharing(prefix: &str, capture: Capture) -> impl Fn(&mut Settings) + Clone + use<> {
    let prefix = prefix.to_owned();
    move |settings: &mut Settings| {
        settings.redis.url = Some(shared_redis_url());
        settings.redis.prefix = prefix.clone();
        settings.feed.capture = capture;
    }
}

/// Renames customer `id` to `name` in the backend.
async fn rename(app: &TestApp, id: i64, name: &str) {
    app.db
        .execute(
            "UPDATE customers SET first_name = $1 WHERE id = $2",
            &[Bind::Text(name.into()), Bind::Int(id)],
        )
        .await
        .unwrap();
}

/// Whether `app` serves customer `id` as `name` within `within`.
async fn serves(app: &TestApp, id: i64, name: &str, within: Duration) -> bool {
    eventually(within, || async { app.served_from(id).await.1 == name })
        .await
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_reaches_every_replica_through_the_leader_and_no_trigger_writes() {
    let server = TestPostgres::start_logical();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let configure = sharing(&redis_prefix(), Capture::Logical);
    let leader = spawn_replica(database.clone(), configure.clone()).await;
    let standby = spawn_replica(database.clone(), configure).await;
    assert_eq!(leader.scalar(TRIGGERS_OFF, &[]).await, 10, "triggers off");
    let leading =
        |metrics: crate::helpers::Metrics| metrics.get("c360_feed_leading", &[("feed", "billing")]);
    assert_eq!(
        leading(leader.scrape().await),
        1.0,
        "the first replica leads"
    );
    assert_eq!(leading(standby.scrape().await), 0.0, "the second stands by");
    let rows_before = leader.scalar("SELECT COUNT(*) FROM change_feed", &[]).await;

    let apps = [&leader, &standby];
    for app in apps {
        app.served_from(16).await;
        assert_eq!(app.served_from(16).await.0, CacheTier::L1, "warm");
    }
    let mut changes: Vec<_> = apps.iter().map(|a| a.profiles.subscribe()).collect();
    rename(&leader, 16, "Logical").await;
    for (n, app) in apps.iter().enumerate() {
        let heard = tokio::time::timeout(Duration::from_secs(1), changes[n].recv()).await;
        assert!(heard.is_ok(), "replica {n} did not hear of the commit");
        assert_eq!(app.served_from(16).await.1, "Logical", "replica {n}");
    }
    // An order line names its order: its customer is invalidated.
    let (order, owner): (i64, i64) = leader
        .db
        .fetch_optional(
            "SELECT o.id, o.customer_id FROM orders o \
             WHERE EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.id) \
             ORDER BY o.id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    standby.served_from(owner).await;
    let mut heard = standby.profiles.subscribe();
    let mut applied = leader.profiles.subscribe();
    leader
        .db
        .execute(
            "UPDATE order_lines SET quantity = quantity + 1 WHERE order_id = $1",
            &[Bind::Int(order)],
        )
        .await
        .unwrap();
    let owner_heard = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Ok(c360::core::cache::Change::Customer(id, _)) = heard.recv().await
                && id.get() == owner
            {
                return;
            }
        }
    })
    .await;
    assert!(
        owner_heard.is_ok(),
        "the order's customer was not invalidated"
    );
    // The leader, which read the change, knows it was in orders' tables.
    let sources = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Ok(c360::core::cache::Change::Customer(id, sources)) = applied.recv().await
                && id.get() == owner
            {
                return sources;
            }
        }
    })
    .await
    .expect("the leader applied the change");
    assert_eq!(
        sources,
        c360::core::vocab::SourceSet::of(&[c360::core::vocab::SourceKind::Orders])
    );
    assert_eq!(
        leader.scalar("SELECT COUNT(*) FROM change_feed", &[]).await,
        rows_before,
        "a trigger wrote into the feed table"
    );

    // A transaction that says it is no news (as `c360 seed` does) is not followed; the next
    // one is.
    let c360::core::db::Db::Postgres { pool, .. } = &leader.db else {
        panic!("a Postgres database")
    };
    standby.served_from(30).await;
    standby.served_from(31).await;
    sqlx::raw_sql(
        "SELECT pg_logical_emit_message(true, 'c360.feed_paused', ''); \
         UPDATE customers SET first_name = 'Quiet' WHERE id = 30",
    )
    .execute(pool)
    .await
    .unwrap();
    rename(&leader, 31, "Loud").await;
    assert!(serves(&standby, 31, "Loud", Duration::from_secs(1)).await);
    assert_ne!(
        standby.served_from(30).await.1,
        "Quiet",
        "a paused write was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_leader_stops_and_misses_nothing() {
    let server = TestPostgres::start_logical();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let configure = sharing(&redis_prefix(), Capture::Logical);
    // The first replica is ready only once it leads.
    let leader = spawn_replica(database.clone(), configure.clone()).await;
    let standby = spawn_replica(database.clone(), configure).await;
    standby.served_from(21).await;
    assert_eq!(standby.served_from(21).await.0, CacheTier::L1);

    leader.stop_and_wait().await;
    // Committed while nobody leads: the slot keeps it for the next leader.
    rename(&standby, 21, "Unled").await;
    assert!(
        serves(&standby, 21, "Unled", Duration::from_secs(5)).await,
        "the standby did not take over the feed"
    );
    rename(&standby, 21, "Led").await;
    assert!(serves(&standby, 21, "Led", Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_from_triggers_to_logical_decoding_and_back_loses_no_change() {
    let server = TestPostgres::start_logical();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let prefix = redis_prefix();

    let by_triggers = spawn_replica(database.clone(), sharing(&prefix, Capture::Triggers)).await;
    by_triggers.served_from(23).await;
    // Give the fill of L2 its moment, so that the next replica would find it there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unfollowed = spawn_replica(database.clone(), |s| s.feed.enabled = false).await;
    by_triggers.stop_and_wait().await;

    // Committed while no replica follows, before the slot: the switch flushes every cache.
    rename(&unfollowed, 23, "Gap").await;
    let logical = spawn_replica(database.clone(), sharing(&prefix, Capture::Logical)).await;
    assert_eq!(logical.scalar(TRIGGERS_OFF, &[]).await, 10);
    assert_eq!(logical.served_from(23).await.1, "Gap");
    rename(&logical, 23, "Switching").await;
    assert!(serves(&logical, 23, "Switching", Duration::from_secs(1)).await);
    logical.stop_and_wait().await;

    // Committed while no replica follows, with the triggers off: flushed by the switch back.
    rename(&unfollowed, 23, "Between").await;

    let back = spawn_replica(database.clone(), sharing(&prefix, Capture::Triggers)).await;
    assert_eq!(back.scalar(TRIGGERS_ON, &[]).await, 10, "triggers back on");
    assert_eq!(back.scalar(SLOTS, &[]).await, 0, "the unused slot dropped");
    assert_eq!(back.served_from(23).await.1, "Between");
    rename(&back, 23, "Back").await;
    assert!(serves(&back, 23, "Back", Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_logical_refuses_a_database_that_cannot_be_followed_so() {
    // The shared server runs with wal_level = replica.
    let database = TestDatabase::seeded(Backend::Postgres).await;
    let mut settings = settings_for(&database);
    settings.feed.capture = Capture::Logical;
    let error = App::connect(&settings)
        .await
        .expect_err("refused")
        .to_string();
    assert!(error.contains("wal_level = logical"), "{error}");
    assert!(error.contains("feed.capture"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slot_is_acknowledged_only_once_redis_has_taken_the_change() {
    let server = TestPostgres::start_logical();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let mut redis = TestRedis::start().await;
    let url = redis.url();
    let leader = spawn_replica(database, move |s| {
        s.redis.url = Some(url);
        s.feed.capture = Capture::Logical;
    })
    .await;
    const ACKNOWLEDGED: &str = "SELECT CAST(CAST(confirmed_flush_lsn - '0/0' AS TEXT) AS BIGINT) \
         FROM pg_replication_slots";
    let initial = leader.scalar(ACKNOWLEDGED, &[]).await;
    rename(&leader, 27, "Before").await;
    // Acknowledgements reach the server within a second.
    let acknowledged = eventually(Duration::from_secs(5), || async {
        leader.scalar(ACKNOWLEDGED, &[]).await > initial
    })
    .await;
    assert!(
        acknowledged.is_some(),
        "the first commit never acknowledged"
    );
    let before = leader.scalar(ACKNOWLEDGED, &[]).await;

    redis.stop();
    rename(&leader, 27, "Unpublished").await;
    // Applied here at once, all the same.
    assert!(serves(&leader, 27, "Unpublished", Duration::from_secs(2)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        leader.scalar(ACKNOWLEDGED, &[]).await,
        before,
        "acknowledged before Redis took it"
    );
    redis.restart().await;
    let advanced = eventually(Duration::from_secs(10), || async {
        leader.scalar(ACKNOWLEDGED, &[]).await > before
    })
    .await;
    assert!(advanced.is_some(), "never acknowledged once Redis was back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_slot_is_made_again_and_every_cache_flushed() {
    let server = TestPostgres::start_with(
        "-c wal_level=logical -c max_wal_senders=10 -c max_replication_slots=10 \
         -c max_slot_wal_keep_size=1MB -c min_wal_size=32MB -c max_wal_size=64MB",
    );
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let prefix = redis_prefix();
    let first = spawn_replica(database.clone(), sharing(&prefix, Capture::Logical)).await;
    first.served_from(25).await;
    // Give the fill of L2 its moment, so that the next replica would find it there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let unfollowed = spawn_replica(database.clone(), |s| s.feed.enabled = false).await;
    first.stop_and_wait().await;

    // A change, then more write-ahead log than the slot may keep: the server gives it up.
    rename(&unfollowed, 25, "Lost").await;
    let lost = eventually(Duration::from_secs(30), || async {
        unfollowed
            .db
            .execute(
                "CREATE TABLE IF NOT EXISTS filler AS SELECT 0 AS g, '' AS pad WITH NO DATA",
                &[],
            )
            .await
            .unwrap();
        unfollowed
            .db
            .execute(
                "INSERT INTO filler SELECT g, repeat('x', 500) FROM generate_series(1, 40000) g",
                &[],
            )
            .await
            .unwrap();
        unfollowed.db.execute("CHECKPOINT", &[]).await.unwrap();
        unfollowed
            .text(
                "SELECT COALESCE(wal_status, '') FROM pg_replication_slots",
                &[],
            )
            .await
            == "lost"
    })
    .await;
    assert!(lost.is_some(), "the slot was never lost");

    let next = spawn_replica(database.clone(), sharing(&prefix, Capture::Logical)).await;
    assert_eq!(
        next.served_from(25).await.1,
        "Lost",
        "served from L2's old copy"
    );
    assert_ne!(
        next.text(
            "SELECT COALESCE(wal_status, '') FROM pg_replication_slots",
            &[]
        )
        .await,
        "lost"
    );
    rename(&next, 25, "Found").await;
    assert!(serves(&next, 25, "Found", Duration::from_secs(1)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_dropped_under_the_leader_is_made_again_and_every_cache_flushed() {
    use sqlx::{Connection, Executor};
    let server = TestPostgres::start_logical();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let configure = sharing(&redis_prefix(), Capture::Logical);
    let leader = spawn_replica(database.clone(), configure.clone()).await;
    let standby = spawn_replica(database.clone(), configure).await;
    for app in [&leader, &standby] {
        app.served_from(27).await;
        assert_eq!(app.served_from(27).await.0, CacheTier::L1);
    }

    // A change still open when the slot goes: whatever slot comes next starts after it (a
    // slot is made once the transactions running have ended), so no stream brings it.
    let mut writer = sqlx::PgConnection::connect(&database.url).await.unwrap();
    writer.execute("BEGIN").await.unwrap();
    writer
        .execute("UPDATE customers SET first_name = 'Dropped' WHERE id = 27")
        .await
        .unwrap();
    // A DBA ends the leader's stream and drops its slot before it is read again.
    let dropped = eventually(Duration::from_secs(5), || async {
        let terminate = "SELECT COUNT(pg_terminate_backend(active_pid)) \
             FROM pg_replication_slots WHERE active_pid IS NOT NULL";
        leader.scalar(terminate, &[]).await;
        let drop = "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots";
        leader.db.execute(drop, &[]).await.is_ok() && leader.scalar(SLOTS, &[]).await == 0
    })
    .await;
    assert!(dropped.is_some(), "the slot could not be dropped");
    writer.execute("COMMIT").await.unwrap();

    // The next leader makes a new slot and, unsure of what it missed, flushes every cache.
    // (Nothing is read until it leads and is heard again: a replica that hears no leader
    // reads the backends again anyway.)
    let made = eventually(Duration::from_secs(5), || async {
        leader.scalar(SLOTS, &[]).await == 1
    })
    .await;
    assert!(made.is_some(), "no new slot");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (name, app) in [("leader", &leader), ("standby", &standby)] {
        assert!(
            serves(app, 27, "Dropped", Duration::from_secs(1)).await,
            "the {name} kept what it cached before the slot was dropped"
        );
    }
    rename(&standby, 27, "Followed").await;
    assert!(serves(&standby, 27, "Followed", Duration::from_secs(2)).await);
}
