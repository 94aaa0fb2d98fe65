//! Insights: lifetime value, order count, return rate, the problems open right now and what
//! the agent could do about them.

use chrono::{Datelike, Duration};

pub mod wording;

use self::wording::days;
use super::{ActionKind, Insights, NextBestAction, OpenIssue, OpenIssueKind, Order};
use crate::{
    core::records::{Billing, Identity, Interaction, OrderTotals, Shipment, Tier},
    core::reference::EligibilityReason,
    core::vocab::{Currency, Money, Timestamp},
};

/// A return window closing within this is worth a reminder.
const RETURN_REMINDER: Duration = Duration::days(7);
/// A ticket open this long deserves a follow-up.
const TICKET_FOLLOW_UP: Duration = Duration::days(3);
/// A card expiring within this should be replaced.
const CARD_EXPIRY_WARNING: Duration = Duration::days(45);
/// Poor ratings this recent call for a gesture.
const RECENT_RATING: Duration = Duration::days(30);
/// Most actions suggested at once: an agent reads them during a call.
const MAX_ACTIONS: usize = 8;

/// What the insights are derived from; `None` for a backend that did not answer.
#[derive(Debug, Clone, Copy)]
pub struct InsightInputs<'a> {
    /// CRM identity.
    pub identity: Option<&'a Identity>,
    /// CRM interactions.
    pub interactions: Option<&'a [Interaction]>,
    /// Billing.
    pub billing: Option<&'a Billing>,
    /// Totals over all orders.
    pub totals: OrderTotals,
    /// The customer's currency, from orders or billing.
    pub currency: Option<Currency>,
    /// Recent orders, enriched.
    pub orders: &'a [Order],
    /// Recent shipments.
    pub shipments: Option<&'a [Shipment]>,
}

/// Derives the insights at `now` from what the backends answered.
pub fn derive_insights(inputs: InsightInputs<'_>, now: Timestamp) -> Insights {
    let currency = inputs.currency.unwrap_or(Currency::EUR);
    let totals = inputs.totals;
    let return_rate = match totals.units {
        0 => 0.0,
        units => totals.returned_units as f64 / units as f64,
    };
    let mut issues = Vec::new();
    let mut actions = Vec::new();
    late_shipments(
        inputs.shipments.unwrap_or_default(),
        now,
        &mut issues,
        &mut actions,
    );
    payment_problems(inputs.billing, now, &mut issues, &mut actions);
    closing_return_windows(inputs.orders, now, &mut actions);
    open_tickets(
        inputs.interactions.unwrap_or_default(),
        now,
        &mut issues,
        &mut actions,
    );
    poor_experience(inputs, &issues, now, &mut actions);
    actions.truncate(MAX_ACTIONS);
    Insights {
        lifetime_value: Money::new(currency, totals.gross_minor - totals.refunded_minor),
        order_count: totals.order_count,
        return_rate,
        open_issues: issues,
        next_best_actions: actions,
    }
}

fn late_shipments(
    shipments: &[Shipment],
    now: Timestamp,
    issues: &mut Vec<OpenIssue>,
    actions: &mut Vec<NextBestAction>,
) {
    let mut late: Vec<_> = shipments
        .iter()
        .filter(|s| s.is_late(now))
        .filter_map(|s| Some((s, s.delay(now)?)))
        .collect();
    late.sort_by_key(|(_, delay)| std::cmp::Reverse(*delay));
    for (shipment, delay) in late {
        let reference = shipment.id.to_string();
        issues.push(OpenIssue {
            kind: OpenIssueKind::DelayedShipment,
            reference: reference.clone(),
            summary: wording::late_shipment(shipment, delay),
            since: shipment.promised_at,
        });
        actions.push(NextBestAction {
            kind: ActionKind::OfferFreeShipping,
            message: wording::late_shipment_action(shipment, delay),
            reference,
        });
    }
}

