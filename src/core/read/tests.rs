//! The request path against scripted backends.

use std::sync::Arc;

use futures::future::join_all;

use super::*;
use crate::{
    core::cache::CacheSettings,
    core::entry::tests::decoded,
    core::fanout::{ResilienceSettings, SourcesSettings},
    core::sources::{
        Source, SourceData, Sources,
        fake::{FakeLookups, FakeSource, Gate, calls, fake_sources},
        fixtures,
    },
    core::vocab::{PerSource, Section, SourceKind, SourceStatus},
};

const PARTIAL_TTL: Duration = Duration::from_secs(1);
const REFRESH_AFTER: Duration = Duration::from_secs(60);

pub(crate) fn profiles(sources: Sources) -> Profiles {
    profiles_with(sources, ResilienceSettings::default())
}

/// Profiles over `sources`, loads admitted as `resilience` says.
fn profiles_with(sources: Sources, resilience: ResilienceSettings) -> Profiles {
    let settings = CacheSettings {
        max_bytes: 1 << 20,
        ttl: Duration::from_secs(300),
        not_found_ttl: Duration::from_secs(5),
        partial_ttl: PARTIAL_TTL,
        refresh_after: REFRESH_AFTER,
    };
    let cache = ProfileCache::new(&settings, Arc::default());
    let fanout = Fanout::with(
        sources,
        Arc::new(FakeLookups::default()),
        &SourcesSettings::default(),
        &resilience,
    );
    let catalog = Arc::new(Catalog::new(fixtures::catalog()));
    Profiles::new(cache, None, fanout, catalog, settings)
}

async fn get(profiles: &Profiles, freshness: Freshness) -> Served {
    profiles
        .get(fixtures::customer(), SectionSet::ALL, freshness, None)
        .await
        .expect("a profile")
}

fn email(served: &Served) -> String {
    let wire = decoded(
        &served.entry.encoded,
        SectionSet::ALL,
        served.from,
        Duration::ZERO,
    );
    wire.identity.expect("identity").email
}

/// The same number of reads of every backend.
fn each(reads: usize) -> PerSource<usize> {
    PerSource::same(reads)
}

fn crm_with_email(email: &str) -> SourceData {
    let mut crm = fixtures::crm();
    crm.identity.email = email.into();
    SourceData::Crm(Some(crm))
}

