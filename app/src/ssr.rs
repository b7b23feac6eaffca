//! What the server hands to the pages: the services server functions call.
//! The server crate implements them with the same functions its JSON API
//! uses; the pages never see Redis or the database.

use crate::error::AppError;
use axum::http::request::Parts;
use leptos::prelude::use_context;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tickpulse_core::account::SignedIn;
use tickpulse_core::health::Health;
use tickpulse_core::trade::{Desk, Order, Stock};
use tickpulse_core::watchlist::Watchlist;
use tickpulse_core::{Candle, Interval, LatestTick, StreamTick, Symbol, View};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Read access to live market data. Errors are messages for the reader;
/// the server functions make them [`AppError::Unavailable`].
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

/// Accounts and the admin view. `parts` is the request (its session and
/// client address).
pub trait Admin: Send + Sync + 'static {
    /// Signs in: a new session id holding the user.
    fn login<'a>(
        &'a self,
        parts: &'a Parts,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<SignedIn, AppError>>;
    /// Ends the session for good.
    fn logout<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<(), AppError>>;
    /// The signed-in user, if any.
    fn current<'a>(&'a self, parts: &'a Parts)
        -> BoxFuture<'a, Result<Option<SignedIn>, AppError>>;
    /// What the health view shows.
    fn health(&self) -> BoxFuture<'_, Result<Health, AppError>>;
    /// The performance report of a period (`from`, `to`: RFC 3339 or epoch
    /// ms; `step`: `90`, `15m`, `1h` …), with the JSON API's rules.
    fn report(
        &self,
        from: Option<String>,
        to: Option<String>,
        step: Option<String>,
    ) -> BoxFuture<'_, Result<tickpulse_core::health::Report, AppError>>;
}

/// Paper trading for a signed-in user, with the rules of the JSON API.
pub trait Trading: Send + Sync + 'static {
    /// The user's account at live prices, open orders and recent ones.
    fn desk<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Desk, AppError>>;
    /// A catalog entry with its live price; `None` when not in the catalog.
    fn stock<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, Result<Option<Stock>, AppError>>;
    /// Places an order from the trade page's form: `BadParam` names a bad
    /// field, `Refused` carries the refusal code.
    fn place<'a>(
        &'a self,
        user: &'a str,
        form: tickpulse_core::trade::OrderForm,
    ) -> BoxFuture<'a, Result<Order, AppError>>;
    /// Cancels the user's open order: `NotFound`, `Conflict` when terminal.
    fn cancel<'a>(&'a self, user: &'a str, number: i64) -> BoxFuture<'a, Result<Order, AppError>>;
    /// An order with its fills, for its owner or an admin.
    fn order<'a>(
        &'a self,
        user: &'a SignedIn,
        number: i64,
    ) -> BoxFuture<'a, Result<Option<Order>, AppError>>;
}

/// A signed-in user's watchlists, with the rules of the JSON API, and the
/// catalog's names for the dashboard's search.
pub trait Watching: Send + Sync + 'static {
    /// The user's lists, oldest first.
    fn lists<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<Watchlist>, AppError>>;
    /// A new, empty list: `BadParam` for a bad name, `Conflict` for one in
    /// use or over the limit of lists.
    fn create<'a>(
        &'a self,
        user: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>>;
    /// Adds `symbol` to the list, or removes it when it is there: the list
    /// after. `NotFound` for a list that is not the user's or an unknown
    /// symbol, `Conflict` when the list is full.
    fn toggle<'a>(
        &'a self,
        user: &'a str,
        list: i64,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>>;
    /// `(symbol, name)` of every catalog entry.
    fn names(&self) -> BoxFuture<'_, Result<Vec<(Symbol, String)>, AppError>>;
}

/// Provided as Leptos context to every page render and server function.
#[derive(Clone)]
pub struct Services {
    pub market: Arc<dyn MarketData>,
    pub admin: Arc<dyn Admin>,
    pub trading: Arc<dyn Trading>,
    pub watching: Arc<dyn Watching>,
}

/// The signed-in user of the request, or `SignInRequired`.
///
/// # Errors
/// Nobody is signed in, or the session cannot be read.
pub async fn user() -> Result<SignedIn, AppError> {
    let admin = services()?.admin;
    let parts = request()?;
    admin
        .current(&parts)
        .await?
        .ok_or_else(|| AppError::SignInRequired.respond())
}

/// The signed-in user of the request, if any (a page that anyone may see
/// asks this way: no 401 is set).
///
/// # Errors
/// The session cannot be read.
pub async fn signed_in() -> Result<Option<SignedIn>, AppError> {
    let admin = services()?.admin;
    let parts = request()?;
    admin.current(&parts).await
}

/// The services, from a server function or a page render.
pub fn services() -> Result<Services, AppError> {
    use_context::<Services>()
        .ok_or_else(|| AppError::Call("the page services are not configured".into()))
}

/// The request being served, from a server function or a page render.
pub fn request() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| AppError::Call("no request in context".into()))
}
