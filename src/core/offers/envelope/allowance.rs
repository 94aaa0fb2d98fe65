//! How much of one offer a problem admits for the caller: the hard bounds (what the problem
//! itself allows, the most any role may give, the caller's budget for the day) and the soft one
//! (the caller's role, beyond which a supervisor approves), each with its reason in the agent's
//! words.

use super::{Allowance, Context};
use crate::core::{
    offers::{Amount, Offer, OfferKind, OfferState, Problem, problems::LineState},
    vocab::{Currency, Money},
};

/// A money bound and what sets it.
struct Bound {
    minor: i64,
    why: String,
}

/// `kind` for `problem`, for the caller `context` describes.
pub(super) fn allowance(
    kind: OfferKind,
    problem: &Problem,
    currency: Option<Currency>,
    budget_left: Option<Money>,
    context: &Context<'_>,
) -> Allowance {
    let named = kind.named();
    let mut reasons = Vec::new();
    if kind.once() {
        let given = (context.made.iter()).find(|o| o.problem == problem.id && o.kind == kind);
        if let Some(given) = given {
            let when = given.recorded_at.format("%-d %b %H:%M");
            let what = match given.amount {
                Amount::Whole => String::new(),
                amount => format!(" ({amount})"),
            };
            let by = match given.state {
                OfferState::AwaitingApproval => format!(
                    "already asked for{what} by {} on {when}, awaiting approval",
                    given.agent
                ),
                _ => format!("already given{what} by {} on {when}", given.agent),
            };
            return refused(kind, format!("no {named}: {by}"), vec![by]);
        }
        reasons.push("not given for this problem yet".to_owned());
    }
    match kind {
        OfferKind::FreeShipping => {
            let own = context.limits.free_shipping;
            reasons.push(match own {
                true => "your role may give it".to_owned(),
                false => "your role needs a supervisor's approval for it".to_owned(),
            });
            let says = format!("{named}: {}", reasons.join("; "));
            Allowance {
                kind,
                most: Some(Amount::Whole),
                own: own.then_some(Amount::Whole),
                says,
                reasons,
            }
        }
        OfferKind::Discount => {
            let (most, own) = (
                context.top.discount_percent,
                context.limits.discount_percent,
            );
            if most == 0 {
                return refused(kind, format!("no {named}: no role may give one"), reasons);
            }
            reasons.push(format!("your role's limit is {own} %"));
            let says = match own.min(most) {
                0 => format!("{named} of up to {most} % only with a supervisor's approval"),
                own if own < most => format!(
                    "{named} of up to {own} %: your role's limit; up to {most} % with a \
                     supervisor's approval"
                ),
                _ => format!("{named} of up to {most} %"),
            };
            Allowance {
                kind,
                most: Some(Amount::Percent(most)),
                own: (own > 0).then_some(Amount::Percent(own.min(most))),
                says,
                reasons,
            }
        }
        OfferKind::Refund | OfferKind::GoodwillCredit => {
            let Some(currency) = currency else {
                let why = "the customer's currency is unknown (billing and orders did not answer)";
                return refused(kind, format!("no {named}: {why}"), reasons);
            };
            let budget = Bound {
                minor: budget_left.map_or(0, |left| left.minor),
                why: format!(
                    "your budget today has {} left",
                    Money::new(currency, budget_left.map_or(0, |left| left.minor))
                ),
            };
            let bounds = match kind {
                OfferKind::Refund => refund_bounds(problem, currency, context),
                _ => goodwill_bounds(currency, context),
            };
            match bounds {
                Err(why) => refused(kind, format!("no {named}: {why}"), vec![why]),
                Ok((data, soft)) => money(kind, currency, [data, budget], soft, reasons),
            }
        }
    }
}

fn refused(kind: OfferKind, says: String, reasons: Vec<String>) -> Allowance {
    Allowance {
        kind,
        most: None,
        own: None,
        says,
        reasons,
    }
}

