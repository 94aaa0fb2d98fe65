//! The request path's own costs, without the network: merging four backends' answers into a
//! profile, and serving a cached profile from L1. Data: a typical customer (4 to 6 orders) of
//! a seeded SQLite database, read once through the real sources.
//!
//! `cargo bench --bench profile`

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "support.rs"]
mod support;

use std::hint::black_box;

use c360::{
    app::App,
    core::attention::{AttentionSettings, Rules},
    core::cache::CachedProfile,
    core::db::{Db, PoolOptions},
    core::entry::{EncodedProfile, ServedFrom},
    core::fanout::Priority,
    core::offers::{Context, Envelope, Facts, OfferRules, OfferSettings, OfferStore, OfferTail},
    core::profile::{Assembly, Collected, assemble, collect, enrich_orders},
    core::read::Freshness,
    core::sources::SourceData,
    core::vocab::{CustomerId, FieldSet, Section, SectionSet, SourceSet},
    edge::grpc::status::ApiError,
};
use chrono::Utc;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

struct Fixture {
    app: App,
    customer: CustomerId,
    /// The seeded database's URL.
    url: String,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let (settings, backends, customer, dir) = support::typical_customer().await;
    let app = App::new(&settings, backends).await.unwrap();
    Fixture {
        app,
        customer,
        url: settings.database.url.clone(),
        _dir: dir,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = runtime.block_on(fixture());
    let (profiles, customer) = (fixture.app.profiles().clone(), fixture.customer);

    let outcomes = runtime.block_on(profiles.fanout().gather(customer, SourceSet::ALL, None));
    let catalog = fixture.app.catalog().snapshot();
    c.bench_function(
        "merge: four answers into an enriched profile with insights",
        |b| {
            b.iter_batched(
                || outcomes.clone(),
                |outcomes| black_box(assemble(customer, outcomes, &catalog, Utc::now())),
                BatchSize::SmallInput,
            )
        },
    );
    let Collected::Answers(answers) = collect(customer, outcomes.clone()) else {
        panic!("answers");
    };
    let now = Utc::now();
    let entry = CachedProfile::new(
        EncodedProfile::encode(&answers.clone().into_profile(&catalog, now), now),
        tokio::time::Instant::now(),
        now,
        catalog.fingerprint(),
        answers.unshown(),
    );
    c.bench_function(
        "re-enrich: the answers read back from the entry, enriched from a new catalog, encoded",
        |b| {
            b.iter(|| {
                let answers = entry.answers().unwrap();
                let now = Utc::now();
                black_box(EncodedProfile::encode(
                    &answers.into_profile(&catalog, now),
                    now,
                ))
            })
        },
    );
    let history = outcomes
        .iter()
        .find_map(|o| match &o.result {
            Ok(SourceData::Orders(history)) => Some(history.clone()),
            _ => None,
        })
        .unwrap();
    let shipments = outcomes
        .iter()
        .find_map(|o| match &o.result {
            Ok(SourceData::Fulfilment(shipments)) => Some(shipments.clone()),
            _ => None,
        })
        .unwrap();
    c.bench_function(
        "enrichment: order lines from the catalog, with return eligibility",
        |b| {
            b.iter_batched(
                || history.recent.clone(),
                |orders| {
                    black_box(enrich_orders(
                        orders,
                        Some(&shipments),
                        &catalog,
                        Utc::now(),
                    ))
                },
                BatchSize::SmallInput,
            )
        },
    );
    let profile = match assemble(customer, outcomes.clone(), &catalog, Utc::now()) {
        Assembly::Profile(profile) => *profile,
        other => panic!("{other:?}"),
    };
    c.bench_function(
        "encoding: a merged profile into its cached, encoded form",
        |b| b.iter(|| black_box(EncodedProfile::encode(&profile, Utc::now()))),
    );

    runtime
        .block_on(profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None))
        .unwrap();
    let entry = runtime
        .block_on(profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None))
        .unwrap()
        .entry;
    c.bench_function(
        "response: the wire form of a cached profile, every section",
        |b| {
            b.iter(|| {
                black_box(entry.encoded.wire(
                    SectionSet::ALL,
                    FieldSet::NONE,
                    ServedFrom::L1,
                    entry.age(),
                ))
            })
        },
    );
    c.bench_function(
        "response: the wire form of a cached profile, billing only",
        |b| {
            let billing = SectionSet::of(&[Section::Billing]);
            b.iter(|| {
                black_box(
                    entry
                        .encoded
                        .wire(billing, FieldSet::NONE, ServedFrom::L1, entry.age()),
                )
            })
        },
    );
    c.bench_function("L1 hit: a whole cached profile", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                profiles
                    .get(customer, SectionSet::ALL, Freshness::AnyAge, None)
                    .await
                    .unwrap(),
            )
        })
    });
    // What GetOfferEnvelope adds to a hit, the ledger's read aside: the cached sections
    // decoded, the customer's problems found by the attention queue's rules, and every offer
    // weighed against an agent's limits (with no offer made yet, the most work: none is
    // settled by one already given).
    let problems = Rules::new(&AttentionSettings::default()).unwrap();
    let rules = OfferRules::new(&OfferSettings::default());
    let read = SectionSet::of(&[
        Section::Billing,
        Section::Orders,
        Section::Shipments,
        Section::Interactions,
    ]);
    let envelope = |customer| {
        let (profiles, problems, rules) = (&profiles, &problems, &rules);
        async move {
            let served = (profiles.get(customer, read, Freshness::AnyAge, None))
                .await
                .unwrap();
            let encoded = &served.entry.encoded;
            let shown = encoded.shown().unwrap_or_default();
            let now = Utc::now();
            let facts = Facts::read(encoded, &shown, problems, now);
            let currency = facts.currency.unwrap();
            let context = Context {
                limits: rules.limits(&["agent"], currency),
                top: rules.top(currency),
                made: &[],
                spent_today: 0,
                refund_period: chrono::Duration::days(30),
                now,
            };
            Envelope::new(&facts, &context)
        }
    };
    // The seed's customer with the most offers to weigh: the envelope at its costliest.
    let weighed = |e: &Envelope| e.problems.iter().map(|p| p.allowances.len()).sum::<usize>();
    let (troubled, sample) = (1..=300)
        .filter_map(CustomerId::new)
        .map(|id| (id, runtime.block_on(envelope(id))))
        .max_by_key(|(id, sample)| (weighed(sample), std::cmp::Reverse(*id)))
        .expect("seeded customers");
    let offers = weighed(&sample);
    assert!(offers > 0, "no seeded customer has anything to offer for");
    println!(
        "offer envelope: customer {troubled}, {} problems, {offers} offers weighed",
        sample.problems.len()
    );
    // Where its time goes: the sections decoded, then the problems found in them.
    let served = runtime
        .block_on(profiles.get(troubled, read, Freshness::AnyAge, None))
        .unwrap();
    let encoded = &served.entry.encoded;
    c.bench_function("offer envelope, part: the cached sections decoded", |b| {
        b.iter(|| black_box(encoded.shown()))
    });
    let shown = encoded.shown().unwrap();
    c.bench_function("offer envelope, part: the problems found in them", |b| {
        b.iter(|| black_box(Facts::read(encoded, &shown, &problems, Utc::now())))
    });
    c.bench_function(
        "offer envelope: an agent's, from a cached profile (L1 hit)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(envelope(troubled).await) })
        },
    );
    // What every hit that shows the insights adds for the offers made: one look in the
    // ledger's tail (here for a customer with none, as most are).
    let db = {
        let _inside = runtime.enter();
        Db::connect_lazy(&fixture.url, PoolOptions::default()).unwrap()
    };
    let tail = OfferTail::new(OfferStore::new(db));
    c.bench_function("offers made: a hit's look for them (none made)", |b| {
        b.iter(|| black_box(tail.made(customer)))
    });
    // Every place taken: a miss is refused, and becomes the status the caller gets.
    let held: Vec<_> = (0..profiles.fanout().admission().limit())
        .map(|_| {
            profiles
                .fanout()
                .admit(Priority::Interactive, None)
                .unwrap()
        })
        .collect();
    // Not one of the seed's 300 (the envelope's search above has cached them all).
    let cold = CustomerId::new(1_000_000).unwrap();
    c.bench_function(
        "shed: a miss refused by admission control, as a Status with RetryInfo",
        |b| {
            b.to_async(&runtime).iter(|| async {
                let refused = profiles
                    .get(cold, SectionSet::ALL, Freshness::AnyAge, None)
                    .await
                    .unwrap_err();
                black_box(tonic::Status::from(ApiError::from(refused)))
            })
        },
    );
    drop(held);
    let billing = SectionSet::of(&[Section::Billing]);
    c.bench_function("L1 hit: the billing section", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                profiles
                    .get(customer, billing, Freshness::AnyAge, None)
                    .await
                    .unwrap(),
            )
        })
    });
}

/// Applying a change-feed event: the customer's entry dropped from L1, its generation moved
/// on, its watchers told (a replica without L2, as in this bench).
fn feed_event(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = runtime.block_on(fixture());
    let (profiles, customer) = (fixture.app.profiles().clone(), fixture.customer);
    runtime
        .block_on(profiles.get(customer, SectionSet::ALL, Freshness::AnyAge, None))
        .unwrap();
    c.bench_function("feed event: invalidating one customer", |b| {
        b.to_async(&runtime)
            .iter(|| async { profiles.invalidate(&[customer]).await })
    });
}

criterion_group!(profile, benches, feed_event);
criterion_main!(profile);
