//! Candles: OHLCV per time bucket of event time.
//!
//! The server computes candles in the database; [`candles`] is the same rule
//! in Rust (used by clients and to check the database's result).

use crate::ValueError;
use crate::{Price, StreamTick, Timestamp, Volume};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A candle interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Interval {
    #[serde(rename = "1s")]
    S1,
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub const ALL: [Interval; 5] = [
        Interval::S1,
        Interval::M1,
        Interval::M5,
        Interval::H1,
        Interval::D1,
    ];

    pub fn nanos(self) -> i64 {
        const S: i64 = 1_000_000_000;
        match self {
            Interval::S1 => S,
            Interval::M1 => 60 * S,
            Interval::M5 => 300 * S,
            Interval::H1 => 3_600 * S,
            Interval::D1 => 86_400 * S,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::H1 => "1h",
            Interval::D1 => "1d",
        }
    }

    /// The start of the bucket holding `ts` (UTC; days start at midnight).
    pub fn bucket(self, ts: Timestamp) -> Timestamp {
        let n = ts.as_nanos();
        Timestamp::from_nanos(n - n.rem_euclid(self.nanos()))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| ValueError::NotAnInterval(s.to_owned()))
    }
}

/// Open, high, low, close, volume and number of trades of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Candle {
    /// Start of the bucket.
    pub bucket: Timestamp,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Volume,
    pub trades: u64,
}

impl Candle {
    /// The candle of `bucket` opened by `t`.
    pub fn first(bucket: Timestamp, t: &StreamTick) -> Self {
        let price = t.tick.price;
        Self {
            bucket,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: t.tick.volume,
            trades: 1,
        }
    }

    /// Adds a tick of this candle's bucket; it becomes the close when
    /// `is_newest` (no tick of the bucket is later).
    pub fn include(&mut self, t: &StreamTick, is_newest: bool) {
        let price = t.tick.price;
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        if is_newest {
            self.close = price;
        }
        self.volume =
            Volume::new_checked(self.volume.value() + t.tick.volume.value()).unwrap_or(self.volume);
        self.trades += 1;
    }
}

/// Candles of `ticks` (any order), oldest bucket first. Open and close are
/// the first and last tick by `(ts, stream id)`.
pub fn candles(ticks: &[StreamTick], interval: Interval) -> Vec<Candle> {
    let mut sorted: Vec<&StreamTick> = ticks.iter().collect();
    sorted.sort_by_key(|t| (t.tick.ts, t.id));
    let mut builder = CandleBuilder::new(interval);
    for t in sorted {
        builder.push(t);
    }
    builder.finish()
}

/// Builds candles from ticks that arrive in `(ts, stream id)` order, one at
/// a time, so a store can stream its rows through it.
#[derive(Debug)]
pub struct CandleBuilder {
    interval: Interval,
    out: Vec<Candle>,
}

impl CandleBuilder {
    pub fn new(interval: Interval) -> Self {
        Self {
            interval,
            out: Vec::new(),
        }
    }

    /// Adds the next tick; it must not come before the previous one.
    pub fn push(&mut self, t: &StreamTick) {
        let bucket = self.interval.bucket(t.tick.ts);
        match self.out.last_mut() {
            Some(c) if c.bucket == bucket => c.include(t, true),
            _ => self.out.push(Candle::first(bucket, t)),
        }
    }

    /// The candles, oldest first.
    pub fn finish(mut self) -> Vec<Candle> {
        for c in &mut self.out {
            c.volume = Volume::new_checked(c.volume.value().normalize()).unwrap_or(c.volume);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(id: u64, ms: i64, price: &str, volume: &str) -> StreamTick {
        crate::fixture::stream_tick("C")
            .id(crate::StreamId::new(id, 0))
            .price(price)
            .volume(volume)
            .ts_ms(ms)
            .event_id(&format!("e{id}"))
            .build()
    }

    #[test]
    fn buckets_and_ohlcv() {
        let t0 = 1_795_341_600_000; // 10:00:00.000
        let ticks = [
            tick(3, t0 + 30_000, "12", "1"),
            tick(1, t0, "10", "2"),
            tick(2, t0 + 10_000, "9", "1"),
            tick(4, t0 + 61_000, "11", "0.5"),
        ];
        let c = candles(&ticks, Interval::M1);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].bucket.as_millis(), t0);
        let ohlcv = |c: &Candle| {
            (
                c.open.to_string(),
                c.high.to_string(),
                c.low.to_string(),
                c.close.to_string(),
                c.volume.to_string(),
                c.trades,
            )
        };
        assert_eq!(
            ohlcv(&c[0]),
            (
                "10".into(),
                "12".into(),
                "9".into(),
                "12".into(),
                "4".into(),
                3
            )
        );
        assert_eq!(
            ohlcv(&c[1]),
            (
                "11".into(),
                "11".into(),
                "11".into(),
                "11".into(),
                "0.5".into(),
                1
            )
        );
        assert_eq!(candles(&ticks, Interval::H1).len(), 1);
    }

    #[test]
    fn intervals_parse_and_bucket() {
        assert_eq!("5m".parse::<Interval>().unwrap(), Interval::M5);
        assert!("2m".parse::<Interval>().is_err());
        let ts = Timestamp::parse_rfc3339("2026-11-22T10:07:31.5Z").unwrap();
        assert_eq!(Interval::M5.bucket(ts).to_rfc3339(), "2026-11-22T10:05:00Z");
        assert_eq!(Interval::D1.bucket(ts).to_rfc3339(), "2026-11-22T00:00:00Z");
    }
}
