//! The attention queue as kept, over SQLite and Postgres: derived items synced without
//! duplicates however often the same answer comes, causes that clear and come back, one
//! winner among 200 agents claiming one item at once, leases renewed and lapsing, acts on a
//! stale claim refused, every transition in the history, and a second replica (or a restart)
//! seeing the same claims.

use std::sync::Arc;

use c360::core::{
    attention::{Act, Derived, Item, ItemKey, Reason, Refused, Store},
    db::{Db, PoolOptions},
    vocab::{CustomerId, Timestamp},
};
use chrono::Duration;

use crate::helpers::{Backend, TestDatabase};

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn key(customer: i64, reason: Reason, cause: &str) -> ItemKey {
    ItemKey {
        customer: CustomerId::new(customer).unwrap(),
        reason,
        cause: cause.into(),
    }
}

fn item(key: ItemKey, due: &str) -> Item {
    Item {
        evidence: format!("evidence of {} {}", key.reason.as_str(), key.cause),
        action: "act".into(),
        due: t(due),
        key,
    }
}

/// What deriving found for customer 7: these items, every reason known.
fn derived(items: Vec<Item>) -> Derived {
    Derived {
        items,
        known: Reason::ALL.to_vec(),
        next_change: None,
        tier: None,
    }
}

/// A store over a fresh database of `backend`, and the database, for a second store.
async fn store(backend: Backend) -> (Store, Arc<TestDatabase>) {
    let database = Arc::new(TestDatabase::seeded(backend).await);
    (connect(&database).await, database)
}

/// A store of its own over `database`, as another replica (or this one restarted) has.
async fn connect(database: &TestDatabase) -> Store {
    let options = PoolOptions {
        max_connections: 4,
        ..PoolOptions::default()
    };
    Store::new(Db::connect_lazy(&database.url, options).expect("a pool"))
}

fn transitions(history: &[c360::core::attention::Transition]) -> Vec<(String, String)> {
    history
        .iter()
        .map(|h| (h.transition.clone(), h.actor.clone()))
        .collect()
}

async fn deriving_again_changes_nothing_and_a_cause_that_returns_reopens(backend: Backend) {
    let (store, _database) = store(backend).await;
    let customer = CustomerId::new(7).unwrap();
    let late = key(7, Reason::LateShipment, "70");
    let unpaid = key(7, Reason::FailedPayment, "71");
    let both = derived(vec![
        item(late.clone(), "2026-12-01T12:00:00Z"),
        item(unpaid.clone(), "2026-12-02T12:00:00Z"),
    ]);
    let now = t("2026-12-05T10:00:00Z");
    let first = store.sync(customer, &both, now).await.unwrap();
    assert_eq!(first.created, 2);
    // A replayed feed, three times over, with a restart between: nothing new.
    for _ in 0..3 {
        let again = store.sync(customer, &both, now).await.unwrap();
        assert_eq!((again.created, again.reopened, again.cleared), (0, 0, 0));
    }
    let replica = connect(&_database).await;
    assert_eq!(replica.sync(customer, &both, now).await.unwrap().created, 0);
    let open = store.open(10).await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].cause, "70", "earliest due first");

    // The parcel arrives: its item clears; it goes missing again: the same item reopens.
    let paid_only = derived(vec![item(unpaid.clone(), "2026-12-02T12:00:00Z")]);
    assert_eq!(
        store.sync(customer, &paid_only, now).await.unwrap().cleared,
        1
    );
    assert_eq!(store.open(10).await.unwrap().len(), 1);
    let later = now + Duration::hours(1);
    assert_eq!(
        store.sync(customer, &both, later).await.unwrap().reopened,
        1
    );
    let reopened = store.get(&late).await.unwrap().expect("kept");
    assert_eq!(reopened.state, "open");
    assert_eq!(
        reopened.due_us,
        t("2026-12-01T12:00:00Z").timestamp_micros()
    );
    let history = transitions(&store.history(&late).await.unwrap());
    let c360 = |what: &str| (what.to_owned(), "c360".to_owned());
    assert_eq!(
        history,
        [c360("created"), c360("cleared"), c360("reopened")]
    );

    // A backend that did not answer clears nothing of its reasons.
    let unknown = Derived::default();
    assert_eq!(
        store.sync(customer, &unknown, later).await.unwrap().cleared,
        0
    );
    assert_eq!(store.open(10).await.unwrap().len(), 2);
}

