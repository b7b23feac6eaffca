//! What every feature uses and none owns: the configuration, the task
//! supervisor, logging, the HTTP edge (connections, limits, compression,
//! browser headers) and the Prometheus counters. Nothing here knows a
//! feature: no trading, watchlist or tick rule lives in `platform/`.

pub mod config;
pub mod edge;
pub mod logging;
pub mod prometheus;
pub mod tasks;
