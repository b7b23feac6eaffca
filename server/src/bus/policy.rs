//! The rules both bus backends follow, written once: how many dead letters
//! are kept, which entry a group has not acknowledged yet, and how far the
//! tick stream may be trimmed, and how the latest ticks follow from calc's
//! views and the ticks after them. The latest-tick rule itself is
//! `Tick::supersedes` in core.

use std::collections::HashMap;
use std::time::Duration;
use tickpulse_core::{LatestTick, StreamId, StreamTick, Symbol, Timestamp, View};

/// About this many dead letters are kept; older ones are trimmed.
pub const DEAD_LETTER_CAP: usize = 100_000;

/// The first entry a group has not acknowledged: its oldest pending entry,
/// or the one after the last it was handed.
pub fn first_unacknowledged(
    oldest_pending: Option<StreamId>,
    last_delivered: StreamId,
) -> StreamId {
    oldest_pending.unwrap_or(last_delivered.next())
}

/// Where the tick stream may be trimmed to: below the retention period, or
/// below `byte_floor` (the first entry the byte budget keeps) where that is
/// later, but never past the first entry some group has not acknowledged.
pub fn trim_floor(
    first_unacknowledged: impl IntoIterator<Item = StreamId>,
    retain: Duration,
    byte_floor: StreamId,
) -> StreamId {
    first_unacknowledged
        .into_iter()
        .fold(retained_from(retain).max(byte_floor), StreamId::min)
}

/// The first stream id younger than `retain`: entries from here on are kept
/// by a trim even when every group acknowledged them.
fn retained_from(retain: Duration) -> StreamId {
    let retain_ms = u64::try_from(retain.as_millis()).unwrap_or(u64::MAX);
    let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
    StreamId::new((now_ms + 1).saturating_sub(retain_ms), 0)
}

/// The latest tick of each symbol of a partition, from calc's views and the
/// ticks calc has not acknowledged yet: a view includes every tick of its
/// symbol up to its `stream_id`, and every tick before calc's first
/// unacknowledged entry is in some view. So the views, then the ticks from
/// that entry on (in stream order, skipping those a view already counted),
/// give what an append-time latest-tick view would hold, without an append
/// touching a key per symbol.
#[derive(Default)]
pub struct Latest {
    by_symbol: HashMap<Symbol, (LatestTick, StreamId)>,
}

impl Latest {
    pub fn from_views(views: impl IntoIterator<Item = View>) -> Self {
        let by_symbol = views
            .into_iter()
            .map(|view| {
                // A view stored before it kept the first price: its session
                // open is the earliest price known.
                let first_price = view.first_price.unwrap_or(view.open);
                let latest = LatestTick {
                    tick: view.last,
                    first_price,
                };
                (view.symbol, (latest, view.stream_id))
            })
            .collect();
        Self { by_symbol }
    }

    /// Takes the next tick of the stream (after calc's position).
    pub fn add(&mut self, tick: &StreamTick) {
        match self.by_symbol.get_mut(&tick.tick.symbol) {
            Some((_, counted)) if tick.id <= *counted => {}
            Some((latest, _)) => {
                if tick.tick.supersedes(&latest.tick.tick) {
                    latest.tick = tick.clone();
                }
            }
            None => {
                let first = LatestTick {
                    tick: tick.clone(),
                    first_price: tick.tick.price,
                };
                self.by_symbol
                    .insert(tick.tick.symbol.clone(), (first, StreamId::ZERO));
            }
        }
    }

    /// The latest ticks, in no particular order.
    pub fn into_ticks(self) -> impl Iterator<Item = LatestTick> {
        self.by_symbol.into_values().map(|(latest, _)| latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(id: u64, symbol: &str, price: &str, ts_secs: i64) -> StreamTick {
        serde_json::from_value(serde_json::json!({
            "id": format!("{id}-0"), "symbol": symbol, "price": price, "volume": "1",
            "source": "t", "ts": ts_secs * 1_000_000_000, "event_id": format!("e{id}"),
            "received_at": 1_795_000_000_000i64
        }))
        .unwrap()
    }

    #[test]
    fn latest_ticks_are_the_views_then_what_calc_has_not_counted() {
        let mut window = tickpulse_core::SymbolWindow::default();
        let settings = tickpulse_core::WindowSettings::default();
        window.apply(&tick(1, "A", "10", 100), &settings);
        window.apply(&tick(3, "A", "12", 300), &settings);
        let view = window.view(Timestamp::from_nanos(0)).unwrap();
        let mut latest = Latest::from_views([view]);
        // Counted by the view already (a replay overlaps it): no change,
        // even though its event time is the newest.
        latest.add(&tick(2, "A", "99", 900));
        // After the view, but older by event time: the view's tick stays.
        latest.add(&tick(4, "A", "11", 200));
        // A symbol calc has not seen: its first tick gives the first price.
        latest.add(&tick(5, "B", "7", 100));
        latest.add(&tick(6, "B", "8", 100));
        let mut all: Vec<LatestTick> = latest.into_ticks().collect();
        all.sort_by(|a, b| a.symbol().cmp(b.symbol()));
        let got: Vec<(String, String, String)> = all
            .iter()
            .map(|l| {
                (
                    l.symbol().to_string(),
                    l.tick.tick.price.to_string(),
                    l.first_price.to_string(),
                )
            })
            .collect();
        let want = [("A", "12", "10"), ("B", "8", "7")]
            .map(|(s, p, f)| (s.to_owned(), p.to_owned(), f.to_owned()));
        assert_eq!(got, want);
    }

    #[test]
    fn the_floor_is_the_oldest_unacknowledged_entry_or_the_retention() {
        let old = StreamId::new(1, 0);
        let hour = Duration::from_secs(3_600);
        assert_eq!(
            trim_floor([StreamId::new(5, 0), old], hour, StreamId::ZERO),
            old
        );
        let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap();
        // The byte budget cuts the retention short, never the unacknowledged.
        let late = StreamId::new(now_ms, 0);
        assert_eq!(trim_floor([], hour, late), late);
        assert_eq!(trim_floor([old], hour, late), old);
        let floor = trim_floor([], hour, StreamId::ZERO);
        assert!(
            floor.millis <= now_ms + 1 - 3_600_000 && floor.millis + 60_000 > now_ms - 3_600_000
        );
        assert_eq!(first_unacknowledged(Some(old), StreamId::new(9, 0)), old);
        assert_eq!(
            first_unacknowledged(None, StreamId::new(9, 0)),
            StreamId::new(9, 1)
        );
    }
}
