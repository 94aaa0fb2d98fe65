//! Attention lag: how soon the attention queue shows what happened, while the change feed
//! runs at the backend's full write rate.
//!
//! `cargo bench --bench attention_lag [-- --seconds 20 --writers 4 --capture auto
//! --customers 2000]` needs the local PostgreSQL (`C360_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432`). It seeds a fresh database with `--customers`,
//! starts a replica with the queue on that follows its changes (`--capture` as
//! `feed_lag`'s), waits for the queue's first build to end, and runs `--writers` writers
//! updating customers as fast as they go (each update a change the replica derives again).
//! It prints `attention lag: probing` as it starts them. Meanwhile, five times a second,
//! a probe takes a customer of its own and measures three lags, each to the moment the item
//! is kept as the queue's API reads it:
//!
//! - commit: a parcel already past its promise is inserted; from just before the INSERT to
//!   the item open;
//! - deadline: a parcel promised 1.5 s ahead is inserted; from its promise to the item open
//!   (no row changes at the promise);
//! - clear: the first parcel is delivered; from just before the UPDATE to the item cleared.
//!
//! Goal: each within 1 s (p99). Under `cargo test` it runs briefly with no writers, as a smoke
//! test.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::Duration;

use c360::{
    app::App,
    app::config::Settings,
    core::attention::{ItemKey, Reason, Store},
    core::cache::feed::Capture,
    core::db::{Bind, Db, PoolOptions},
    core::vocab::CustomerId,
};
use hdrhistogram::Histogram;
use lag_support::{Args, BenchDatabase, flat_out};
use tokio::time::Instant;

mod lag_support;

/// Customers seeded, and updated by the writers, unless `--customers` says otherwise.
const CUSTOMERS: u64 = 2_000;
/// Probes started a second.
const PROBES_PER_SECOND: u64 = 5;
/// Longest a probe waits for the queue before counting the item as not seen.
const GIVE_UP: Duration = Duration::from_secs(10);
/// Shipment ids of the probes' parcels, far above the seed's.
const PROBE_IDS: i64 = 900_000_000;

struct Options {
    seconds: u64,
    full: bool,
    capture: Capture,
    writers: u32,
    customers: i64,
}

fn options() -> Options {
    let args = Args::of_process();
    let full = args.full();
    Options {
        seconds: args.value("--seconds").unwrap_or(if full { 20 } else { 2 }),
        full,
        capture: args.capture(),
        // A smoke test checks the probes' path alone: a debug build's derivations cannot
        // follow writers as fast as they go.
        writers: args.value("--writers").unwrap_or(if full { 4 } else { 0 }) as u32,
        customers: args.value("--customers").unwrap_or(CUSTOMERS).max(1) as i64,
    }
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(measure(options));
}

/// The three lags of every probe, in microseconds; and the items never seen.
#[derive(Default)]
struct Lags {
    commit: Vec<u64>,
    deadline: Vec<u64>,
    clear: Vec<u64>,
    unseen: u64,
}

