//! The backends' records: what billing, orders, fulfilment and CRM hold about a customer, in
//! c360's own types (no SQL, no protobuf). The sources read them, the return rule and the
//! merge use them.

mod enums;
#[cfg(test)]
pub(crate) mod samples;

pub use enums::{
    ContactChannel, InteractionChannel, InteractionPriority, InteractionStatus, InvoiceStatus,
    MessageAuthor, MessageKind, OrderStatus, ShipmentStatus, Tier,
};

use serde::{Deserialize, Serialize};

use crate::core::vocab::{Currency, Money, OrderId, Sku, Timestamp};

/// Who the customer is (CRM).
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email, lower case.
    pub email: String,
    /// Phone in E.164.
    pub phone: String,
    /// Loyalty tier.
    pub tier: Tier,
    /// Loyalty points.
    pub loyalty_points: i64,
    /// Preferred contact channel.
    pub preferred_channel: ContactChannel,
    /// When the customer joined.
    pub customer_since: Timestamp,
}

/// What the customer owes and how they pay (billing).
#[derive(Debug, Clone, PartialEq)]
pub struct Billing {
    /// Owed now; negative in credit.
    pub balance: Money,
    /// Credit limit.
    pub credit_limit: Money,
    /// Cards on file.
    pub payment_methods: Vec<PaymentMethod>,
    /// Recent invoices, newest first.
    pub recent_invoices: Vec<Invoice>,
    /// Recent failed payments, newest first.
    pub failed_payments: Vec<FailedPayment>,
}

/// A card on file.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentMethod {
    /// Id.
    pub id: i64,
    /// Brand, e.g. "visa".
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month, 1–12.
    pub expiry_month: u32,
    /// Expiry year.
    pub expiry_year: i32,
    /// Default method.
    pub is_default: bool,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    /// Id.
    pub id: i64,
    /// The order it bills.
    pub order_id: Option<OrderId>,
    /// Amount.
    pub amount: Money,
    /// Status.
    pub status: InvoiceStatus,
    /// Issued.
    pub issued_at: Timestamp,
    /// Due.
    pub due_at: Timestamp,
    /// Paid, if it was.
    pub paid_at: Option<Timestamp>,
}

/// A payment that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedPayment {
    /// The invoice.
    pub invoice_id: i64,
    /// Amount.
    pub amount: Money,
    /// Why, e.g. "insufficient_funds".
    pub reason: String,
    /// When.
    pub failed_at: Timestamp,
}

/// An order as the orders system returns it, before enrichment.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRecord {
    /// Id.
    pub id: OrderId,
    /// Status.
    pub status: OrderStatus,
    /// Placed.
    pub placed_at: Timestamp,
    /// Total.
    pub total: Money,
    /// Lines, by line number.
    pub lines: Vec<LineRecord>,
}

/// An order line as the orders system returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRecord {
    /// Line number, from 1.
    pub line_number: i32,
    /// SKU.
    pub sku: Sku,
    /// Units ordered.
    pub quantity: i32,
    /// Price per unit.
    pub unit_price: Money,
    /// Units returned so far.
    pub returned_quantity: i32,
}

impl LineRecord {
    /// Units that could still be returned.
    pub fn returnable_quantity(&self) -> i32 {
        (self.quantity - self.returned_quantity).max(0)
    }
}

/// Totals over all of a customer's orders, not only the recent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderTotals {
    /// Orders, cancelled ones excluded.
    pub order_count: i64,
    /// Sum of line values, minor units.
    pub gross_minor: i64,
    /// Value of returned units, minor units.
    pub refunded_minor: i64,
    /// Units bought.
    pub units: i64,
    /// Units returned.
    pub returned_units: i64,
}

/// What the orders source returns for a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderHistory {
    /// The most recent orders, newest first.
    pub recent: Vec<OrderRecord>,
    /// Totals over every order.
    pub totals: OrderTotals,
    /// The customer's currency, from their orders; `None` without orders.
    pub currency: Option<Currency>,
}

/// A parcel (fulfilment).
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    /// Id.
    pub id: i64,
    /// The order it carries.
    pub order_id: OrderId,
    /// Carrier.
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// Status.
    pub status: ShipmentStatus,
    /// Promised delivery.
    pub promised_at: Timestamp,
    /// Left the warehouse.
    pub shipped_at: Option<Timestamp>,
    /// Delivered.
    pub delivered_at: Option<Timestamp>,
}

impl Shipment {
    /// How late the parcel is (still travelling) or was (delivered) at `now`; `None` when on
    /// time.
    pub fn delay(&self, now: Timestamp) -> Option<chrono::Duration> {
        let arrived_or_now = self.delivered_at.unwrap_or(now);
        let late = arrived_or_now - self.promised_at;
        (late > chrono::Duration::zero()).then_some(late)
    }

    /// Still on its way and past its promise.
    pub fn is_late(&self, now: Timestamp) -> bool {
        self.delivered_at.is_none() && self.delay(now).is_some()
    }
}

/// A ticket, chat, call or email (CRM).
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// Id.
    pub id: i64,
    /// Channel.
    pub channel: InteractionChannel,
    /// Subject.
    pub subject: String,
    /// Status.
    pub status: InteractionStatus,
    /// Satisfaction 1–5, if rated.
    pub csat: Option<u8>,
    /// Opened.
    pub created_at: Timestamp,
    /// Last update.
    pub updated_at: Timestamp,
    /// How urgent CRM ranks it.
    pub priority: InteractionPriority,
}

/// What CRM returns for a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    /// Who they are.
    pub identity: Identity,
    /// Recent interactions, newest first.
    pub interactions: Vec<Interaction>,
}
