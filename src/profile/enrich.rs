//! Order lines enriched from the catalog, with their return eligibility.

use super::{Order, OrderLine, OrderRecord, OrderStatus, Shipment, Timestamp};
use crate::reference::{CatalogSnapshot, Delivery, return_eligibility};

/// What fulfilment says about the delivery of `order`, given the customer's recent shipments
/// (`None` when fulfilment did not answer).
pub fn delivery_of(order: &OrderRecord, shipments: Option<&[Shipment]>) -> Delivery {
    let Some(shipments) = shipments else {
        return Delivery::Unknown;
    };
    let mut parcels = shipments
        .iter()
        .filter(|s| s.order_id == order.id)
        .peekable();
    if parcels.peek().is_none() {
        // A delivered order whose parcels are older than the recent shipments we hold: we
        // cannot tell when it arrived.
        return match order.status {
            OrderStatus::Delivered => Delivery::Unknown,
            _ => Delivery::NotYet,
        };
    }
    let mut last = None;
    for parcel in parcels {
        match parcel.delivered_at {
            Some(at) => last = last.max(Some(at)),
            None => return Delivery::NotYet,
        }
    }
    last.map_or(Delivery::NotYet, Delivery::Delivered)
}

/// Enriches `orders` from `catalog`: product names, categories and return eligibility at
/// `now`.
pub fn enrich_orders(
    orders: Vec<OrderRecord>,
    shipments: Option<&[Shipment]>,
    catalog: &CatalogSnapshot,
    now: Timestamp,
) -> Vec<Order> {
    orders
        .into_iter()
        .map(|order| {
            let delivery = delivery_of(&order, shipments);
            let lines = order
                .lines
                .into_iter()
                .map(|record| {
                    let found = catalog.product_and_policy(&record.sku);
                    let eligibility =
                        return_eligibility(order.status, &record, found, delivery, now);
                    let (product_name, category) = found.map_or_else(Default::default, |(p, _)| {
                        (p.name.clone(), p.category.clone())
                    });
                    OrderLine {
                        record,
                        product_name,
                        category,
                        eligibility,
                    }
                })
                .collect();
            Order {
                id: order.id,
                status: order.status,
                placed_at: order.placed_at,
                total: order.total,
                lines,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::{
        keys::OrderId,
        profile::{
            Currency, LineRecord, Money, ShipmentStatus,
            fixtures::{catalog, days_ago, now},
        },
        reference::EligibilityReason,
    };

    fn order(id: i64, status: OrderStatus, skus: &[&str]) -> OrderRecord {
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

    fn parcel(order: i64, delivered: Option<Timestamp>) -> Shipment {
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

    #[test]
    fn lines_get_their_product_and_a_window_from_their_category() {
        // Delivered 15 days ago: electronics (30 days) still open, books (14 days) closed.
        let delivered = days_ago(15);
        let orders = vec![order(
            1,
            OrderStatus::Delivered,
            &["ELE-1", "BOO-1", "GONE-1"],
        )];
        let enriched = enrich_orders(
            orders,
            Some(&[parcel(1, Some(delivered))]),
            &catalog(),
            now(),
        );
        let lines = &enriched[0].lines;
        assert_eq!(lines[0].product_name, "Headphones");
        assert_eq!(lines[0].category, "electronics");
        assert!(lines[0].eligibility.eligible);
        assert_eq!(
            lines[0].eligibility.deadline,
            Some(delivered + Duration::days(30))
        );
        assert_eq!(lines[1].eligibility.reason, EligibilityReason::WindowClosed);
        // A SKU that left the catalog keeps its line, without a name or a policy.
        assert_eq!(lines[2].product_name, "");
        assert_eq!(
            lines[2].eligibility.reason,
            EligibilityReason::UnknownProduct
        );
    }

    #[test]
    fn an_order_is_delivered_when_its_last_parcel_is() {
        let order = order(1, OrderStatus::Shipped, &["ELE-1"]);
        let (early, late) = (days_ago(3), days_ago(1));
        let both = [parcel(1, Some(early)), parcel(1, Some(late))];
        assert_eq!(delivery_of(&order, Some(&both)), Delivery::Delivered(late));
        let one_missing = [parcel(1, Some(early)), parcel(1, None)];
        assert_eq!(delivery_of(&order, Some(&one_missing)), Delivery::NotYet);
        assert_eq!(delivery_of(&order, Some(&[])), Delivery::NotYet);
        assert_eq!(delivery_of(&order, None), Delivery::Unknown);
    }

    #[test]
    fn without_fulfilment_eligibility_says_the_delivery_is_unknown() {
        let orders = vec![order(1, OrderStatus::Delivered, &["ELE-1"])];
        let enriched = enrich_orders(orders, None, &catalog(), now());
        let verdict = enriched[0].lines[0].eligibility;
        assert_eq!(verdict.reason, EligibilityReason::DeliveryUnknown);
        assert!(!verdict.eligible);
    }
}
