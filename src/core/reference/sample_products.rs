//! Reference data for unit tests: one product and its category's policy.

use super::{Product, ReturnPolicy};
use crate::core::vocab::{Currency, Money};

/// Headphones, `ELE-00001`, in electronics, at 10.00 EUR.
pub(crate) fn headphones(returnable: bool) -> Product {
    Product {
        sku: "ELE-00001".parse().expect("valid sku"),
        name: "Headphones".into(),
        category: "electronics".into(),
        price: Money::new(Currency::EUR, 1000),
        returnable,
    }
}

/// The electronics policy: returns within `window_days` of delivery, if `returnable`.
pub(crate) fn electronics(window_days: u32, returnable: bool) -> ReturnPolicy {
    ReturnPolicy {
        category: "electronics".into(),
        display_name: "Electronics".into(),
        window_days,
        returnable,
    }
}