async fn measure(options: Options) {
    let pool = PoolOptions {
        max_connections: options.writers + 8,
        ..PoolOptions::default()
    };
    let customers = options.customers;
    let (database, db) = BenchDatabase::seeded("attention_lag", customers as u64, pool).await;
    let url = database.url.clone();

    let mut settings = Settings::default();
    settings.database.url = url.clone();
    settings.feed.capture = options.capture;
    settings.attention.enabled = true;
    let app = App::connect(&settings).await.unwrap();
    let started = Instant::now();
    let store = Store::new(db.clone());
    // Let the follower take its position and the queue's first build run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (derived, took) = built(&app, started).await;
    println!(
        "attention lag: the first build derived {derived} customers of {customers} in {:.1} s",
        took.as_secs_f64()
    );
    println!("attention lag: probing for {} s", options.seconds);
    std::io::Write::flush(&mut std::io::stdout()).unwrap();

    let derivations = || app.attention().map_or(0, |figures| figures.derivations);
    let before = derivations();
    let until = Instant::now() + Duration::from_secs(options.seconds);
    let writers = flat_out(&db, options.writers, customers, until, |_| {});
    let probes = probe_all(&db, &store, customers, until);
    let (written, lags) = tokio::join!(writers, probes);
    let write_rate = written as f64 / options.seconds.max(1) as f64;
    for feed in app.profiles().stats().feeds() {
        println!(
            "attention lag: feed {}: {} changes applied, {} batches read before they were \
             visible and waited for",
            feed.database(),
            feed.applied,
            feed.awaited
        );
    }
    println!(
        "attention lag: {:.0} derivations/s while probing",
        (derivations() - before) as f64 / options.seconds.max(1) as f64
    );
    drop(app);
    db.close().await;
    database.drop().await;

    let mut worst: f64 = 0.0;
    for (what, samples) in [
        ("commit", &lags.commit),
        ("deadline", &lags.deadline),
        ("clear", &lags.clear),
    ] {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for sample in samples {
            histogram.record((*sample).max(1)).unwrap();
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        worst = worst.max(ms(0.99));
        println!(
            "attention lag, {what} to item, over {} probes while {} writers changed {write_rate:.0} \
             customers/s (Postgres, capture {:?}): median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, \
             max {:.1} ms",
            histogram.len(),
            options.writers,
            options.capture,
            ms(0.5),
            ms(0.9),
            ms(0.99),
            histogram.max() as f64 / 1000.0,
        );
    }
    println!(
        "attention lag: items never seen within {GIVE_UP:?}: {}",
        lags.unseen
    );
    assert_eq!(lags.unseen, 0, "some items never reached the queue");
    if options.full {
        assert!(worst < 1000.0, "p99 attention lag over the one-second goal");
    }
}

/// Once derivations stop (none for a second): how many there were, and how long since
/// `started`.
async fn built(app: &App, started: Instant) -> (u64, Duration) {
    let derivations = || app.attention().map_or(0, |figures| figures.derivations);
    let mut last = derivations();
    let mut still_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = derivations();
        if now != last {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= Duration::from_secs(1) {
            return (now, still_since - started);
        }
    }
}

/// Five probes a second until `until`, each on one of `customers`; their lags.
async fn probe_all(db: &Db, store: &Store, customers: i64, until: Instant) -> Lags {
    let mut probes = Vec::new();
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let (db, store) = (db.clone(), store.clone());
        // Customers the writers update too: the probe's derivations queue behind theirs.
        let customer = CustomerId::new((n * 37) % customers + 1).unwrap();
        probes.push(tokio::spawn(async move {
            probe(&db, &store, customer, PROBE_IDS + n * 2).await
        }));
        tokio::time::sleep(Duration::from_millis(1000 / PROBES_PER_SECOND)).await;
    }
    let mut lags = Lags::default();
    for probe in probes {
        let (commit, deadline, clear) = probe.await.unwrap();
        for (into, lag) in [
            (&mut lags.commit, commit),
            (&mut lags.deadline, deadline),
            (&mut lags.clear, clear),
        ] {
            match lag {
                Some(lag) => into.push(lag.as_micros() as u64),
                None => lags.unseen += 1,
            }
        }
    }
    lags
}

type Lag = Option<Duration>;

/// One probe on `customer`, with parcels `id` (late now) and `id + 1` (late in 1.5 s).
async fn probe(db: &Db, store: &Store, customer: CustomerId, id: i64) -> (Lag, Lag, Lag) {
    let now = chrono::Utc::now();
    let late = key(customer, id);
    let began = Instant::now();
    parcel(db, id, customer, now - chrono::Duration::days(2)).await;
    let commit = seen(store, &late, "open", began).await;

    let promised = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    parcel(db, id + 1, customer, promised).await;
    let wait = (promised - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let deadline = seen(store, &key(customer, id + 1), "open", Instant::now()).await;

    let began = Instant::now();
    db.execute(
        "UPDATE shipments SET status = 'delivered', delivered_at = $2 WHERE id = $1",
        &[Bind::Int(id), Bind::Time(chrono::Utc::now())],
    )
    .await
    .unwrap();
    let clear = seen(store, &late, "cleared", began).await;
    (commit, deadline, clear)
}

fn key(customer: CustomerId, shipment: i64) -> ItemKey {
    ItemKey {
        customer,
        reason: Reason::LateShipment,
        cause: shipment.to_string(),
    }
}

async fn parcel(db: &Db, id: i64, customer: CustomerId, promised: chrono::DateTime<chrono::Utc>) {
    db.execute(
        "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
         promised_at, created_at) VALUES ($1, 1, $2, 'DHL', 'PROBE', 'in_transit', $3, $4)",
        &[
            Bind::Int(id),
            Bind::Int(customer.get()),
            Bind::Time(promised),
            Bind::Time(chrono::Utc::now()),
        ],
    )
    .await
    .unwrap();
}

/// How long from `since` until the item of `key` is kept in `state`, polled every 10 ms; none
/// if not within [`GIVE_UP`].
async fn seen(store: &Store, key: &ItemKey, state: &str, since: Instant) -> Lag {
    while since.elapsed() < GIVE_UP {
        let kept = store.get(key).await.unwrap();
        if kept.is_some_and(|kept| kept.state == state) {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}