/// What the problem itself allows of a refund, and what the caller's role does.
fn refund_bounds(
    problem: &Problem,
    currency: Currency,
    context: &Context<'_>,
) -> Result<(Bound, Bound), String> {
    let (left, open_until) = match &problem.line {
        Some(LineState::Returnable { left, deadline }) => (*left, *deadline),
        Some(LineState::WindowClosed(closed)) => {
            return Err(format!(
                "return window closed on {}",
                closed.format("%-d %b")
            ));
        }
        Some(LineState::NotReturnable) => return Err("the product cannot be returned".into()),
        None => return Err("only an order line is refunded".into()),
    };
    let refunds = |within: &dyn Fn(&Offer) -> bool| -> i64 {
        (context.made.iter())
            .filter(|o| o.kind == OfferKind::Refund && within(o))
            .filter_map(|o| o.amount.money())
            .map(|m| m.minor)
            .sum()
    };
    let on_line = refunds(&|o| o.problem == problem.id);
    let since = context.now - context.refund_period;
    let in_period = refunds(&|o| o.recorded_at > since);
    let data = Bound {
        minor: left.minor - on_line,
        why: format!(
            "the line's price less what was refunded is {} (its return window is open until \
             {})",
            Money::new(currency, (left.minor - on_line).max(0)),
            open_until.format("%-d %b")
        ),
    };
    let limit = context.limits.refund_per_customer;
    let soft = Bound {
        minor: limit - in_period,
        why: format!(
            "your role's limit is {} a customer within {} days ({} left)",
            Money::new(currency, limit),
            context.refund_period.num_days(),
            Money::new(currency, (limit - in_period).max(0))
        ),
    };
    Ok((data, soft))
}

/// What any role may give of a goodwill credit (a supervisor approves up to it), and what
/// the caller's role may.
fn goodwill_bounds(currency: Currency, context: &Context<'_>) -> Result<(Bound, Bound), String> {
    let top = context.top.goodwill_credit;
    if top == 0 {
        return Err(format!("no role may give a goodwill credit in {currency}"));
    }
    let data = Bound {
        minor: top,
        why: format!(
            "the most any role may give is {}",
            Money::new(currency, top)
        ),
    };
    let own = context.limits.goodwill_credit;
    let soft = Bound {
        minor: own,
        why: format!(
            "your role's limit is {} a problem",
            Money::new(currency, own)
        ),
    };
    Ok((data, soft))
}

/// A money offer bounded by the least of `hard` (beyond it, refused) and, on the caller's
/// own, by `soft` (beyond it, a supervisor approves).
fn money(
    kind: OfferKind,
    currency: Currency,
    hard: [Bound; 2],
    soft: Bound,
    mut reasons: Vec<String>,
) -> Allowance {
    let named = kind.named();
    reasons.extend(hard.iter().map(|bound| bound.why.clone()));
    reasons.push(soft.why.clone());
    let [a, b] = hard;
    let most = if b.minor < a.minor { b } else { a };
    if most.minor <= 0 {
        return refused(kind, format!("no {named}: {}", most.why), reasons);
    }
    let at = |minor| Money::new(currency, minor);
    let own = soft.minor.min(most.minor);
    let says = match own {
        own if own <= 0 => format!(
            "{named} only with a supervisor's approval, up to {}: {}",
            at(most.minor),
            soft.why
        ),
        own if own < most.minor => format!(
            "{named} up to {}: {}; up to {} with a supervisor's approval ({})",
            at(own),
            soft.why,
            at(most.minor),
            most.why
        ),
        _ => format!(
            "{named} up to {}: {}; {}",
            at(most.minor),
            most.why,
            soft.why
        ),
    };
    Allowance {
        kind,
        most: Some(Amount::Money(at(most.minor))),
        own: (own > 0).then(|| Amount::Money(at(own))),
        says,
        reasons,
    }
}
