//! [`Tick`] (what a feeder sends, after validation) and [`StreamTick`] (a tick
//! as tickpulse accepted it: with its stream id and receive time).
//!
//! # Format
//! Both serialise to flat JSON objects; decimals are strings, times RFC 3339:
//! `{"symbol":"BTC-USD","price":"64000.5","volume":"0.25","source":"sim",
//!   "ts":"2026-11-22T10:00:00.125Z","event_id":"sim-1-42"}`;
//! a `StreamTick` adds `"id":"1732269600125-0"` and `"received_at"`.

use crate::{EventId, Price, Source, StreamId, Symbol, Timestamp, Volume};
use serde::{Deserialize, Serialize};

/// One price observation for one symbol, as sent by a feeder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct StreamTick {
    /// The stream id (`<millis>-<seq>`), monotonically increasing per stream;
    /// SSE clients see it as the event `id:`.
    pub id: StreamId,
    #[serde(flatten)]
    #[cfg_attr(feature = "graphql", graphql(flatten))]
    pub tick: Tick,
    /// Receive time: when tickpulse accepted the tick.
    pub received_at: Timestamp,
}

/// The flat JSON shape of a [`StreamTick`], read field by field (a derived
/// `flatten` would buffer every field first, and this is read for every tick
/// the pipeline moves). The id is optional so the stream's stored form,
/// which has none, can be read too.
#[derive(Deserialize)]
struct FlatStreamTick {
    #[serde(default)]
    id: Option<StreamId>,
    symbol: Symbol,
    price: Price,
    #[serde(default)]
    volume: Volume,
    #[serde(default = "Source::unknown")]
    source: Source,
    ts: Timestamp,
    event_id: EventId,
    received_at: Timestamp,
}

impl FlatStreamTick {
    fn with_id(self, id: StreamId) -> StreamTick {
        StreamTick {
            id,
            tick: Tick {
                symbol: self.symbol,
                price: self.price,
                volume: self.volume,
                source: self.source,
                ts: self.ts,
                event_id: self.event_id,
            },
            received_at: self.received_at,
        }
    }
}

impl<'de> Deserialize<'de> for StreamTick {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let flat = FlatStreamTick::deserialize(d)?;
        let id = flat
            .id
            .ok_or_else(|| serde::de::Error::missing_field("id"))?;
        Ok(flat.with_id(id))
    }
}

impl StreamTick {
    /// Reads a tick stored without its id (as the stream keeps it: the id
    /// is the entry's) and gives it `id`; an `id` inside the JSON is ignored.
    ///
    /// # Errors
    /// When `json` is not a valid tick.
    pub fn from_stored_json(json: &str, id: StreamId) -> serde_json::Result<Self> {
        serde_json::from_str::<FlatStreamTick>(json).map(|f| f.with_id(id))
    }
}

impl Tick {
    /// Whether this tick should replace `stored` in a latest-value view:
    /// a later event time wins; on equal event times the later arrival wins.
    /// Calc's window keeps its view's last tick by the same rule
    /// (`SymbolWindow::apply`, which breaks ties by stream id: arrival).
    pub fn supersedes(&self, stored: &Tick) -> bool {
        self.ts >= stored.ts
    }
}

/// The newest tick of one symbol (by event time) and the first price ever
/// seen for it: what the dashboard shows per row and what an SSE `snapshot`
/// carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct LatestTick {
    #[serde(flatten)]
    #[cfg_attr(feature = "graphql", graphql(flatten))]
    pub tick: StreamTick,
    /// The first price seen for this symbol; change is measured against it.
    pub first_price: Price,
}

impl LatestTick {
    pub fn symbol(&self) -> &Symbol {
        &self.tick.tick.symbol
    }

    /// Change since first seen, absolute and in percent (two decimals).
    pub fn change(&self) -> (rust_decimal::Decimal, rust_decimal::Decimal) {
        let last = self.tick.tick.price.value();
        let first = self.first_price.value();
        let abs = (last - first).normalize();
        let pct = (abs * rust_decimal::Decimal::ONE_HUNDRED / first)
            .round_dp(2)
            .normalize();
        (abs, pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_tick_json_is_flat_and_round_trips() {
        let json = r#"{"id":"5-1","symbol":"X","price":"1.5","volume":"0","source":"s","ts":"2026-11-22T10:00:00Z","event_id":"e","received_at":"2026-11-22T10:00:00.001Z","first_price":"1.2"}"#;
        let latest: LatestTick = serde_json::from_str(json).unwrap();
        assert_eq!(latest.tick.id, StreamId::new(5, 1));
        assert_eq!(latest.change().1.to_string(), "25");
        let again: LatestTick =
            serde_json::from_str(&serde_json::to_string(&latest).unwrap()).unwrap();
        assert_eq!(again, latest);
    }
}

/// The data of an SSE `snapshot` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Snapshot {
    /// `true` when this snapshot replaces state after missed updates (the
    /// client fell behind or the server lost its subscription).
    pub reset: bool,
    pub ticks: Vec<LatestTick>,
}
