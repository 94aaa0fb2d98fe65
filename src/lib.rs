//! c360: the whole picture of a customer, over gRPC, in under a millisecond when cached.
//!
//! # Layout
//!
//! The request path of a profile read, edge first (see `../shared/design.md` §1):
//!
//! - [`grpc`]: the edge. Validation, status mapping, protobuf conversions, the three
//!   services (`CustomerService`, `CatalogService`).
//! - [`profiles`]: one profile read, edge-independent: L1, then the fan-out, then the merge.
//! - [`cache`]: L1, the in-process profile cache (moka, bounded by bytes, one load per key).
//! - [`fanout`]: asks the backends a read needs, concurrently, each under a deadline.
//! - [`sources`]: the `Source` trait and one sqlx implementation per backend (billing,
//!   orders, fulfilment, CRM), plus the catalog backend.
//! - [`profile`]: the domain model; read masks; merge, enrichment, insights.
//! - [`reference`]: the in-memory catalog and return policies; the return-eligibility rule.
//! - [`keys`]: ids, SKUs, emails and phone numbers, parsed and normalised.
//!
//! Around it:
//!
//! - [`app`]: wiring: settings in, a ready-to-serve [`app::App`] out.
//! - [`server`]: `run(listener, app, shutdown)`: gRPC with health and reflection.
//! - [`config`]: settings from a TOML file, `C360_*` variables and flags.
//! - [`db`]: pools to Postgres or SQLite, the reference schema's migrations.
//! - [`seed`]: a deterministic, realistic data set of any size.
//! - [`client`]: the `get` and `lookup` commands, over gRPC.
//! - [`demo`]: the embedded demo: SQLite, seeded, served.
//! - [`telemetry`]: logs through tracing.
//! - [`pb`]: the generated protobuf types, used only at the edge.

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
