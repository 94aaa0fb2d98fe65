//! c360: the whole picture of a customer, over gRPC, in under a millisecond when cached.
//!
//! `docs/architecture.md` tells how it works and why; this map says where each part lives.
//!
//! # Layout
//!
//! `src/` shows the layers as folders, top first: the tools, the wiring (`app`), the edge, the
//! core. Each unit below uses only units listed below it here, never one above it:
//! `tests/layers.rs` holds the code to this list (a module cycle, or a use of a unit listed
//! above, fails CI), and to two more rules — no file over 400 lines of code before its tests,
//! no function of the wiring over 80 lines. The generated API is a crate of its own,
//! `c360-proto` (`proto/`); the `c360` command is `src/bin/c360/`.
//!
//! The tools, around the service ([`tools`]), using it as a caller or an operator would:
//!
//! - [`tools::demo`]: the embedded demo: SQLite, seeded, served, optionally kept busy.
//! - [`tools::client`]: the `get`, `lookup`, `watch`, `invalidate`, `stats`, `top`, `health`
//!   and `search` (`client/history.rs`) commands, over gRPC; addresses, deadlines and failed
//!   connections explained (`client/connect.rs`), failures in one line (`error.rs`), text for people (`render.rs`,
//!   `stats_view.rs`, `top_view.rs`), JSON for programs (`json.rs`).
//! - [`tools::seed`]: a deterministic, realistic data set of any size, conversations' text
//!   included (`generate/messages.rs`, its words in five voices `messages/texts.rs`).
//!
//! The wiring, which only assembles:
//!
//! - [`app`]: settings in (`app/config.rs` composes each subsystem's own), a ready-to-serve
//!   [`app::App`] out: the backends connected (`backends.rs`), background tasks started and
//!   supervised (`tasks.rs`, `supervise.rs`), readiness followed as a watch (`readiness.rs`,
//!   `probe.rs`), logs and traces set up (`telemetry.rs`; the lines' formats
//!   `telemetry/lines.rs`), `[auth]` reloaded on `SIGHUP` or a changed file (`reload.rs`).
//!
//! The edge ([`edge`]), what callers meet:
//!
//! - [`edge::server`]: `run(listener, metrics, served, shutdown)`: gRPC with health and
//!   reflection, its layers in the order a call meets them (the agent's console, a page
//!   embedded from `console/dist` and served to `GET`s, `console.rs`; browsers, counting and
//!   logging, deadlines, the door), connections held to a share per peer and a handshake deadline
//!   (`accept.rs`), TLS, the drain on shutdown, `/metrics`.
//! - [`edge::grpc`]: the services: validation, what a caller's roles let it read, status
//!   mapping, each RPC named in its log lines (a span where spans are exported); the
//!   attention queue's (`grpc/attention_service.rs`: its items and page tokens `items.rs`, its
//!   resumable watch `watch.rs`); the offers' (`grpc/offer_service.rs`: approvals and the
//!   ledger's pages `ledger.rs`, its watch `watch.rs`, requests and answers `wire.rs`); history
//!   search's (`grpc/history_service.rs`: one customer's or everyone's, page tokens bound to
//!   a hash of the request, audited without its words).
//! - [`edge::auth`]: who is calling (bearer JWTs, hashed API keys) and what their roles grant;
//!   the `[auth]` in service, replaced on a reload, and the standing of open watches
//!   (`auth/live.rs`).
//! - [`edge::audit`]: one JSON line per profile read, lookup and refused call.
//! - [`edge::rpc_metrics`]: every gRPC method's calls, codes and latency.
//! - [`edge::replica`]: this replica's version, revision and start, as metrics and stats
//!   tell them.
//!
//! The core ([`core`]), the request path top first, then what it stands on:
//!
//! - [`core::offers`]: what an agent may offer a customer now, and the offers made: a
//!   customer's open problems read from its cached profile (`problems.rs`: the attention
//!   queue's reasons, and the order lines a refund may be asked for), the envelope of each
//!   problem's offers under rules written as a table, every factor weighed and the judgment of
//!   an offer asked for (`envelope.rs`), each role's limits and the day's budget
//!   (`settings.rs`), and the ledger in c360's own tables, an offer recorded atomically against
//!   a fresh envelope and every transition appended in position order (`store.rs`, its rows
//!   `store/rows.rs` and reads `store/reads.rs`; migrations `0009` on Postgres, `0007` on
//!   SQLite); the ledger followed on each replica, for the profiles' insights and the
//!   ledger's watches (`tail.rs`); offers as the wire writes them (`wire.rs`).
//! - [`core::attention`]: who needs contact now: kept live (`live.rs`: derived again as the
//!   read path announces changes, several at a time, and by a sweep at the earliest instant
//!   time alone changes a customer's items, or soon again when a backend did not answer;
//!   `live/schedule.rs` when; `live/waiting.rs` the line of customers waiting, changes before
//!   a build's, which waits for a place), built at start from the customers the backends'
//!   indexes name (`build.rs`: an undelivered parcel, a failed payment, an open, recent or
//!   rated interaction; migrations `0007` on Postgres, `0005` on SQLite); a customer's items at an instant, keyed by
//!   customer, reason and cause, with the next instant time alone changes them (`items.rs`),
//!   under rules checked at start (`settings.rs`), their service-level clocks in business
//!   hours (`calendar.rs`: due instants and time left, to the second, across daylight-saving
//!   changes and holidays); kept in c360's own tables with the agents' claims, fenced leases
//!   and every transition (`store.rs`, `store/claims.rs`, listed and paged by
//!   `store/queue.rs`; migrations `0005`–`0006` on Postgres, `0003`–`0004` on SQLite); the
//!   history tailed once per replica for watches, settled past ids that commit out of order
//!   (`tail.rs`).
//! - [`core::search`]: a customer's history searched — every message of every conversation
//!   in one tantivy index per replica, made at start and kept by following the messages
//!   table (`follow.rs`, ids settled past the ones that commit out of order); its fields and
//!   the analyzers that read a text three ways over `core::text`, terms and the sound keys of
//!   its Latin and of its Indic words (`schema.rs`); a query's words and phrases
//!   (`query.rs`); ranked by BM25, newest first among equals, filtered by customer, channel
//!   and time; a hit's snippet cut at words' edges (`snippet.rs`); `[search]`
//!   (`settings.rs`).
//! - [`core::queries`]: lookups by email, phone or order, and return checks.
//! - [`core::read`]: one profile read — L1, L2, then a load through the fan-out and the merge —
//!   refresh ahead, invalidations, what keeps profiles fresh, the read path's figures.
//! - [`core::cache`]: L1 (moka, generation-guarded), L2 (Redis, sealed to the key and the
//!   generation and the L2 epoch; `l2/fill.rs` its fills; one Redis or a Redis Cluster,
//!   `l2/connection.rs`, with keys hash-tagged by bucket, `l2/keys.rs`), the change feeds (by triggers,
//!   `feed/triggers.rs` woken by `feed/wake.rs`, or by logical decoding: `feed/logical.rs`, its slot and leader
//!   `slot.rs`, `pgoutput.rs`, a batch applied once it is visible `visible.rs`, what Redis
//!   has not confirmed `unpublished.rs`; the customers a feed names, each with the backends
//!   whose tables changed, `changes.rs`) and the invalidation bus.
//! - [`core::entry`]: the cache entry format: a profile pre-encoded section by section.
//! - [`core::convert`]: domain types to protobuf, for the entry format and the edge, and back
//!   ([`core::convert::back`]) for what a cached profile shows.
//! - [`core::profile`]: the merged profile: merge, enrichment from the catalog, insights.
//! - [`core::fanout`]: asks the backends; every read through its backend's stack (deadline,
//!   breaker, counted, hedge, faults), every load admitted and retried within a budget.
//! - [`core::sources`]: the ports to the backends (`Source`, `Lookups`) and their sqlx
//!   implementations.
//! - [`core::db`]: connections to Postgres (pipelined ones c360 holds itself for what serves
//!   a call, over tokio-postgres and rustls; sqlx's pool for the rest) or SQLite, the
//!   reference schema's migrations, the statements a source runs in either dialect, the
//!   batching of the customers' reads that arrive together into one statement, and the
//!   reading of the JSON documents a source's statement returns ([`core::db::json`]); the
//!   statistics c360 keeps for its own tables (`statistics.rs`).
//! - [`core::reference`]: the in-memory catalog and return policies, and their rules.
//! - [`core::records`]: the backends' records in c360's own types.
//! - [`core::histogram`]: lock-free latency histograms.
//! - [`core::logs`]: what every layer logs with, and the call a line is logged in.
//! - [`core::settings`]: what every subsystem's settings share: range checks, secrets.
//! - [`core::text`]: text as search reads it: words by Unicode's boundaries (UAX #29), Indic
//!   words kept whole, each folded to the term its spellings share (case and Latin
//!   diacritics; Hindi's nukta, chandrabindu and dead nasals; the joiners; Bengali's khanda
//!   ta), and cuts that never split a letter (its spelling variants in `text/tests.rs`);
//!   romanised Hindi and Bengali keyed like the same words in their scripts (`roman.rs`).
//! - [`core::vocab`]: the shared vocabulary: ids, money, times, backends, sections, statuses.
//!
//! Files named alike follow one convention: a subsystem's `settings.rs` holds its settings
//! (what they all share is [`core::settings`]); a `tests.rs` holds a module's longer tests.
//!
//! # Glossary
//!
//! A customer's profile takes several forms on its way from the backends to a caller:
//!
//! - [`core::fanout::Outcome`]: one backend's answer for one load, or why there is none;
//!   [`core::fanout::Gathered`] is a load's outcomes, with when they were read.
//! - [`core::profile::Answers`]: what the backends answered, sorted, before the catalog adds
//!   anything. A cached entry keeps no copy of them: it reads them back from the sections it
//!   shows ([`core::convert::back`]) with the few it does not ([`core::profile::Unshown`], the
//!   orders' totals), so that a catalog change can be applied again without asking the
//!   backends.
//! - [`core::profile::Profile`]: the merged profile in the domain's types, enriched and with
//!   its insights; made on every load, never cached as it is.
//! - [`core::entry::EncodedProfile`]: a profile's sections encoded as the wire's bytes, with
//!   the backends' reports: what every cache holds and every answer is cut from.
//! - [`core::entry::L2Entry`]: what L2 holds: an `EncodedProfile`, when it was read, the
//!   catalog it was enriched from, and the answers' unshown totals.
//! - [`core::cache::CachedProfile`]: an L1 entry: an `EncodedProfile` with its age, its
//!   catalog, the answers' unshown totals, and the claim of its refresh ahead.
//! - [`core::read::Served`]: one read's answer: the cached profile and where it came from.
//! - `c360_proto::WireProfile`: the answer's bytes, as the transport writes them (a cached
//!   body shared, not copied); `c360_proto::CustomerProfile` is the same message decoded, as
//!   clients see it.

// The futures of the request path nest deeply (gRPC handler, cache compute, fan-out).
#![recursion_limit = "256"]

pub mod app;
pub mod core;
pub mod edge;
pub mod tools;
