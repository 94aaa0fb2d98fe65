//! Attention: the customers who need contact now. Its service-level clocks run in business
//! hours: [`calendar`] holds a team's calendar and the arithmetic of due instants and time
//! left over it.

pub mod calendar;

pub use calendar::{Calendar, CalendarError, CalendarSettings};