fn payment_problems(
    billing: Option<&Billing>,
    now: Timestamp,
    issues: &mut Vec<OpenIssue>,
    actions: &mut Vec<NextBestAction>,
) {
    let Some(billing) = billing else { return };
    for failed in &billing.failed_payments {
        issues.push(OpenIssue {
            kind: OpenIssueKind::FailedPayment,
            reference: failed.invoice_id.to_string(),
            summary: wording::failed_payment(failed),
            since: failed.failed_at,
        });
        actions.push(NextBestAction {
            kind: ActionKind::UpdatePaymentMethod,
            message: wording::failed_payment_action(failed),
            reference: failed.invoice_id.to_string(),
        });
    }
    let horizon = now + CARD_EXPIRY_WARNING;
    for card in billing.payment_methods.iter().filter(|m| m.is_default) {
        // A card is valid to the end of its expiry month.
        let expires_before_horizon =
            (card.expiry_year, card.expiry_month) < (horizon.year(), horizon.month());
        if expires_before_horizon {
            let verb = if (card.expiry_year, card.expiry_month) < (now.year(), now.month()) {
                "expired"
            } else {
                "expires"
            };
            actions.push(NextBestAction {
                kind: ActionKind::UpdatePaymentMethod,
                // No card digits: every role that reads the insights reads this, some not
                // the cards (`billing.payment_methods`).
                message: format!(
                    "The default card {verb} {:02}/{}: ask the customer to update it",
                    card.expiry_month, card.expiry_year
                ),
                reference: card.id.to_string(),
            });
        }
    }
}

fn closing_return_windows(orders: &[Order], now: Timestamp, actions: &mut Vec<NextBestAction>) {
    let mut closing: Vec<_> = orders
        .iter()
        .flat_map(|order| order.lines.iter().map(move |line| (order, line)))
        .filter(|(_, line)| line.eligibility.reason == EligibilityReason::WithinWindow)
        .filter_map(|(order, line)| Some((order, line, line.eligibility.deadline?)))
        .filter(|(_, _, deadline)| *deadline - now <= RETURN_REMINDER)
        .collect();
    closing.sort_by_key(|(_, _, deadline)| *deadline);
    for (order, line, deadline) in closing {
        let name = match line.product_name.as_str() {
            "" => line.record.sku.to_string(),
            name => format!("{} ({name})", line.record.sku),
        };
        actions.push(NextBestAction {
            kind: ActionKind::RemindReturnWindow,
            message: format!(
                "Return window for {name} from order {} closes in {}",
                order.id,
                days(deadline - now)
            ),
            reference: format!("{}/{}", order.id, line.record.line_number),
        });
    }
}

fn open_tickets(
    interactions: &[Interaction],
    now: Timestamp,
    issues: &mut Vec<OpenIssue>,
    actions: &mut Vec<NextBestAction>,
) {
    for open in interactions.iter().filter(|i| i.status.is_open()) {
        let age = now - open.created_at;
        issues.push(OpenIssue {
            kind: OpenIssueKind::OpenTicket,
            reference: open.id.to_string(),
            summary: wording::open_interaction(open, age),
            since: open.created_at,
        });
        if age >= TICKET_FOLLOW_UP {
            actions.push(NextBestAction {
                kind: ActionKind::FollowUpTicket,
                message: wording::follow_up(open, age),
                reference: open.id.to_string(),
            });
        }
    }
}

fn poor_experience(
    inputs: InsightInputs<'_>,
    issues: &[OpenIssue],
    now: Timestamp,
    actions: &mut Vec<NextBestAction>,
) {
    let poor_rating = inputs
        .interactions
        .unwrap_or_default()
        .iter()
        .find(|i| i.csat.is_some_and(|c| c <= 2) && now - i.updated_at <= RECENT_RATING);
    if let Some(rated) = poor_rating {
        actions.push(NextBestAction {
            kind: ActionKind::OfferGoodwill,
            message: wording::low_rating_action(rated),
            reference: rated.id.to_string(),
        });
        return;
    }
    let valued = inputs
        .identity
        .is_some_and(|i| matches!(i.tier, Tier::Gold | Tier::Platinum));
    if valued && issues.len() >= 2 {
        actions.push(NextBestAction {
            kind: ActionKind::OfferGoodwill,
            message: format!(
                "A {} customer with {} open issues: consider a goodwill gesture",
                inputs.identity.map_or("valued", |i| i.tier.as_str()),
                issues.len()
            ),
            reference: String::new(),
        });
    }
}

#[cfg(test)]
mod tests;
