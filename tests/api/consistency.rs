//! The freshness contract, checked from outside, in the spirit of Meta's cache-consistency
//! measurement (Polaris): writers commit versioned changes to Postgres, readers ask three
//! replicas that share one Redis, faults hit Redis, the feed and the bus on a schedule, and a
//! checker flags every read that began more than the promised lag after a commit and still
//! returned an older version. It runs twice: with the changes followed by triggers (every
//! replica reads the feed table), and by logical decoding on a Postgres of its own (one
//! replica leads, the others hear it on the bus; among the faults, the leader's connections
//! are killed and a standby, or the leader again, takes over).
//!
//! The version is a customer's loyalty points, incremented by one per commit, so the commit
//! after the version a read saw is the one it missed. A short run is part of `scripts/test`;
//! the long run is
//!
//! ```text
//! C360_CONSISTENCY_SECS=600 C360_CONSISTENCY_FAULT_EVERY_MS=5000 \
//!   cargo test --release --test api consistency -- --nocapture --test-threads 1
//! ```

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use c360::core::db::Bind;
use rand::RngExt;
use tokio::time::Instant;

use c360::{app::config::Settings, core::cache::feed::Capture};

use crate::helpers::{
    TestApp, TestDatabase, TestPostgres, TestRedis, masked, redis_prefix, spawn_replica,
};

/// The promise (docs/architecture.md, Freshness): no replica serves data older than this after a commit.
const BOUND: Duration = Duration::from_secs(1);
/// Customers written and read: few enough that reads hit cached copies that changes make old.
const HOT: i64 = 40;
const WRITERS: usize = 2;
const READERS: usize = 6;
const REPLICAS: usize = 3;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The faults, in the order the schedule injects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// Redis killed and started again, empty.
    RedisRestart,
    /// Triggers: every replica's LISTEN connection terminated by Postgres. Logical decoding:
    /// the leader's connections (its lock and its replication stream) terminated.
    FeedKilled,
    /// Every pub/sub subscription dropped by Redis (messages in between are lost).
    PubSubDropped,
    /// Redis answers nothing for 400 ms.
    SlowL2,
}

const FAULTS: [Fault; 4] = [
    Fault::RedisRestart,
    Fault::FeedKilled,
    Fault::PubSubDropped,
    Fault::SlowL2,
];

/// A read: whose, which version it returned, when it began.
struct Read {
    customer: i64,
    version: i64,
    began: Instant,
}

/// Each customer's commits: version → when the commit returned.
type Commits = Arc<Vec<Mutex<BTreeMap<i64, Instant>>>>;

