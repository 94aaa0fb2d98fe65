//! Several replicas over one Postgres and one Redis: the shared L2, the invalidation bus, and
//! Redis failing under them.

use std::{sync::Arc, sync::atomic::Ordering, time::Duration};

use c360::core::vocab::{CustomerId, SectionSet};
use c360_proto::CacheTier;

use crate::helpers::{
    Backend, TestApp, TestDatabase, TestRedis, eventually, first_line, reads_each, redis_prefix,
    shared_redis_url, spawn_replica, spawn_replicas,
};

async fn replicas(
    count: usize,
    configure: impl Fn(&mut c360::app::config::Settings),
) -> Vec<TestApp> {
    spawn_replicas(&shared_redis_url(), count, configure).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_is_served_from_l2_without_asking_the_backends() {
    let apps = replicas(2, |_| {}).await;
    assert_eq!(apps[0].served_from(14).await.0, CacheTier::Sources);
    // The fill is written in the background.
    let shared = eventually(Duration::from_secs(2), || async {
        apps[1]
            .profiles
            .l2()
            .unwrap()
            .get(CustomerId::new(14).unwrap(), apps[1].profiles_catalog())
            .await
            .is_some()
    })
    .await;
    assert!(shared.is_some(), "replica 0 did not fill L2");
    assert_eq!(apps[1].served_from(14).await.0, CacheTier::L2);
    assert_eq!(apps[1].all_reads(), reads_each(0));
    assert_eq!(apps[1].served_from(14).await.0, CacheTier::L1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_reaches_all_three_replicas_within_a_second() {
    let apps = replicas(3, |_| {}).await;
    for app in &apps {
        app.served_from(16).await;
        assert_eq!(
            app.served_from(16).await.0,
            CacheTier::L1,
            "warm before the change"
        );
    }
    let mut changes: Vec<_> = apps.iter().map(|a| a.profiles.subscribe()).collect();
    let committed = tokio::time::Instant::now();
    apps[0]
        .db
        .execute(
            "UPDATE customers SET first_name = 'Everywhere' WHERE id = 16",
            &[],
        )
        .await
        .unwrap();
    for (n, app) in apps.iter().enumerate() {
        let heard = tokio::time::timeout(Duration::from_secs(1), changes[n].recv()).await;
        assert!(
            heard.is_ok(),
            "replica {n} did not hear of the commit within a second"
        );
        let (_, name) = app.served_from(16).await;
        assert_eq!(name, "Everywhere", "replica {n}");
    }
    assert!(committed.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_invalidation_reaches_the_other_replicas_over_the_bus() {
    // No feed: only the bus can tell replica 1.
    let apps = replicas(2, |settings| settings.feed.enabled = false).await;
    for app in &apps {
        app.served_from(18).await;
    }
    // Let the subscriptions settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = apps[0].invalidate(&["18"]).await.unwrap();
    assert!(answer.reached_other_replicas && answer.redis_configured);
    let customer = CustomerId::new(18).unwrap();
    let dropped = eventually(Duration::from_secs(1), || async {
        apps[1].profiles.cache().get(customer).await.is_none()
    })
    .await;
    assert!(dropped.is_some(), "replica 1 kept the entry");
    // L2 was dropped too: replica 1 reads the backends again.
    assert_eq!(apps[1].served_from(18).await.0, CacheTier::Sources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_gone_or_stuck_every_call_succeeds_and_l2_returns_by_itself() {
    let mut redis = TestRedis::start().await;
    let url = redis.url();
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let prefix = redis_prefix();
    let configure = |settings: &mut c360::app::config::Settings| {
        settings.redis.url = Some(url.clone());
        settings.redis.prefix = prefix.clone();
    };
    let a = spawn_replica(database.clone(), configure).await;
    let b = spawn_replica(database.clone(), configure).await;
    a.served_from(20).await;

    // Redis refuses: every call still answers, from L1 or the backends.
    redis.stop();
    for id in [20, 21, 22] {
        a.served_from(id).await;
        b.served_from(id).await;
    }
    assert!(a.profiles.stats().count.l2_errors.load(Ordering::Relaxed) > 0);

    // Redis is stuck: calls still answer, without waiting for it.
    redis.restart().await;
    let stuck = redis.spawn_cli(&["DEBUG", "SLEEP", "3"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    b.served_from(23).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a stuck Redis held up a call"
    );
    stuck.wait_with_output().unwrap();

    // Back: fills land again, and the other replica is served from L2.
    let filled = eventually(Duration::from_secs(5), || async {
        a.served_from(24).await;
        a.profiles
            .l2()
            .unwrap()
            .get(CustomerId::new(24).unwrap(), a.profiles_catalog())
            .await
            .is_some()
    })
    .await;
    assert!(filled.is_some(), "L2 did not come back");
    assert_eq!(b.served_from(24).await.0, CacheTier::L2);
    // Both replicas' buses reconnected and, unsure of what they missed, flushed L1.
    let flushed = eventually(Duration::from_secs(5), || async {
        a.profiles.stats().count.flushes.load(Ordering::Relaxed) > 0
            && b.profiles.stats().count.flushes.load(Ordering::Relaxed) > 0
    })
    .await;
    assert!(
        flushed.is_some(),
        "a replica did not flush after its bus came back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l2_fill_that_an_invalidation_overtook_does_not_land() {
    let apps = replicas(1, |_| {}).await;
    let app = &apps[0];
    let l2 = app.profiles.l2().unwrap();
    let customer = CustomerId::new(26).unwrap();
    let served = app
        .profiles
        .get(customer, SectionSet::ALL, Default::default(), None)
        .await
        .unwrap();
    let filled = eventually(Duration::from_secs(2), || async {
        l2.get(customer, app.profiles_catalog()).await.is_some()
    })
    .await;
    assert!(filled.is_some());
    // A loader read the generation, then the customer was invalidated (on any replica)...
    let guard = l2.fill_guard(customer).await.unwrap();
    app.profiles.invalidate(&[customer]).await;
    assert!(l2.get(customer, app.profiles_catalog()).await.is_none());
    // ...so the loader's fill, carrying what it read before, is refused.
    l2.fill(customer, &served.entry, &guard).await;
    assert!(
        l2.get(customer, app.profiles_catalog()).await.is_none(),
        "a stale fill landed"
    );
}

/// Replicas over a Redis of their own (to pause).
async fn replicas_on_own_redis(
    count: usize,
    configure: impl Fn(&mut c360::app::config::Settings),
) -> (TestRedis, Vec<TestApp>) {
    let redis = TestRedis::start().await;
    let apps = spawn_replicas(&redis.url(), count, configure).await;
    (redis, apps)
}

/// Waits until L2 holds `id`'s profile.
async fn until_in_l2(app: &TestApp, id: i64) {
    let customer = CustomerId::new(id).unwrap();
    let filled = eventually(Duration::from_secs(2), || async {
        let l2 = app.profiles.l2().unwrap();
        l2.get(customer, app.profiles_catalog()).await.is_some()
    })
    .await;
    assert!(filled.is_some(), "L2 was not filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_during_an_invalidation_never_brings_the_old_copy_back_from_l2() {
    // Redis calls may wait 2 s (ours; the Redis client gives up after 500 ms): a write paused
    // for 450 ms holds the invalidation instead of failing it.
    let (redis, apps) = replicas_on_own_redis(1, |settings| {
        settings.feed.enabled = false;
        settings.redis.timeout = Duration::from_secs(2);
    })
    .await;
    let app = &apps[0];
    assert_ne!(app.served_from(30).await.1, "Ottoline");
    until_in_l2(app, 30).await;
    app.rename(30, "Ottoline").await;

    // Writes are paused (reads are not): the invalidation is held in the middle.
    redis.cli(&["CLIENT", "PAUSE", "450", "WRITE"]);
    let invalidating = tokio::spawn({
        let profiles = app.profiles.clone();
        async move { profiles.invalidate(&[CustomerId::new(30).unwrap()]).await }
    });
    // A miss during the invalidation (L1 dropped first, as before, would make this one) may
    // see the old name: the invalidation is not acknowledged yet.
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.served_from(30).await;
    invalidating.await.unwrap();
    // Once it returns, nothing serves the old name.
    let (from, after) = app.served_from(30).await;
    assert_eq!(
        after, "Ottoline",
        "served the old copy from {from:?} after the invalidation returned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l2_invalidation_redis_does_not_confirm_keeps_every_replica_off_the_old_copy() {
    let (redis, apps) = replicas_on_own_redis(2, |_| {}).await;
    let before = apps[0].served_from(32).await.1;
    until_in_l2(&apps[0], 32).await;
    let feed_position = |app: &TestApp| {
        let feeds = app.profiles.stats().feeds();
        feeds.first().map_or(0, |f| f.position)
    };
    let start = [feed_position(&apps[0]), feed_position(&apps[1])];

    // Writes to Redis stall for 2 s (reads go on): both feeds' L2 invalidations time out.
    redis.cli(&["CLIENT", "PAUSE", "2000", "WRITE"]);
    apps[0].rename(32, "Perpetua").await;
    let applied = eventually(Duration::from_secs(1), || async {
        feed_position(&apps[0]) > start[0] && feed_position(&apps[1]) > start[1]
    })
    .await;
    assert!(applied.is_some(), "the feeds did not apply the change");
    for app in &apps {
        assert!(app.profiles.l2().unwrap().unconfirmed() > 0);
        let (from, name) = app.served_from(32).await;
        assert_eq!(
            name, "Perpetua",
            "served L2's old copy (from {from:?}) after the feed applied the change"
        );
    }
    let stats = apps[0].stats().await;
    assert!(stats.l2_unconfirmed >= 1 && stats.l2_unconfirmed_pending >= 1);

    // Once Redis takes writes again, the repair gets the invalidation through.
    let repaired = eventually(Duration::from_secs(5), || async {
        apps.iter()
            .all(|app| app.profiles.l2().unwrap().unconfirmed() == 0)
    })
    .await;
    assert!(repaired.is_some(), "the invalidation was never confirmed");
    for app in &apps {
        assert_eq!(app.served_from(32).await.1, "Perpetua");
    }
    assert_ne!(before, "Perpetua");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_catalog_change_a_replica_enriches_l2s_copy_again_instead_of_asking_the_backends() {
    let apps = replicas(2, |_| {}).await;
    let customer = apps[0].busy_customer().await;
    let sku = first_line(&apps[0].profile(customer).await).sku;
    until_in_l2(&apps[0], customer).await;

    apps[0]
        .db
        .execute(
            "UPDATE products SET name = 'Atlas, Revised' WHERE sku = $1",
            &[c360::core::db::Bind::Text(sku.clone())],
        )
        .await
        .unwrap();
    let renamed = eventually(Duration::from_secs(2), || async {
        apps[1].product(&sku).await.unwrap().name == "Atlas, Revised"
    })
    .await;
    assert!(
        renamed.is_some(),
        "the catalog change did not reach replica 1"
    );
    // Replica 1 never held the customer: L2's copy, filled before the change, is enriched
    // again from the answers it carries.
    let reads = apps[1].all_reads();
    let profile = apps[1].profile(customer).await;
    assert_eq!(first_line(&profile).product_name, "Atlas, Revised");
    assert_eq!(profile.cache.unwrap().served_from(), CacheTier::L2);
    assert_eq!(apps[1].all_reads(), reads, "no backend was read");
}

/// The raw bytes Redis holds at `key`.
async fn raw(redis: &TestRedis, key: &str) -> Option<Vec<u8>> {
    let client = deadpool_redis::redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    deadpool_redis::redis::cmd("GET")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

async fn put(redis: &TestRedis, key: &str, bytes: &[u8]) {
    let client = deadpool_redis::redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = deadpool_redis::redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .query_async(&mut connection)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l2_holds_profiles_sealed_and_serves_none_it_cannot_open() {
    let (redis, apps) = replicas_on_own_redis(2, |_| {}).await;
    let l2 = apps[0].profiles.l2().unwrap();
    let (three, four) = (CustomerId::new(3).unwrap(), CustomerId::new(4).unwrap());
    let profile = apps[0].profile(3).await;
    until_in_l2(&apps[0], 3).await;
    let sealed = raw(&redis, &l2.profile_key(three)).await.expect("filled");
    // Nothing of the profile reads in clear.
    let email = profile.identity.unwrap().email;
    assert!(!sealed.windows(email.len()).any(|w| w == email.as_bytes()));

    // Customer 3's sealed entry copied under customer 4's key, and 3's own changed by a bit:
    // both refused by the other replica, counted, and read from the backends instead.
    put(&redis, &l2.profile_key(four), &sealed).await;
    let mut changed = sealed.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    put(&redis, &l2.profile_key(three), &changed).await;
    let other = &apps[1];
    assert_eq!(other.served_from(4).await.0, CacheTier::Sources);
    assert_eq!(other.served_from(3).await.0, CacheTier::Sources);
    let stats = other.stats().await;
    assert_eq!(stats.l2_rejected, 2);
    // What it serves is each customer's own profile.
    assert_eq!(other.profile(4).await.customer_id, "4");
    assert_eq!(other.profile(3).await.identity.unwrap().email, email);
}

/// An entry is sealed to the customer's generation: an older one put back under its own key
/// after an invalidation (by anyone who can write to Redis) opens on no replica, which reads
/// the backends instead (issue 24, item 9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_entry_put_back_after_an_invalidation_is_refused() {
    let (redis, apps) = replicas_on_own_redis(2, |s| s.feed.enabled = false).await;
    let key = apps[0]
        .profiles
        .l2()
        .unwrap()
        .profile_key(CustomerId::new(21).unwrap());
    assert_eq!(apps[0].served_from(21).await.0, CacheTier::Sources);
    until_in_l2(&apps[0], 21).await;
    let old = raw(&redis, &key).await.expect("filled");
    apps[0]
        .db
        .execute(
            "UPDATE customers SET first_name = 'Renamed' WHERE id = 21",
            &[],
        )
        .await
        .unwrap();
    apps[0].invalidate(&["21"]).await.expect("invalidated");
    put(&redis, &key, &old).await;
    let rejected = apps[1].stats().await.l2_rejected;
    assert_eq!(
        apps[1].served_from(21).await,
        (CacheTier::Sources, "Renamed".to_owned())
    );
    assert_eq!(apps[1].stats().await.l2_rejected, rejected + 1);
}

/// With no invalidation between, an entry put back after Redis expired it (`redis.ttl`) is
/// refused too: it is older than any entry Redis can hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_put_back_after_its_ttl_is_refused() {
    let (redis, apps) = replicas_on_own_redis(2, |s| {
        s.feed.enabled = false;
        s.redis.ttl = Duration::from_secs(1);
    })
    .await;
    let key = apps[0]
        .profiles
        .l2()
        .unwrap()
        .profile_key(CustomerId::new(22).unwrap());
    apps[0].served_from(22).await;
    until_in_l2(&apps[0], 22).await;
    let old = raw(&redis, &key).await.expect("filled");
    // The TTL and the clock skew allowed for (5 s) pass.
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    assert_eq!(raw(&redis, &key).await, None, "expired by Redis");
    put(&redis, &key, &old).await;
    assert_eq!(apps[1].served_from(22).await.0, CacheTier::Sources);
    assert_eq!(apps[1].stats().await.l2_rejected, 1);
}
