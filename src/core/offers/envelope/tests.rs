use chrono::TimeZone;

use super::*;
use crate::core::offers::{LineState, OfferState};

fn gbp(minor: i64) -> Money {
    Money::new("GBP".parse().unwrap(), minor)
}

fn now() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

fn customer() -> CustomerId {
    CustomerId::new(8).unwrap()
}

fn agent() -> Limits {
    Limits {
        refund_per_customer: 10_000,
        discount_percent: 25,
        free_shipping: true,
        goodwill_credit: 2_000,
        daily_budget: 50_000,
    }
}

fn supervisor() -> Limits {
    Limits {
        refund_per_customer: 50_000,
        discount_percent: 50,
        free_shipping: true,
        goodwill_credit: 10_000,
        daily_budget: 500_000,
    }
}

fn facts() -> Facts {
    let problem = |id: &str, kind, line| Problem {
        id: id.into(),
        kind,
        summary: format!("{id} shown"),
        since: Some(now() - Duration::days(3)),
        line,
    };
    Facts {
        customer: customer(),
        currency: Some("GBP".parse().unwrap()),
        problems: vec![
            problem("late_shipment/89", ProblemKind::LateShipment, None),
            problem("failed_payment/98", ProblemKind::FailedPayment, None),
            problem(
                "order_line/90/1",
                ProblemKind::OrderLine,
                Some(LineState::Returnable {
                    left: gbp(6_798),
                    deadline: now() + Duration::days(10),
                }),
            ),
            problem(
                "order_line/70/2",
                ProblemKind::OrderLine,
                Some(LineState::WindowClosed(now() - Duration::days(5))),
            ),
        ],
        unknown: Vec::new(),
    }
}

fn offer(problem: &str, kind: OfferKind, amount: Amount, agent: &str) -> Offer {
    Offer {
        id: format!("{problem}-{}", kind.as_str()),
        customer: customer(),
        problem: problem.into(),
        kind,
        amount,
        state: OfferState::Recorded,
        agent: agent.into(),
        request_id: "r".into(),
        recorded_at: now() - Duration::hours(1),
        settled_by: None,
        settled_at: None,
        position: 1,
    }
}

fn envelope(limits: Limits, made: &[Offer], spent_today: i64) -> Envelope {
    let context = Context {
        limits,
        top: supervisor(),
        made,
        spent_today,
        refund_period: Duration::days(30),
        now: now(),
    };
    Envelope::new(&facts(), &context)
}

fn allowance<'a>(envelope: &'a Envelope, problem: &str, kind: OfferKind) -> &'a Allowance {
    let found = envelope.problems.iter().find(|p| p.problem.id == problem);
    let found = found.unwrap_or_else(|| panic!("{problem} in {envelope:#?}"));
    (found.allowances.iter().find(|a| a.kind == kind)).unwrap_or_else(|| panic!("{kind:?}"))
}

#[test]
fn a_late_parcel_admits_free_shipping_once_and_says_who_gave_it() {
    let fresh = envelope(agent(), &[], 0);
    let free = allowance(&fresh, "late_shipment/89", OfferKind::FreeShipping);
    assert_eq!(
        (free.most, free.own),
        (Some(Amount::Whole), Some(Amount::Whole))
    );
    assert!(
        free.says.contains("not given for this problem yet"),
        "{}",
        free.says
    );
    let made = [offer(
        "late_shipment/89",
        OfferKind::FreeShipping,
        Amount::Whole,
        "jwt:bob",
    )];
    let after = envelope(agent(), &made, 0);
    let free = allowance(&after, "late_shipment/89", OfferKind::FreeShipping);
    assert_eq!(free.most, None);
    assert!(
        free.says.contains("already given by jwt:bob"),
        "{}",
        free.says
    );
    let verdict = after.judge("late_shipment/89", OfferKind::FreeShipping, Amount::Whole);
    assert!(
        matches!(verdict, Verdict::Refused(Refusal::Beyond(_))),
        "{verdict:?}"
    );
    // The other offers of the problem are still there.
    let credit = allowance(&after, "late_shipment/89", OfferKind::GoodwillCredit);
    assert_eq!(credit.own, Some(Amount::Money(gbp(2_000))));
}

#[test]
fn a_refund_is_the_lines_price_less_what_was_refunded_and_shrinks_after_one() {
    let fresh = envelope(agent(), &[], 0);
    let refund = allowance(&fresh, "order_line/90/1", OfferKind::Refund);
    assert_eq!(refund.most, Some(Amount::Money(gbp(6_798))));
    assert_eq!(refund.own, Some(Amount::Money(gbp(6_798))));
    assert!(
        refund
            .says
            .starts_with("refund up to 67.98 GBP: the line's price less what was refunded"),
        "{}",
        refund.says
    );
    assert!(
        refund.says.contains("your role's limit is 100.00 GBP"),
        "{}",
        refund.says
    );
    let made = [offer(
        "order_line/90/1",
        OfferKind::Refund,
        Amount::Money(gbp(4_000)),
        "jwt:ann",
    )];
    let after = envelope(agent(), &made, 4_000);
    let refund = allowance(&after, "order_line/90/1", OfferKind::Refund);
    assert_eq!(refund.most, Some(Amount::Money(gbp(2_798))));
    let beyond = after.judge(
        "order_line/90/1",
        OfferKind::Refund,
        Amount::Money(gbp(2_799)),
    );
    assert!(
        matches!(beyond, Verdict::Refused(Refusal::Beyond(_))),
        "{beyond:?}"
    );
    let rest = after.judge(
        "order_line/90/1",
        OfferKind::Refund,
        Amount::Money(gbp(2_798)),
    );
    assert_eq!(rest, Verdict::Within);
}

