//! What the server hands to the pages: the services server functions call.
//! The server crate implements them on its bus; the pages never see Redis.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tickpulse_core::LatestTick;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Read access to live market data.
pub trait MarketData: Send + Sync + 'static {
    /// The latest tick of every symbol, ordered by symbol.
    fn latest_all(&self) -> BoxFuture<'_, Result<Vec<LatestTick>, String>>;
}

/// Provided as Leptos context to every page render and server function.
#[derive(Clone)]
pub struct Services {
    pub market: Arc<dyn MarketData>,
}
