//! The tick's way through the server, one stage per folder: `ingest` (the
//! webhook and the writer that appends to the bus), `consumer` (reading a
//! consumer group in batches), `calc` (windows and views), `persist` (ticks
//! into the store) and `gateway` (the bus's updates fanned out to SSE
//! clients); `leased` runs a stage one process at a time holds (calc,
//! trade). A stage reads and writes the bus and the store; it knows no
//! feature's rules (trading's own consumer lives in `trading/`).

pub mod calc;
pub mod consumer;
pub mod gateway;
pub mod ingest;
pub mod leased;
pub mod persist;
