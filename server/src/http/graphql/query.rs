//! The queries: each checks its arguments with the REST handler's rule and
//! asks the REST handler's service.

use super::{Answer, Caller};
use crate::http::orders::{number, ListParams, OrderList};
use crate::http::services::{catalog, trading, watchlists};
use crate::http::symbols::{symbol_param, CandleParams, HistoryParams};
use crate::http::watchlists::id as list_id;
use crate::state::AppState;
use crate::trading::catalog::symbol as stock_symbol;
use async_graphql::{Context, Object, Result};
use tickpulse_core::trade::{Account, Order, Position, Stock};
use tickpulse_core::watchlist::{Watchlist, WatchlistViews};
use tickpulse_core::{Candle, LatestTick, StreamTick, View};

pub struct Query;

fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_unchecked::<Caller>()
}

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl Query {
    /// Every symbol with its latest tick, by symbol (`GET /api/symbols`).
    async fn symbols(&self, ctx: &Context<'_>) -> Result<Vec<LatestTick>> {
        state(ctx).bus.latest_all().await.answer()
    }

    /// A symbol's View (`GET /api/symbols/{id}`); null before its first.
    async fn symbol(&self, ctx: &Context<'_>, id: String) -> Result<Option<View>> {
        let symbol = symbol_param(&id).answer()?;
        state(ctx).bus.view(&symbol).await.answer()
    }

    /// A symbol's ticks, newest first (`GET /api/symbols/{id}/history`):
    /// `limit` 1–5000 (default 1000), event times before `before`.
    async fn history(
        &self,
        ctx: &Context<'_>,
        id: String,
        limit: Option<i64>,
        before: Option<String>,
    ) -> Result<Vec<StreamTick>> {
        let symbol = symbol_param(&id).answer()?;
        let limit = limit.map(|n| n.to_string());
        let (limit, before) = HistoryParams { limit, before }.checked().answer()?;
        state(ctx)
            .market
            .history(&symbol, before, limit)
            .await
            .answer()
    }

    /// A symbol's candles, oldest first (`GET /api/symbols/{id}/candles`).
    async fn candles(
        &self,
        ctx: &Context<'_>,
        id: String,
        interval: Option<String>,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<Candle>> {
        let symbol = symbol_param(&id).answer()?;
        let (interval, from, to) = CandleParams { interval, from, to }.checked().answer()?;
        state(ctx)
            .market
            .candles(&symbol, interval, from, to)
            .await
            .answer()
    }

    /// A stock of the catalog with its live price (`GET /api/stocks/{symbol}`).
    async fn stock(&self, ctx: &Context<'_>, symbol: String) -> Result<Stock> {
        let symbol = stock_symbol("symbol", &symbol).answer()?;
        catalog(state(ctx)).answer()?.stock(&symbol).await.answer()
    }

    /// Your account (`GET /api/account`).
    async fn account(&self, ctx: &Context<'_>) -> Result<Account> {
        let user = caller(ctx).user().answer()?;
        trading(state(ctx))
            .answer()?
            .account(&user.username)
            .await
            .answer()
    }

    /// Your positions, valued at live prices (the account's).
    async fn positions(&self, ctx: &Context<'_>) -> Result<Vec<Position>> {
        Ok(self.account(ctx).await?.positions)
    }

    /// Your orders, newest first, a page at a time (`GET /api/orders`):
    /// `status` open, closed or all, `limit` 1–500 (default 50), `before`
    /// an order number (the page's `next_before`).
    async fn orders(
        &self,
        ctx: &Context<'_>,
        status: Option<String>,
        limit: Option<i64>,
        before: Option<i64>,
    ) -> Result<OrderList> {
        let user = caller(ctx).user().answer()?;
        let (limit, before) = (limit.map(|n| n.to_string()), before.map(|n| n.to_string()));
        let query = ListParams {
            status,
            limit,
            before,
        }
        .query()
        .answer()?;
        let orders = trading(state(ctx))
            .answer()?
            .list(&user.username, &query)
            .await
            .answer()?;
        Ok(OrderList::page(orders, query.limit))
    }

    /// One of your orders with its fills (`GET /api/orders/{number}`).
    async fn order(&self, ctx: &Context<'_>, #[graphql(name = "number")] n: i64) -> Result<Order> {
        let user = caller(ctx).user().answer()?;
        let number = number(&n.to_string()).answer()?;
        trading(state(ctx))
            .answer()?
            .order(user, number)
            .await
            .answer()
    }

    /// Your watchlists (`GET /api/watchlists`).
    async fn watchlists(&self, ctx: &Context<'_>) -> Result<Vec<Watchlist>> {
        let user = caller(ctx).user().answer()?;
        watchlists(state(ctx))
            .answer()?
            .list(&user.username)
            .await
            .answer()
    }

    /// One of your watchlists with its symbols' Views (`GET /api/watchlists/{id}`).
    async fn watchlist(&self, ctx: &Context<'_>, id: i64) -> Result<WatchlistViews> {
        let user = caller(ctx).user().answer()?;
        let id = list_id(&id.to_string()).answer()?;
        watchlists(state(ctx))
            .answer()?
            .one(&user.username, id)
            .await
            .answer()
    }
}
