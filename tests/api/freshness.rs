//! Freshness on one replica: the change feed, generation-guarded fills, watches, and the
//! cache administration RPCs.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use c360::{
    app::{App, Backends},
    core::cache::Change,
    core::db::Bind,
    core::sources::{Source, SourceData, SourceError},
    core::vocab::{CustomerId, SourceKind},
};
use c360_proto::CacheTier;
use futures::future::BoxFuture;
use tokio::sync::{Notify, Semaphore};
use tokio_stream::StreamExt;

use crate::helpers::{
    Backend, TestApp, TestDatabase, eventually, first_line, get, serve, serve_unready,
    settings_for, spawn_app,
};

/// The feed's contract: a commit is visible within a second.
const FEED_LAG: Duration = Duration::from_secs(1);

async fn first_name(app: &TestApp, id: i64) -> String {
    app.served_from(id).await.1
}

async fn a_commit_reaches_the_cache_within_the_feeds_lag(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = first_name(&app, 12).await;
    assert_eq!(first_name(&app, 12).await, before, "cached");

    app.rename(12, "Zebedee").await;
    let seen = eventually(FEED_LAG, || async {
        first_name(&app, 12).await == "Zebedee"
    })
    .await;
    assert!(
        seen.is_some(),
        "the change did not reach the cache within {FEED_LAG:?}"
    );

    // A change to an order line reaches its customer through the order.
    let (order, customer): (i64, i64) = app
        .db
        .fetch_optional(
            "SELECT id, customer_id FROM orders ORDER BY id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    app.profile(customer).await;
    app.db
        .execute(
            "UPDATE order_lines SET quantity = quantity + 1 WHERE order_id = $1",
            &[Bind::Int(order)],
        )
        .await
        .unwrap();
    let reloaded = eventually(FEED_LAG, || async {
        app.served_from(customer).await.0 == CacheTier::Sources
    })
    .await;
    assert!(
        reloaded.is_some(),
        "an order line change did not invalidate its customer"
    );
}

async fn a_catalog_change_reaches_cached_profiles_without_a_backend_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.busy_customer().await;
    let before = first_line(&app.profile(customer).await);
    assert_eq!(app.served_from(customer).await.0, CacheTier::L1, "cached");
    let reads = app.all_reads();
    let flushes = app.profiles.stats().count.flushes.load(Ordering::Relaxed);

    app.db
        .execute(
            "UPDATE products SET name = 'Renamed Atlas' WHERE sku = $1",
            &[Bind::Text(before.sku.clone())],
        )
        .await
        .unwrap();
    let renamed = eventually(FEED_LAG, || async {
        app.product(&before.sku).await.unwrap().name == "Renamed Atlas"
    })
    .await;
    assert!(
        renamed.is_some(),
        "the catalog change did not reach the snapshot"
    );
    let profile = app.profile(customer).await;
    assert_eq!(first_line(&profile).product_name, "Renamed Atlas");
    assert_eq!(
        profile.cache.unwrap().served_from(),
        CacheTier::L1,
        "enriched again in memory"
    );
    assert_eq!(app.all_reads(), reads, "no backend was read again");
    assert_eq!(
        app.profiles.stats().count.flushes.load(Ordering::Relaxed),
        flushes,
        "nothing was flushed"
    );
    assert_eq!(app.stats().await.reenrichments, 1);
}

/// A backend wrapper that holds a read after it has read, until the test releases it.
struct Held {
    inner: Arc<dyn Source>,
    holding: AtomicUsize,
    reached: Notify,
    release: Semaphore,
}

impl Source for Held {
    fn kind(&self) -> SourceKind {
        self.inner.kind()
    }

    fn fetch(&self, customer: CustomerId) -> BoxFuture<'_, Result<SourceData, SourceError>> {
        Box::pin(async move {
            let read = self.inner.fetch(customer).await;
            if self.holding.load(Ordering::SeqCst) > 0 {
                self.holding.fetch_sub(1, Ordering::SeqCst);
                self.reached.notify_one();
                self.release.acquire().await.unwrap().forget();
            }
            read
        })
    }
}

