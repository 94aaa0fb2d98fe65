//! Records for unit tests of the layers above: a fixed `now`, and orders and parcels around
//! it.

use chrono::{Duration, TimeZone, Utc};

use super::{LineRecord, OrderRecord, OrderStatus, Shipment, ShipmentStatus};
use crate::core::vocab::{Currency, Money, OrderId, Timestamp};

/// The moment every sample is dated from.
pub(crate) fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 6, 30, 12, 0, 0)
        .single()
        .expect("valid date")
}

/// `days` before [`now`].
pub(crate) fn days_ago(days: i64) -> Timestamp {
    now() - Duration::days(days)
}

/// Order `id`, placed 20 days ago, one unit of each SKU at 25.00 EUR.
pub(crate) fn order(id: i64, status: OrderStatus, skus: &[&str]) -> OrderRecord {
    OrderRecord {
        id: OrderId::new(id).expect("positive"),
        status,
        placed_at: days_ago(20),
        total: Money::new(Currency::EUR, 5000),
        lines: skus
            .iter()
            .zip(1..)
            .map(|(sku, n)| LineRecord {
                line_number: n,
                sku: sku.parse().expect("valid sku"),
                quantity: 1,
                unit_price: Money::new(Currency::EUR, 2500),
                returned_quantity: 0,
            })
            .collect(),
    }
}

/// A parcel of `order`, promised 16 days ago, delivered when `delivered` says.
pub(crate) fn parcel(order: i64, delivered: Option<Timestamp>) -> Shipment {
    Shipment {
        id: order * 10,
        order_id: OrderId::new(order).expect("positive"),
        carrier: "DHL".into(),
        tracking_number: "JD0001".into(),
        status: match delivered {
            Some(_) => ShipmentStatus::Delivered,
            None => ShipmentStatus::InTransit,
        },
        promised_at: days_ago(16),
        shipped_at: Some(days_ago(19)),
        delivered_at: delivered,
    }
}
