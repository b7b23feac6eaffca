//! [`Tick`] (what a feeder sends, after validation) and [`StreamTick`] (a tick
//! as tickpulse accepted it: with its stream id and receive time).
//!
//! # Format
//! Both serialise to flat JSON objects; decimals are strings, times RFC 3339:
//! `{"symbol":"BTC-USD","price":"64000.5","volume":"0.25","source":"sim",
//!   "ts":"2026-11-22T10:00:00.125Z","event_id":"sim-1-42"}`;
//! a `StreamTick` adds `"id":"1732269600125-0"` and `"received_at"`.

use crate::{EventId, Price, Source, Symbol, Timestamp, Volume};
use serde::{Deserialize, Serialize};

/// One price observation for one symbol, as sent by a feeder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: Symbol,
    pub price: Price,
    #[serde(default)]
    pub volume: Volume,
    #[serde(default = "Source::unknown")]
    pub source: Source,
    /// Event time: when the market produced the tick.
    pub ts: Timestamp,
    /// Idempotency key: a second tick with the same id is a duplicate.
    pub event_id: EventId,
}

/// A tick as accepted into the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamTick {
    /// The stream id (`<millis>-<seq>`), monotonically increasing per stream;
    /// SSE clients see it as the event `id:`.
    pub id: String,
    #[serde(flatten)]
    pub tick: Tick,
    /// Receive time: when tickpulse accepted the tick.
    pub received_at: Timestamp,
}

impl Tick {
    /// Whether this tick should replace `stored` in a latest-value view:
    /// a later event time wins; on equal event times the later arrival wins.
    pub fn supersedes(&self, stored: &Tick) -> bool {
        self.ts >= stored.ts
    }
}
