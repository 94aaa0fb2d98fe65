//! Domain types to their protobuf form, in one place, and back for what travels both ways:
//! source reports (through L2) and the backends' records a cached profile shows ([`back`]),
//! read again when the catalog changes. The cache entry format encodes profile sections with
//! these; the edge answers lookups, the catalog and the figures with them.

pub mod back;
mod enums;

use std::time::Duration;

use c360_proto as pb;
use chrono::DateTime;

use crate::{
    core::profile,
    core::records,
    core::reference::{self, EligibilityReason},
    core::vocab::{self, SourceKind, SourceReport, SourceStatus, Timestamp},
};

/// A time on the wire.
pub fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A duration on the wire.
pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// An id on the wire: ids travel as decimal text.
pub fn id<T: ToString>(id: T) -> String {
    id.to_string()
}

impl From<vocab::Money> for pb::Money {
    fn from(money: vocab::Money) -> Self {
        Self {
            currency_code: money.currency.as_str().to_owned(),
            amount_minor: money.minor,
        }
    }
}

impl From<&records::Identity> for pb::Identity {
    fn from(identity: &records::Identity) -> Self {
        Self {
            first_name: identity.first_name.clone(),
            last_name: identity.last_name.clone(),
            email: identity.email.clone(),
            phone: identity.phone.clone(),
            tier: pb::CustomerTier::from(identity.tier) as i32,
            loyalty_points: identity.loyalty_points,
            preferred_channel: pb::ContactChannel::from(identity.preferred_channel) as i32,
            customer_since: Some(timestamp(identity.customer_since)),
        }
    }
}

impl From<&records::Billing> for pb::Billing {
    fn from(billing: &records::Billing) -> Self {
        let invoice = |i: &records::Invoice| pb::Invoice {
            invoice_id: id(i.id),
            order_id: i.order_id.map(id).unwrap_or_default(),
            amount: Some(i.amount.into()),
            status: pb::InvoiceStatus::from(i.status) as i32,
            issued_at: Some(timestamp(i.issued_at)),
            due_at: Some(timestamp(i.due_at)),
            paid_at: i.paid_at.map(timestamp),
        };
        Self {
            balance: Some(billing.balance.into()),
            credit_limit: Some(billing.credit_limit.into()),
            payment_methods: billing
                .payment_methods
                .iter()
                .map(|m| pb::PaymentMethod {
                    payment_method_id: id(m.id),
                    brand: m.brand.clone(),
                    last4: m.last4.clone(),
                    expiry_month: i32::try_from(m.expiry_month).unwrap_or_default(),
                    expiry_year: m.expiry_year,
                    is_default: m.is_default,
                })
                .collect(),
            recent_invoices: billing.recent_invoices.iter().map(invoice).collect(),
            failed_payments: billing
                .failed_payments
                .iter()
                .map(|f| pb::FailedPayment {
                    invoice_id: id(f.invoice_id),
                    amount: Some(f.amount.into()),
                    reason: f.reason.clone(),
                    failed_at: Some(timestamp(f.failed_at)),
                })
                .collect(),
        }
    }
}

impl From<&reference::ReturnEligibility> for pb::ReturnEligibility {
    fn from(verdict: &reference::ReturnEligibility) -> Self {
        use EligibilityReason as R;
        use pb::ReturnEligibilityReason as P;
        Self {
            eligible: verdict.eligible,
            reason: match verdict.reason {
                R::WithinWindow => P::WithinWindow,
                R::WindowClosed => P::WindowClosed,
                R::NotReturnable => P::NotReturnable,
                R::AlreadyReturned => P::AlreadyReturned,
                R::NotDelivered => P::NotDelivered,
                R::OrderCancelled => P::OrderCancelled,
                R::UnknownProduct => P::UnknownProduct,
                R::DeliveryUnknown => P::DeliveryUnknown,
            } as i32,
            deadline: verdict.deadline.map(timestamp),
        }
    }
}

impl From<&profile::Order> for pb::Order {
    fn from(order: &profile::Order) -> Self {
        Self {
            order_id: id(order.id),
            status: pb::OrderStatus::from(order.status) as i32,
            placed_at: Some(timestamp(order.placed_at)),
            total: Some(order.total.into()),
            lines: order
                .lines
                .iter()
                .map(|line| pb::OrderLine {
                    line_number: line.record.line_number,
                    sku: line.record.sku.to_string(),
                    product_name: line.product_name.clone(),
                    category: line.category.clone(),
                    quantity: line.record.quantity,
                    unit_price: Some(line.record.unit_price.into()),
                    returned_quantity: line.record.returned_quantity,
                    return_eligibility: Some((&line.eligibility).into()),
                })
                .collect(),
        }
    }
}

/// A parcel on the wire, its delay computed at `now`.
pub fn shipment(s: &records::Shipment, now: Timestamp) -> pb::Shipment {
    pb::Shipment {
        shipment_id: id(s.id),
        order_id: id(s.order_id),
        carrier: s.carrier.clone(),
        tracking_number: s.tracking_number.clone(),
        status: pb::ShipmentStatus::from(s.status) as i32,
        promised_at: Some(timestamp(s.promised_at)),
        shipped_at: s.shipped_at.map(timestamp),
        delivered_at: s.delivered_at.map(timestamp),
        delay: s.delay(now).and_then(|d| d.to_std().ok()).map(duration),
    }
}