async fn two_hundred_agents_claiming_one_item_at_once_make_one_winner(backend: Backend) {
    let (store, _database) = store(backend).await;
    let customer = CustomerId::new(7).unwrap();
    let late = key(7, Reason::LateShipment, "70");
    let now = t("2026-12-05T10:00:00Z");
    let found = derived(vec![item(late.clone(), "2026-12-01T12:00:00Z")]);
    store.sync(customer, &found, now).await.unwrap();
    let store = Arc::new(store);
    let claims: Vec<_> = (0..200)
        .map(|n| {
            let (store, late) = (store.clone(), late.clone());
            tokio::spawn(async move {
                let agent = format!("agent-{n}");
                let claim = store.claim(&late, &agent, Duration::minutes(5), now).await;
                (agent, claim.expect("the database answers"))
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut losers = 0;
    for claim in claims {
        match claim.await.unwrap() {
            (agent, Ok(claim)) => winners.push((agent, claim)),
            (_, Err(Refused::ClaimedByOther { .. })) => losers += 1,
            (agent, Err(other)) => panic!("{agent} was refused for another reason: {other}"),
        }
    }
    let names: Vec<&str> = winners
        .iter()
        .map(|(agent, _)| agent.as_str())
        .take(5)
        .collect();
    assert_eq!(winners.len(), 1, "winners: {names:?}…");
    assert_eq!(losers, 199);
    let (winner, claim) = &winners[0];
    assert_eq!(claim.version, 1);
    let kept = store.get(&late).await.unwrap().unwrap();
    assert_eq!(kept.claimed_by.as_deref(), Some(winner.as_str()));
    // One claim in the history, by the winner.
    let history = transitions(&store.history(&late).await.unwrap());
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1], ("claimed".to_owned(), winner.clone()));
}

async fn a_lapsed_lease_goes_back_with_its_age_and_its_stale_claim_is_refused(backend: Backend) {
    let (store, database) = store(backend).await;
    let customer = CustomerId::new(7).unwrap();
    let late = key(7, Reason::LateShipment, "70");
    let t0 = t("2026-12-05T10:00:00Z");
    let due = "2026-12-01T12:00:00Z";
    store
        .sync(customer, &derived(vec![item(late.clone(), due)]), t0)
        .await
        .unwrap();
    let lease = Duration::seconds(60);
    let ana = store.claim(&late, "ana", lease, t0).await.unwrap().unwrap();
    // Claiming again is the same claim.
    let again = store
        .claim(&late, "ana", lease, t0 + Duration::seconds(1))
        .await;
    assert_eq!(again.unwrap(), Ok(ana));
    // Renewed while she works.
    let act = |agent, version, at| Act {
        key: &late,
        agent,
        version,
        now: at,
    };
    let renewed = store
        .renew(act("ana", ana.version, t0 + Duration::seconds(30)), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        renewed.lease_until_us,
        (t0 + Duration::seconds(90)).timestamp_micros()
    );
    // Another replica sees her claim, as a restarted one would.
    let replica = connect(&database).await;
    let busy = replica
        .claim(&late, "ben", lease, t0 + Duration::seconds(60))
        .await;
    assert!(matches!(busy.unwrap(), Err(Refused::ClaimedByOther { by, .. }) if by == "ana"));

    // She goes away: the lease lapses, the item is back with its original due, Ben takes it.
    let t1 = t0 + Duration::seconds(120);
    let ben = replica
        .claim(&late, "ben", lease, t1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ben.version, 2);
    let kept = store.get(&late).await.unwrap().unwrap();
    assert_eq!(kept.due_us, t(due).timestamp_micros());
    // Ana's claim is stale: she can neither resolve nor renew nor release with it.
    let stale = Err(Refused::Stale { current: 2 });
    let resolved = store.resolve(act("ana", 1, t1), "contacted").await.unwrap();
    assert_eq!(resolved, stale);
    let renewed = store.renew(act("ana", 1, t1), lease).await.unwrap();
    assert_eq!(renewed.map(drop), stale);
    assert_eq!(store.release(act("ana", 1, t1)).await.unwrap(), stale);
    // Ben resolves it; then nothing more can be done to it.
    let done = store.resolve(act("ben", 2, t1 + Duration::seconds(5)), "offer made");
    assert_eq!(done.await.unwrap(), Ok(()));
    let kept = store.get(&late).await.unwrap().unwrap();
    assert_eq!(
        (kept.state.as_str(), kept.outcome.as_deref()),
        ("resolved", Some("offer made"))
    );
    let closed = store
        .claim(&late, "cy", lease, t1 + Duration::seconds(6))
        .await;
    assert_eq!(closed.unwrap(), Err(Refused::NotOpen("resolved".into())));
    // Deriving the same cause again leaves it resolved; once the cause clears and comes back,
    // it is open again.
    let same = derived(vec![item(late.clone(), due)]);
    let t2 = t1 + Duration::seconds(10);
    assert_eq!(store.sync(customer, &same, t2).await.unwrap().reopened, 0);
    assert_eq!(store.get(&late).await.unwrap().unwrap().state, "resolved");
    store
        .sync(customer, &derived(Vec::new()), t2)
        .await
        .unwrap();
    assert_eq!(store.sync(customer, &same, t2).await.unwrap().reopened, 1);
    // The history replays it all.
    let history = transitions(&store.history(&late).await.unwrap());
    let by = |what: &str, who: &str| (what.to_owned(), who.to_owned());
    assert_eq!(
        history,
        [
            by("created", "c360"),
            by("claimed", "ana"),
            by("renewed", "ana"),
            by("expired", "ana"),
            by("claimed", "ben"),
            by("resolved", "ben"),
            by("cleared", "c360"),
            by("reopened", "c360"),
        ]
    );
}

async fn leases_lapse_in_a_sweep_and_an_agents_own_older_claim_is_fenced(backend: Backend) {
    let (store, _database) = store(backend).await;
    let customer = CustomerId::new(7).unwrap();
    let late = key(7, Reason::LateShipment, "70");
    let t0 = t("2026-12-05T10:00:00Z");
    let found = derived(vec![item(late.clone(), "2026-12-01T12:00:00Z")]);
    store.sync(customer, &found, t0).await.unwrap();
    store
        .claim(&late, "ana", Duration::seconds(60), t0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(store.expire(t0 + Duration::seconds(59)).await.unwrap(), 0);
    assert_eq!(store.expire(t0 + Duration::seconds(60)).await.unwrap(), 1);
    let kept = store.get(&late).await.unwrap().unwrap();
    assert_eq!((kept.claimed_by, kept.version), (None, 1));
    // She comes back and claims it again: her first claim's version no longer acts, even
    // for her (a second tab, a retried request).
    let t1 = t0 + Duration::seconds(90);
    let again = store.claim(&late, "ana", Duration::seconds(60), t1).await;
    assert_eq!(again.unwrap().unwrap().version, 2);
    let act = |version| Act {
        key: &late,
        agent: "ana",
        version,
        now: t1,
    };
    let old = store.resolve(act(1), "contacted").await.unwrap();
    assert_eq!(old, Err(Refused::Stale { current: 2 }));
    assert_eq!(store.resolve(act(2), "contacted").await.unwrap(), Ok(()));
}

crate::over_both_backends!(
    deriving_again_changes_nothing_and_a_cause_that_returns_reopens,
    two_hundred_agents_claiming_one_item_at_once_make_one_winner,
    a_lapsed_lease_goes_back_with_its_age_and_its_stale_claim_is_refused,
    leases_lapse_in_a_sweep_and_an_agents_own_older_claim_is_fenced,
);

/// The queue kept live by a replica over `backend`: a parcel whose promise passes with no row
/// changing becomes an item then, not before, and its delivery clears it.
async fn a_parcel_becomes_late_with_no_row_changing_and_clears_on_delivery(backend: Backend) {
    use c360::core::{attention::Live, attention::Rules, db::Bind};
    let app = crate::helpers::spawn_app(backend).await;
    let store = Store::new(app.db.clone());
    let rules = Rules::new(&Default::default()).unwrap();
    let live = Live::new(app.profiles.clone(), store.clone(), rules, None);
    let _running = AbortOnDrop(tokio::spawn(live.run()));
    let parcel = key(5, Reason::LateShipment, "990001");
    let promised = chrono::Utc::now() + Duration::seconds(2);
    app.db
        .execute(
            "INSERT INTO shipments (id, order_id, customer_id, carrier, tracking_number, status, \
             promised_at, created_at) VALUES (990001, 1, 5, 'DHL', 'LATE1', 'in_transit', $1, $2)",
            &[Bind::Time(promised), Bind::Time(chrono::Utc::now())],
        )
        .await
        .unwrap();
    // Kept open from the promise on, and not before.
    let seen_at = loop {
        let kept = store.get(&parcel).await.unwrap();
        if kept.is_some_and(|k| k.state == "open") {
            break chrono::Utc::now();
        }
        assert!(
            chrono::Utc::now() < promised + Duration::seconds(8),
            "the parcel never became an item"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(seen_at >= promised, "an item before its parcel was late");
    let kept = store.get(&parcel).await.unwrap().unwrap();
    assert_eq!(kept.due_us, promised.timestamp_micros());
    assert!(
        kept.evidence.starts_with("Shipment 990001 (DHL LATE1)"),
        "{}",
        kept.evidence
    );

    // Delivered: the commit clears it.
    app.db
        .execute(
            "UPDATE shipments SET status = 'delivered', delivered_at = $1 WHERE id = 990001",
            &[Bind::Time(chrono::Utc::now())],
        )
        .await
        .unwrap();
    let cleared = crate::helpers::eventually(std::time::Duration::from_secs(8), || async {
        store
            .get(&parcel)
            .await
            .unwrap()
            .is_some_and(|k| k.state == "cleared")
    })
    .await;
    assert!(cleared.is_some(), "delivery did not clear the item");
}

/// Aborts the task when the test ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

mod live {
    use super::*;

    crate::over_both_backends!(a_parcel_becomes_late_with_no_row_changing_and_clears_on_delivery);
}
