use std::time::Duration;

use super::*;
use crate::{
    core::reference::EligibilityReason,
    core::sources::fixtures::{self, catalog, customer, now},
    core::vocab::SourceKind,
};

fn ok(kind: SourceKind) -> Outcome {
    Outcome {
        kind,
        result: Ok(fixtures::source_data(kind)),
        fetched_at: now(),
        latency: Duration::from_millis(3),
    }
}

fn failed(kind: SourceKind, failure: Failure) -> Outcome {
    Outcome {
        kind,
        result: Err(failure),
        fetched_at: now(),
        latency: Duration::from_millis(250),
    }
}

fn profile(outcomes: Vec<Outcome>) -> Profile {
    match assemble(customer(), outcomes, &catalog(), now()) {
        Assembly::Profile(profile) => *profile,
        other => panic!("expected a profile, got {other:?}"),
    }
}

#[test]
fn four_answers_make_a_complete_profile_with_every_section() {
    let profile = profile(SourceKind::ALL.map(ok).into());
    assert!(profile.sources.is_complete());
    assert_eq!(profile.identity, Some(fixtures::identity()));
    assert_eq!(profile.billing, Some(fixtures::billing()));
    assert_eq!(profile.shipments, Some(fixtures::shipments()));
    assert_eq!(profile.interactions.as_ref().map(Vec::len), Some(2));
    let orders = profile.orders.as_ref().expect("orders section");
    assert_eq!(orders.len(), 2);
    assert_eq!(orders[1].lines[0].product_name, "Headphones");
    let insights = profile.insights.as_ref().expect("insights section");
    assert!(profile.insights_complete());
    assert_eq!(insights.order_count, 2);
    for (kind, report) in profile.sources.iter() {
        assert_eq!(report.status, SourceStatus::Ok, "{kind:?}");
        assert_eq!(report.fetched_at, Some(now()));
        assert_eq!(report.latency, Some(Duration::from_millis(3)));
    }
}

#[test]
fn a_failed_backend_leaves_its_section_out_and_says_why() {
    let profile = profile(vec![
        failed(SourceKind::Billing, Failure::Unavailable),
        ok(SourceKind::Orders),
        ok(SourceKind::Fulfilment),
        ok(SourceKind::Crm),
    ]);
    assert!(!profile.sources.is_complete());
    assert_eq!(profile.billing, None);
    let billing = profile.sources[SourceKind::Billing];
    assert_eq!(billing.status, SourceStatus::Unavailable);
    assert_eq!(billing.fetched_at, None);
    assert!(profile.identity.is_some() && profile.orders.is_some());
    assert!(profile.insights.is_some(), "insights from what answered");
    assert!(!profile.insights_complete());
}

#[test]
fn a_late_fulfilment_keeps_orders_but_their_delivery_is_unknown() {
    let profile = profile(vec![
        ok(SourceKind::Orders),
        failed(SourceKind::Fulfilment, Failure::Timeout),
        ok(SourceKind::Crm),
    ]);
    assert_eq!(
        profile.sources[SourceKind::Fulfilment].status,
        SourceStatus::Timeout
    );
    assert_eq!(profile.shipments, None);
    let orders = profile.orders.expect("orders section");
    let reasons: Vec<_> = orders
        .iter()
        .flat_map(|o| &o.lines)
        .map(|l| l.eligibility.reason)
        .collect();
    assert!(
        reasons
            .iter()
            .all(|r| *r == EligibilityReason::DeliveryUnknown
                || *r == EligibilityReason::AlreadyReturned)
    );
}

#[test]
fn backends_that_were_not_asked_are_skipped_and_insights_need_all_four() {
    let profile = profile(vec![ok(SourceKind::Crm), ok(SourceKind::Billing)]);
    assert!(profile.sources.is_complete());
    assert_eq!(profile.orders, None);
    assert_eq!(profile.insights, None);
    for kind in [SourceKind::Orders, SourceKind::Fulfilment] {
        assert_eq!(
            profile.sources[kind],
            crate::core::vocab::SourceReport::SKIPPED
        );
    }
}

#[test]
fn crm_not_knowing_the_customer_means_not_found() {
    let mut crm = ok(SourceKind::Crm);
    crm.result = Ok(SourceData::Crm(None));
    let assembly = assemble(
        customer(),
        vec![ok(SourceKind::Billing), crm],
        &catalog(),
        now(),
    );
    assert_eq!(assembly, Assembly::NotFound);
}

#[test]
fn nothing_answering_means_nothing_to_serve() {
    let outcomes = vec![
        failed(SourceKind::Crm, Failure::Timeout),
        failed(SourceKind::Billing, Failure::Unavailable),
    ];
    assert_eq!(
        assemble(customer(), outcomes, &catalog(), now()),
        Assembly::Unavailable
    );
}
