//! Attention: the customers who need contact now. [`items`] derives a customer's items at an
//! instant from what the backends answered, under the rules of [`settings`]; their
//! service-level clocks run in business hours ([`calendar`]: a team's calendar and the
//! arithmetic of due instants and time left over it); [`store`] keeps them, with the agents'
//! claims, fenced leases and every transition, in c360's own tables; [`live`] derives again as
//! changes are applied and as time makes items true, and [`build`] finds whom to derive where
//! nothing was derived yet; [`tail`] follows the history for watches; [`figures`] counts what operators follow.

pub mod answered;
pub mod build;
pub mod calendar;
pub mod figures;
pub mod items;
pub mod live;
pub mod settings;
pub mod store;
pub mod tail;

pub use answered::Answered;
pub use build::Backlog;
pub use calendar::{Calendar, CalendarError, CalendarSettings};
pub use figures::{AttentionFigures, AttentionSnapshot, QueueNow};
pub use items::{Derived, Inputs, Item, ItemKey, Reason, Rules, derive};
pub use live::{Live, LiveError};
pub use settings::{AttentionSettings, TargetSettings};
pub use store::queue::{Filter, Position, Recorded};
pub use store::{Claim, Kept, Refused, Store, Synced, Transition, claims::Act};
pub use tail::{Tail, Tailed};
