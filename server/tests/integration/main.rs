//! The server's integration tests, in one test binary: each module speaks
//! to a real server (in this process, or the `tickpulse` binary it starts)
//! over the real protocols, against the real Redis and PostgreSQL.
//!
//! One binary links the server once instead of once per file; the tests of
//! all modules share its threads (`cargo test -- --test-threads`). The
//! memory measurement (`sse_memory.rs`) stays a binary of its own, so no
//! other test shares the machine with it.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod anomalies;
mod browser;
mod bus_conformance;
mod calc;
mod catalog;
mod client;
mod cluster;
mod compression;
mod crash;
mod embedded;
mod graphql;
mod history;
mod ingest;
mod limits;
mod metrics;
mod monitor;
mod persist;
mod redis_bus;
mod store_conformance;
mod stream;
mod tasks;
mod trade_failover;
mod trading;
mod watchlists;
mod ws;
