//! The fan-out on paused tokio time: each step is narrated.

use std::time::Duration;

use super::*;
use crate::core::{
    sources::{
        CustomerKey, Source,
        fake::{FakeLookups, FakeSource, calls, fake_sources},
        fixtures::{self, customer},
    },
    vocab::OrderId,
};

const TIMEOUT: Duration = Duration::from_millis(100);

fn fanout(sources: Sources) -> Fanout {
    Fanout::new(
        sources,
        Arc::new(FakeLookups::default()),
        PerSource::same(TIMEOUT),
    )
}

#[tokio::test(start_paused = true)]
async fn only_the_backends_asked_for_are_read_and_all_at_once() {
    // Every backend takes 40 ms; asking two of them must take 40 ms, not 80.
    let (sources, fakes) = fake_sources(|f| f.delayed(Duration::from_millis(40)));
    let fanout = fanout(sources);
    let started = Instant::now();
    let set = SourceSet::of(&[SourceKind::Billing, SourceKind::Crm]);
    let outcomes = fanout.gather(customer(), set, None).await;
    assert_eq!(started.elapsed(), Duration::from_millis(40));
    let kinds: Vec<_> = outcomes.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [SourceKind::Billing, SourceKind::Crm]);
    assert!(outcomes.iter().all(|o| o.result.is_ok()));
    let asked = PerSource {
        billing: 1,
        orders: 0,
        fulfilment: 0,
        crm: 1,
    };
    assert_eq!(calls(&fakes), asked);
    assert_eq!(fanout.reads(SourceKind::Billing), 1);
    assert_eq!(fanout.reads(SourceKind::Orders), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_backend_times_out_without_holding_up_the_others() {
    let (sources, _) = fake_sources(|f| match f.kind() {
        // Orders answers after 500 ms, far past its 100 ms timeout.
        SourceKind::Orders => f.delayed(Duration::from_millis(500)),
        _ => f.delayed(Duration::from_millis(10)),
    });
    let started = Instant::now();
    let outcomes = fanout(sources)
        .gather(customer(), SourceSet::ALL, None)
        .await;
    // The whole fan-out ends at the orders timeout.
    assert_eq!(started.elapsed(), TIMEOUT);
    for outcome in outcomes {
        match outcome.kind {
            SourceKind::Orders => assert_eq!(outcome.result, Err(Failure::Timeout)),
            _ => assert!(outcome.result.is_ok(), "{:?}", outcome.kind),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_backend_is_unavailable_and_the_rest_still_answer() {
    let (sources, _) = fake_sources(|f| match f.kind() {
        SourceKind::Billing => f.failing(),
        _ => f,
    });
    let outcomes = fanout(sources)
        .gather(customer(), SourceSet::ALL, None)
        .await;
    let billing = outcomes.iter().find(|o| o.kind == SourceKind::Billing);
    assert_eq!(billing.map(|o| &o.result), Some(&Err(Failure::Unavailable)));
    assert_eq!(outcomes.iter().filter(|o| o.result.is_ok()).count(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_callers_deadline_cuts_every_read_short() {
    let (sources, _) = fake_sources(|f| f.delayed(Duration::from_millis(60)));
    // The caller allows 30 ms, less than the backends' own 100 ms.
    let deadline = Instant::now() + Duration::from_millis(30);
    let outcomes = fanout(sources)
        .gather(customer(), SourceSet::ALL, Some(deadline))
        .await;
    assert!(outcomes.iter().all(|o| o.result == Err(Failure::Timeout)));
    assert_eq!(Instant::now(), deadline);
}

#[tokio::test(start_paused = true)]
async fn no_read_starts_once_the_callers_deadline_has_passed() {
    let (sources, fakes) = fake_sources(|f| f);
    let fanout = fanout(sources);
    let deadline = Instant::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    let outcomes = fanout
        .gather(customer(), SourceSet::ALL, Some(deadline))
        .await;
    assert!(outcomes.iter().all(|o| o.result == Err(Failure::Timeout)));
    assert_eq!(calls(&fakes), PerSource::same(0));
}

#[tokio::test(start_paused = true)]
async fn lookups_are_counted_against_the_backend_they_read() {
    let (sources, _) = fake_sources(|f| f);
    let fanout = fanout(sources);
    let key = CustomerKey::Email("ada@example.com".parse().unwrap());
    let found = fanout.customers(key, None).await.unwrap();
    assert_eq!(found, [(customer(), fixtures::identity())]);
    let order = OrderId::new(12).unwrap();
    let detail = fanout.order(order, None).await.unwrap().expect("order 12");
    assert_eq!(detail.customer, customer());
    assert_eq!(fanout.shipments_of(order, None).await.unwrap().len(), 1);
    let reads = PerSource::from_fn(|kind| fanout.reads(kind));
    let expected = PerSource {
        billing: 0,
        orders: 1,
        fulfilment: 1,
        crm: 1,
    };
    assert_eq!(reads, expected);
}

#[tokio::test(start_paused = true)]
async fn a_failing_lookup_is_unavailable_and_none_starts_after_the_deadline() {
    let (sources, _) = fake_sources(|f| f);
    let lookups = Arc::new(FakeLookups::default());
    lookups.set_failing(SourceKind::Orders, true);
    let fanout = Fanout::new(sources, lookups.clone(), PerSource::same(TIMEOUT));
    let order = OrderId::new(12).unwrap();
    assert_eq!(fanout.order(order, None).await, Err(Failure::Unavailable));

    let deadline = Instant::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    let late = fanout.shipments_of(order, Some(deadline)).await;
    assert_eq!(late, Err(Failure::Timeout));
    assert_eq!(lookups.calls().fulfilment, 0);
    assert_eq!(fanout.reads(SourceKind::Fulfilment), 0);
}

fn guarded(sources: Sources, resilience: ResilienceSettings) -> Fanout {
    let mut settings = SourcesSettings::default();
    for kind in SourceKind::ALL {
        settings.of_mut(kind).timeout = TIMEOUT;
    }
    let lookups = Arc::new(FakeLookups::default());
    Fanout::with(sources, lookups, &settings, &resilience)
}

/// Circuits that open after 3 failures in a row, for 500 ms.
fn breaker() -> ResilienceSettings {
    ResilienceSettings {
        breaker_failures: 3,
        breaker_cooldown: Duration::from_millis(500),
        ..ResilienceSettings::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_failing_in_a_row_is_refused_at_once_until_a_probe_answers() {
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Billing => f.delayed(Duration::from_millis(30)).failing(),
        _ => f,
    });
    let fanout = guarded(sources, breaker());
    let billing = SourceSet::of(&[SourceKind::Billing]);
    let result = |outcomes: Vec<Outcome>| outcomes[0].result.clone();
    // Three failures in a row, each after 30 ms: the circuit opens.
    for _ in 0..3 {
        let outcome = result(fanout.gather(customer(), billing, None).await);
        assert_eq!(outcome, Err(Failure::Unavailable));
    }
    assert_eq!(
        fanout.counts(SourceKind::Billing).circuit,
        CircuitState::Open
    );
    // Now refused without a read, and without waiting.
    let started = Instant::now();
    let refused = fanout.gather(customer(), billing, None).await;
    assert_eq!(result(refused), Err(Failure::CircuitOpen));
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(fakes.billing.calls(), 3);
    // The backend recovers; after the cooldown one probe reads it and closes the circuit.
    fakes.billing.set_failing(false);
    tokio::time::advance(breaker().breaker_cooldown).await;
    assert!(result(fanout.gather(customer(), billing, None).await).is_ok());
    assert!(result(fanout.gather(customer(), billing, None).await).is_ok());
    let counts = fanout.counts(SourceKind::Billing);
    assert_eq!(counts.circuit, CircuitState::Closed);
    assert_eq!((counts.opened, counts.refused, counts.reads), (1, 1, 5));
}

#[tokio::test(start_paused = true)]
async fn reads_cut_short_by_the_callers_deadline_do_not_open_the_circuit() {
    let (sources, _) = fake_sources(|f| f.delayed(Duration::from_millis(60)));
    let fanout = guarded(sources, breaker());
    for _ in 0..10 {
        let deadline = Instant::now() + Duration::from_millis(30);
        fanout
            .gather(customer(), SourceSet::ALL, Some(deadline))
            .await;
    }
    for kind in SourceKind::ALL {
        assert_eq!(fanout.counts(kind).circuit, CircuitState::Closed);
    }
    // Its own timeout is the backend's failure: three in a row open the circuit.
    let (sources, _) = fake_sources(|f| f.delayed(TIMEOUT * 2));
    let fanout = guarded(sources, breaker());
    for _ in 0..3 {
        fanout.gather(customer(), SourceSet::ALL, None).await;
    }
    for kind in SourceKind::ALL {
        assert_eq!(fanout.counts(kind).circuit, CircuitState::Open);
    }
}

/// A fan-out hedging 5 % of reads, which 200 reads have taught that every backend answers
/// in 10 ms; the fakes, to script slower reads.
async fn taught_hedger() -> (Fanout, PerSource<Arc<FakeSource>>) {
    let (sources, fakes) = fake_sources(|f| f.delayed(Duration::from_millis(10)));
    let hedge = ResilienceSettings {
        hedge_budget: 0.05,
        hedge_min_delay: Duration::from_millis(1),
        ..breaker()
    };
    let fanout = guarded(sources, hedge);
    for _ in 0..200 {
        fanout.gather(customer(), CRM, None).await;
    }
    (fanout, fakes)
}

const CRM: SourceSet = SourceSet::of(&[SourceKind::Crm]);

#[tokio::test(start_paused = true)]
async fn a_read_past_the_backends_95th_percentile_is_hedged_and_the_first_answer_wins() {
    let (fanout, fakes) = taught_hedger().await;
    let crm = CRM;
    assert_eq!(
        fanout.counts(SourceKind::Crm).p95,
        Some(Duration::from_millis(10))
    );
    assert_eq!(fanout.counts(SourceKind::Crm).hedges, 0);
    // This read's connection stalls for 90 ms: at 10 ms a hedge is sent, and answers 10 ms on.
    fakes.crm.script_delays([Duration::from_millis(90)]);
    let started = Instant::now();
    let outcomes = fanout.gather(customer(), crm, None).await;
    assert!(outcomes[0].result.is_ok());
    assert_eq!(started.elapsed(), Duration::from_millis(20));
    let counts = fanout.counts(SourceKind::Crm);
    assert_eq!((counts.hedges, counts.reads), (1, 202));
    assert_eq!(fakes.crm.calls(), 202);
}

#[tokio::test(start_paused = true)]
async fn hedges_stay_within_their_budget_when_a_backend_is_slow_for_everyone() {
    let (fanout, fakes) = taught_hedger().await;
    let crm = CRM;
    // Every read now takes 50 ms: each would want a hedge; the budget allows 5 %.
    fakes
        .crm
        .script_delays(vec![Duration::from_millis(50); 2000]);
    for _ in 0..1000 {
        fanout.gather(customer(), crm, None).await;
    }
    let hedges = fanout.counts(SourceKind::Crm).hedges;
    // At most what 1,000 reads earn and what the 200 before saved up (capped at 10).
    assert!(hedges <= 60, "{hedges} hedges in 1200 reads");
    assert!(hedges >= 10, "{hedges} hedges in 1200 reads");
}

#[tokio::test(start_paused = true)]
async fn each_lookup_gets_the_faults_of_the_backend_it_reads() {
    // CRM is slow, orders always fails, fulfilment has no faults.
    let mut settings = SourcesSettings::default();
    settings.crm.faults.latency = Some(Duration::from_millis(30));
    settings.orders.faults.error_rate = 1.0;
    let (sources, _) = fake_sources(|f| f);
    let lookups = Arc::new(FakeLookups::default());
    let resilience = ResilienceSettings::default();
    let fanout = Fanout::with(sources, lookups.clone(), &settings, &resilience);

    let started = Instant::now();
    let found = fanout.customers(CustomerKey::Id(customer()), None).await;
    assert_eq!(found.unwrap().len(), 1);
    assert_eq!(started.elapsed(), Duration::from_millis(30));

    let order = OrderId::new(11).unwrap();
    assert_eq!(fanout.order(order, None).await, Err(Failure::Unavailable));
    assert_eq!(
        lookups.calls().orders,
        0,
        "a failed draw never asks the backend"
    );

    let started = Instant::now();
    assert_eq!(fanout.shipments_of(order, None).await.unwrap().len(), 1);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_backends_faults_apply_to_its_profile_reads_and_its_pings_alike() {
    let mut settings = SourcesSettings::default();
    settings.billing.faults.error_rate = 1.0;
    let (sources, fakes) = fake_sources(|f| f);
    let resilience = ResilienceSettings::default();
    let fanout = Fanout::with(
        sources,
        Arc::new(FakeLookups::default()),
        &settings,
        &resilience,
    );
    let outcomes = fanout.gather(customer(), SourceSet::ALL, None).await;
    for outcome in &outcomes {
        match outcome.kind {
            SourceKind::Billing => assert_eq!(outcome.result, Err(Failure::Unavailable)),
            _ => assert!(outcome.result.is_ok(), "{:?}", outcome.kind),
        }
    }
    assert_eq!(
        fakes.billing.calls(),
        0,
        "a failed draw never asks the backend"
    );
    assert!(fanout.ping(SourceKind::Billing).await.is_err());
    assert!(fanout.ping(SourceKind::Crm).await.is_ok());
}
