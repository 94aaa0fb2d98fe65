//! The waiting line, the schedule, and derivations that are not whole.

use super::{schedule::take_from, *};

/// `waiting`'s next, as (customer, only a build's, what changed).
fn next(waiting: &mut Waiting, builds: bool) -> Option<(CustomerId, bool, SourceSet)> {
    waiting
        .next(builds)
        .map(|taken| (taken.customer, taken.only_built, taken.changed))
}

fn id(n: i64) -> CustomerId {
    CustomerId::new(n).unwrap()
}

const ALL: SourceSet = SourceSet::ALL;
const CRM: SourceSet = SourceSet::of(&[SourceKind::Crm]);
const ORDERS: SourceSet = SourceSet::of(&[SourceKind::Orders]);

#[test]
fn changes_go_before_a_build_each_customer_once_and_one_being_derived_again_after() {
    let mut waiting = Waiting::default();
    waiting.later(BTreeSet::from([id(1), id(2), id(3)]));
    waiting.urgent(id(9), CRM);
    waiting.urgent(id(2), CRM);
    waiting.urgent(id(9), ORDERS);
    // A change's customer is never only the build's; one the build found too is read whole.
    assert_eq!(
        next(&mut waiting, true),
        Some((id(9), false, CRM.union(ORDERS)))
    );
    assert_eq!(next(&mut waiting, true), Some((id(2), false, ALL)));
    // 9 changes again while it is derived: once more, after, for what changed meanwhile.
    waiting.urgent(id(9), ORDERS);
    assert_eq!(next(&mut waiting, true), Some((id(1), true, ALL)));
    assert_eq!(next(&mut waiting, true), Some((id(3), true, ALL)));
    assert_eq!(next(&mut waiting, true), None);
    assert!(!waiting.done(id(9)), "9 was not the build's");
    assert_eq!(next(&mut waiting, true), Some((id(9), false, ORDERS)));
    assert!(!waiting.done(id(9)));
    assert_eq!(next(&mut waiting, true), None);
    // The build is done with the last of its customers, whichever line took them.
    assert!(!waiting.done(id(1)));
    assert!(!waiting.done(id(2)));
    assert!(waiting.done(id(3)));
}

#[test]
fn a_build_waits_for_a_place_and_one_it_had_none_for_goes_first_again() {
    let mut waiting = Waiting::default();
    waiting.later(BTreeSet::from([id(1), id(2)]));
    waiting.urgent(id(5), CRM);
    // No place for bulk work: changes still go, the build waits.
    assert_eq!(next(&mut waiting, false), Some((id(5), false, CRM)));
    assert_eq!(next(&mut waiting, false), None);
    assert!(waiting.builds());
    assert_eq!(next(&mut waiting, true), Some((id(1), true, ALL)));
    // 1 found no place: first again, and the build is not done without it.
    waiting.put_back(id(1));
    assert!(!waiting.done(id(5)));
    assert_eq!(next(&mut waiting, true), Some((id(1), true, ALL)));
    assert_eq!(next(&mut waiting, true), Some((id(2), true, ALL)));
    assert!(!waiting.builds());
    assert!(!waiting.done(id(2)));
    // One that changed while put back is derived as a change, whole, and ends the build.
    waiting.put_back(id(1));
    waiting.urgent(id(1), CRM);
    assert_eq!(next(&mut waiting, false), Some((id(1), false, ALL)));
    assert_eq!(next(&mut waiting, true), None);
    assert!(waiting.done(id(1)));
}

#[test]
fn a_change_reads_the_backends_that_changed_with_crm_and_none_for_orders_alone() {
    use Section::*;
    let of = |kinds: &[SourceKind]| read_after(SourceSet::of(kinds));
    assert_eq!(of(&[SourceKind::Orders]), None);
    assert_eq!(of(&[]), None);
    assert_eq!(
        of(&[SourceKind::Crm]),
        Some(SectionSet::of(&[Interactions, Identity]))
    );
    assert_eq!(
        of(&[SourceKind::Fulfilment, SourceKind::Orders]),
        Some(SectionSet::of(&[Shipments, Interactions, Identity]))
    );
    assert_eq!(
        of(&[SourceKind::Billing]),
        Some(SectionSet::of(&[Billing, Interactions, Identity]))
    );
    assert_eq!(read_after(SourceSet::ALL), Some(derived_from()));
}

#[test]
fn the_schedule_gives_what_is_due_and_everything_at_the_end_of_time() {
    let due: Mutex<BTreeMap<Timestamp, BTreeSet<CustomerId>>> = Mutex::default();
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    let id = |n| CustomerId::new(n).unwrap();
    {
        let mut due = due.lock().unwrap();
        due.entry(at("2026-12-07T10:00:00Z"))
            .or_default()
            .insert(id(1));
        due.entry(at("2026-12-08T10:00:00Z"))
            .or_default()
            .insert(id(2));
    }
    let take = |now| {
        let mut due = due.lock().unwrap();
        take_from(&mut due, now)
    };
    assert_eq!(take(at("2026-12-07T10:00:00Z")), BTreeSet::from([id(1)]));
    assert!(take(at("2026-12-07T11:00:00Z")).is_empty());
    assert_eq!(take(Timestamp::MAX_UTC), BTreeSet::from([id(2)]));
}

