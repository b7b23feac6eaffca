//! The cache against a plain model: for any sequence of reads, stores,
//! live updates and invalidations on a few symbols, the cache holds exactly
//! the entries an obviously correct (and slow) LRU list holds, with the
//! same views, and evicts the same symbols.

use proptest::prelude::*;
use std::collections::VecDeque;
use tickpulse_client::{CacheConfig, PriceCache, Update};
use tickpulse_core::{StreamTick, Symbol, SymbolWindow, Timestamp, View, WindowSettings};

#[derive(Debug, Clone)]
enum Op {
    Get(u8),
    Put(u8, u64),
    Apply(u8, u64),
    Invalidate(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8).prop_map(Op::Get),
        (0u8..8, 1u64..20).prop_map(|(s, v)| Op::Put(s, v)),
        (0u8..8, 1u64..20).prop_map(|(s, v)| Op::Apply(s, v)),
        (0u8..8).prop_map(Op::Invalidate),
    ]
}

fn view(symbol: u8, version: u64) -> View {
    let tick: StreamTick = serde_json::from_value(serde_json::json!({
        "id": format!("{version}-0"), "symbol": format!("S{symbol}"), "price": "1",
        "volume": "1", "source": "t", "ts": 1_795_000_000_000i64,
        "event_id": format!("e{symbol}-{version}"), "received_at": 1_795_000_000_000i64
    }))
    .unwrap();
    let mut w = SymbolWindow::default();
    w.apply(&tick, &WindowSettings::default());
    w.view(Timestamp::from_nanos(0)).unwrap()
}

/// Most recent first: (symbol, version).
struct Model {
    entries: VecDeque<(u8, u64)>,
    capacity: usize,
}

impl Model {
    fn position(&self, s: u8) -> Option<usize> {
        self.entries.iter().position(|(x, _)| *x == s)
    }

    fn touch(&mut self, i: usize) {
        let e = self.entries.remove(i).unwrap();
        self.entries.push_front(e);
    }

    fn put(&mut self, s: u8, v: u64) -> Option<u8> {
        if let Some(i) = self.position(s) {
            let stored = self.entries[i].1;
            self.entries[i].1 = stored.max(v);
            self.touch(i);
            return None;
        }
        let evicted =
            (self.entries.len() == self.capacity).then(|| self.entries.pop_back().unwrap().0);
        self.entries.push_front((s, v));
        evicted
    }
}

proptest! {
    #[test]
    fn the_cache_matches_a_plain_lru_model(ops in proptest::collection::vec(op(), 1..200), capacity in 1usize..6) {
        // A TTL no test reaches and no hot symbols: pure LRU behaviour.
        let mut cache = PriceCache::new(CacheConfig { capacity, ttl_ms: u64::MAX / 2, half_life_ms: 1_000, admission: false });
        let mut model = Model { entries: VecDeque::new(), capacity };
        for op in ops {
            match op {
                Op::Get(s) => {
                    let got = cache.get(&Symbol::new(&format!("S{s}")), 0).map(|v| v.stream_id.millis);
                    let want = model.position(s).map(|i| { let v = model.entries[i].1; model.touch(i); v });
                    prop_assert_eq!(got, want);
                }
                Op::Put(s, v) => {
                    let evicted = cache.put(view(s, v), 0);
                    let want = model.put(s, v).map(|e| Symbol::new(&format!("S{e}")));
                    prop_assert_eq!(evicted, want);
                }
                Op::Apply(s, v) => {
                    let got = cache.apply(view(s, v), 0);
                    let want = match model.position(s) {
                        None => Update::NotResident,
                        Some(i) if v < model.entries[i].1 => Update::Refused,
                        Some(i) => { model.entries[i].1 = v; Update::Stored }
                    };
                    prop_assert_eq!(got, want);
                }
                Op::Invalidate(s) => {
                    let got = cache.invalidate(&Symbol::new(&format!("S{s}")));
                    let want = model.position(s).map(|i| model.entries.remove(i)).is_some();
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(cache.len(), model.entries.len());
        }
    }
}
