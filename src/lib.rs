//! c360: the whole picture of a customer, over gRPC, in under a millisecond when cached.
//!
//! # Layout
//!
//! Modules depend one way: each uses only modules listed below it here, never one above it
//! (`tests/layers.rs` holds the code to this list, so CI fails on a module cycle). The
//! generated API is a crate of its own, `c360-proto` (`proto/`).
//!
//! Tools around the service:
//!
//! - [`demo`]: the embedded demo: SQLite, seeded, served, optionally kept busy.
//! - [`client`]: the `get`, `lookup`, `watch`, `invalidate`, `stats` and `top` commands, over
//!   gRPC; addresses, deadlines and failed connections explained (`client/connect.rs`).
//! - [`seed`]: a deterministic, realistic data set of any size.
//!
//! The service, wiring first:
//!
//! - [`server`]: `run(listener, app, shutdown)`: gRPC with health (following readiness; the
//!   overall entry also whether any backend answers) and
//!   reflection, HTTP/2 limits, every call's deadline capped (`server/deadline.rs`), the
//!   drain on shutdown, gRPC-Web and CORS for browsers only (`server/browser.rs`), the
//!   door that authenticates callers (`server/auth.rs`), TLS with certificates reloaded when
//!   their files change (`server/tls.rs`), every call counted, timed and logged with its
//!   request id (`server/observe.rs`), `/metrics` on a listener of its own
//!   (`server/scrape.rs`).
//! - [`app`]: wiring: settings in, a ready-to-serve [`app::App`] out, background tasks
//!   (feeds, bus, L2 repair, catalog refresh) included and supervised (`app/supervise.rs`);
//!   which backends answer, for the overall health entry (`app/probe.rs`); its figures in
//!   the Prometheus text format (`app/metrics.rs`).
//! - [`config`]: settings from a TOML file, `C360_*` variables and flags, each validated
//!   (`config/validate.rs`).
//!
//! The request path, edge first (design.md §1):
//!
//! - [`grpc`]: the edge. Validation, status mapping, the services (`CustomerService` with
//!   its watch, `CatalogService`, `CacheAdminService`), one span per RPC carrying the call's
//!   request id and trace (`grpc/call.rs`).
//! - [`queries`]: lookups by email, phone or order, and return checks.
//! - [`profiles`]: one profile read — L1, L2, then the fan-out and the merge, admitted by
//!   admission control and retried within the caller's deadline when no backend answered —
//!   refresh ahead, coalesced reads that bypass the caches (`profiles/bypass.rs`), and the
//!   invalidations that keep it fresh.
//! - [`cache`]: L1 (moka, bounded by bytes, one load per key, entries served only under the
//!   generation they were loaded under), L2 (Redis, guarded fills, the invalidations it did not
//!   confirm), the change-feed follower (transaction horizon) and the Redis invalidation bus.
//! - [`entry`]: the cache entry format: a profile pre-encoded section by section, as the
//!   caches hold it and the edge serves it, and its bytes in L2 (with the backends' answers
//!   packed).
//! - [`convert`]: domain types to protobuf, for the entry format and the edge.
//! - [`profile`]: the merged profile: the backends' answers sorted and kept (packed, so
//!   that a catalog change can be applied again without a backend read), enrichment from the
//!   catalog, insights.
//! - [`fanout`]: asks the backends, concurrently, each read under a deadline, behind a
//!   circuit breaker per backend (`fanout/breaker.rs`), hedged past the backend's 95th
//!   percentile within a budget (`fanout/hedge.rs`), and counted.
//! - [`admission`]: how many loads run at once, a limit adapted to the backends' latency
//!   (a gradient), and the shedding beyond it; bulk work gets a share of the limit.
//! - [`sources`]: the two ports to the backends — `Source` (one per backend: a customer's
//!   data) and `Lookups` (customers and orders by key) — their sqlx implementations, the
//!   catalog loader, and fault injection.
//! - [`reference`]: the in-memory catalog and return policies, and the rules that use them
//!   (delivery, return eligibility, which line a return check judges).
//!
//! Foundations:
//!
//! - [`audit`]: one JSON line per profile read and lookup (who, which customer, which
//!   sections, how it ended, from where), to a sink of its own; lookup keys masked.
//! - [`auth`]: who is calling (bearer JWTs, hashed API keys) and which RPCs their roles
//!   grant; deny by default once on.
//! - [`db`]: pools to Postgres or SQLite, the reference schema's migrations.
//! - [`metrics`]: the figures c360 keeps about itself: lock-free latency histograms
//!   (50 µs to 5 s) and every gRPC method's calls and codes; their exposition to Prometheus
//!   is `app/metrics.rs`'s, served by `server/scrape.rs`.
//! - [`records`]: the backends' records (identity, billing, orders, shipments,
//!   interactions) in c360's own types (serde, for packing).
//! - [`telemetry`]: logs through tracing, spans to an OpenTelemetry collector (OTLP) when
//!   configured, each call's under its caller's `traceparent`; a gate that turns a warning
//!   repeated per request into one a second; the error-chain helper every layer logs with.
//! - [`vocab`]: the shared vocabulary: times, money, ids and keys, the backends
//!   (`SourceKind`, `SourceSet`, `PerSource`), source statuses and reports, sections.

// The futures of the request path nest deeply (gRPC handler, cache compute, fan-out).
#![recursion_limit = "256"]

pub mod admission;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod client;
pub mod config;
pub mod convert;
pub mod db;
pub mod demo;
pub mod entry;
pub mod fanout;
pub mod grpc;
pub mod metrics;
pub mod profile;
pub mod profiles;
pub mod queries;
pub mod records;
pub mod reference;
pub mod seed;
pub mod server;
pub mod sources;
pub mod telemetry;
pub mod vocab;
