//! "May this SKU of this order go back?": which of the order's lines is judged, and the
//! verdict, for `CheckReturnEligibility`.

use super::{
    CatalogSnapshot, Delivery, Product, ReturnEligibility, ReturnPolicy, return_eligibility,
};
use crate::{
    core::records::OrderRecord,
    core::vocab::{Sku, Timestamp},
};

/// The verdict on returning one SKU of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnCheck {
    /// Whether a return may be started now, why, and until when.
    pub eligibility: ReturnEligibility,
    /// Units of the SKU the order could still send back, over all its lines.
    pub returnable_quantity: i32,
    /// The product, if the catalog has it.
    pub product: Option<Product>,
    /// The return policy of its category, if there is one.
    pub policy: Option<ReturnPolicy>,
}

/// Judges returning `sku` from `order`, delivered as `delivery`, at `now`; `None` when no
/// line of the order carries the SKU.
///
/// An order may carry a SKU on several lines: the first with units left to return is judged
/// (a line returned in full says nothing about the others), else the first.
pub fn check_return(
    order: &OrderRecord,
    sku: &Sku,
    delivery: Delivery,
    catalog: &CatalogSnapshot,
    now: Timestamp,
) -> Option<ReturnCheck> {
    let lines: Vec<_> = order.lines.iter().filter(|l| &l.sku == sku).collect();
    let line = lines
        .iter()
        .find(|l| l.returnable_quantity() > 0)
        .or(lines.first())?;
    let found = catalog.product_and_policy(sku);
    Some(ReturnCheck {
        eligibility: return_eligibility(order.status, line, found, delivery, now),
        returnable_quantity: lines.iter().map(|l| l.returnable_quantity()).sum(),
        product: found.map(|(product, _)| product.clone()),
        policy: found.and_then(|(_, policy)| policy.cloned()),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::{
        core::records::{LineRecord, OrderStatus, samples::now},
        core::reference::{
            EligibilityReason,
            sample_products::{electronics, headphones},
        },
        core::vocab::{Currency, Money, OrderId},
    };

    fn sku(text: &str) -> Sku {
        text.parse().expect("valid sku")
    }

    fn line(line_number: i32, sku_text: &str, quantity: i32, returned: i32) -> LineRecord {
        LineRecord {
            line_number,
            sku: sku(sku_text),
            quantity,
            unit_price: Money::new(Currency::EUR, 1000),
            returned_quantity: returned,
        }
    }

    fn order(lines: Vec<LineRecord>) -> OrderRecord {
        OrderRecord {
            id: OrderId::new(7).expect("positive"),
            status: OrderStatus::Delivered,
            placed_at: now() - Duration::days(10),
            total: Money::new(Currency::EUR, 5000),
            lines,
        }
    }

    fn catalog() -> CatalogSnapshot {
        CatalogSnapshot::new([headphones(true)], [electronics(30, true)])
    }

    #[test]
    fn the_first_line_with_units_left_is_judged_and_every_line_counts() {
        // Line 1 went back in full; line 2 still has both its units.
        let order = order(vec![line(1, "ELE-00001", 1, 1), line(2, "ELE-00001", 2, 0)]);
        let delivered = Delivery::Delivered(now() - Duration::days(5));
        let check =
            check_return(&order, &sku("ele-00001"), delivered, &catalog(), now()).expect("a line");
        assert!(check.eligibility.eligible);
        assert_eq!(check.eligibility.reason, EligibilityReason::WithinWindow);
        assert_eq!(check.returnable_quantity, 2);
        assert_eq!(check.product.map(|p| p.name), Some("Headphones".into()));
        assert_eq!(check.policy.map(|p| p.window_days), Some(30));
    }

    #[test]
    fn a_sku_returned_in_full_is_judged_on_its_first_line() {
        let order = order(vec![line(1, "ELE-00001", 1, 1), line(2, "ELE-00001", 1, 1)]);
        let check = check_return(
            &order,
            &sku("ELE-00001"),
            Delivery::Unknown,
            &catalog(),
            now(),
        );
        let check = check.expect("a line");
        assert_eq!(check.eligibility.reason, EligibilityReason::AlreadyReturned);
        assert_eq!(check.returnable_quantity, 0);
    }

    #[test]
    fn a_sku_the_order_does_not_carry_has_no_verdict() {
        let order = order(vec![line(1, "ELE-00001", 1, 0)]);
        let none = check_return(&order, &sku("BOO-9"), Delivery::NotYet, &catalog(), now());
        assert_eq!(none, None);
    }
}
