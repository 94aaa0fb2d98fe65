//! A cached profile's sections read back into the backends' records they show. With the order
//! totals a profile does not show, that is all a catalog change needs to enrich an entry
//! again, so an entry keeps no second copy of what its backends answered. Every function is
//! `None` where the wire holds something this version would not have written: the entry is
//! then read from the backends instead.

use std::str::FromStr;

use c360_proto as pb;
use chrono::DateTime;

use crate::{
    core::records::{
        Billing, FailedPayment, Identity, Interaction, InteractionPriority, Invoice, LineRecord,
        OrderRecord, PaymentMethod, Shipment,
    },
    core::vocab::{Money, Timestamp},
};

/// A time from the wire; `None` when absent or out of range.
pub fn time(at: Option<&prost_types::Timestamp>) -> Option<Timestamp> {
    let at = at?;
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

/// An optional time from the wire: absent is `Some(None)`, unreadable is `None`.
fn maybe_time(at: Option<&prost_types::Timestamp>) -> Option<Option<Timestamp>> {
    match at {
        None => Some(None),
        at => time(at).map(Some),
    }
}

fn money(money: Option<&pb::Money>) -> Option<Money> {
    let money = money?;
    Some(Money::new(
        money.currency_code.parse().ok()?,
        money.amount_minor,
    ))
}

/// An id or key from its text.
fn parse<T: FromStr>(text: &str) -> Option<T> {
    text.parse().ok()
}

/// A domain enum from the wire's number, through the wire's enum `W`.
fn variant<W: TryFrom<i32>, D: TryFrom<W>>(raw: i32) -> Option<D> {
    D::try_from(W::try_from(raw).ok()?).ok()
}

/// CRM's identity.
pub fn identity(identity: &pb::Identity) -> Option<Identity> {
    Some(Identity {
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        email: identity.email.clone(),
        phone: identity.phone.clone(),
        tier: variant::<pb::CustomerTier, _>(identity.tier)?,
        loyalty_points: identity.loyalty_points,
        preferred_channel: variant::<pb::ContactChannel, _>(identity.preferred_channel)?,
        customer_since: time(identity.customer_since.as_ref())?,
    })
}

/// Billing's account.
pub fn billing(billing: &pb::Billing) -> Option<Billing> {
    let method = |m: &pb::PaymentMethod| {
        Some(PaymentMethod {
            id: parse(&m.payment_method_id)?,
            brand: m.brand.clone(),
            last4: m.last4.clone(),
            expiry_month: u32::try_from(m.expiry_month).ok()?,
            expiry_year: m.expiry_year,
            is_default: m.is_default,
        })
    };
    let invoice = |i: &pb::Invoice| {
        Some(Invoice {
            id: parse(&i.invoice_id)?,
            order_id: match i.order_id.as_str() {
                "" => None,
                order => Some(parse(order)?),
            },
            amount: money(i.amount.as_ref())?,
            status: variant::<pb::InvoiceStatus, _>(i.status)?,
            issued_at: time(i.issued_at.as_ref())?,
            due_at: time(i.due_at.as_ref())?,
            paid_at: maybe_time(i.paid_at.as_ref())?,
        })
    };
    let failed = |f: &pb::FailedPayment| {
        Some(FailedPayment {
            invoice_id: parse(&f.invoice_id)?,
            amount: money(f.amount.as_ref())?,
            reason: f.reason.clone(),
            failed_at: time(f.failed_at.as_ref())?,
        })
    };
    Some(Billing {
        balance: money(billing.balance.as_ref())?,
        credit_limit: money(billing.credit_limit.as_ref())?,
        payment_methods: billing
            .payment_methods
            .iter()
            .map(method)
            .collect::<Option<_>>()?,
        recent_invoices: billing
            .recent_invoices
            .iter()
            .map(invoice)
            .collect::<Option<_>>()?,
        failed_payments: billing
            .failed_payments
            .iter()
            .map(failed)
            .collect::<Option<_>>()?,
    })
}

/// The orders' records, without what the catalog added to their lines.
pub fn orders(orders: &pb::Orders) -> Option<Vec<OrderRecord>> {
    let line = |l: &pb::OrderLine| {
        Some(LineRecord {
            line_number: l.line_number,
            sku: parse(&l.sku)?,
            quantity: l.quantity,
            unit_price: money(l.unit_price.as_ref())?,
            returned_quantity: l.returned_quantity,
        })
    };
    let order = |o: &pb::Order| {
        Some(OrderRecord {
            id: parse(&o.order_id)?,
            status: variant::<pb::OrderStatus, _>(o.status)?,
            placed_at: time(o.placed_at.as_ref())?,
            total: money(o.total.as_ref())?,
            lines: o.lines.iter().map(line).collect::<Option<_>>()?,
        })
    };
    orders.recent.iter().map(order).collect()
}

/// Fulfilment's parcels, without the delay computed when they were encoded.
pub fn shipments(shipments: &pb::Shipments) -> Option<Vec<Shipment>> {
    let shipment = |s: &pb::Shipment| {
        Some(Shipment {
            id: parse(&s.shipment_id)?,
            order_id: parse(&s.order_id)?,
            carrier: s.carrier.clone(),
            tracking_number: s.tracking_number.clone(),
            status: variant::<pb::ShipmentStatus, _>(s.status)?,
            promised_at: time(s.promised_at.as_ref())?,
            shipped_at: maybe_time(s.shipped_at.as_ref())?,
            delivered_at: maybe_time(s.delivered_at.as_ref())?,
        })
    };
    shipments.recent.iter().map(shipment).collect()
}

/// CRM's interactions.
pub fn interactions(interactions: &pb::Interactions) -> Option<Vec<Interaction>> {
    let interaction = |i: &pb::Interaction| {
        Some(Interaction {
            id: parse(&i.interaction_id)?,
            channel: variant::<pb::InteractionChannel, _>(i.channel)?,
            subject: i.subject.clone(),
            status: variant::<pb::InteractionStatus, _>(i.status)?,
            csat: match i.csat {
                0 => None,
                score @ 1..=5 => Some(u8::try_from(score).ok()?),
                _ => return None,
            },
            created_at: time(i.created_at.as_ref())?,
            updated_at: time(i.updated_at.as_ref())?,
            // A profile cached before priorities were kept reads as normal.
            priority: variant::<pb::InteractionPriority, _>(i.priority)
                .unwrap_or(InteractionPriority::Normal),
        })
    };
    interactions.recent.iter().map(interaction).collect()
}
