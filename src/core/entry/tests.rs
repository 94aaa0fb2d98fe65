//! The entry format: what clients decode from it, L2's bytes, and the stale-copy rules.

use chrono::Duration as Days;
use prost::Message;

use super::{chunks::CACHE_FIELD, *};
use crate::{
    core::fanout::{Failure, Outcome},
    core::profile::{Answers, Collected, collect},
    core::records::{Invoice, InvoiceStatus},
    core::sources::{SourceData, fixtures},
    core::vocab::{OrderId, SourceKind, SourceStatus},
};

/// What a client decodes from the response [`EncodedProfile::wire`] makes: the decoder the
/// tests read answers with (no server decodes its own responses).
pub(crate) fn decoded(
    entry: &EncodedProfile,
    sections: SectionSet,
    from: ServedFrom,
    age: Duration,
) -> pb::CustomerProfile {
    let bytes = entry.wire(sections, FieldSet::NONE, from, age).to_bytes();
    pb::CustomerProfile::decode(bytes).expect("a CustomerProfile")
}

/// What the backends of `asked` answer for the fixtures' customer, those `failing` failing.
fn answers_of(asked: &[SourceKind], failing: &[SourceKind]) -> Answers {
    let outcomes = asked
        .iter()
        .map(|&kind| Outcome {
            kind,
            result: if failing.contains(&kind) {
                Err(Failure::Unavailable)
            } else {
                Ok(fixtures::source_data(kind))
            },
            fetched_at: fixtures::now(),
            latency: Duration::from_millis(2),
        })
        .collect();
    match collect(fixtures::customer(), outcomes) {
        Collected::Answers(answers) => *answers,
        other => panic!("{other:?}"),
    }
}

fn profile_with(failing: &[SourceKind]) -> Profile {
    answers_of(&SourceKind::ALL, failing).into_profile(&fixtures::catalog(), fixtures::now())
}

pub(crate) fn encoded(failing: &[SourceKind]) -> EncodedProfile {
    EncodedProfile::encode(&profile_with(failing), fixtures::now())
}

#[test]
fn only_the_requested_sections_go_on_the_wire_and_unneeded_sources_read_skipped() {
    let billing = SectionSet::of(&[Section::Billing]);
    let wire = decoded(
        &encoded(&[]),
        billing,
        ServedFrom::L1,
        Duration::from_secs(3),
    );
    assert_eq!(wire.customer_id, "42");
    assert!(wire.billing.is_some());
    assert!(wire.identity.is_none() && wire.orders.is_none() && wire.insights.is_none());
    let statuses: Vec<_> = wire
        .sources
        .iter()
        .map(|s| (s.source(), s.status()))
        .collect();
    assert_eq!(
        statuses,
        [
            (pb::Source::Billing, pb::SourceStatus::Ok),
            (pb::Source::Orders, pb::SourceStatus::Skipped),
            (pb::Source::Fulfilment, pb::SourceStatus::Skipped),
            (pb::Source::Crm, pb::SourceStatus::Ok),
        ]
    );
    let cache = wire.cache.expect("cache info");
    assert_eq!(cache.served_from(), pb::CacheTier::L1);
    assert_eq!(
        cache.age,
        Some(prost_types::Duration {
            seconds: 3,
            nanos: 0
        })
    );
}