#[tokio::test]
async fn a_thousand_concurrent_misses_cost_one_read_per_backend() {
    let (sources, fakes) = fake_sources(|f| f.delayed(Duration::from_millis(20)));
    let profiles = profiles(sources);
    let reads = (0..1000).map(|_| {
        profiles.get(
            fixtures::customer(),
            SectionSet::ALL,
            Freshness::AnyAge,
            None,
        )
    });
    let served = join_all(reads).await;
    assert!(served.iter().all(Result::is_ok));
    assert_eq!(calls(&fakes), each(1));
    let loaded = served
        .iter()
        .filter(|s| {
            matches!(
                s,
                Ok(Served {
                    from: ServedFrom::Sources,
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
    assert_eq!(
        get(&profiles, Freshness::AnyAge).await.from,
        ServedFrom::Sources
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    let second = get(&profiles, Freshness::AnyAge).await;
    assert_eq!(second.from, ServedFrom::L1);
    assert_eq!(second.entry.age(), Duration::from_secs(10));
    let third = get(&profiles, Freshness::MaxAge(Duration::from_secs(5))).await;
    assert_eq!(third.from, ServedFrom::Sources);
    assert_eq!(calls(&fakes), each(2));
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
    assert!(served.entry.encoded.has(Section::Billing));
    assert_eq!(
        served.entry.encoded.sources()[SourceKind::Orders].status,
        SourceStatus::Skipped
    );
    let billing_and_crm = PerSource {
        billing: 1,
        orders: 0,
        fulfilment: 0,
        crm: 1,
    };
    assert_eq!(calls(&fakes), billing_and_crm);
    let again = profiles
        .get(customer, billing, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(again.from, ServedFrom::L1);
    // Shipments are not covered: fulfilment is read, and billing again so the entry never
    // narrows.
    let shipments = SectionSet::of(&[Section::Shipments]);
    let wider = profiles
        .get(customer, shipments, Freshness::AnyAge, None)
        .await
        .unwrap();
    assert_eq!(wider.from, ServedFrom::Sources);
    assert!(
        wider.entry.encoded.has(Section::Billing) && wider.entry.encoded.has(Section::Shipments)
    );
    let widened = PerSource {
        billing: 2,
        orders: 0,
        fulfilment: 1,
        crm: 2,
    };
    assert_eq!(calls(&fakes), widened);
}

#[tokio::test]
async fn bypass_reads_the_backends_and_leaves_the_cache_alone() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    assert_eq!(
        get(&profiles, Freshness::Bypass).await.from,
        ServedFrom::Sources
    );
    assert!(profiles.cache().get(fixtures::customer()).await.is_none());
    assert_eq!(calls(&fakes), each(1));
}

#[tokio::test(start_paused = true)]
async fn a_partial_profile_is_reused_only_briefly() {
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Billing => f.failing(),
        _ => f,
    });
    let profiles = profiles(sources);
    let first = get(&profiles, Freshness::AnyAge).await;
    assert!(!first.entry.encoded.sources().is_complete());
    assert_eq!(get(&profiles, Freshness::AnyAge).await.from, ServedFrom::L1);
    tokio::time::advance(PARTIAL_TTL).await;
    assert_eq!(
        get(&profiles, Freshness::AnyAge).await.from,
        ServedFrom::Sources
    );
    assert_eq!(calls(&fakes).billing, 2);
}

#[tokio::test]
async fn unknown_customers_and_dead_backends_are_errors_not_profiles() {
    let (sources, _) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.answering(SourceData::Crm(None)),
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

#[tokio::test]
async fn an_invalidation_during_a_load_wins_over_the_load() {
    // CRM is held after its read until the test releases it.
    let gate = Arc::new(Gate::default());
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.gated(gate.clone()),
        _ => f,
    });
    let crm = fakes.crm.clone();
    crm.set_data(crm_with_email("old@example.com"));
    let profiles = profiles(sources);

    // 1. A load starts and reads the old email, then waits at the gate.
    let loading = tokio::spawn({
        let profiles = profiles.clone();
        async move { get(&profiles, Freshness::AnyAge).await }
    });
    gate.reached().await;
    // 2. The backend commits a change, and the change is invalidated.
    crm.set_data(crm_with_email("new@example.com"));
    profiles.invalidate(&[fixtures::customer()]).await;
    // 3. The held load finishes with what it read before the change.
    gate.release();
    let held = loading.await.unwrap();
    assert_eq!(email(&held), "old@example.com");
    // 4. It was not cached: the next read loads the new email.
    gate.release();
    let next = get(&profiles, Freshness::AnyAge).await;
    assert_eq!(next.from, ServedFrom::Sources);
    assert_eq!(email(&next), "new@example.com");
    assert_eq!(
        profiles
            .stats()
            .count
            .discarded_loads
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn an_old_hit_is_served_while_one_background_reload_replaces_it() {
    let (sources, fakes) = fake_sources(|f| f);
    let crm = fakes.crm.clone();
    crm.set_data(crm_with_email("old@example.com"));
    let profiles = profiles(sources);
    get(&profiles, Freshness::AnyAge).await;
    crm.set_data(crm_with_email("new@example.com"));
    tokio::time::advance(REFRESH_AFTER).await;

    // Past its refresh age, the entry is still served at once, as many times as asked...
    for _ in 0..5 {
        let served = get(&profiles, Freshness::AnyAge).await;
        assert_eq!(
            (served.from, email(&served).as_str()),
            (ServedFrom::L1, "old@example.com")
        );
    }
    // ...while a single reload runs in the background.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(crm.calls(), 2);
    let refreshed = get(&profiles, Freshness::AnyAge).await;
    assert_eq!(
        (refreshed.from, email(&refreshed).as_str()),
        (ServedFrom::L1, "new@example.com")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_backend_is_served_from_its_last_good_copy_marked_stale() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    let first = get(&profiles, Freshness::AnyAge).await;
    let billing = fakes.billing.clone();
    billing.set_failing(true);
    tokio::time::advance(Duration::from_secs(30)).await;

    let served = get(&profiles, Freshness::MaxAge(Duration::from_secs(10))).await;
    assert_eq!(served.from, ServedFrom::Sources);
    let report = served.entry.encoded.sources()[SourceKind::Billing];
    assert_eq!(report.status, SourceStatus::Stale);
    assert_eq!(
        report.fetched_at,
        first.entry.encoded.sources()[SourceKind::Billing].fetched_at
    );
    let wire = decoded(
        &served.entry.encoded,
        SectionSet::ALL,
        served.from,
        Duration::ZERO,
    );
    let before = decoded(
        &first.entry.encoded,
        SectionSet::ALL,
        first.from,
        Duration::ZERO,
    );
    assert_eq!(wire.billing, before.billing);
    assert_eq!(
        profiles
            .stats()
            .count
            .stale_serves
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // With every backend down, the whole last copy is served stale rather than nothing.
    for (_, fake) in fakes.iter() {
        fake.set_failing(true);
    }
    let all = get(&profiles, Freshness::Bypass).await;
    assert!(
        all.entry
            .encoded
            .sources()
            .iter()
            .all(|(_, r)| r.status == SourceStatus::Stale)
    );
}

/// The names of the products in the served orders.
fn product_names(served: &Served) -> Vec<String> {
    let wire = decoded(
        &served.entry.encoded,
        SectionSet::ALL,
        served.from,
        Duration::ZERO,
    );
    let orders = wire.orders.expect("orders").recent;
    orders
        .into_iter()
        .flat_map(|order| order.lines)
        .map(|line| line.product_name)
        .collect()
}

#[tokio::test]
async fn a_catalog_change_is_applied_to_cached_profiles_without_reading_the_backends() {
    let (sources, fakes) = fake_sources(|f| f);
    let profiles = profiles(sources);
    let first = get(&profiles, Freshness::AnyAge).await;
    assert!(product_names(&first).contains(&"Headphones".to_owned()));
    assert_eq!(calls(&fakes), each(1));

    // One product is renamed; the catalog is swapped, nothing is flushed.
    assert!(
        profiles
            .catalog()
            .replace(fixtures::catalog_naming("Studio Headphones"))
    );
    let next = get(&profiles, Freshness::AnyAge).await;
    assert!(
        product_names(&next).contains(&"Studio Headphones".to_owned()),
        "{:?}",
        product_names(&next)
    );
    assert_eq!(next.from, ServedFrom::L1);
    assert_eq!(calls(&fakes), each(1), "no backend was read again");
    assert_eq!(
        profiles
            .stats()
            .count
            .reenrichments
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Enriched once: the next read is a plain hit.
    let again = get(&profiles, Freshness::AnyAge).await;
    assert_eq!(again.from, ServedFrom::L1);
    assert!(Arc::ptr_eq(&again.entry, &next.entry));
}

#[tokio::test(start_paused = true)]
async fn a_caller_waiting_for_another_callers_load_answers_at_its_own_deadline() {
    let gate = Arc::new(Gate::default());
    let (sources, _) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.gated(gate.clone()),
        _ => f,
    });
    let profiles = profiles(sources);
    // A load with no deadline of its own is held at CRM.
    let loading = tokio::spawn({
        let profiles = profiles.clone();
        async move { get(&profiles, Freshness::AnyAge).await }
    });
    gate.reached().await;
    // A second caller, with 100 ms to go, waits for that load...
    let started = Instant::now();
    let waited = profiles
        .get(
            fixtures::customer(),
            SectionSet::ALL,
            Freshness::AnyAge,
            Some(started + Duration::from_millis(100)),
        )
        .await;
    // ...and answers at its deadline, not when the load ends.
    assert_eq!(waited.unwrap_err(), ProfileError::DeadlineExceeded);
    assert_eq!(started.elapsed(), Duration::from_millis(100));
    gate.release();
    assert_eq!(loading.await.unwrap().from, ServedFrom::Sources);
}

#[tokio::test]
async fn an_unknown_customer_is_remembered_briefly_until_a_change_to_it() {
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.answering(SourceData::Crm(None)),
        _ => f,
    });
    let profiles = profiles(sources);
    let customer = fixtures::customer();
    let ask = || profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None);
    assert_eq!(ask().await.unwrap_err(), ProfileError::NotFound(customer));
    assert_eq!(calls(&fakes).crm, 1);
    // Asked again: answered from memory.
    assert_eq!(ask().await.unwrap_err(), ProfileError::NotFound(customer));
    assert_eq!(calls(&fakes).crm, 1);
    assert_eq!(
        profiles
            .stats()
            .count
            .not_found_hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The customer is created: the change feed's invalidation makes it forgotten.
    fakes.crm.set_data(fixtures::source_data(SourceKind::Crm));
    profiles.invalidate(&[customer]).await;
    assert!(ask().await.is_ok());
    assert_eq!(calls(&fakes).crm, 2);
}

#[tokio::test]
async fn beyond_the_concurrency_limit_loads_are_shed_at_once_and_hits_still_served() {
    let gate = Arc::new(Gate::default());
    let (sources, _) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.gated(gate.clone()),
        _ => f,
    });
    let one_at_a_time = ResilienceSettings {
        initial_concurrency: 1,
        min_concurrency: 1,
        ..Default::default()
    };
    let profiles = profiles_with(sources, one_at_a_time);
    let customer = |n| CustomerId::new(n).expect("positive");
    let read = |n| {
        let profiles = profiles.clone();
        async move {
            profiles
                .get(customer(n), SectionSet::ALL, Freshness::AnyAge, None)
                .await
        }
    };
    // Customer 1 is cached.
    let cached = tokio::spawn(read(1));
    gate.reached().await;
    gate.release();
    cached.await.unwrap().expect("loaded");
    // Customer 2's load takes the one place...
    let loading = tokio::spawn(read(2));
    gate.reached().await;
    // ...so customer 3's is refused at once, while customer 1 is still a hit.
    assert!(matches!(
        read(3).await,
        Err(ProfileError::Overloaded(crate::core::fanout::Shed {
            limit: 1
        }))
    ));
    assert_eq!(read(1).await.expect("a hit").from, ServedFrom::L1);
    // Bulk work has a share of the limit: none while the place is taken.
    let bulk = profiles
        .get_as(
            customer(4),
            SectionSet::ALL,
            Freshness::AnyAge,
            None,
            crate::core::fanout::Priority::Bulk,
        )
        .await;
    assert!(matches!(bulk, Err(ProfileError::Overloaded(_))));
    gate.release();
    assert!(loading.await.unwrap().is_ok());
    assert_eq!(profiles.fanout().admission().shed(), 2);
    // The place is free again.
    assert_eq!(profiles.fanout().admission().in_flight(), 0);
    gate.release();
    assert!(read(3).await.is_ok());
}

#[tokio::test]
async fn bypass_reads_share_a_load_only_if_it_started_after_they_arrived() {
    let gate = Arc::new(Gate::default());
    let (sources, fakes) = fake_sources(|f| match f.kind() {
        SourceKind::Crm => f.gated(gate.clone()),
        _ => f,
    });
    let profiles = profiles(sources);
    let bypass = || {
        let profiles = profiles.clone();
        tokio::spawn(async move { get(&profiles, Freshness::Bypass).await })
    };
    // A bypass read is loading: it has read CRM and is held.
    let first = bypass();
    gate.reached().await;
    // Two more arrive. That load started before them: it cannot answer them.
    let (second, third) = (bypass(), bypass());
    let key = (fixtures::customer(), SourceSet::ALL);
    while profiles.inner.bypasses.tickets(key) < 3 {
        tokio::task::yield_now().await;
    }
    gate.release();
    assert_eq!(first.await.unwrap().from, ServedFrom::Sources);
    // One load, started after both arrived, answers both.
    gate.reached().await;
    gate.release();
    let (second, third) = (second.await.unwrap(), third.await.unwrap());
    assert!(Arc::ptr_eq(&second.entry, &third.entry));
    assert_eq!(calls(&fakes), each(2));
    assert_eq!(
        profiles
            .stats()
            .count
            .coalesced_waits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(profiles.inner.bypasses.in_progress(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_load_no_backend_answered_is_tried_again_while_the_caller_has_time() {
    let (sources, fakes) = fake_sources(|f| f.failing());
    let profiles = profiles(sources);
    // Every backend is down for 300 ms (a database restarting).
    tokio::spawn({
        let fakes = fakes.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for kind in SourceKind::ALL {
                fakes[kind].set_failing(false);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    let served = profiles
        .get(
            fixtures::customer(),
            SectionSet::ALL,
            Freshness::AnyAge,
            Some(deadline),
        )
        .await
        .expect("answered once the backends are back");
    assert!(served.entry.is_complete());
    assert!(profiles.fanout().retries() >= 2);
    // Without time left to wait, the answer is at once: nothing answered.
    for kind in SourceKind::ALL {
        fakes[kind].set_failing(true);
    }
    let other = CustomerId::new(2).expect("positive");
    let started = Instant::now();
    let failed = profiles
        .get(
            other,
            SectionSet::ALL,
            Freshness::AnyAge,
            Some(started + Duration::from_millis(30)),
        )
        .await;
    assert!(failed.is_err());
    assert!(started.elapsed() <= Duration::from_millis(30));
}
