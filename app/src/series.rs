//! The data behind the symbol page's charts, kept free of any chart library
//! so it is built and tested natively; `charts` (browser only) draws it.

use crate::format::clock;
use tickpulse_core::{Candle, Interval, StreamTick, Timestamp};

/// One point per tick, oldest first: what the price line and volume bars show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceSeries {
    /// Event time, `HH:MM:SS.mmm` UTC.
    pub times: Vec<String>,
    pub prices: Vec<f64>,
    pub volumes: Vec<f64>,
}

/// `ticks` newest first, as the page keeps them.
pub fn price_series<'a>(ticks: impl DoubleEndedIterator<Item = &'a StreamTick>) -> PriceSeries {
    let mut series = PriceSeries::default();
    for t in ticks.rev() {
        series.times.push(clock(t.tick.ts, true));
        series.prices.push(number(t.tick.price.to_string()));
        series.volumes.push(number(t.tick.volume.to_string()));
    }
    series
}

/// One bar per candle, oldest first, in ECharts' order: open, close, low, high.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandleSeries {
    pub buckets: Vec<String>,
    pub ohlc: Vec<[f64; 4]>,
    pub volumes: Vec<f64>,
}

pub fn candle_series(candles: &[Candle], interval: Interval) -> CandleSeries {
    let mut series = CandleSeries::default();
    for c in candles {
        series.buckets.push(bucket_label(c.bucket, interval));
        series.ohlc.push([
            number(c.open.to_string()),
            number(c.close.to_string()),
            number(c.low.to_string()),
            number(c.high.to_string()),
        ]);
        series.volumes.push(number(c.volume.to_string()));
    }
    series
}

/// Candles of one interval, oldest first, kept up to date by live ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCandles {
    pub interval: Interval,
    pub candles: Vec<Candle>,
    /// The newest event time included: a tick older than it changes high,
    /// low, volume and trades of its candle, but not the close.
    newest: Option<Timestamp>,
}

impl LiveCandles {
    /// Candles as the candles API returns them (oldest first).
    pub fn new(interval: Interval, candles: Vec<Candle>) -> Self {
        // The API does not say when a candle's last tick was: take its start.
        let newest = candles.last().map(|c| c.bucket);
        Self {
            interval,
            candles,
            newest,
        }
    }

    pub fn apply(&mut self, t: &StreamTick) {
        let bucket = self.interval.bucket(t.tick.ts);
        let is_newest = self.newest.is_none_or(|n| t.tick.ts >= n);
        if is_newest {
            self.newest = Some(t.tick.ts);
        }
        match self.candles.binary_search_by_key(&bucket, |c| c.bucket) {
            Ok(i) => self.candles[i].include(t, is_newest),
            Err(i) => self.candles.insert(i, Candle::first(bucket, t)),
        }
    }
}

fn bucket_label(ts: Timestamp, interval: Interval) -> String {
    match interval {
        Interval::S1 | Interval::M1 | Interval::M5 => clock(ts, false),
        Interval::H1 => {
            let full = ts.to_rfc3339();
            full.get(5..16).unwrap_or(&full).replace('T', " ")
        }
        Interval::D1 => {
            let full = ts.to_rfc3339();
            full.get(..10).unwrap_or(&full).to_owned()
        }
    }
}

/// The `points` of an SVG polyline drawing `prices` (oldest first) in a
/// `width` × `height` box, lowest at the bottom; a flat line when they do
/// not move, nothing for no prices.
pub fn sparkline(prices: &[tickpulse_core::Price], width: f64, height: f64) -> String {
    let values: Vec<f64> = prices.iter().map(|p| number(p.to_string())).collect();
    let (low, high) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let step = if values.len() > 1 {
        width / (values.len() - 1) as f64
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = if high > low {
                height - (v - low) / (high - low) * height
            } else {
                height / 2.0
            };
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prices are decimals; the chart only needs them as plotted numbers.
fn number(text: String) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(id: u64, ms: i64, price: &str, volume: &str) -> StreamTick {
        tickpulse_core::fixture::stream_tick("AAPL")
            .id(tickpulse_core::StreamId::new(id, 0))
            .price(price)
            .volume(volume)
            .ts_ms(ms)
            .event_id(&format!("e{id}"))
            .build()
    }

    const T0: i64 = 1_795_000_020_000; // a whole minute

    #[test]
    fn the_price_series_runs_oldest_first() {
        let newest_first = [tick(2, T0 + 1_500, "11.5", "3"), tick(1, T0, "10", "2")];
        let s = price_series(newest_first.iter());
        assert_eq!(s.prices, [10.0, 11.5]);
        assert_eq!(s.volumes, [2.0, 3.0]);
        assert_eq!(
            s.times[1],
            clock(Timestamp::from_nanos((T0 + 1_500) * 1_000_000), true)
        );
        assert!(s.times[1].ends_with(":01.500"), "{}", s.times[1]);
    }

    #[test]
    fn a_sparkline_spans_the_box_lowest_at_the_bottom() {
        let p = |s: &str| s.parse::<tickpulse_core::Price>().unwrap();
        assert_eq!(
            sparkline(&[p("10"), p("12"), p("11")], 80.0, 20.0),
            "0.0,20.0 40.0,0.0 80.0,10.0"
        );
        assert_eq!(
            sparkline(&[p("5"), p("5")], 80.0, 20.0),
            "0.0,10.0 80.0,10.0"
        );
        assert_eq!(sparkline(&[], 80.0, 20.0), "");
    }

    #[test]
    fn live_ticks_move_the_last_candle_and_open_new_ones() {
        let ticks = [tick(1, T0, "10", "1"), tick(2, T0 + 10_000, "12", "1")];
        let mut live =
            LiveCandles::new(Interval::M1, tickpulse_core::candles(&ticks, Interval::M1));
        live.apply(&tick(3, T0 + 20_000, "9", "2"));
        live.apply(&tick(4, T0 + 61_000, "9.5", "1"));
        // A late tick in the first minute: high, low and volume, not the close.
        live.apply(&tick(5, T0 + 5_000, "8", "1"));
        let all = [
            ticks.to_vec(),
            vec![
                tick(3, T0 + 20_000, "9", "2"),
                tick(4, T0 + 61_000, "9.5", "1"),
                tick(5, T0 + 5_000, "8", "1"),
            ],
        ]
        .concat();
        let expected = tickpulse_core::candles(&all, Interval::M1);
        assert_eq!(live.candles.len(), 2);
        let (got, want) = (&live.candles[0], &expected[0]);
        assert_eq!(
            (got.open, got.high, got.low, got.close),
            (want.open, want.high, want.low, want.close)
        );
        assert_eq!(
            (got.volume.value().normalize(), got.trades),
            (want.volume.value().normalize(), want.trades)
        );
        assert_eq!(live.candles[1].close, expected[1].close);
        let s = candle_series(&live.candles, Interval::M1);
        assert_eq!(s.ohlc[0], [10.0, 9.0, 8.0, 12.0], "open, close, low, high");
    }
}
