//! The fan-out on paused tokio time: each step is narrated.

use std::time::Duration;

use super::*;
use crate::sources::{
    Source,
    fake::{FakeLookups, calls, fake_sources},
    fixtures::{self, customer},
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