async fn write(db: c360::core::db::Db, commits: Commits, until: Instant) -> u64 {
    let mut written = 0;
    while Instant::now() < until {
        let customer = rand::rng().random_range(1..=HOT);
        let version: Option<(i64,)> = db
            .fetch_optional(
                "UPDATE customers SET loyalty_points = loyalty_points + 1 WHERE id = $1 \
                 RETURNING CAST(loyalty_points AS BIGINT)",
                &[Bind::Int(customer)],
            )
            .await
            .expect("a commit");
        let returned = Instant::now();
        let (version,) = version.expect("a hot customer");
        commits[customer as usize]
            .lock()
            .unwrap()
            .insert(version, returned);
        written += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    written
}

async fn read(replicas: Arc<Vec<TestApp>>, until: Instant) -> (Vec<Read>, u64) {
    let mut reads = Vec::new();
    let mut failed = 0;
    while Instant::now() < until {
        let (customer, replica) = {
            let mut rng = rand::rng();
            (
                rng.random_range(1..=HOT),
                rng.random_range(0..replicas.len()),
            )
        };
        let began = Instant::now();
        let mut client = replicas[replica].customers.clone();
        match client
            .get_customer_profile(masked(customer, &["identity"]))
            .await
        {
            Ok(response) => {
                let identity = response.into_inner().identity.expect("identity");
                reads.push(Read {
                    customer,
                    version: identity.loyalty_points,
                    began,
                });
            }
            // An error is not a stale read (other tests check that reads succeed).
            Err(_) => failed += 1,
        }
    }
    (reads, failed)
}

async fn inject(fault: Fault, redis: &mut TestRedis, db: &c360::core::db::Db) {
    match fault {
        Fault::RedisRestart => redis.restart().await,
        Fault::FeedKilled => {
            db.fetch_optional::<(i64,)>(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND (query ILIKE 'LISTEN%' \
                 OR application_name = 'c360 feed' \
                 OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory'))",
                &[],
            )
            .await
            .expect("terminate the feed's connections");
        }
        Fault::PubSubDropped => redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]),
        Fault::SlowL2 => redis.cli(&["CLIENT", "PAUSE", "400", "ALL"]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_replica_serves_a_version_older_than_the_promised_lag_under_faults() {
    check(Capture::Triggers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_replica_serves_a_version_older_than_the_promised_lag_under_faults_by_logical_decoding()
{
    check(Capture::Logical).await;
}

/// Slow machines and a paused Redis must not fail reads: errors are not what this checks.
fn patient(settings: &mut Settings) {
    let sources = &mut settings.sources;
    for source in [
        &mut sources.billing,
        &mut sources.orders,
        &mut sources.fulfilment,
        &mut sources.crm,
    ] {
        source.timeout = Duration::from_secs(5);
    }
}

async fn check(capture: Capture) {
    let seconds = setting("C360_CONSISTENCY_SECS", 6);
    let fault_every = Duration::from_millis(setting("C360_CONSISTENCY_FAULT_EVERY_MS", 1200));

    let mut redis = TestRedis::start().await;
    // Logical decoding needs wal_level = logical: a server of the test's own.
    let server = (capture == Capture::Logical).then(TestPostgres::start_logical);
    let database = Arc::new(match &server {
        Some(server) => TestDatabase::seeded_on(&server.base_url()).await,
        None => TestDatabase::seeded(crate::helpers::Backend::Postgres).await,
    });
    let prefix = redis_prefix();
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        let (url, prefix) = (redis.url(), prefix.clone());
        replicas.push(
            spawn_replica(database.clone(), move |settings| {
                settings.redis.url = Some(url);
                settings.redis.prefix = prefix;
                settings.feed.capture = capture;
                patient(settings);
            })
            .await,
        );
    }
    let db = replicas[0].db.clone();
    let replicas = Arc::new(replicas);
    let commits: Commits = Arc::new((0..=HOT).map(|_| Mutex::default()).collect());
    // Each customer's version before the run, so that the first commit has a predecessor.
    for customer in 1..=HOT {
        let (version,): (i64,) = db
            .fetch_optional(
                "SELECT CAST(loyalty_points AS BIGINT) FROM customers WHERE id = $1",
                &[Bind::Int(customer)],
            )
            .await
            .unwrap()
            .unwrap();
        commits[customer as usize]
            .lock()
            .unwrap()
            .insert(version, Instant::now() - Duration::from_secs(3600));
    }

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| tokio::spawn(write(db.clone(), commits.clone(), until)))
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|_| tokio::spawn(read(replicas.clone(), until)))
        .collect();
    let mut injected: BTreeMap<Fault, u64> = BTreeMap::new();
    let mut next = 0;
    loop {
        tokio::time::sleep(fault_every).await;
        if Instant::now() + fault_every / 2 >= until {
            break;
        }
        let fault = FAULTS[next % FAULTS.len()];
        next += 1;
        inject(fault, &mut redis, &db).await;
        *injected.entry(fault).or_default() += 1;
    }

    let mut changes = 0;
    for writer in writers {
        changes += writer.await.unwrap();
    }
    let (mut checked, mut failed, mut violations, mut worst) = (0u64, 0u64, 0u64, Duration::ZERO);
    let mut examples = Vec::new();
    for reader in readers {
        let (reads, errors) = reader.await.unwrap();
        failed += errors;
        for read in reads {
            checked += 1;
            let commits = commits[read.customer as usize].lock().unwrap();
            // The first commit the read did not see, if it had returned before the read began.
            let Some(missed) = commits.get(&(read.version + 1)) else {
                continue;
            };
            let Some(behind) = read.began.checked_duration_since(*missed) else {
                continue;
            };
            worst = worst.max(behind);
            if behind > BOUND {
                violations += 1;
                if examples.len() < 5 {
                    examples.push(format!(
                        "customer {} read version {} at +{:?}, {behind:?} after version {} committed",
                        read.customer,
                        read.version,
                        read.began - started,
                        read.version + 1
                    ));
                }
            }
        }
    }
    let faults: u64 = injected.values().sum();
    println!(
        "consistency ({capture:?}): {checked} reads checked across {REPLICAS} replicas ({failed} failed), \
         {changes} changes, {faults} faults injected {injected:?}, bound {BOUND:?}, \
         worst lag {worst:?}, {violations} violations, {seconds} s"
    );
    assert!(
        checked >= 500 && changes >= 50,
        "too little traffic to judge: {checked} reads, {changes} changes"
    );
    assert_eq!(violations, 0, "reads older than the bound: {examples:#?}");
    if seconds >= 6 {
        assert!(
            FAULTS.iter().all(|f| injected.contains_key(f)),
            "every kind of fault was injected: {injected:?}"
        );
    }
}
