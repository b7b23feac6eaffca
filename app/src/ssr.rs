//! What the server hands to the pages: the services server functions call.
//! The server crate implements them with the same functions its JSON API
//! uses; the pages never see Redis or the database.

use leptos::prelude::{use_context, ServerFnError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tickpulse_core::{Candle, Interval, LatestTick, StreamTick, Symbol, View};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Read access to live market data. Errors are messages for the reader.
pub trait MarketData: Send + Sync + 'static {
    /// The latest tick of every symbol, ordered by symbol.
    fn latest_all(&self) -> BoxFuture<'_, Result<Vec<LatestTick>, String>>;
    /// The View of every symbol, ordered by symbol.
    fn views(&self) -> BoxFuture<'_, Result<Vec<View>, String>>;
    /// The View of a symbol; `None` before the calc stage has seen it.
    fn view<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, Result<Option<View>, String>>;
    /// The latest `limit` ticks of a symbol, newest first.
    fn history<'a>(
        &'a self,
        symbol: &'a Symbol,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StreamTick>, String>>;
    /// Candles of a symbol, the last 500 intervals up to now, oldest first.
    fn candles<'a>(
        &'a self,
        symbol: &'a Symbol,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Vec<Candle>, String>>;
}

/// Provided as Leptos context to every page render and server function.
#[derive(Clone)]
pub struct Services {
    pub market: Arc<dyn MarketData>,
}

/// The services, from a server function or a page render.
pub fn services() -> Result<Services, ServerFnError> {
    use_context::<Services>()
        .ok_or_else(|| ServerFnError::new("market data service is not configured"))
}
