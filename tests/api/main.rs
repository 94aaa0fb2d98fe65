//! Integration tests: the real server on an ephemeral port, a real gRPC client, real SQLite
//! and Postgres databases seeded by `c360::tools::seed`. Every test runs over both.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod helpers;

mod attention;
mod attention_api;
mod auth;
mod browser;
mod catalog;
mod client;
mod connections;
mod consistency;
mod console;
mod faults;
mod freshness;
mod history;
mod logical_feed;
mod lookups;
mod observability;
mod offers;
mod operations;
mod profiles;
mod redis_cluster;
mod reload;
mod replicas;
mod seeding;
mod sources;
mod stampede;
mod tls;