#[test]
fn the_chunks_decode_to_every_value_of_the_profile() {
    let wire = decoded(
        &encoded(&[]),
        SectionSet::ALL,
        ServedFrom::Sources,
        Duration::ZERO,
    );
    let identity = wire.identity.expect("identity");
    assert_eq!(
        (identity.email.as_str(), identity.tier()),
        ("ada@example.com", pb::CustomerTier::Gold)
    );
    let balance = wire.billing.and_then(|b| b.balance).expect("balance");
    assert_eq!(
        (balance.currency_code.as_str(), balance.amount_minor),
        ("EUR", 4_999)
    );
    let shipments = wire.shipments.expect("shipments").recent;
    // Shipment 22 was promised 3 days before `now` and is still travelling; 21 arrived a day
    // after its promise.
    assert_eq!(
        shipments[0].delay.as_ref().map(|d| d.seconds),
        Some(3 * 86_400)
    );
    assert_eq!(shipments[1].delay.as_ref().map(|d| d.seconds), Some(86_400));
    let line = &wire.orders.expect("orders").recent[1].lines[0];
    assert_eq!(line.product_name, "Headphones");
    let verdict = line.return_eligibility.as_ref().expect("eligibility");
    assert_eq!(verdict.reason(), pb::ReturnEligibilityReason::WithinWindow);
    let insights = wire.insights.expect("insights");
    assert_eq!(insights.lifetime_value.map(|m| m.amount_minor), Some(7_500));
    assert_eq!(
        insights.next_best_actions[0].kind(),
        pb::ActionKind::OfferFreeShipping
    );
    assert_eq!(wire.interactions.expect("interactions").recent.len(), 2);
}

#[test]
fn insights_are_complete_exactly_when_every_backend_answered() {
    let insights = SectionSet::of(&[Section::Insights]);
    for mask in [SectionSet::ALL, insights] {
        let whole = decoded(&encoded(&[]), mask, ServedFrom::L1, Duration::ZERO);
        assert!(whole.insights.expect("insights").complete, "{mask:?}");
        let partial = decoded(
            &encoded(&[SourceKind::Billing]),
            mask,
            ServedFrom::L1,
            Duration::ZERO,
        );
        let partial = partial.insights.expect("insights from what answered");
        assert!(!partial.complete, "{mask:?}");
        assert_eq!(partial.order_count, 2);
    }
}

