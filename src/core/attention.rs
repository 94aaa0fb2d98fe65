//! Attention: the customers who need contact now. [`items`] derives a customer's items at an
//! instant from what the backends answered, under the rules of [`settings`]; their
//! service-level clocks run in business hours ([`calendar`]: a team's calendar and the
//! arithmetic of due instants and time left over it).

pub mod calendar;
pub mod items;
pub mod settings;

pub use calendar::{Calendar, CalendarError, CalendarSettings};
pub use items::{Derived, Inputs, Item, ItemKey, Reason, Rules, derive};
pub use settings::{AttentionSettings, TargetSettings};
