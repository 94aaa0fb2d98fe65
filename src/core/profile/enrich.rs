//! Order lines enriched from the catalog, with their return eligibility.

use super::{Order, OrderLine};
use crate::{
    core::records::{OrderRecord, Shipment},
    core::reference::{CatalogSnapshot, Delivery, return_eligibility},
    core::vocab::Timestamp,
};

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
            let delivery = Delivery::of(&order, shipments);
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
        core::records::{
            OrderStatus,
            samples::{days_ago, now, order, parcel},
        },
        core::reference::EligibilityReason,
        core::sources::fixtures::catalog,
    };

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
    fn without_fulfilment_eligibility_says_the_delivery_is_unknown() {
        let orders = vec![order(1, OrderStatus::Delivered, &["ELE-1"])];
        let enriched = enrich_orders(orders, None, &catalog(), now());
        let verdict = enriched[0].lines[0].eligibility;
        assert_eq!(verdict.reason, EligibilityReason::DeliveryUnknown);
        assert!(!verdict.eligible);
    }
}