#[test]
fn l2_bytes_read_back_to_the_same_profile_time_and_unshown_totals() {
    let loaded_at = fixtures::now() - Days::seconds(7);
    let totals = answers_of(&SourceKind::ALL, &[]).unshown();
    assert!(totals.is_some());
    for failing in [&[][..], &[SourceKind::Billing]] {
        for unshown in [None, totals] {
            let original = encoded(failing);
            let read =
                EncodedProfile::from_l2(original.to_l2(loaded_at, 99, unshown)).expect("readable");
            assert_eq!(read.profile, original, "{failing:?}");
            assert_eq!((read.loaded_at, read.catalog), (loaded_at, 99));
            assert_eq!(read.unshown, unshown);
            assert_eq!(read.can_be_enriched_again(), unshown.is_some());
        }
    }
    // What an older version kept under its own field number (the packed answers) is skipped.
    let mut older = BytesMut::from(&encoded(&[]).to_l2(loaded_at, 99, None)[..]);
    encoding::bytes::encode(1000, &b"packed answers".to_vec(), &mut older);
    let read = EncodedProfile::from_l2(older.freeze()).expect("readable");
    assert_eq!((read.profile, read.unshown), (encoded(&[]), None));
    assert!(
        EncodedProfile::from_l2(Bytes::from_static(b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x7f"))
            .is_err()
    );
    assert!(EncodedProfile::from_l2(Bytes::from_static(b"abc")).is_err());
}

#[test]
fn a_failed_backend_is_stood_in_for_by_its_last_good_copy_marked_stale() {
    let before = encoded(&[]);
    let mut now = encoded(&[SourceKind::Billing, SourceKind::Orders]);
    assert!(!now.has(Section::Billing) && !now.has(Section::Insights));
    now.carry_stale(&before, fixtures::now() - Days::minutes(5));
    let billing = now.sources()[SourceKind::Billing];
    assert_eq!(billing.status, SourceStatus::Stale);
    assert_eq!(billing.fetched_at, Some(fixtures::now()));
    assert_eq!(now.sources()[SourceKind::Crm].status, SourceStatus::Ok);
    let wire = decoded(&now, SectionSet::ALL, ServedFrom::Sources, Duration::ZERO);
    let served_before = decoded(&before, SectionSet::ALL, ServedFrom::L1, Duration::ZERO);
    assert_eq!(wire.billing, served_before.billing);
    assert!(wire.orders.is_some());
    let insights = wire.insights.expect("the last insights stand in");
    assert!(!insights.complete);
}

#[test]
fn a_copy_older_than_allowed_is_not_served() {
    let before = encoded(&[]);
    let mut now = encoded(&[SourceKind::Billing]);
    now.carry_stale(&before, fixtures::now() + Days::seconds(1));
    assert!(!now.has(Section::Billing));
    assert_eq!(
        now.sources()[SourceKind::Billing].status,
        SourceStatus::Unavailable
    );
}

#[test]
fn with_no_backend_answering_the_whole_copy_is_served_stale() {
    let before = encoded(&[]);
    let stale = before.all_stale();
    let statuses: Vec<_> = stale.sources().iter().map(|(_, r)| r.status).collect();
    assert_eq!(statuses, [SourceStatus::Stale; 4]);
    let wire = decoded(&stale, SectionSet::ALL, ServedFrom::L1, Duration::ZERO);
    let fresh = decoded(&before, SectionSet::ALL, ServedFrom::L1, Duration::ZERO);
    assert_eq!((wire.identity, wire.orders), (fresh.identity, fresh.orders));
    let insights = wire.insights.expect("the last insights");
    assert!(
        !insights.complete,
        "no backend answered: they may miss something"
    );
    assert!(wire.sources.iter().all(|r| r.age.is_some()));
}

#[test]
fn the_cache_information_is_what_prost_would_write() {
    let ages = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(3),
        Duration::new(86_400 * 400, 999_999_999),
    ];
    for from in [ServedFrom::L1, ServedFrom::L2, ServedFrom::Sources] {
        for age in ages {
            let mut ours = BytesMut::new();
            encode_cache_info(from, age, &mut ours);
            let served_from = match from {
                ServedFrom::L1 => pb::CacheTier::L1,
                ServedFrom::L2 => pb::CacheTier::L2,
                ServedFrom::Sources => pb::CacheTier::Sources,
            };
            let cache = pb::CacheInfo {
                served_from: served_from as i32,
                age: Some(convert::duration(age)),
            };
            let mut prosts = BytesMut::new();
            encoding::message::encode(CACHE_FIELD, &cache, &mut prosts);
            assert_eq!(ours, prosts, "{from:?} {age:?}");
        }
    }
}

#[test]
fn hidden_payment_methods_leave_the_rest_of_billing_and_come_back_from_l2() {
    let entry = encoded(&[]);
    let full = decoded(&entry, SectionSet::ALL, ServedFrom::L1, Duration::ZERO);
    let billing = full.billing.clone().expect("billing");
    assert!(!billing.payment_methods.is_empty(), "the fixture has cards");
    for sections in [SectionSet::ALL, SectionSet::of(&[Section::Billing])] {
        let bytes = entry
            .wire(sections, FieldSet::ALL, ServedFrom::L1, Duration::ZERO)
            .to_bytes();
        let hidden = pb::CustomerProfile::decode(bytes).expect("a CustomerProfile");
        let seen = hidden.billing.expect("billing");
        assert!(seen.payment_methods.is_empty());
        assert_eq!(
            pb::Billing {
                payment_methods: billing.payment_methods.clone(),
                ..seen
            },
            billing,
            "everything else of billing is served"
        );
    }
    let expected = EncodedProfile::from_l2(entry.to_l2(fixtures::now(), 7, None))
        .expect("read back")
        .profile;
    assert_eq!(expected, entry, "L2 keeps the cards apart as well");
    // Stale copies keep the split too.
    let stale = entry.all_stale();
    let bytes = stale
        .wire(
            SectionSet::ALL,
            FieldSet::ALL,
            ServedFrom::L1,
            Duration::ZERO,
        )
        .to_bytes();
    let seen = pb::CustomerProfile::decode(bytes).expect("a CustomerProfile");
    assert!(seen.billing.expect("billing").payment_methods.is_empty());
}

#[test]
fn fields_that_do_not_parse_are_kept_whole() {
    assert_eq!(split_field(&[0x1a, 0x05, 1], PAYMENT_METHODS_FIELD), None);
    assert_eq!(split_field(&[0x08, 0x01], PAYMENT_METHODS_FIELD), None);
    let (others, chosen) = split_field(
        &[0x08, 0x01, 0x1a, 0x01, 0x07, 0x10, 0x02],
        PAYMENT_METHODS_FIELD,
    )
    .expect("parted");
    assert_eq!(
        (others.as_slice(), chosen.as_slice()),
        (&[0x08, 0x01, 0x10, 0x02][..], &[0x1a, 0x01, 0x07][..])
    );
}

/// The answers an entry made of `answers` (enriched from the fixtures' catalog) gives back.
fn given_back(answers: &Answers) -> Option<Answers> {
    let now = fixtures::now();
    let profile = answers.clone().into_profile(&fixtures::catalog(), now);
    EncodedProfile::encode(&profile, now).answers(answers.unshown())
}

#[test]
fn an_entry_gives_back_the_answers_it_was_made_of_for_every_mix_of_backends() {
    let every = SourceKind::ALL;
    for asked in 1_u8..16 {
        let asked: Vec<_> = every
            .into_iter()
            .filter(|k| asked & (1 << *k as u8) != 0)
            .collect();
        for failing in [&[][..], &[SourceKind::Billing], &[SourceKind::Orders]] {
            if asked.iter().all(|k| failing.contains(k)) {
                continue; // nothing answered: no entry
            }
            let answers = answers_of(&asked, failing);
            assert_eq!(given_back(&answers), Some(answers), "{asked:?} {failing:?}");
        }
    }
    // Every kind of field, set and unset: invoices paid and not, without an order, scores.
    let mut billing = fixtures::billing();
    billing.recent_invoices = vec![
        Invoice {
            id: 5,
            order_id: Some(OrderId::new(11).expect("positive")),
            amount: billing.balance,
            status: InvoiceStatus::Paid,
            issued_at: fixtures::now() - Days::days(40),
            due_at: fixtures::now() - Days::days(10),
            paid_at: Some(fixtures::now() - Days::days(12)),
        },
        Invoice {
            id: 6,
            order_id: None,
            amount: billing.balance,
            status: InvoiceStatus::Open,
            issued_at: fixtures::now() - Days::days(3),
            due_at: fixtures::now() + Days::days(27),
            paid_at: None,
        },
    ];
    let mut crm = fixtures::crm();
    crm.interactions[1].csat = Some(4);
    let outcome = |data: SourceData| Outcome {
        kind: data.kind(),
        result: Ok(data),
        fetched_at: fixtures::now(),
        latency: Duration::from_millis(1),
    };
    let outcomes = vec![
        outcome(SourceData::Billing(Some(billing))),
        outcome(SourceData::Crm(Some(crm))),
        outcome(fixtures::source_data(SourceKind::Orders)),
        outcome(SourceData::Fulfilment(vec![])),
    ];
    let Collected::Answers(answers) = collect(fixtures::customer(), outcomes) else {
        panic!("answers");
    };
    assert_eq!(given_back(&answers).as_ref(), Some(&*answers));
}

#[test]
fn an_entry_without_its_order_totals_or_with_stale_data_gives_no_answers_back() {
    let answers = answers_of(&SourceKind::ALL, &[]);
    let entry = encoded(&[]);
    assert!(entry.answers(answers.unshown()).is_some());
    assert_eq!(entry.answers(None), None, "orders, but not their totals");
    assert_eq!(
        entry.all_stale().answers(answers.unshown()),
        None,
        "a stale copy is not what the backends answered"
    );
    // Without orders, nothing needs the totals.
    let no_orders = answers_of(&[SourceKind::Crm, SourceKind::Billing], &[]);
    assert_eq!(no_orders.unshown(), None);
    assert_eq!(given_back(&no_orders), Some(no_orders));
}
