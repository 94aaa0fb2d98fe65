//! A customer's profile: the backends' answers merged into one, orders enriched from the
//! catalog and the return policies, and the insights c360 derives from it all. No protobuf
//! here: `convert` maps these types to the wire.

mod enrich;
mod insights;
mod merge;

pub use enrich::enrich_orders;
pub use insights::{derive_insights, wording};
pub use merge::{Answers, Assembly, Collected, Unshown, assemble, collect};

use crate::{
    core::records::{Billing, Identity, Interaction, LineRecord, OrderStatus, Shipment},
    core::reference::ReturnEligibility,
    core::vocab::{CustomerId, Money, OrderId, SourceReports, Timestamp},
};

/// A merged profile. A section is `None` when its backends were not asked or did not answer;
/// `sources` says which.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Whose.
    pub customer: CustomerId,
    /// From CRM.
    pub identity: Option<Identity>,
    /// From billing.
    pub billing: Option<Billing>,
    /// From orders, enriched with the catalog and fulfilment.
    pub orders: Option<Vec<Order>>,
    /// From fulfilment.
    pub shipments: Option<Vec<Shipment>>,
    /// From CRM.
    pub interactions: Option<Vec<Interaction>>,
    /// Derived from all four.
    pub insights: Option<Insights>,
    /// What happened to each backend.
    pub sources: SourceReports,
}

impl Profile {
    /// Whether the insights are complete: they draw on every backend, so they may miss
    /// something unless every one answered just now.
    pub fn insights_complete(&self) -> bool {
        self.insights.is_some() && self.sources.all_answered()
    }
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

/// What c360 derives. Whether they are complete is not theirs to say: they are when every
/// backend answered (see [`Profile::insights_complete`]).
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