async fn an_invalidation_racing_a_load_never_puts_old_data_back(backend: Backend) {
    let database = Arc::new(TestDatabase::seeded(backend).await);
    let mut settings = settings_for(&database);
    // The test holds CRM's read until the feed has delivered the change: its timeout must not
    // cut the hold short on a busy machine.
    settings.sources.crm.timeout = Duration::from_secs(30);
    let mut backends = Backends::connect(&settings).unwrap();
    let held = Arc::new(Held {
        inner: backends.sources.get(SourceKind::Crm).clone(),
        holding: AtomicUsize::new(1),
        reached: Notify::new(),
        release: Semaphore::new(0),
    });
    backends.sources = backends.sources.map(|source| match source.kind() {
        SourceKind::Crm => held.clone(),
        _ => source,
    });
    let app = serve(App::new(&settings, backends).await.unwrap(), database).await;
    let before = app
        .text("SELECT first_name FROM customers WHERE id = 21", &[])
        .await;
    let mut changes = app.profiles.subscribe();

    // 1. A load of customer 21 reads CRM, then is held.
    let loading = tokio::spawn({
        let mut client = app.customers.clone();
        async move { client.get_customer_profile(get(21)).await }
    });
    held.reached.notified().await;
    // 2. The backend commits a change.
    app.rename(21, "Changed").await;
    // 3. The feed delivers the invalidation while the load is still held.
    let customer = CustomerId::new(21).unwrap();
    let invalidated = tokio::time::timeout(FEED_LAG * 5, async {
        loop {
            if let Ok(Change::Customer(id, sources)) = changes.recv().await
                && id == customer
            {
                return sources;
            }
        }
    })
    .await;
    // Named with the backend whose table changed: CRM's `customers`.
    assert_eq!(
        invalidated.expect("the feed never invalidated customer 21"),
        c360::core::vocab::SourceSet::of(&[c360::core::vocab::SourceKind::Crm])
    );
    // 4. The load goes on with what it read before the commit...
    held.release.add_permits(1);
    let old = loading.await.unwrap().unwrap().into_inner();
    assert_eq!(old.identity.unwrap().first_name, before);
    // 5. ...and is not cached: the next read has the new data.
    let next = app.profile(21).await;
    assert_eq!(next.identity.unwrap().first_name, "Changed");
    assert_eq!(next.cache.unwrap().served_from(), CacheTier::Sources);
}

async fn a_watch_streams_the_profile_then_each_change_and_ends_with_its_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut stream = app.watch(33, &["identity"]).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.billing.is_none() && first.identity.is_some());

    for name in ["Watched", "Watched again"] {
        app.rename(33, name).await;
        let next = tokio::time::timeout(FEED_LAG * 2, stream.next()).await;
        let profile = next
            .expect("a new profile within the feed's lag")
            .unwrap()
            .unwrap();
        assert_eq!(profile.identity.unwrap().first_name, name);
    }

    // A burst of changes: the watch catches up with the last of them.
    for n in 0..20 {
        let name: &'static str = Box::leak(format!("Burst {n}").into_boxed_str());
        app.rename(33, name).await;
    }
    let caught_up = tokio::time::timeout(FEED_LAG * 3, async {
        loop {
            let profile = stream.next().await.unwrap().unwrap();
            if profile.identity.unwrap().first_name == "Burst 19" {
                return;
            }
        }
    })
    .await;
    assert!(caught_up.is_ok(), "the watch never showed the last change");

    let watchers = app.profiles.watchers();
    assert!(watchers >= 1);
    drop(stream);
    // The server notices the caller left: its watch ends when the next change comes.
    app.rename(33, "Unwatched").await;
    let ended = eventually(FEED_LAG * 3, || async {
        app.profiles.watchers() < watchers
    })
    .await;
    assert!(ended.is_some(), "the watch outlived its caller");

    let status = app.watch(999_999, &[]).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
}

async fn admins_warm_invalidate_and_read_the_figures(backend: Backend) {
    let app = spawn_app(backend).await;
    let ids: Vec<String> = (1..=20)
        .map(|i| i.to_string())
        .chain(["999999".into()])
        .collect();
    let warmed = app.warm(ids).await;
    assert_eq!(warmed.warmed, 20);
    assert_eq!(warmed.not_found, ["999999"]);
    let stats = app.stats().await;
    assert_eq!(stats.entries, 20);
    assert_eq!(stats.loads, 21);
    assert!(stats.bytes > 20 * 1000, "{}", stats.bytes);
    assert!(!stats.l2_enabled);

    assert_eq!(app.served_from(3).await.0, CacheTier::L1);
    let invalidated = app.invalidate(&["3", "4"]).await.unwrap();
    assert_eq!(invalidated.invalidated, 2);
    assert!(
        !invalidated.reached_other_replicas,
        "without Redis there is no bus: no other replica was told"
    );
    assert!(!invalidated.redis_configured, "and that is the design");
    assert_eq!(app.served_from(3).await.0, CacheTier::Sources);

    app.rename(5, "Counted").await;
    let applied = eventually(FEED_LAG, || async {
        let stats = app.stats().await;
        stats
            .feeds
            .first()
            .is_some_and(|f| f.applied >= 1 && f.position > 0)
    })
    .await;
    assert!(applied.is_some(), "the feed figures did not move");
    let stats = app.stats().await;
    assert!(stats.invalidations >= 3);
    assert!(stats.l1.unwrap().hits >= 1);
    // The feed is named by the backends it serves, never by its database's URL.
    let feeds: Vec<&str> = stats.feeds.iter().map(|f| f.database.as_str()).collect();
    assert_eq!(feeds, ["billing, orders, fulfilment, crm, catalog"]);
    let everything = format!("{stats:?}");
    assert!(!everything.contains("://"), "{everything}");
    assert!(!everything.contains(app.database_url()), "{everything}");

    let too_many = app.invalidate(&["1"; 1001]).await.unwrap_err();
    assert_eq!(too_many.code(), tonic::Code::InvalidArgument);
}

