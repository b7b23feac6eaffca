//! The tickpulse client package: what programs and pages use to hold live
//! prices, stock lookups and watchlists. Pure state here ([`PriceCache`],
//! [`StockCache`]); the live doors natively: [`sse::follow`] and
//! [`ws::follow`], each resuming after a dropped connection.

pub mod cache;
#[cfg(not(target_arch = "wasm32"))]
pub mod hot;
pub mod http;
pub mod sse;
pub mod stocks;
pub mod table;
pub mod views;
pub mod watchlists;
pub mod ws;

pub use cache::{CacheConfig, CacheStats, EvictionPolicy, Lru, PriceCache, Update};
#[cfg(not(target_arch = "wasm32"))]
pub use hot::keep_hot;
#[cfg(target_arch = "wasm32")]
pub use http::BrowserViews;
#[cfg(not(target_arch = "wasm32"))]
pub use http::HttpViews;
pub use sse::{EventParser, SseEvent};
pub use stocks::StockCache;
pub use views::{CachedViews, FetchError, ViewSource};
pub use watchlists::WatchlistError;
#[cfg(not(target_arch = "wasm32"))]
pub use watchlists::Watchlists;

/// A view of `symbol` whose stream id is `id`-0, for the unit tests.
#[cfg(test)]
pub(crate) fn test_view(symbol: &str, id: u64) -> tickpulse_core::View {
    let tick: tickpulse_core::StreamTick = serde_json::from_value(serde_json::json!({
        "id": format!("{id}-0"), "symbol": symbol, "price": "10", "volume": "1",
        "source": "t", "ts": 1_795_000_000_000i64, "event_id": format!("{symbol}-{id}"),
        "received_at": 1_795_000_000_000i64
    }))
    .expect("a valid tick");
    let mut w = tickpulse_core::SymbolWindow::default();
    w.apply(&tick, &tickpulse_core::WindowSettings::default());
    w.view(tickpulse_core::Timestamp::from_nanos(0))
        .expect("a window with a tick has a view")
}