impl From<&records::Interaction> for pb::Interaction {
    fn from(i: &records::Interaction) -> Self {
        Self {
            interaction_id: id(i.id),
            channel: pb::InteractionChannel::from(i.channel) as i32,
            subject: i.subject.clone(),
            status: pb::InteractionStatus::from(i.status) as i32,
            csat: i.csat.map(i32::from).unwrap_or_default(),
            created_at: Some(timestamp(i.created_at)),
            updated_at: Some(timestamp(i.updated_at)),
            priority: pb::InteractionPriority::from(i.priority) as i32,
        }
    }
}

/// Insights on the wire, `complete` left unset: whether they are is for the reports to say
/// (the cache entry appends it).
impl From<&profile::Insights> for pb::Insights {
    fn from(insights: &profile::Insights) -> Self {
        use profile::{ActionKind as A, OpenIssueKind as K};
        Self {
            lifetime_value: Some(insights.lifetime_value.into()),
            order_count: insights.order_count,
            return_rate: insights.return_rate,
            open_issues: insights
                .open_issues
                .iter()
                .map(|issue| pb::OpenIssue {
                    kind: match issue.kind {
                        K::DelayedShipment => pb::OpenIssueKind::DelayedShipment,
                        K::FailedPayment => pb::OpenIssueKind::FailedPayment,
                        K::OpenTicket => pb::OpenIssueKind::OpenTicket,
                    } as i32,
                    reference: issue.reference.clone(),
                    summary: issue.summary.clone(),
                    since: Some(timestamp(issue.since)),
                })
                .collect(),
            next_best_actions: insights
                .next_best_actions
                .iter()
                .map(|action| pb::NextBestAction {
                    kind: match action.kind {
                        A::OfferFreeShipping => pb::ActionKind::OfferFreeShipping,
                        A::UpdatePaymentMethod => pb::ActionKind::UpdatePaymentMethod,
                        A::RemindReturnWindow => pb::ActionKind::RemindReturnWindow,
                        A::FollowUpTicket => pb::ActionKind::FollowUpTicket,
                        A::OfferGoodwill => pb::ActionKind::OfferGoodwill,
                    } as i32,
                    message: action.message.clone(),
                    reference: action.reference.clone(),
                })
                .collect(),
            complete: false,
            // Not cached with the profile: the offers' tail appends them as they are now.
            offers_made: Vec::new(),
        }
    }
}

/// A backend on the wire.
pub fn source(kind: SourceKind) -> pb::Source {
    match kind {
        SourceKind::Billing => pb::Source::Billing,
        SourceKind::Orders => pb::Source::Orders,
        SourceKind::Fulfilment => pb::Source::Fulfilment,
        SourceKind::Crm => pb::Source::Crm,
    }
}

/// The report of `kind` on the wire, without an age.
pub fn source_report(kind: SourceKind, report: SourceReport) -> pb::SourceReport {
    pb::SourceReport {
        source: source(kind) as i32,
        status: match report.status {
            SourceStatus::Ok => pb::SourceStatus::Ok,
            SourceStatus::Stale => pb::SourceStatus::Stale,
            SourceStatus::Timeout => pb::SourceStatus::Timeout,
            SourceStatus::Unavailable => pb::SourceStatus::Unavailable,
            SourceStatus::CircuitOpen => pb::SourceStatus::CircuitOpen,
            SourceStatus::Skipped => pb::SourceStatus::Skipped,
        } as i32,
        fetched_at: report.fetched_at.map(timestamp),
        latency: report.latency.map(duration),
        age: None,
    }
}

impl From<&reference::Product> for pb::Product {
    fn from(product: &reference::Product) -> Self {
        Self {
            sku: product.sku.to_string(),
            name: product.name.clone(),
            category: product.category.clone(),
            price: Some(product.price.into()),
            returnable: product.returnable,
        }
    }
}

impl From<&reference::ReturnPolicy> for pb::ReturnPolicy {
    fn from(policy: &reference::ReturnPolicy) -> Self {
        Self {
            category: policy.category.clone(),
            display_name: policy.display_name.clone(),
            window_days: i32::try_from(policy.window_days).unwrap_or(i32::MAX),
            returnable: policy.returnable,
        }
    }
}

/// The domain form of a report read back from L2; `None` for values this version does not
/// produce.
pub fn source_report_from(report: &pb::SourceReport) -> Option<(SourceKind, SourceReport)> {
    let source = match report.source() {
        pb::Source::Billing => SourceKind::Billing,
        pb::Source::Orders => SourceKind::Orders,
        pb::Source::Fulfilment => SourceKind::Fulfilment,
        pb::Source::Crm => SourceKind::Crm,
        pb::Source::Unspecified => return None,
    };
    let status = match report.status() {
        pb::SourceStatus::Ok => SourceStatus::Ok,
        pb::SourceStatus::Stale => SourceStatus::Stale,
        pb::SourceStatus::Timeout => SourceStatus::Timeout,
        pb::SourceStatus::Unavailable => SourceStatus::Unavailable,
        pb::SourceStatus::CircuitOpen => SourceStatus::CircuitOpen,
        pb::SourceStatus::Skipped => SourceStatus::Skipped,
        pb::SourceStatus::Unspecified => return None,
    };
    let fetched_at = match &report.fetched_at {
        Some(t) => Some(DateTime::from_timestamp(
            t.seconds,
            u32::try_from(t.nanos).ok()?,
        )?),
        None => None,
    };
    let latency = match report.latency {
        Some(d) => Some(Duration::try_from(d).ok()?),
        None => None,
    };
    let report = SourceReport {
        status,
        fetched_at,
        latency,
    };
    Some((source, report))
}