/// A replica's engine over scripted backends, its queue in a SQLite file of `dir`.
async fn engine(
    dir: &tempfile::TempDir,
) -> (
    Arc<Live>,
    Store,
    crate::core::vocab::PerSource<Arc<crate::core::sources::fake::FakeSource>>,
) {
    let (sources, fakes) = crate::core::sources::fake::fake_sources(|fake| fake);
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let db = crate::core::db::Db::connect_or_create(&url, Default::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let store = Store::new(db);
    let rules = Rules::new(&Default::default()).unwrap();
    let profiles = crate::core::read::tests::profiles(sources);
    (
        Live::new(profiles, store.clone(), rules, None),
        store,
        fakes,
    )
}

#[tokio::test]
async fn a_derivation_that_is_not_whole_is_tried_again_later_each_time_until_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let (live, _store, _fakes) = engine(&dir).await;
    let customer = CustomerId::new(7).unwrap();
    let now: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
    let after = |ms| now + chrono::Duration::milliseconds(ms);
    let scheduled =
        |live: &Live| -> Vec<Timestamp> { live.due.lock().unwrap().keys().copied().collect() };
    for _ in 0..3 {
        live.retry_unless_whole(customer, false, now);
    }
    assert_eq!(scheduled(&live), [after(250), after(500), after(1000)]);
    // Whole once: the next miss starts over.
    live.retry_unless_whole(customer, true, now);
    live.take_due(Timestamp::MAX_UTC);
    live.retry_unless_whole(customer, false, now);
    assert_eq!(scheduled(&live), [after(250)]);
    // However many in a row, five minutes apart at most.
    for _ in 0..40 {
        live.retry_unless_whole(customer, false, now);
    }
    assert_eq!(scheduled(&live).last(), Some(&after(300_000)));
}

#[tokio::test]
async fn an_item_whose_backend_failed_when_its_change_came_is_kept_once_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (live, store, fakes) = engine(&dir).await;
    let fulfilment = &fakes[SourceKind::Fulfilment];
    fulfilment.set_failing(true);
    let profiles = live.profiles.clone();
    let running = tokio::spawn(live.run());
    let customer = crate::core::sources::fixtures::customer();
    // The fixtures' parcel 22 is three days late. Its change comes while fulfilment fails.
    let late = super::super::ItemKey {
        customer,
        reason: super::super::Reason::LateShipment,
        cause: "22".into(),
    };
    while fulfilment.calls() == 0 {
        profiles.invalidate_here(&[customer]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(store.get(&late).await.unwrap().is_none());
    // No change comes again: the engine asks again by itself.
    fulfilment.set_failing(false);
    let began = std::time::Instant::now();
    loop {
        let kept = store.get(&late).await.unwrap();
        if kept.is_some_and(|kept| kept.state == "open") {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the late parcel never became an item"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
}

#[tokio::test]
async fn a_build_takes_no_place_a_caller_needs_and_goes_on_once_one_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let (live, store, fakes) = engine(&dir).await;
    let fulfilment = &fakes[SourceKind::Fulfilment];
    let profiles = live.profiles.clone();
    let customer = crate::core::sources::fixtures::customer();
    // The fixtures' customer has an open item: a start's build derives it again.
    live.refresh(customer, chrono::Utc::now(), Priority::Interactive, ALL)
        .await
        .unwrap();
    assert!(!store.open(10).await.unwrap().is_empty());
    let read = fulfilment.calls();
    // Callers' reads hold more places than bulk work may leave them.
    let admission = profiles.fanout().admission().clone();
    let held: Vec<_> = (0..admission.limit() - admission.room(Priority::Bulk) + 1)
        .map(|_| admission.try_admit(Priority::Interactive, None).unwrap())
        .collect();
    assert_eq!(admission.room(Priority::Bulk), 0);
    let shed = admission.shed();
    let running = tokio::spawn(live.clone().run());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fulfilment.calls(), read, "the build took a caller's place");
    assert_eq!(
        admission.shed(),
        shed,
        "the build was refused rather than wait"
    );
    // A caller's read ends: the build goes on by itself.
    drop(held);
    let began = std::time::Instant::now();
    while fulfilment.calls() == read {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the build never went on"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.abort();
}

#[tokio::test]
async fn a_change_reads_only_the_backends_whose_tables_changed_and_keeps_the_other_items() {
    let dir = tempfile::tempdir().unwrap();
    let (live, store, fakes) = engine(&dir).await;
    let customer = crate::core::sources::fixtures::customer();
    let now = chrono::Utc::now();
    // The fixtures' parcel 22 is late: an item of fulfilment's, showing the gold tier.
    let late = super::super::ItemKey {
        customer,
        reason: super::super::Reason::LateShipment,
        cause: "22".into(),
    };
    live.refresh(customer, now, Priority::Interactive, ALL)
        .await
        .unwrap();
    assert_eq!(store.get(&late).await.unwrap().unwrap().tier, "gold");
    let calls = crate::core::sources::fake::calls(&fakes);
    // Orders' tables alone: no reason reads them, nothing is read.
    live.refresh(customer, now, Priority::Interactive, ORDERS)
        .await
        .unwrap();
    assert_eq!(crate::core::sources::fake::calls(&fakes), calls);
    // CRM's: the tier changes; only CRM is read, and the parcel's item is kept, retiered.
    let mut crm = crate::core::sources::fixtures::crm();
    crm.identity.tier = crate::core::records::Tier::Platinum;
    fakes[SourceKind::Crm].set_data(crate::core::sources::SourceData::Crm(Some(crm)));
    live.refresh(customer, now, Priority::Interactive, CRM)
        .await
        .unwrap();
    let after = crate::core::sources::fake::calls(&fakes);
    assert_eq!(after[SourceKind::Crm], calls[SourceKind::Crm] + 1);
    for kind in [
        SourceKind::Fulfilment,
        SourceKind::Billing,
        SourceKind::Orders,
    ] {
        assert_eq!(after[kind], calls[kind], "{kind} was read");
    }
    let kept = store.get(&late).await.unwrap().unwrap();
    assert_eq!(
        (kept.state.as_str(), kept.tier.as_str()),
        ("open", "platinum")
    );
}
