//! Reference data held in memory beside the profiles: the product catalog and the return
//! policies, loaded at start and replaced atomically on refresh, and the return-eligibility
//! rule that uses them.

mod catalog;
mod eligibility;

pub use catalog::{Catalog, CatalogSnapshot, Product, ReturnPolicy};
pub use eligibility::{Delivery, EligibilityReason, ReturnEligibility, return_eligibility};
