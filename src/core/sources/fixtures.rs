//! Sample data for unit tests: one customer as each backend would describe them, at a fixed
//! `now`.

use super::SourceData;
use crate::{
    core::records::{
        Billing, ContactChannel, CrmRecord, FailedPayment, Identity, Interaction,
        InteractionChannel, InteractionPriority, InteractionStatus, LineRecord, OrderHistory,
        OrderRecord, OrderStatus, OrderTotals, PaymentMethod, Shipment, ShipmentStatus, Tier,
    },
    core::reference::{CatalogSnapshot, Product, ReturnPolicy},
    core::vocab::{Currency, CustomerId, Money, OrderId, SourceKind},
};

pub(crate) use crate::core::records::samples::{days_ago, now};

pub(crate) fn customer() -> CustomerId {
    CustomerId::new(42).expect("positive")
}

fn eur(minor: i64) -> Money {
    Money::new(Currency::EUR, minor)
}

pub(crate) fn identity() -> Identity {
    Identity {
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        email: "ada@example.com".into(),
        phone: "+442079460018".into(),
        tier: Tier::Gold,
        loyalty_points: 1200,
        preferred_channel: ContactChannel::Email,
        customer_since: days_ago(900),
    }
}

pub(crate) fn interaction(id: i64, status: InteractionStatus, opened_days_ago: i64) -> Interaction {
    Interaction {
        id,
        channel: InteractionChannel::Ticket,
        subject: "Where is my parcel?".into(),
        status,
        csat: None,
        created_at: days_ago(opened_days_ago),
        updated_at: days_ago(opened_days_ago),
        priority: InteractionPriority::Normal,
    }
}

pub(crate) fn crm() -> CrmRecord {
    CrmRecord {
        identity: identity(),
        interactions: vec![
            interaction(7, InteractionStatus::Open, 5),
            interaction(6, InteractionStatus::Resolved, 40),
        ],
    }
}

pub(crate) fn billing() -> Billing {
    Billing {
        balance: eur(4_999),
        credit_limit: eur(100_000),
        payment_methods: vec![PaymentMethod {
            id: 3,
            brand: "visa".into(),
            last4: "4242".into(),
            expiry_month: 12,
            expiry_year: 2030,
            is_default: true,
        }],
        recent_invoices: vec![],
        failed_payments: vec![FailedPayment {
            invoice_id: 91,
            amount: eur(4_999),
            reason: "insufficient_funds".into(),
            failed_at: days_ago(2),
        }],
    }
}

fn line(line_number: i32, sku: &str, quantity: i32, returned: i32) -> LineRecord {
    LineRecord {
        line_number,
        sku: sku.parse().expect("valid sku"),
        quantity,
        unit_price: eur(2_500),
        returned_quantity: returned,
    }
}

/// Order 11 (delivered 25 days ago: electronics window of 30 days closes in 5), order 12
/// (shipped, its parcel 3 days late).
pub(crate) fn history() -> OrderHistory {
    let order = |id, status, placed, lines| OrderRecord {
        id: OrderId::new(id).expect("positive"),
        status,
        placed_at: days_ago(placed),
        total: eur(5_000),
        lines,
    };
    OrderHistory {
        recent: vec![
            order(12, OrderStatus::Shipped, 8, vec![line(1, "BOO-1", 2, 0)]),
            order(
                11,
                OrderStatus::Delivered,
                30,
                vec![line(1, "ELE-1", 1, 0), line(2, "ELE-2", 1, 1)],
            ),
        ],
        totals: OrderTotals {
            order_count: 2,
            gross_minor: 10_000,
            refunded_minor: 2_500,
            units: 4,
            returned_units: 1,
        },
        currency: Some(Currency::EUR),
    }
}

pub(crate) fn shipments() -> Vec<Shipment> {
    let shipment = |id, order, promised, delivered: Option<i64>| Shipment {
        id,
        order_id: OrderId::new(order).expect("positive"),
        carrier: "DHL".into(),
        tracking_number: format!("JD{id:06}"),
        status: if delivered.is_none() {
            ShipmentStatus::InTransit
        } else {
            ShipmentStatus::Delivered
        },
        promised_at: days_ago(promised),
        shipped_at: Some(days_ago(promised + 2)),
        delivered_at: delivered.map(days_ago),
    };
    vec![shipment(22, 12, 3, None), shipment(21, 11, 26, Some(25))]
}

pub(crate) fn catalog() -> CatalogSnapshot {
    catalog_naming("Headphones")
}

/// The catalog, with ELE-1 (ordered in [`history`]) named `headphones`.
pub(crate) fn catalog_naming(headphones: &str) -> CatalogSnapshot {
    let product = |sku: &str, name: &str, category: &str| Product {
        sku: sku.parse().expect("valid sku"),
        name: name.into(),
        category: category.into(),
        price: eur(2_500),
        returnable: true,
    };
    let policy = |category: &str, window_days| ReturnPolicy {
        category: category.into(),
        display_name: category.into(),
        window_days,
        returnable: true,
    };
    CatalogSnapshot::new(
        [
            product("ELE-1", headphones, "electronics"),
            product("ELE-2", "Charger", "electronics"),
            product("BOO-1", "Atlas", "books"),
        ],
        [policy("electronics", 30), policy("books", 14)],
    )
}

/// What each backend returns for [`customer`].
pub(crate) fn source_data(kind: SourceKind) -> SourceData {
    use SourceKind::*;
    match kind {
        Billing => SourceData::Billing(Some(billing())),
        Orders => SourceData::Orders(history()),
        Fulfilment => SourceData::Fulfilment(shipments()),
        Crm => SourceData::Crm(Some(crm())),
    }
}
