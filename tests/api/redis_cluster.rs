//! L2 and the invalidation bus on a Redis Cluster of three masters that each test starts
//! itself: entries shared across replicas, spread over the masters and followed as their slots
//! move; invalidations and flushes reaching every master and replica; a master killed under
//! reads failing no call; a cluster that comes up late used once it does.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use c360::core::vocab::CustomerId;
use c360_proto::CacheTier;

use crate::helpers::{
    Backend, TestApp, TestDatabase, TestRedisCluster, eventually, get, redis_prefix, spawn_replica,
};

/// `count` replicas over one fresh Postgres database, sharing `cluster` under a prefix of
/// their own; the feed is off unless `feed`, so that only the bus tells one replica of
/// another's invalidations.
async fn replicas(cluster: &TestRedisCluster, count: usize, feed: bool) -> (String, Vec<TestApp>) {
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let prefix = redis_prefix();
    let mut apps = Vec::new();
    for _ in 0..count {
        let app = spawn_replica(database.clone(), |settings| {
            settings.redis.cluster_urls = cluster.urls();
            settings.redis.prefix = prefix.clone();
            settings.feed.enabled = feed;
        })
        .await;
        apps.push(app);
    }
    (prefix, apps)
}

/// Whether `app`'s L2 holds `id`, within two seconds (fills are written in the background).
async fn in_l2(app: &TestApp, id: i64) -> bool {
    let customer = CustomerId::new(id).unwrap();
    eventually(Duration::from_secs(2), || async {
        let l2 = app.profiles.l2().unwrap();
        l2.get(customer, app.profiles_catalog()).await.is_some()
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_l2_is_shared_spread_followed_through_a_reshard_invalidated_and_flushed() {
    let cluster = TestRedisCluster::start(3).await;
    let (prefix, apps) = replicas(&cluster, 2, false).await;
    for id in 1..=30 {
        assert_eq!(apps[0].served_from(id).await.0, CacheTier::Sources);
    }
    assert!(in_l2(&apps[1], 30).await, "replica 0 did not fill L2");
    for id in 1..=30 {
        assert!(in_l2(&apps[1], id).await, "customer {id} is not in L2");
    }
    // Hash-tagged by bucket, thirty customers land on every master.
    let on_each: Vec<usize> = (0..cluster.len())
        .map(|n| cluster.keys(n, &prefix))
        .collect();
    assert!(on_each.iter().all(|&keys| keys > 0), "{on_each:?}");
    assert_eq!(apps[1].served_from(5).await.0, CacheTier::L2);
    assert_eq!(apps[1].served_from(5).await.0, CacheTier::L1);

    // Slots move, with their entries, under the replicas: every entry is still found and opens.
    let before = cluster.keys(2, &prefix);
    cluster.reshard(0, 2, 3000);
    assert!(cluster.keys(2, &prefix) > before, "no entry moved");
    for id in 1..=30 {
        assert!(
            in_l2(&apps[0], id).await,
            "customer {id} was lost in the move"
        );
    }

    // An invalidation on replica 0 reaches replica 1 over the cluster's pub/sub, and L2.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = apps[0].invalidate(&["5"]).await.unwrap();
    assert!(answer.reached_other_replicas && answer.redis_configured);
    let customer = CustomerId::new(5).unwrap();
    let dropped = eventually(Duration::from_secs(1), || async {
        apps[1].profiles.cache().get(customer).await.is_none()
    })
    .await;
    assert!(dropped.is_some(), "replica 1 kept the entry");
    assert_eq!(apps[1].served_from(5).await.0, CacheTier::Sources);

    // A flush empties every master of entries, and what was filled before does not open.
    let l2 = apps[0].profiles.l2().unwrap();
    assert!(l2.flush().await, "the cluster did not confirm a flush");
    for node in 0..cluster.len() {
        let pattern = format!("{prefix}:*profile*");
        let left = cluster.cli(node, &["--scan", "--pattern", &pattern]);
        assert!(left.trim().is_empty(), "master {node} kept {left}");
    }
    assert!(!in_l2(&apps[1], 7).await, "an entry outlived the flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_reads_fails_no_call_and_l2_returns_with_it() {
    let mut cluster = TestRedisCluster::start(3).await;
    let (prefix, apps) = replicas(&cluster, 2, true).await;
    let apps = Arc::new(apps);
    for id in 1..=60 {
        apps[0].served_from(id).await;
    }
    assert!(in_l2(&apps[1], 60).await, "L2 did not fill");

    // Two callers per replica read for as long as the master is down and a little more.
    let reading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let callers: Vec<_> = (0..4)
        .map(|caller| {
            let (apps, reading) = (apps.clone(), reading.clone());
            let (served, failed) = (served.clone(), failed.clone());
            tokio::spawn(async move {
                let mut id = caller * 17;
                while reading.load(Ordering::Relaxed) {
                    id = id % 120 + 1;
                    match apps[caller as usize % 2].try_get(get(id)).await {
                        Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                        Err(status) => {
                            eprintln!("failed: {status:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.kill(1);
    // Long enough for the others to mark it failed and the cluster to go down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = apps[0]
        .profiles
        .stats()
        .count
        .l2_errors
        .load(Ordering::Relaxed);
    cluster.restart(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    reading.store(false, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    assert_eq!(failed, 0, "{failed} calls failed ({served} served)");
    assert!(served > 100, "only {served} calls were made");
    assert!(during > 0, "the killed master went unnoticed");

    // Back: fills land on the returned master too, and the other replica reads them.
    let refilled = eventually(Duration::from_secs(10), || async {
        for id in 200..=240 {
            apps[0].served_from(id).await;
        }
        cluster.keys(1, &prefix) > 0
    })
    .await;
    assert!(
        refilled.is_some(),
        "L2 did not come back on the returned master"
    );
    assert!(in_l2(&apps[1], 240).await);
    assert_eq!(apps[1].served_from(240).await.0, CacheTier::L2);

    // The bus too: an invalidation reaches the other replica.
    let customer = CustomerId::new(240).unwrap();
    let heard = eventually(Duration::from_secs(5), || async {
        apps[1].served_from(240).await;
        apps[0].invalidate(&["240"]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        apps[1].profiles.cache().get(customer).await.is_none()
    })
    .await;
    assert!(heard.is_some(), "the bus did not come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_comes_up_after_the_replica_is_used_once_it_does() {
    let mut cluster = TestRedisCluster::unstarted(3);
    let (_, apps) = replicas(&cluster, 1, false).await;
    // Nothing answers: every call is served by the backends.
    for id in 1..=3 {
        assert_eq!(apps[0].served_from(id).await.0, CacheTier::Sources);
    }
    assert!(
        apps[0]
            .profiles
            .stats()
            .count
            .l2_errors
            .load(Ordering::Relaxed)
            > 0
    );
    cluster.create().await;
    let filled = eventually(Duration::from_secs(10), || async {
        apps[0].profiles.cache().invalidate_all();
        apps[0].served_from(9).await;
        in_l2(&apps[0], 9).await
    })
    .await;
    assert!(filled.is_some(), "L2 never came up");
}
