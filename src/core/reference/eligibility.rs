//! May this order line be returned now? One rule, used by the profile's order lines and by
//! `CheckReturnEligibility`, so that both always agree.

use chrono::Duration;

use super::{Delivery, Product, ReturnPolicy};
use crate::{
    core::records::{LineRecord, OrderStatus},
    core::vocab::Timestamp,
};

/// Why a line is or is not eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EligibilityReason {
    /// Delivered, window open.
    WithinWindow,
    /// Window closed.
    WindowClosed,
    /// The product or its category cannot be returned.
    NotReturnable,
    /// Every unit was returned already.
    AlreadyReturned,
    /// Not delivered yet.
    NotDelivered,
    /// The order was cancelled.
    OrderCancelled,
    /// The SKU is not in the catalog.
    UnknownProduct,
    /// Fulfilment did not answer.
    DeliveryUnknown,
}

/// The verdict for one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnEligibility {
    /// A return may be started now.
    pub eligible: bool,
    /// Why.
    pub reason: EligibilityReason,
    /// Last moment for a return, when there is one.
    pub deadline: Option<Timestamp>,
}

impl ReturnEligibility {
    fn refused(reason: EligibilityReason) -> Self {
        Self {
            eligible: false,
            reason,
            deadline: None,
        }
    }
}

/// Decides whether `line` of an order in `status` may be returned at `now`. The window of
/// the product's category starts at delivery.
pub fn return_eligibility(
    status: OrderStatus,
    line: &LineRecord,
    product: Option<(&Product, Option<&ReturnPolicy>)>,
    delivery: Delivery,
    now: Timestamp,
) -> ReturnEligibility {
    use EligibilityReason::*;
    if status == OrderStatus::Cancelled {
        return ReturnEligibility::refused(OrderCancelled);
    }
    let Some((product, Some(policy))) = product else {
        return ReturnEligibility::refused(UnknownProduct);
    };
    if !product.returnable || !policy.returnable {
        return ReturnEligibility::refused(NotReturnable);
    }
    if line.returnable_quantity() == 0 {
        return ReturnEligibility::refused(AlreadyReturned);
    }
    let delivered_at = match delivery {
        Delivery::Delivered(at) => at,
        Delivery::NotYet => return ReturnEligibility::refused(NotDelivered),
        Delivery::Unknown => return ReturnEligibility::refused(DeliveryUnknown),
    };
    let deadline = delivered_at + Duration::days(i64::from(policy.window_days));
    let open = now <= deadline;
    ReturnEligibility {
        eligible: open,
        reason: if open { WithinWindow } else { WindowClosed },
        deadline: Some(deadline),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{
        core::reference::sample_products::{electronics as policy, headphones as product},
        core::vocab::{Currency, Money},
    };

    fn at(day: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 3, day, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn line(quantity: i32, returned: i32) -> LineRecord {
        LineRecord {
            line_number: 1,
            sku: "ELE-00001".parse().expect("valid sku"),
            quantity,
            unit_price: Money::new(Currency::EUR, 1000),
            returned_quantity: returned,
        }
    }

    fn check(
        status: OrderStatus,
        line: &LineRecord,
        product: &Product,
        policy: &ReturnPolicy,
        delivery: Delivery,
        now: Timestamp,
    ) -> ReturnEligibility {
        return_eligibility(status, line, Some((product, Some(policy))), delivery, now)
    }

    #[test]
    fn a_delivered_line_is_eligible_until_the_window_closes() {
        let (p, pol) = (product(true), policy(14, true));
        let delivered = Delivery::Delivered(at(1));
        let open = check(
            OrderStatus::Delivered,
            &line(2, 0),
            &p,
            &pol,
            delivered,
            at(15),
        );
        assert_eq!(
            open,
            ReturnEligibility {
                eligible: true,
                reason: EligibilityReason::WithinWindow,
                deadline: Some(at(15)),
            }
        );
        let closed = check(
            OrderStatus::Delivered,
            &line(2, 0),
            &p,
            &pol,
            delivered,
            at(16),
        );
        assert!(!closed.eligible);
        assert_eq!(closed.reason, EligibilityReason::WindowClosed);
        assert_eq!(closed.deadline, Some(at(15)));
    }

    #[test]
    fn the_window_starts_at_delivery_not_before() {
        let (p, pol) = (product(true), policy(30, true));
        let verdict = check(
            OrderStatus::Shipped,
            &line(1, 0),
            &p,
            &pol,
            Delivery::NotYet,
            at(2),
        );
        assert_eq!(verdict.reason, EligibilityReason::NotDelivered);
        assert!(!verdict.eligible && verdict.deadline.is_none());
        let unknown = check(
            OrderStatus::Shipped,
            &line(1, 0),
            &p,
            &pol,
            Delivery::Unknown,
            at(2),
        );
        assert_eq!(unknown.reason, EligibilityReason::DeliveryUnknown);
    }

    #[test]
    fn non_returnable_products_and_categories_are_never_eligible() {
        let delivered = Delivery::Delivered(at(1));
        for (p, pol) in [
            (product(false), policy(30, true)),
            (product(true), policy(30, false)),
        ] {
            let verdict = check(
                OrderStatus::Delivered,
                &line(1, 0),
                &p,
                &pol,
                delivered,
                at(2),
            );
            assert_eq!(verdict.reason, EligibilityReason::NotReturnable);
            assert!(!verdict.eligible);
        }
    }

    #[test]
    fn fully_returned_lines_and_cancelled_orders_are_not_eligible() {
        let (p, pol) = (product(true), policy(30, true));
        let delivered = Delivery::Delivered(at(1));
        let returned = check(
            OrderStatus::Delivered,
            &line(2, 2),
            &p,
            &pol,
            delivered,
            at(2),
        );
        assert_eq!(returned.reason, EligibilityReason::AlreadyReturned);
        let partly = check(
            OrderStatus::Delivered,
            &line(2, 1),
            &p,
            &pol,
            delivered,
            at(2),
        );
        assert!(partly.eligible);
        let cancelled = check(
            OrderStatus::Cancelled,
            &line(2, 0),
            &p,
            &pol,
            delivered,
            at(2),
        );
        assert_eq!(cancelled.reason, EligibilityReason::OrderCancelled);
    }

    #[test]
    fn a_sku_missing_from_the_catalog_has_no_policy() {
        let verdict = return_eligibility(
            OrderStatus::Delivered,
            &line(1, 0),
            None,
            Delivery::Delivered(at(1)),
            at(2),
        );
        assert_eq!(verdict.reason, EligibilityReason::UnknownProduct);
        assert!(!verdict.eligible);
    }
}
