//! [`Book`]: the latest tick per symbol as seen by one client, fed by SSE
//! `snapshot` and `tick` events.
//!
//! Rules: a snapshot replaces everything; a tick replaces the stored one only
//! when it is not older (event time), so out-of-order delivery never moves a
//! price backwards; the first tick of an unknown symbol is also its first
//! price. No I/O: the same code runs natively and in the browser.

use std::collections::BTreeMap;
use tickpulse_core::{LatestTick, Snapshot, StreamTick, Symbol};

/// Which way the price moved with the last applied tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Up,
    Down,
    #[default]
    Flat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub latest: LatestTick,
    pub direction: Direction,
    /// Ticks applied to this entry since it was created; lets a view tell two
    /// equal moves in a row apart (to flash again).
    pub updates: u64,
}

/// What applying a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A symbol the book did not hold.
    Inserted,
    Updated,
    /// Older than the stored tick: ignored.
    Stale,
}

#[derive(Debug, Default, Clone)]
pub struct Book {
    entries: BTreeMap<Symbol, Entry>,
}

impl Book {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the whole book.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        self.entries = snapshot
            .ticks
            .into_iter()
            .map(|latest| {
                (
                    latest.symbol().clone(),
                    Entry {
                        latest,
                        direction: Direction::Flat,
                        updates: 0,
                    },
                )
            })
            .collect();
    }

    pub fn apply_tick(&mut self, tick: StreamTick) -> Applied {
        match self.entries.get_mut(&tick.tick.symbol) {
            Some(entry) => {
                if !tick.tick.supersedes(&entry.latest.tick.tick) {
                    return Applied::Stale;
                }
                let old = entry.latest.tick.tick.price;
                entry.direction = match tick.tick.price.cmp(&old) {
                    std::cmp::Ordering::Greater => Direction::Up,
                    std::cmp::Ordering::Less => Direction::Down,
                    std::cmp::Ordering::Equal => Direction::Flat,
                };
                entry.latest.tick = tick;
                entry.updates += 1;
                Applied::Updated
            }
            None => {
                let first_price = tick.tick.price;
                let symbol = tick.tick.symbol.clone();
                self.entries.insert(
                    symbol,
                    Entry {
                        latest: LatestTick { tick, first_price },
                        direction: Direction::Flat,
                        updates: 0,
                    },
                );
                Applied::Inserted
            }
        }
    }

    pub fn get(&self, symbol: &Symbol) -> Option<&Entry> {
        self.entries.get(symbol)
    }

    /// Entries in symbol order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.entries.keys()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(symbol: &str, price: &str, ts_ms: i64, id: u64) -> StreamTick {
        serde_json::from_value(serde_json::json!({
            "id": format!("{id}-0"), "symbol": symbol, "price": price, "volume": "1",
            "source": "t", "ts": ts_ms, "event_id": format!("e{id}"), "received_at": ts_ms
        }))
        .unwrap()
    }

    #[test]
    fn ticks_insert_update_and_set_direction() {
        let mut book = Book::new();
        assert_eq!(book.apply_tick(tick("A", "10", 1, 1)), Applied::Inserted);
        assert_eq!(book.apply_tick(tick("A", "11", 2, 2)), Applied::Updated);
        let a = book.get(&Symbol::new("A")).unwrap();
        assert_eq!(a.direction, Direction::Up);
        assert_eq!(a.latest.first_price.to_string(), "10");
        assert_eq!(a.updates, 1);
        book.apply_tick(tick("A", "9", 3, 3));
        assert_eq!(
            book.get(&Symbol::new("A")).unwrap().direction,
            Direction::Down
        );
    }

    #[test]
    fn older_ticks_never_move_the_price_back() {
        let mut book = Book::new();
        book.apply_tick(tick("A", "10", 5, 1));
        assert_eq!(book.apply_tick(tick("A", "1", 4, 2)), Applied::Stale);
        assert_eq!(
            book.get(&Symbol::new("A"))
                .unwrap()
                .latest
                .tick
                .tick
                .price
                .to_string(),
            "10"
        );
    }

    #[test]
    fn snapshot_replaces_everything() {
        let mut book = Book::new();
        book.apply_tick(tick("A", "10", 5, 1));
        let b = LatestTick {
            tick: tick("B", "2", 1, 9),
            first_price: "1".parse().unwrap(),
        };
        book.apply_snapshot(Snapshot {
            reset: true,
            ticks: vec![b],
        });
        assert_eq!(
            book.symbols().map(Symbol::as_str).collect::<Vec<_>>(),
            ["B"]
        );
        assert_eq!(
            book.get(&Symbol::new("B"))
                .unwrap()
                .latest
                .first_price
                .to_string(),
            "1"
        );
    }
}
