//! The domain model of a profile: what the sources return and what c360 serves. No protobuf
//! here; `grpc::convert` maps these types to the wire.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};

use crate::{
    keys::{OrderId, Sku},
    reference::ReturnEligibility,
};

/// A point in time, in UTC.
pub type Timestamp = DateTime<Utc>;

/// An ISO 4217 currency code, stored inline so that `Money` is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro, the default of the reference data.
    pub const EUR: Self = Self(*b"EUR");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters get in (see `FromStr`), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, InvalidValue> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => {
                Ok(Self([a, b, c].map(|x| x.to_ascii_uppercase())))
            }
            _ => Err(InvalidValue::new("currency", raw)),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    /// The currency.
    pub currency: Currency,
    /// Minor units (cents).
    pub minor: i64,
}

impl Money {
    /// `minor` cents of `currency`.
    pub fn new(currency: Currency, minor: i64) -> Self {
        Self { currency, minor }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

/// A backend value that is not one the reference schema allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected {what} value {value:?}")]
pub struct InvalidValue {
    what: &'static str,
    value: String,
}

impl InvalidValue {
    /// `value` is not a valid `what`.
    pub fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.chars().take(64).collect(),
        }
    }
}

/// An enum stored as lower-case text in the backends.
macro_rules! db_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("Stored as `", $text, "`.")] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            /// The text the backends store.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(raw: &str) -> Result<Self, InvalidValue> {
                match raw {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(InvalidValue::new(stringify!($name), raw)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

db_enum!(
    /// Loyalty tier.
    Tier { Standard = "standard", Silver = "silver", Gold = "gold", Platinum = "platinum" }
);
db_enum!(
    /// How a customer prefers to be contacted.
    ContactChannel { Email = "email", Phone = "phone", Sms = "sms", Chat = "chat" }
);
db_enum!(
    /// Invoice status.
    InvoiceStatus {
        Open = "open",
        Paid = "paid",
        Overdue = "overdue",
        PaymentFailed = "payment_failed",
        Refunded = "refunded",
    }
);
db_enum!(
    /// Order status.
    OrderStatus { Placed = "placed", Shipped = "shipped", Delivered = "delivered", Cancelled = "cancelled" }
);
db_enum!(
    /// Shipment status.
    ShipmentStatus {
        LabelCreated = "label_created",
        InTransit = "in_transit",
        OutForDelivery = "out_for_delivery",
        Delivered = "delivered",
        Exception = "exception",
    }
);
db_enum!(
    /// Where an interaction happened.
    InteractionChannel { Ticket = "ticket", Chat = "chat", Call = "call", Email = "email" }
);
db_enum!(
    /// Interaction status.
    InteractionStatus { Open = "open", Pending = "pending", Resolved = "resolved", Closed = "closed" }
);

impl InteractionStatus {
    /// Open or pending: the customer is still waiting for something.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Pending)
    }
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// An order enriched from the catalog, the return policies and fulfilment.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Id.
    pub id: OrderId,
    /// Status.
    pub status: OrderStatus,
    /// Placed.
    pub placed_at: Timestamp,
    /// Total.
    pub total: Money,
    /// Lines.
    pub lines: Vec<OrderLine>,
}

/// An enriched order line.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// The line as ordered.
    pub record: LineRecord,
    /// Product name; empty when the SKU is not in the catalog.
    pub product_name: String,
    /// Category; empty when the SKU is not in the catalog.
    pub category: String,
    /// Whether it may be returned now.
    pub eligibility: ReturnEligibility,
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
}

/// What CRM returns for a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    /// Who they are.
    pub identity: Identity,
    /// Recent interactions, newest first.
    pub interactions: Vec<Interaction>,
}

/// What c360 derives.
#[derive(Debug, Clone, PartialEq)]
pub struct Insights {
    /// Spent net of refunds.
    pub lifetime_value: Money,
    /// Orders, cancelled excluded.
    pub order_count: i64,
    /// Returned units over units bought.
    pub return_rate: f64,
    /// Problems open now.
    pub open_issues: Vec<OpenIssue>,
    /// Suggestions, most urgent first.
    pub next_best_actions: Vec<NextBestAction>,
    /// False when a source the insights draw on did not answer.
    pub complete: bool,
}

/// Kind of open issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenIssueKind {
    /// A late parcel.
    DelayedShipment,
    /// A failed payment.
    FailedPayment,
    /// An open or pending ticket.
    OpenTicket,
}

/// A problem open now.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIssue {
    /// Kind.
    pub kind: OpenIssueKind,
    /// Id of the shipment, invoice or ticket.
    pub reference: String,
    /// One line for the agent.
    pub summary: String,
    /// Open since.
    pub since: Timestamp,
}

/// Kind of suggested action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActionKind {
    /// Free shipping for a late parcel.
    OfferFreeShipping,
    /// Fix a payment method.
    UpdatePaymentMethod,
    /// A return window closes soon.
    RemindReturnWindow,
    /// A ticket waited too long.
    FollowUpTicket,
    /// A goodwill gesture after a poor experience.
    OfferGoodwill,
}

/// A suggestion for the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct NextBestAction {
    /// Kind.
    pub kind: ActionKind,
    /// One line for the agent.
    pub message: String,
    /// What it is about.
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_with_two_decimals_and_its_currency() {
        assert_eq!(Money::new(Currency::EUR, 1999).to_string(), "19.99 EUR");
        assert_eq!(Money::new(Currency::EUR, -5).to_string(), "-0.05 EUR");
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(
            "gbp".parse::<Currency>().map(|c| c.to_string()),
            Ok("GBP".into())
        );
        assert!("EURO".parse::<Currency>().is_err());
        assert!("E1R".parse::<Currency>().is_err());
    }

    #[test]
    fn enums_round_trip_through_their_backend_text() {
        for status in ShipmentStatus::ALL {
            assert_eq!(status.as_str().parse::<ShipmentStatus>(), Ok(*status));
        }
        assert!("lost".parse::<ShipmentStatus>().is_err());
    }
}
