//! Feed lag: from a backend commit to the invalidation on a replica, under a steady stream of
//! changes.
//!
//! `cargo bench --bench feed_lag [-- --rate 200 --seconds 20 --capture auto]` needs the
//! local PostgreSQL (`C360_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`). It
//! seeds a fresh database, starts a replica that follows its changes (`--capture`: `auto`,
//! `logical` — which needs `wal_level = logical`, as `scripts/feed-capture`'s server has —
//! or `triggers`), and updates one customer every 1/rate seconds, open loop (each update has
//! a planned time and does not wait for the previous one to be seen); with `--writers N`,
//! N writers update customers as fast as they go instead, each its own (the backend's
//! maximum write rate). The lag of a change is the time from just before its UPDATE is sent
//! (so it includes the UPDATE's own execution and commit) to the moment the replica
//! invalidates that customer. Under `cargo test` it runs briefly, as a smoke test.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use c360::{
    app::App,
    app::config::Settings,
    core::cache::{Change, feed::Capture},
    core::db::{Bind, Db, PoolOptions},
};
use hdrhistogram::Histogram;
use lag_support::{Args, BenchDatabase, UPDATE, flat_out};
use tokio::time::Instant;

mod lag_support;

const CUSTOMERS: i64 = 2_000;

struct Options {
    rate: u32,
    seconds: u64,
    full: bool,
    capture: Capture,
    /// Writers as fast as they go, instead of the open loop at `rate`.
    writers: Option<u32>,
}

fn options() -> Options {
    let args = Args::of_process();
    let full = args.full();
    Options {
        rate: args.value("--rate").unwrap_or(200) as u32,
        seconds: args.value("--seconds").unwrap_or(if full { 20 } else { 1 }),
        full,
        capture: args.capture(),
        writers: args.value("--writers").map(|n| n as u32),
    }
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(measure(options));
}

async fn measure(options: Options) {
    let (database, db) =
        BenchDatabase::seeded("feed_lag", CUSTOMERS as u64, PoolOptions::default()).await;
    let url = database.url.clone();

    let mut settings = Settings::default();
    settings.database.url = url.clone();
    settings.feed.capture = options.capture;
    let app = App::connect(&settings).await.unwrap();
    // Let the follower take its position.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let sent: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let mut changes = app.profiles().subscribe();
    let observer = tokio::spawn({
        let sent = sent.clone();
        async move {
            let mut lags = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            while let Ok(change) = changes.recv().await {
                let Change::Customer(customer, _) = change else {
                    continue;
                };
                let at = sent.lock().unwrap().remove(&customer.get());
                if let Some(at) = at {
                    lags.record(at.elapsed().as_micros().max(1) as u64).unwrap();
                }
            }
            lags
        }
    });

    let began = Instant::now();
    let written = match options.writers {
        None => open_loop(&db, &sent, &options).await,
        Some(writers) => {
            let until = Instant::now() + Duration::from_secs(options.seconds);
            let sent = sent.clone();
            // A customer's lag runs from its first unseen update.
            let mark = move |customer| {
                sent.lock()
                    .unwrap()
                    .entry(customer)
                    .or_insert_with(Instant::now);
            };
            flat_out(&db, writers, CUSTOMERS, until, mark).await
        }
    };
    let write_rate = written as f64 / began.elapsed().as_secs_f64();
    // Give the last changes a moment to arrive, then stop listening.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let missed = sent.lock().unwrap().len();
    drop(app);
    let lags = tokio::time::timeout(Duration::from_secs(5), observer).await;
    db.close().await;
    database.drop().await;
    let lags = match lags {
        Ok(Ok(lags)) => lags,
        _ => panic!("the observer did not finish"),
    };

    let ms = |q: f64| lags.value_at_quantile(q) as f64 / 1000.0;
    let how = match options.writers {
        None => format!("at {}/s", options.rate),
        Some(n) => format!("from {n} writers flat out ({write_rate:.0}/s)"),
    };
    println!(
        "feed lag over {} changes {how} for {}s (Postgres, capture {:?}): \
         median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; not seen: {missed}",
        lags.len(),
        options.seconds,
        options.capture,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        lags.max() as f64 / 1000.0,
    );
    assert_eq!(missed, 0, "some commits never reached the replica");
    if options.full {
        assert!(
            ms(0.99) < 1000.0,
            "p99 feed lag over the one-second contract"
        );
    }
}

type Sent = Arc<Mutex<HashMap<i64, Instant>>>;

/// One update every 1/rate seconds, each at its planned time; how many.
async fn open_loop(db: &Db, sent: &Sent, options: &Options) -> u64 {
    let total = u64::from(options.rate) * options.seconds;
    let period = Duration::from_secs(1) / options.rate;
    let start = Instant::now() + Duration::from_millis(50);
    let mut writes = Vec::with_capacity(total as usize);
    for n in 0..total {
        let planned = start + period * n as u32;
        tokio::time::sleep_until(planned).await;
        let customer = (n as i64 % CUSTOMERS) + 1;
        let (db, sent) = (db.clone(), sent.clone());
        writes.push(tokio::spawn(async move {
            sent.lock().unwrap().insert(customer, Instant::now());
            db.execute(UPDATE, &[Bind::Int(customer)]).await.unwrap();
        }));
    }
    for write in writes {
        write.await.unwrap();
    }
    total
}
