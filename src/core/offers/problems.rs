//! A customer's open problems, as a cached profile shows them: the attention queue's reasons
//! (a late parcel, a failed payment, an interaction past its target, repeated contacts, a low
//! rating), derived by the queue's own rules so that a problem here is an item there, and the
//! recent order lines a refund may be asked for — returnable now, or no longer and why. What
//! a backend did not answer is said, never guessed: its problems are missing, and the envelope
//! says so.

use c360_proto as pb;
use chrono::Duration;

use crate::core::{
    attention::{Answered, Reason, Rules, derive},
    convert::back::time,
    entry::EncodedProfile,
    vocab::{Currency, CustomerId, Money, SourceKind, SourceStatus, Timestamp},
};

/// How far back an order line that can no longer be refunded is still shown, with why: the
/// fortnight a customer may still call about it.
const RECENT: Duration = Duration::days(14);

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// A parcel past its promise, not delivered.
    LateShipment,
    /// A payment that failed and has not been paid since.
    FailedPayment,
    /// An interaction open past its target.
    OverdueInteraction,
    /// Contacts repeating within a period.
    RepeatContact,
    /// A low rating on a recent interaction.
    LowSatisfaction,
    /// An order line a refund may be asked for.
    OrderLine,
}

impl ProblemKind {
    fn of(reason: Reason) -> Self {
        match reason {
            Reason::LateShipment => Self::LateShipment,
            Reason::FailedPayment => Self::FailedPayment,
            Reason::OverdueInteraction => Self::OverdueInteraction,
            Reason::RepeatContact => Self::RepeatContact,
            Reason::LowSatisfaction => Self::LowSatisfaction,
        }
    }
}

/// Whether an order line may be refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineState {
    /// Within its return window: up to `left` (its units not returned, at their price).
    Returnable {
        /// What is left to refund.
        left: Money,
        /// The window's end.
        deadline: Timestamp,
    },
    /// Its window closed then.
    WindowClosed(Timestamp),
    /// The product cannot be returned.
    NotReturnable,
}

/// One open problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `late_shipment/89`, `order_line/90/1`: the attention item's reason and cause, or the
    /// order and line number.
    pub id: String,
    /// What kind.
    pub kind: ProblemKind,
    /// What shows it, in the agent's words.
    pub summary: String,
    /// Since when it is open, where known.
    pub since: Option<Timestamp>,
    /// For an order line, whether it may be refunded.
    pub line: Option<LineState>,
}

/// What a profile says of a customer's problems now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Who.
    pub customer: CustomerId,
    /// The currency the customer pays in (billing's, else the orders'); `None` when neither
    /// answered.
    pub currency: Option<Currency>,
    /// The open problems, attention's first, then the order lines, newest order first.
    pub problems: Vec<Problem>,
    /// The backends that did not answer, and what that leaves unknown.
    pub unknown: Vec<String>,
}

/// What a backend's silence leaves unknown.
fn unknown_without(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Billing => "failed payments",
        SourceKind::Orders => "order lines to refund",
        SourceKind::Fulfilment => "late parcels and return windows",
        SourceKind::Crm => "overdue interactions, repeat contacts and low ratings",
    }
}

impl Facts {
    /// The problems `encoded` (its sections decoded as `shown`) shows at `now`, the queue's
    /// by `rules`.
    pub fn read(
        encoded: &EncodedProfile,
        shown: &pb::CustomerProfile,
        rules: &Rules,
        now: Timestamp,
    ) -> Self {
        let customer = encoded.customer();
        let answered = |kind| encoded.sources()[kind].status == SourceStatus::Ok;
        let unknown = SourceKind::ALL
            .into_iter()
            .filter(|kind| !answered(*kind))
            .map(|kind| {
                let status = encoded.sources()[kind].status;
                format!(
                    "{kind} did not answer ({status:?}): {} unknown",
                    unknown_without(kind)
                )
            })
            .collect();
        let records = Answered::read_back(encoded, shown);
        let derived = derive(customer, records.inputs(), rules, now);
        let mut items = derived.items;
        items.sort_by(|a, b| (a.due, &a.key).cmp(&(b.due, &b.key)));
        let mut problems: Vec<Problem> = items
            .into_iter()
            .map(|item| Problem {
                id: match item.key.cause.is_empty() {
                    true => item.key.reason.as_str().to_owned(),
                    false => format!("{}/{}", item.key.reason.as_str(), item.key.cause),
                },
                kind: ProblemKind::of(item.key.reason),
                summary: item.evidence,
                since: Some(item.due),
                line: None,
            })
            .collect();
        let orders = shown
            .orders
            .as_ref()
            .filter(|_| answered(SourceKind::Orders));
        if let Some(orders) = orders {
            problems.extend(orders.recent.iter().flat_map(|order| lines(order, now)));
        }
        let money = |m: &Option<pb::Money>| m.as_ref()?.currency_code.parse().ok();
        let currency = (shown.billing.as_ref())
            .filter(|_| answered(SourceKind::Billing))
            .and_then(|billing| money(&billing.balance))
            .or_else(|| orders?.recent.iter().find_map(|order| money(&order.total)));
        Self {
            customer,
            currency,
            problems,
            unknown,
        }
    }
}

/// The lines of `order` a refund may be asked for at `now`, or was lately.
fn lines(order: &pb::Order, now: Timestamp) -> impl Iterator<Item = Problem> + '_ {
    use pb::ReturnEligibilityReason as Why;
    let placed = time(order.placed_at.as_ref());
    order.lines.iter().filter_map(move |line| {
        let eligibility = line.return_eligibility.as_ref()?;
        let deadline = time(eligibility.deadline.as_ref());
        let price = line.unit_price.as_ref()?;
        let currency: Currency = price.currency_code.parse().ok()?;
        let units_left = i64::from((line.quantity - line.returned_quantity).max(0));
        let state = match (eligibility.reason(), deadline) {
            (Why::WithinWindow, Some(deadline)) if deadline > now => LineState::Returnable {
                left: Money::new(currency, units_left * price.amount_minor),
                deadline,
            },
            (Why::WithinWindow | Why::WindowClosed, Some(deadline)) if deadline > now - RECENT => {
                LineState::WindowClosed(deadline)
            }
            (Why::NotReturnable, _) if placed.is_some_and(|at| at > now - RECENT) => {
                LineState::NotReturnable
            }
            _ => return None,
        };
        let name = match line.product_name.is_empty() {
            true => &line.sku,
            false => &line.product_name,
        };
        Some(Problem {
            id: format!("order_line/{}/{}", order.order_id, line.line_number),
            kind: ProblemKind::OrderLine,
            summary: format!(
                "Order {} line {}: {} × {name} at {}, {} returned",
                order.order_id,
                line.line_number,
                line.quantity,
                Money::new(currency, price.amount_minor),
                line.returned_quantity
            ),
            since: placed,
            line: Some(state),
        })
    })
}
