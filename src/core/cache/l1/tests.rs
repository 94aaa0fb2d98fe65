//! L1's two rules: an invalidation wins over a load whatever the order of the load's check
//! and insert, and an entry's TTL counts from when its data was read.

use std::sync::Mutex;

use chrono::Utc;
use tokio::time::Instant;

use super::*;
use crate::{core::entry::tests::encoded, core::sources::fixtures};

type Race = Box<dyn FnOnce(&Generations, CustomerId) + Send>;

/// Something to run once, at [`ProfileCache::get_or_load`]'s most delicate moment.
#[derive(Clone, Default)]
pub(super) struct Hook(Arc<Mutex<Option<Race>>>);

impl Hook {
    pub(super) fn run(&self, generations: &Generations, customer: CustomerId) {
        let hook = self.0.lock().expect("not poisoned").take();
        if let Some(hook) = hook {
            hook(generations, customer);
        }
    }
}

fn cache(ttl: Duration) -> ProfileCache {
    let settings = CacheSettings {
        max_bytes: 1 << 20,
        ttl,
        not_found_ttl: Duration::from_secs(5),
        ..CacheSettings::default()
    };
    ProfileCache::new(&settings, Arc::default())
}

/// An entry whose data was read `age` ago.
fn entry(age: Duration) -> Arc<CachedProfile> {
    CachedProfile::new(
        encoded(&[]),
        Instant::now() - age,
        Utc::now() - age,
        0,
        None,
    )
}

async fn load(cache: &ProfileCache, profile: Arc<CachedProfile>) {
    let customer = fixtures::customer();
    cache
        .get_or_load(customer, &|_| true, |_| async move {
            Ok::<_, ()>((profile, ServedFrom::Sources))
        })
        .await
        .expect("loaded");
}

#[tokio::test]
async fn an_invalidation_between_a_loads_check_and_its_insert_still_wins() {
    let cache = cache(Duration::from_secs(300));
    let customer = fixtures::customer();
    // The invalidation lands after the load found its generation unchanged, before moka
    // inserts the entry (an invalidation does not take moka's per-key lock, nor should it:
    // the load holds it for as long as the backends take).
    *cache.before_insert.0.lock().unwrap() = Some(Box::new(|generations, customer| {
        generations.bump(customer);
    }));
    load(&cache, entry(Duration::ZERO)).await;
    assert!(
        cache.get(customer).await.is_none(),
        "an entry loaded before an invalidation was served after it"
    );
    // The next load is cached as usual.
    load(&cache, entry(Duration::ZERO)).await;
    assert!(cache.get(customer).await.is_some());
}

#[tokio::test]
async fn an_entry_expires_a_ttl_after_its_data_was_read_not_after_it_was_cached() {
    // moka keeps its own clock: this test waits in real time, with a wide margin either way.
    let cache = cache(Duration::from_secs(3));
    let customer = fixtures::customer();
    // A copy from L2, read from the backends 2.5 s ago: half a second left.
    load(&cache, entry(Duration::from_millis(2500))).await;
    assert!(cache.get(customer).await.is_some());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        cache.get(customer).await.is_none(),
        "an entry 4 s old was served under a 3 s TTL"
    );
}

#[tokio::test]
async fn a_flush_kills_every_entry_and_every_load_in_flight() {
    let cache = cache(Duration::from_secs(300));
    let customer = fixtures::customer();
    load(&cache, entry(Duration::ZERO)).await;
    *cache.before_insert.0.lock().unwrap() = Some(Box::new(|generations, _| {
        generations.bump_all();
    }));
    cache.invalidate(customer).await;
    load(&cache, entry(Duration::ZERO)).await;
    assert!(cache.get(customer).await.is_none());
}
