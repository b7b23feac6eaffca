//! [`StockCache`]: stock lookups (`GET /api/stocks/{symbol}`) kept right by
//! what the server pushes on `/api/stream`, so a page or a program shows a
//! stock's available quantity and price without asking again.
//!
//! - `stock` events (a trade or an admin changed `available`) update a
//!   cached entry in place;
//! - `tick` events update its price;
//! - a reset `snapshot` (the stream fell behind or reconnected without a
//!   replay, so changes may have been missed) drops every entry: the next
//!   lookup fetches again.
//!
//! No I/O here; natively, [`fetch_stock`] does the lookup.

use crate::sse::SseEvent;
use std::collections::HashMap;
use tickpulse_core::trade::{Stock, StockEvent};
use tickpulse_core::{StreamTick, Symbol};

#[derive(Debug, Default, Clone)]
pub struct StockCache {
    entries: HashMap<Symbol, Stock>,
    /// Lookups answered from the cache, and fetched results stored.
    hits: u64,
    stored: u64,
}

impl StockCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached stock, if any (a hit is counted).
    pub fn get(&mut self, symbol: &Symbol) -> Option<&Stock> {
        let found = self.entries.get(symbol);
        if found.is_some() {
            self.hits += 1;
        }
        found
    }

    /// Stores a fetched stock.
    pub fn put(&mut self, stock: Stock) {
        self.stored += 1;
        self.entries.insert(stock.symbol.clone(), stock);
    }

    /// Drops one entry; `true` when it was there.
    pub fn invalidate(&mut self, symbol: &Symbol) -> bool {
        self.entries.remove(symbol).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(hits, fetched results stored)`.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits, self.stored)
    }

    /// Applies a `stock` event; `true` when a cached entry changed.
    pub fn apply(&mut self, event: &StockEvent) -> bool {
        match self.entries.get_mut(&event.symbol) {
            Some(stock) if stock.available != event.available => {
                stock.available = event.available;
                true
            }
            _ => false,
        }
    }

    /// Applies one event of `/api/stream`; `true` when the cache changed.
    /// Unreadable data is ignored (the entry keeps its value).
    pub fn on_event(&mut self, event: &SseEvent) -> bool {
        match event.event.as_str() {
            "stock" => {
                serde_json::from_str::<StockEvent>(&event.data).is_ok_and(|e| self.apply(&e))
            }
            "tick" => serde_json::from_str::<StreamTick>(&event.data).is_ok_and(|t| {
                match self.entries.get_mut(&t.tick.symbol) {
                    Some(stock) if stock.price_ts.is_none_or(|ts| ts <= t.tick.ts) => {
                        stock.price = Some(t.tick.price);
                        stock.price_ts = Some(t.tick.ts);
                        true
                    }
                    _ => false,
                }
            }),
            "snapshot" if event.data.contains("\"reset\":true") => {
                let had = !self.entries.is_empty();
                self.entries.clear();
                had
            }
            _ => false,
        }
    }
}

/// `GET {base}/api/stocks/{symbol}`: the stock, `None` when it is not in
/// the catalog.
///
/// # Errors
/// When the server cannot be reached or answers with a failure.
#[cfg(not(target_arch = "wasm32"))]
pub async fn fetch_stock(
    client: &reqwest::Client,
    base: &str,
    symbol: &Symbol,
) -> Result<Option<Stock>, crate::views::FetchError> {
    use crate::views::FetchError;
    let url = format!(
        "{}/api/stocks/{}",
        base.trim_end_matches('/'),
        symbol.as_str()
    );
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| FetchError::Unavailable(format!("GET {url}: {e}")))?;
    let status = response.status().as_u16();
    crate::http::decode(
        &url,
        status,
        response.text().await.map_err(|e| e.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(available: u64) -> Stock {
        Stock {
            symbol: Symbol::new("A"),
            name: "A".into(),
            available: tickpulse_core::trade::Shares::new(available),
            price: None,
            price_ts: None,
        }
    }

    fn event(kind: &str, data: &str) -> SseEvent {
        SseEvent {
            event: kind.into(),
            id: None,
            data: data.into(),
        }
    }

    #[test]
    fn pushed_changes_update_entries_and_a_reset_drops_them() {
        let mut cache = StockCache::new();
        cache.put(stock(10));
        assert!(cache.on_event(&event("stock", r#"{"symbol":"A","available":7}"#)));
        assert_eq!(cache.get(&Symbol::new("A")).unwrap().available.get(), 7);
        assert!(!cache.on_event(&event("stock", r#"{"symbol":"B","available":1}"#)));
        assert!(!cache.on_event(&event("stock", "{")));
        let tick = r#"{"id":"5-0","symbol":"A","price":"12.5","volume":"1","source":"t","ts":1795000000000,"event_id":"e","received_at":1795000000000}"#;
        assert!(cache.on_event(&event("tick", tick)));
        assert_eq!(
            cache
                .get(&Symbol::new("A"))
                .unwrap()
                .price
                .unwrap()
                .to_string(),
            "12.5"
        );
        assert!(!cache.on_event(&event("snapshot", r#"{"reset":false,"ticks":[]}"#)));
        assert!(cache.on_event(&event("snapshot", r#"{"reset":true,"ticks":[]}"#)));
        assert!(cache.is_empty());
        assert_eq!(cache.counts(), (2, 1));
    }
}
