//! c360: the whole picture of a customer, over gRPC, in under a millisecond when cached.
//!
//! # Layout
//!
//! `src/` shows the layers as folders: the tools, the wiring (`app`), the edge and the core.
//! Each unit below uses only units listed below it here, never one above it
//! (`tests/layers.rs` holds the code to this list, so CI fails on a cycle). The generated API
//! is a crate of its own, `c360-proto` (`proto/`); the binary is `src/bin/c360/`.
//!
//! The tools, around the service ([`tools`]):
//!
//! - [`tools::demo`]: the embedded demo: SQLite, seeded, served, optionally kept busy.
//! - [`tools::client`]: the `get`, `lookup`, `watch`, `invalidate`, `stats` and `top` commands,
//!   over gRPC; addresses, deadlines and failed connections explained (`client/connect.rs`).
//! - [`tools::seed`]: a deterministic, realistic data set of any size.
//!
//! The wiring:
//!
//! - [`app`]: settings in (`app/config.rs`), a ready-to-serve [`app::App`] out: the
//!   subsystems assembled, background tasks supervised, readiness followed, logs and traces
//!   set up (`app/telemetry.rs`).
//!
//! The edge ([`edge`]):
//!
//! - [`edge::server`]: `run(listener, metrics, served, shutdown)`: gRPC with health and
//!   reflection, HTTP/2 limits, deadlines capped, the drain on shutdown, gRPC-Web and CORS, the
//!   door that authenticates callers, TLS, every call counted and logged, `/metrics`.
//! - [`edge::grpc`]: validation, status mapping, the services, one span per RPC.
//! - [`edge::auth`]: who is calling (bearer JWTs, hashed API keys) and what their roles grant.
//! - [`edge::audit`]: one JSON line per profile read and lookup.
//! - [`edge::rpc_metrics`]: every gRPC method's calls, codes and latency.
//!
//! The core ([`core`]), the request path top first:
//!
//! - [`core::queries`]: lookups by email, phone or order, and return checks.
//! - [`core::read`]: one profile read — L1, L2, then the fan-out and the merge.
//! - [`core::cache`]: L1, L2, the change-feed follower and the invalidation bus.
//! - [`core::entry`]: the cache entry format: a profile pre-encoded section by section.
//! - [`core::convert`]: domain types to protobuf, for the entry format and the edge.
//! - [`core::profile`]: the merged profile: merge, enrichment, insights.
//! - [`core::fanout`]: asks the backends, each read through its stack; admission control.
//! - [`core::sources`]: the ports to the backends and their sqlx implementations.
//! - [`core::db`]: pools to Postgres or SQLite, the reference schema's migrations.
//! - [`core::reference`]: the in-memory catalog and return policies, and their rules.
//! - [`core::records`]: the backends' records in c360's own types.
//! - [`core::histogram`]: lock-free latency histograms.
//! - [`core::logs`]: what every layer logs with.
//! - [`core::settings`]: what every subsystem's settings share: range checks, secrets.
//! - [`core::vocab`]: the shared vocabulary.

// The futures of the request path nest deeply (gRPC handler, cache compute, fan-out).
#![recursion_limit = "256"]

pub mod app;
pub mod core;
pub mod edge;
pub mod tools;
