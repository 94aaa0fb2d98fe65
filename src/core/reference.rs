//! Reference data held in memory beside the profiles: the product catalog and the return
//! policies, loaded at start and replaced atomically on refresh; and the rules that use them
//! (when an order arrived, whether a line may go back, which line a return check judges), so
//! that a profile's order lines and `CheckReturnEligibility` always agree.

mod catalog;
mod delivery;
mod eligibility;
mod returns;
#[cfg(test)]
mod sample_products;

pub use catalog::{Catalog, CatalogSnapshot, Product, ReturnPolicy};
pub use delivery::Delivery;
pub use eligibility::{EligibilityReason, ReturnEligibility, return_eligibility};
pub use returns::{ReturnCheck, check_return};
