use super::*;
use crate::{
    core::profile::enrich_orders,
    core::records::InteractionStatus,
    core::sources::fixtures::{self, catalog, now},
};

fn insights_of(billing: Option<&Billing>, interactions: &[Interaction]) -> Insights {
    let history = fixtures::history();
    let shipments = fixtures::shipments();
    let orders = enrich_orders(history.recent.clone(), Some(&shipments), &catalog(), now());
    let identity = fixtures::identity();
    let inputs = InsightInputs {
        identity: Some(&identity),
        interactions: Some(interactions),
        billing,
        totals: history.totals,
        currency: history.currency,
        orders: &orders,
        shipments: Some(&shipments),
    };
    derive_insights(inputs, now())
}

#[test]
fn lifetime_value_is_net_of_refunds_and_return_rate_counts_units() {
    let insights = insights_of(None, &[]);
    assert_eq!(insights.lifetime_value, Money::new(Currency::EUR, 7_500));
    assert_eq!(insights.order_count, 2);
    assert!((insights.return_rate - 0.25).abs() < f64::EPSILON);
}

#[test]
fn late_parcels_failed_payments_and_open_tickets_are_open_issues() {
    let billing = fixtures::billing();
    let interactions = fixtures::crm().interactions;
    let insights = insights_of(Some(&billing), &interactions);
    let kinds: Vec<_> = insights
        .open_issues
        .iter()
        .map(|i| (i.kind, i.reference.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (OpenIssueKind::DelayedShipment, "22"),
            (OpenIssueKind::FailedPayment, "91"),
            (OpenIssueKind::OpenTicket, "7"),
        ]
    );
    assert!(
        insights.open_issues[0].summary.contains("3 days late"),
        "{}",
        insights.open_issues[0].summary
    );
}

#[test]
fn actions_come_most_urgent_first_with_what_they_are_about() {
    let billing = fixtures::billing();
    let interactions = fixtures::crm().interactions;
    let insights = insights_of(Some(&billing), &interactions);
    let actions: Vec<_> = insights
        .next_best_actions
        .iter()
        .map(|a| (a.kind, a.reference.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (ActionKind::OfferFreeShipping, "22"),
            (ActionKind::UpdatePaymentMethod, "91"),
            // Order 11 was delivered 25 days ago; electronics have 30 days.
            (ActionKind::RemindReturnWindow, "11/1"),
            (ActionKind::FollowUpTicket, "7"),
            // A gold customer with three open issues.
            (ActionKind::OfferGoodwill, ""),
        ]
    );
    let reminder = &insights.next_best_actions[2].message;
    assert!(
        reminder.contains("ELE-1 (Headphones)") && reminder.contains("closes in 5 days"),
        "{reminder}"
    );
}

#[test]
fn an_expiring_default_card_and_a_poor_rating_prompt_actions() {
    let mut billing = fixtures::billing();
    billing.failed_payments.clear();
    billing.payment_methods[0].expiry_year = 2026;
    billing.payment_methods[0].expiry_month = 7;
    let mut rated = fixtures::interaction(8, InteractionStatus::Resolved, 10);
    rated.csat = Some(1);
    let insights = insights_of(Some(&billing), &[rated]);
    let card = insights
        .next_best_actions
        .iter()
        .find(|a| a.kind == ActionKind::UpdatePaymentMethod)
        .expect("card action");
    assert!(
        card.message.contains("default card expires 07/2026") && !card.message.contains("4242"),
        "{}",
        card.message
    );
    let goodwill = insights.next_best_actions.last().expect("actions");
    assert_eq!(
        (goodwill.kind, goodwill.reference.as_str()),
        (ActionKind::OfferGoodwill, "8")
    );
}

#[test]
fn a_fresh_ticket_is_an_issue_but_not_yet_worth_a_follow_up() {
    let insights = insights_of(
        None,
        &[fixtures::interaction(9, InteractionStatus::Pending, 1)],
    );
    assert_eq!(insights.open_issues.len(), 2);
    assert!(
        !insights
            .next_best_actions
            .iter()
            .any(|a| a.kind == ActionKind::FollowUpTicket)
    );
}
