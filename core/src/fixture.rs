//! Test fixtures for every crate's tests: stream ticks built from the few
//! fields a test cares about, through the same JSON reading as real ones, so
//! a fixture is always a valid tick. Always compiled (it is a few lines):
//! behind a feature, the test build of the workspace and its normal build
//! would compile core and everything above it twice.

use crate::{StreamId, StreamTick};

/// A [`StreamTick`] under construction; [`stream_tick`] starts one.
#[derive(Debug, Clone)]
pub struct StreamTickBuilder {
    id: StreamId,
    symbol: String,
    price: String,
    volume: String,
    source: String,
    ts_ms: i64,
    event_id: String,
    /// `None`: the event time.
    received_ms: Option<i64>,
}

/// A tick of `symbol` at id `1-0`, price 1, volume 0, source `t`, event time
/// 0 and event id `e`; set what the test needs.
pub fn stream_tick(symbol: &str) -> StreamTickBuilder {
    StreamTickBuilder {
        id: StreamId::new(1, 0),
        symbol: symbol.to_owned(),
        price: "1".into(),
        volume: "0".into(),
        source: "t".into(),
        ts_ms: 0,
        event_id: "e".into(),
        received_ms: None,
    }
}

impl StreamTickBuilder {
    pub fn id(mut self, id: StreamId) -> Self {
        self.id = id;
        self
    }
    pub fn price(mut self, price: &str) -> Self {
        price.clone_into(&mut self.price);
        self
    }
    pub fn volume(mut self, volume: &str) -> Self {
        volume.clone_into(&mut self.volume);
        self
    }
    pub fn source(mut self, source: &str) -> Self {
        source.clone_into(&mut self.source);
        self
    }
    /// The event time, in ms since the epoch.
    pub fn ts_ms(mut self, ms: i64) -> Self {
        self.ts_ms = ms;
        self
    }
    pub fn event_id(mut self, event_id: &str) -> Self {
        event_id.clone_into(&mut self.event_id);
        self
    }
    /// The receive time, in ms since the epoch (default: the event time).
    pub fn received_ms(mut self, ms: i64) -> Self {
        self.received_ms = Some(ms);
        self
    }

    /// # Panics
    /// When a field is not valid for a tick (a fixture's mistake).
    pub fn build(self) -> StreamTick {
        serde_json::from_value(serde_json::json!({
            "id": self.id.to_string(), "symbol": self.symbol, "price": self.price,
            "volume": self.volume, "source": self.source, "ts": self.ts_ms,
            "event_id": self.event_id, "received_at": self.received_ms.unwrap_or(self.ts_ms),
        }))
        .unwrap_or_else(|e| panic!("not a valid fixture tick: {e}"))
    }
}
