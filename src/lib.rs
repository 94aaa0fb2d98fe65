//! c360: the whole picture of a customer, over gRPC, in under a millisecond when cached.
//!
//! # Layout
//!
//! The request path of a profile read, edge first (see `../shared/design.md` §1):
//!
//! - [`grpc`]: the edge. Validation, status mapping, the services (`CustomerService` with
//!   its watch, `CatalogService`, `CacheAdminService`).
//! - [`profiles`]: one profile read, edge-independent — L1, L2, then the fan-out and the
//!   merge — and the invalidations that keep it fresh.
//! - [`cache`]: L1 (moka, bounded by bytes, one load per key, generation-guarded fills), L2
//!   (Redis), the change-feed follower and the Redis invalidation bus.
//! - [`wire`]: protobuf conversions; profiles pre-encoded section by section as the
//!   caches hold and the edge serves them.
//! - [`fanout`]: asks the backends a read needs, concurrently, each under a deadline.
//! - [`sources`]: the `Source` trait and one sqlx implementation per backend (billing,
//!   orders, fulfilment, CRM), plus the catalog backend.
//! - [`profile`]: the domain model; read masks; merge, enrichment, insights.
//! - [`reference`]: the in-memory catalog and return policies; the return-eligibility rule.
//! - [`keys`]: ids, SKUs, emails and phone numbers, parsed and normalised.
//!
//! Around it:
//!
//! - [`app`]: wiring: settings in, a ready-to-serve [`app::App`] out, background tasks
//!   (feeds, bus, catalog refresh) included.
//! - [`server`]: `run(listener, app, shutdown)`: gRPC with health and reflection, gRPC-Web
//!   and CORS for browsers only (`server/browser.rs`).
//! - [`config`]: settings from a TOML file, `C360_*` variables and flags.
//! - [`db`]: pools to Postgres or SQLite, the reference schema's migrations.
//! - [`seed`]: a deterministic, realistic data set of any size.
//! - [`client`]: the `get`, `lookup`, `watch`, `invalidate` and `stats` commands, over gRPC.
//! - [`demo`]: the embedded demo: SQLite, seeded, served, optionally kept busy.
//! - [`telemetry`]: logs through tracing.
//! - [`pb`]: the generated protobuf types, used only at the edge and in `wire`.

// The futures of the request path nest deeply (gRPC handler, cache compute, fan-out).
#![recursion_limit = "256"]

pub mod app;
pub mod cache;
pub mod client;
pub mod config;
pub mod db;
pub mod demo;
pub mod fanout;
pub mod grpc;
pub mod keys;
pub mod pb;
pub mod profile;
pub mod profiles;
pub mod reference;
pub mod seed;
pub mod server;
pub mod sources;
pub mod telemetry;
pub mod wire;
