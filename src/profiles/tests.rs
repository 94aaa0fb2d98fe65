//! The request path against scripted backends.

use std::sync::Arc;

use futures::future::join_all;

use super::*;
use crate::{
    cache::L1Config,
    profile::{Section, SourceStatus, fixtures},
    sources::{
        Source, SourceKind, Sources,
        fake::{FakeSource, fake_sources},
    },
};

const PARTIAL_TTL: Duration = Duration::from_secs(1);

fn profiles(sources: Sources) -> Profiles {
    let cache = ProfileCache::new(L1Config {
        max_bytes: 1 << 20,
        ttl: Duration::from_secs(300),
    });
    let fanout = Fanout::new(sources, [Duration::from_millis(500); 4]);
    let catalog = Arc::new(Catalog::new(fixtures::catalog()));
    Profiles::new(cache, fanout, catalog, PARTIAL_TTL)
}

fn calls(fakes: &[Arc<FakeSource>; 4]) -> [usize; 4] {
    [0, 1, 2, 3].map(|i| fakes[i].calls())
}

#[tokio::test]
async fn a_thousand_concurrent_misses_cost_one_read_per_backend() {
    let (sources, fakes) = fake_sources(|f| f.delayed(Duration::from_millis(20)));
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let reads = (0..1000).map(|_| profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None));
    let served = join_all(reads).await;
    assert!(served.iter().all(Result::is_ok));
    assert_eq!(calls(&fakes), [1, 1, 1, 1]);
    let loaded = served
        .iter()
        .filter(|s| {
            matches!(
                s,
                Ok(Served {
                    tier: Tier::Sources,
                    ..
                })
            )
        })
        .count();
    assert_eq!(loaded, 1, "one caller loads, the others wait for it");
}

#[tokio::test(start_paused = true)]
async fn a_second_read_is_a_hit_until_it_is_older_than_the_callers_max_age() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let first = profiles
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(first.tier, Tier::Sources);
    tokio::time::advance(Duration::from_secs(10)).await;
    let second = profiles
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(second.tier, Tier::L1);
    assert_eq!(second.entry.age(), Duration::from_secs(10));
    let fresh = Freshness::MaxAge(Duration::from_secs(5));
    let third = profiles
        .get(customer, SectionSet::ALL, fresh, None)
        .await
        .unwrap();
    assert_eq!(third.tier, Tier::Sources);
    assert_eq!(calls(&fakes), [2, 2, 2, 2]);
}

#[tokio::test]
async fn a_mask_reads_only_its_backends_and_a_wider_mask_later_reads_the_rest() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let billing = SectionSet::of(&[Section::Billing]);
    let served = profiles
        .get(customer, billing, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert!(served.entry.profile.billing.is_some());
    assert_eq!(
        served.entry.profile.sources[SourceKind::Orders.index()].status,
        SourceStatus::Skipped
    );
    assert_eq!(calls(&fakes), [1, 0, 0, 1]);
    // The cached entry covers billing: a second billing read is a hit.
    let again = profiles
        .get(customer, billing, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(again.tier, Tier::L1);
    // Shipments are not covered: fulfilment is read, and billing again so the entry never
    // narrows.
    let shipments = SectionSet::of(&[Section::Shipments]);
    let wider = profiles
        .get(customer, shipments, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(wider.tier, Tier::Sources);
    assert!(wider.entry.profile.billing.is_some() && wider.entry.profile.shipments.is_some());
    assert_eq!(calls(&fakes), [2, 0, 1, 2]);
}

#[tokio::test]
async fn bypass_reads_the_backends_and_leaves_the_cache_alone() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let served = profiles
        .get(customer, SectionSet::ALL, Freshness::Bypass, None)
        .await
        .unwrap();
    assert_eq!(served.tier, Tier::Sources);
    assert!(profiles.cache().get(customer).await.is_none());
    assert_eq!(calls(&fakes), [1, 1, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn a_partial_profile_is_reused_only_briefly() {
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Billing => f.failing(),
        _ => f,
    });
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let first = profiles
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert!(!first.entry.profile.is_complete());
    let during = profiles
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(during.tier, Tier::L1);
    tokio::time::advance(PARTIAL_TTL).await;
    let after = profiles
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(after.tier, Tier::Sources);
    assert_eq!(calls(&fakes)[SourceKind::Billing.index()], 2);
}

#[tokio::test]
async fn unknown_customers_and_dead_backends_are_errors_not_profiles() {
    let (sources, _) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.answering(crate::sources::SourceData::Crm(None)),
        _ => f,
    });
    let customer = fixtures::customer();
    let result = profiles(sources)
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await;
    assert_eq!(result.unwrap_err(), ProfileError::NotFound(customer));

    let (sources, _) = fake_sources(FakeSource::failing);
    let result = profiles(sources)
        .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
        .await;
    assert_eq!(result.unwrap_err(), ProfileError::Unavailable(customer));
}