crate::over_both_backends!(
    a_commit_reaches_the_cache_within_the_feeds_lag,
    a_catalog_change_reaches_cached_profiles_without_a_backend_read,
    an_invalidation_racing_a_load_never_puts_old_data_back,
    a_watch_streams_the_profile_then_each_change_and_ends_with_its_caller,
    admins_warm_invalidate_and_read_the_figures,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_feed_connection_drops_flushes_its_cache_when_it_returns() {
    let app = spawn_app(Backend::Postgres).await;
    app.profile(8).await;
    let flushes = || app.profiles.stats().count.flushes.load(Ordering::Relaxed);
    let before = flushes();
    // Cut the follower's LISTEN connection from the database side.
    let listening = eventually(Duration::from_secs(5), || async {
        let cut: Option<(i64,)> = app
            .db
            .fetch_optional(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
                &[],
            )
            .await
            .unwrap();
        cut.is_some_and(|(n,)| n > 0)
    })
    .await;
    assert!(listening.is_some(), "no LISTEN connection to cut");
    let flushed = eventually(Duration::from_secs(5), || async { flushes() > before }).await;
    assert!(
        flushed.is_some(),
        "L1 was not flushed after the feed reconnected"
    );
    assert!(
        app.profiles
            .cache()
            .get(CustomerId::new(8).unwrap())
            .await
            .is_none()
    );
    // And it follows again.
    app.rename(8, "Followed").await;
    let seen = eventually(FEED_LAG * 2, || async {
        first_name(&app, 8).await == "Followed"
    })
    .await;
    assert!(seen.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_commits_later_than_any_timer_would_wait_is_still_applied() {
    use sqlx::Connection;

    let app = spawn_app(Backend::Postgres).await;
    assert_ne!(first_name(&app, 40).await, "Belated");
    // A transaction takes its change-feed number, then stays open...
    let mut connection = sqlx::PgConnection::connect(app.database_url())
        .await
        .unwrap();
    let mut late = connection.begin().await.unwrap();
    sqlx::query("UPDATE customers SET first_name = 'Belated' WHERE id = 40")
        .execute(&mut *late)
        .await
        .unwrap();
    // ...for 11 s, longer than the 10 s after which a gap used to count as a rollback, while
    // other commits move the feed past its number.
    let started = tokio::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(11) {
        app.rename(41 + n % 5, &format!("Busy{n}")).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_ne!(first_name(&app, 40).await, "Belated", "cached, unchanged");
    late.commit().await.unwrap();
    let seen = eventually(FEED_LAG, || async {
        first_name(&app, 40).await == "Belated"
    })
    .await;
    assert!(
        seen.is_some(),
        "a change committed late was never applied to the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_is_ready_only_once_its_feed_is_followed_from_a_known_position() {
    use tonic_health::pb::health_check_response::ServingStatus;

    // A database without the schema yet: the follower cannot take a position.
    let database = Arc::new(TestDatabase::empty(Backend::Postgres).await);
    // Offers, like the attention queue, refuse to start without their tables.
    let mut settings = settings_for(&database);
    settings.offers.enabled = false;
    let app = App::connect(&settings).await.unwrap();
    let app = serve_unready(app, database.clone()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.health("").await, ServingStatus::NotServing);
    assert_eq!(
        app.health("customer360.v1.CustomerService").await,
        ServingStatus::NotServing
    );
    // The schema arrives: the follower starts, and the replica says it is ready.
    database.connect_or_create().await.migrate().await.unwrap();
    let ready = eventually(Duration::from_secs(5), || async {
        app.health("").await == ServingStatus::Serving
    })
    .await;
    assert!(ready.is_some(), "never ready");
    assert_eq!(
        app.health("customer360.v1.CatalogService").await,
        ServingStatus::Serving
    );
}
