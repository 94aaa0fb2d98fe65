//! c360-loadtest: a load generator for c360 that a ghz user already knows how to drive, with
//! open-loop rates that count queueing, HdrHistogram percentiles and charts; and the bare
//! tonic baseline server the benchmarks compare c360 with.
//!
//! # Layout
//!
//! - [`options`]: the command line and its checks.
//! - [`calls`]: the calls, their mix, the customer ids (uniform, sequential or Zipf).
//! - [`run`]: the engine: workers, connections, closed and open loop.
//! - [`record`]: what a run records: latencies, statuses, errors by kind, details.
//! - `pace`: open-loop pacing on microsecond timers, releasing each request when it is due.
//! - [`report`]: ghz-shaped JSON, summary, CSV and HTML reports.
//! - [`chart`]: the SVG latency-percentile chart.
//! - [`probe`]: the miss path taken apart: total latency against the slowest backend's.
//! - [`watch`]: many `WatchCustomerProfile` streams at once, and how soon changes reach them.
//! - [`baseline`]: the bare server answering a fixed profile.
//! - [`faultproxy`]: a TCP proxy that adds latency, stalls, blackholes and resets, for the
//!   fault tests and the stalled-backend benchmark.

#![allow(missing_docs)]

pub mod baseline;
pub mod calls;
pub mod chart;
pub mod faultproxy;
pub mod options;
mod pace;
pub mod probe;
pub mod record;
pub mod report;
pub mod run;
pub mod watch;
