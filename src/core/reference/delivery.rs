//! When an order arrived, as fulfilment's parcels tell it: the start of every return window.

use crate::{
    core::records::{OrderRecord, OrderStatus, Shipment},
    core::vocab::Timestamp,
};

/// What fulfilment says about an order's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every parcel of the order arrived; the last one at this time.
    Delivered(Timestamp),
    /// Not (entirely) delivered yet.
    NotYet,
    /// Fulfilment did not answer, or its parcels cannot tell.
    Unknown,
}

impl Delivery {
    /// The delivery of `order` given `parcels`, fulfilment's answer (`None` when it did not
    /// answer). The parcels may be any of the customer's: only the order's own count.
    pub fn of(order: &OrderRecord, parcels: Option<&[Shipment]>) -> Self {
        let Some(parcels) = parcels else {
            return Self::Unknown;
        };
        let mut own = parcels.iter().filter(|s| s.order_id == order.id).peekable();
        if own.peek().is_none() {
            // A delivered order whose parcels are not among those we hold (older than the
            // recent ones): we cannot tell when it arrived.
            return match order.status {
                OrderStatus::Delivered => Self::Unknown,
                _ => Self::NotYet,
            };
        }
        let mut last = None;
        for parcel in own {
            match parcel.delivered_at {
                Some(at) => last = last.max(Some(at)),
                None => return Self::NotYet,
            }
        }
        last.map_or(Self::NotYet, Self::Delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::records::samples::{days_ago, order, parcel};

    #[test]
    fn an_order_is_delivered_when_its_last_parcel_is() {
        let order = order(1, OrderStatus::Shipped, &[]);
        let (early, late) = (days_ago(3), days_ago(1));
        let both = [
            parcel(1, Some(early)),
            parcel(1, Some(late)),
            parcel(2, None),
        ];
        assert_eq!(Delivery::of(&order, Some(&both)), Delivery::Delivered(late));
        let one_missing = [parcel(1, Some(early)), parcel(1, None)];
        assert_eq!(Delivery::of(&order, Some(&one_missing)), Delivery::NotYet);
        assert_eq!(Delivery::of(&order, Some(&[])), Delivery::NotYet);
        assert_eq!(Delivery::of(&order, None), Delivery::Unknown);
    }

    #[test]
    fn a_delivered_order_without_its_parcels_has_an_unknown_delivery() {
        let delivered = order(1, OrderStatus::Delivered, &[]);
        assert_eq!(Delivery::of(&delivered, Some(&[])), Delivery::Unknown);
    }
}