#[test]
fn beyond_the_roles_limit_awaits_approval_and_beyond_the_envelope_is_refused() {
    // 90.00 GBP refunded to the customer this month: 10.00 GBP left of the agent's 100.00.
    let made = [offer(
        "order_line/50/1",
        OfferKind::Refund,
        Amount::Money(gbp(9_000)),
        "jwt:ann",
    )];
    let envelope = envelope(agent(), &made, 0);
    let refund = allowance(&envelope, "order_line/90/1", OfferKind::Refund);
    assert_eq!(refund.own, Some(Amount::Money(gbp(1_000))));
    assert_eq!(refund.most, Some(Amount::Money(gbp(6_798))));
    assert!(
        refund.says.contains("with a supervisor's approval"),
        "{}",
        refund.says
    );
    let asked = |minor| {
        envelope.judge(
            "order_line/90/1",
            OfferKind::Refund,
            Amount::Money(gbp(minor)),
        )
    };
    assert_eq!(asked(1_000), Verdict::Within);
    assert!(matches!(asked(1_001), Verdict::Approval(_)));
    assert!(matches!(asked(6_799), Verdict::Refused(Refusal::Beyond(_))));
    let discount = |p| envelope.judge("late_shipment/89", OfferKind::Discount, Amount::Percent(p));
    assert_eq!(discount(25), Verdict::Within);
    assert!(matches!(discount(30), Verdict::Approval(_)));
    assert!(matches!(discount(60), Verdict::Refused(Refusal::Beyond(_))));
}

#[test]
fn the_days_budget_bounds_every_money_offer_and_is_not_approved_past() {
    let envelope = envelope(agent(), &[], 49_500);
    assert_eq!(envelope.budget_left, Some(gbp(500)));
    let credit = allowance(&envelope, "late_shipment/89", OfferKind::GoodwillCredit);
    assert_eq!(credit.most, Some(Amount::Money(gbp(500))));
    assert!(
        credit.says.contains("your budget today has 5.00 GBP left"),
        "{}",
        credit.says
    );
    let over = envelope.judge(
        "late_shipment/89",
        OfferKind::GoodwillCredit,
        Amount::Money(gbp(501)),
    );
    assert!(
        matches!(over, Verdict::Refused(Refusal::Beyond(_))),
        "{over:?}"
    );
    let spent = envelope_spent(50_000);
    let refund = allowance(&spent, "order_line/90/1", OfferKind::Refund);
    assert_eq!(refund.most, None, "{}", refund.says);
}

fn envelope_spent(spent: i64) -> Envelope {
    envelope(agent(), &[], spent)
}

#[test]
fn a_closed_window_a_failed_payment_and_another_currency_are_refused_with_why() {
    let envelope = envelope(agent(), &[], 0);
    let closed = allowance(&envelope, "order_line/70/2", OfferKind::Refund);
    assert_eq!(closed.most, None);
    assert_eq!(closed.says, "no refund: return window closed on 2 Dec");
    let failed = envelope
        .problems
        .iter()
        .find(|p| p.problem.id == "failed_payment/98");
    let failed = failed.unwrap();
    assert!(failed.allowances.is_empty());
    assert!(
        failed
            .none
            .is_some_and(|why| why.contains("payment method"))
    );
    let verdict = envelope.judge(
        "failed_payment/98",
        OfferKind::GoodwillCredit,
        Amount::Money(gbp(100)),
    );
    assert!(
        matches!(verdict, Verdict::Refused(Refusal::NotFor { .. })),
        "{verdict:?}"
    );
    let euros = Amount::Money(Money::new(Currency::EUR, 100));
    let verdict = envelope.judge("late_shipment/89", OfferKind::GoodwillCredit, euros);
    assert!(
        matches!(verdict, Verdict::Refused(Refusal::Currency { .. })),
        "{verdict:?}"
    );
    let verdict = envelope.judge("late_shipment/404", OfferKind::FreeShipping, Amount::Whole);
    assert!(
        matches!(verdict, Verdict::Refused(Refusal::NoProblem { .. })),
        "{verdict:?}"
    );
    let verdict = envelope.judge("late_shipment/89", OfferKind::Discount, Amount::Whole);
    assert!(
        matches!(verdict, Verdict::Refused(Refusal::Shape(_))),
        "{verdict:?}"
    );
}

#[test]
fn a_role_without_limits_needs_approval_for_everything_and_has_no_budget() {
    let none = Limits::default();
    let envelope = envelope(none, &[], 0);
    let free = allowance(&envelope, "late_shipment/89", OfferKind::FreeShipping);
    assert_eq!((free.most, free.own), (Some(Amount::Whole), None));
    let verdict = envelope.judge("late_shipment/89", OfferKind::FreeShipping, Amount::Whole);
    assert!(matches!(verdict, Verdict::Approval(_)), "{verdict:?}");
    let credit = allowance(&envelope, "late_shipment/89", OfferKind::GoodwillCredit);
    assert_eq!(credit.most, None, "{}", credit.says);
}
