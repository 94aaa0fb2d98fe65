//! Offers: what an agent may give a customer now — a refund, free shipping, a discount on the
//! next order, a goodwill credit — for each of the customer's open problems, up to how much,
//! and why; and the offers made, kept in c360's own ledger so that none is given twice.
//!
//! [`problems`] finds a customer's open problems in a cached profile (the attention queue's
//! reasons, and the order lines that may or may no longer be refunded); [`envelope`] puts the
//! caller's limits ([`settings`]), the offers already made and the caller's budget for the day
//! against them, under rules written as a table, and judges an offer asked for: within the
//! caller's limits, awaiting a supervisor's approval, or refused with the reason; [`store`]
//! records it atomically against a fresh envelope and keeps every transition in an
//! append-only ledger that the systems carrying offers out read by position.

pub mod envelope;
pub mod problems;
pub mod settings;
pub mod store;
pub mod tail;
pub mod wire;

pub use envelope::{Allowance, Context, Envelope, ProblemOffers, Refusal, Verdict};
pub use problems::{Facts, LineState, Problem, ProblemKind};
pub use settings::{Limits, OfferLimits, OfferRules, OfferSettings};
pub use store::{Asked, OfferStore, Recorded, Settled};
pub use tail::OfferTail;

use crate::core::vocab::{CustomerId, Money, Timestamp};

/// What an offer gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OfferKind {
    /// Money back for an order line.
    Refund,
    /// Free shipping on the next order.
    FreeShipping,
    /// A percentage off the next order.
    Discount,
    /// Credit on the customer's account.
    GoodwillCredit,
}

impl OfferKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Refund,
        Self::FreeShipping,
        Self::Discount,
        Self::GoodwillCredit,
    ];

    /// Its name, as kept.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refund => "refund",
            Self::FreeShipping => "free_shipping",
            Self::Discount => "discount",
            Self::GoodwillCredit => "goodwill_credit",
        }
    }

    /// The kind named `name` ([`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Its name, for people.
    pub fn named(self) -> &'static str {
        match self {
            Self::Refund => "refund",
            Self::FreeShipping => "free shipping",
            Self::Discount => "discount",
            Self::GoodwillCredit => "goodwill credit",
        }
    }

    /// Whether a problem gets it once at most (a refund is bounded by the line instead).
    pub fn once(self) -> bool {
        self != Self::Refund
    }
}

/// Where an offer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OfferState {
    /// Within the agent's limits: to be carried out.
    Recorded,
    /// Beyond the agent's limits: a supervisor approves or rejects it.
    AwaitingApproval,
    /// Approved by a supervisor: to be carried out.
    Approved,
    /// Rejected by a supervisor: it counts for nothing.
    Rejected,
}

impl OfferState {
    /// Every state.
    pub const ALL: [Self; 4] = [
        Self::Recorded,
        Self::AwaitingApproval,
        Self::Approved,
        Self::Rejected,
    ];

    /// Its name, as kept.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    /// The state named `name` ([`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

/// How much an offer gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Money, in the customer's currency (refunds, credits).
    Money(Money),
    /// Percent off (discounts), 1–100.
    Percent(u32),
    /// The offer itself (free shipping).
    Whole,
}

impl Amount {
    /// The money it gives, if it is money.
    pub fn money(self) -> Option<Money> {
        match self {
            Self::Money(money) => Some(money),
            _ => None,
        }
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Money(money) => write!(f, "{money}"),
            Self::Percent(percent) => write!(f, "{percent} %"),
            Self::Whole => f.write_str("given"),
        }
    }
}

/// An offer made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Its id, which is also the idempotency key of whatever carries it out: never reused.
    pub id: String,
    /// To whom.
    pub customer: CustomerId,
    /// For which problem ([`Problem::id`]).
    pub problem: String,
    /// What.
    pub kind: OfferKind,
    /// How much.
    pub amount: Amount,
    /// Where it stands.
    pub state: OfferState,
    /// Who made it.
    pub agent: String,
    /// The request that made it.
    pub request_id: String,
    /// When.
    pub recorded_at: Timestamp,
    /// Who approved or rejected it.
    pub settled_by: Option<String>,
    /// When.
    pub settled_at: Option<Timestamp>,
    /// The ledger's position of its latest transition.
    pub position: i64,
}
