//! The mutations: each writes its arguments as the REST endpoint's JSON
//! body and reads it with the REST endpoint's rule, then asks the same
//! service, so a refusal names the same field with the same words.

use super::{Answer, Caller};
use crate::error::ApiError;
use crate::http::orders::number;
use crate::http::services::{trading, watchlists};
use crate::http::watchlists::{id as list_id, symbol_param};
use crate::state::AppState;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use serde_json::{json, Map, Value};
use tickpulse_core::trade::{order_request, Order};
use tickpulse_core::watchlist::{symbol_request, watchlist_request, Watchlist};

pub struct Mutation;

/// An order to place: the fields of `POST /api/orders`.
#[derive(InputObject)]
#[graphql(rename_fields = "snake_case")]
pub struct OrderInput {
    pub symbol: String,
    /// buy or sell.
    pub side: String,
    /// Whole shares, 1 or more.
    pub quantity: i64,
    /// market or limit.
    #[graphql(name = "type")]
    pub order_type: String,
    /// A decimal string; for limit orders only.
    pub limit_price: Option<String>,
    /// day (default), gtc or ioc.
    pub time_in_force: Option<String>,
    /// Your key of the order: placing it again returns the first.
    pub client_order_id: Option<String>,
}

/// A placed order, and whether this request created it (`false`: the
/// order of the same `client_order_id` placed before).
#[derive(SimpleObject)]
#[graphql(rename_fields = "snake_case")]
pub struct Placed {
    pub created: bool,
    pub order: Order,
}

fn body(fields: Map<String, Value>) -> Vec<u8> {
    Value::Object(fields).to_string().into_bytes()
}

/// A watchlist's body, as `POST` and `PUT /api/watchlists…` take it.
fn list_body(name: Option<String>, symbols: Option<Vec<String>>) -> Vec<u8> {
    let mut fields = Map::new();
    if let Some(name) = name {
        fields.insert("name".into(), name.into());
    }
    if let Some(symbols) = symbols {
        fields.insert("symbols".into(), json!(symbols));
    }
    body(fields)
}

/// The signed-in user and one of their lists' id, checked as REST checks
/// it.
fn list_of<'a>(ctx: &Context<'a>, id: i64) -> Result<(&'a str, i64)> {
    Ok((user(ctx)?, list_id(&id.to_string()).answer()?))
}

fn state<'a>(ctx: &Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

fn user<'a>(ctx: &Context<'a>) -> Result<&'a str> {
    Ok(&ctx.data_unchecked::<Caller>().user().answer()?.username)
}

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl Mutation {
    /// Places an order (`POST /api/orders`).
    async fn place_order(&self, ctx: &Context<'_>, order: OrderInput) -> Result<Placed> {
        let user = user(ctx)?;
        let mut fields = Map::new();
        fields.insert("symbol".into(), order.symbol.into());
        fields.insert("side".into(), order.side.into());
        fields.insert("quantity".into(), order.quantity.into());
        fields.insert("type".into(), order.order_type.into());
        for (name, value) in [
            ("limit_price", order.limit_price),
            ("time_in_force", order.time_in_force),
            ("client_order_id", order.client_order_id),
        ] {
            if let Some(v) = value {
                fields.insert(name.into(), v.into());
            }
        }
        let request = order_request(&body(fields))
            .map_err(ApiError::fields)
            .answer()?;
        let (created, order) = trading(state(ctx))
            .answer()?
            .place(user, &request)
            .await
            .answer()?;
        Ok(Placed { created, order })
    }

    /// Cancels one of your open orders (`DELETE /api/orders/{number}`).
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "number")] n: i64,
    ) -> Result<Order> {
        let user = user(ctx)?;
        let number = number(&n.to_string()).answer()?;
        trading(state(ctx))
            .answer()?
            .cancel(user, number)
            .await
            .answer()
    }

    /// Creates a watchlist (`POST /api/watchlists`).
    async fn create_watchlist(
        &self,
        ctx: &Context<'_>,
        name: String,
        symbols: Option<Vec<String>>,
    ) -> Result<Watchlist> {
        let user = user(ctx)?;
        let request = watchlist_request(&list_body(Some(name), symbols), true)
            .map_err(ApiError::fields)
            .answer()?;
        watchlists(state(ctx))
            .answer()?
            .create(user, request)
            .await
            .answer()
    }

    /// Renames a watchlist or replaces its symbols (`PUT /api/watchlists/{id}`).
    async fn update_watchlist(
        &self,
        ctx: &Context<'_>,
        id: i64,
        name: Option<String>,
        symbols: Option<Vec<String>>,
    ) -> Result<Watchlist> {
        let (user, id) = list_of(ctx, id)?;
        let request = watchlist_request(&list_body(name, symbols), false)
            .map_err(ApiError::fields)
            .answer()?;
        watchlists(state(ctx))
            .answer()?
            .update(user, id, request)
            .await
            .answer()
    }

    /// Adds a symbol to a watchlist (`POST /api/watchlists/{id}/symbols`).
    async fn add_to_watchlist(
        &self,
        ctx: &Context<'_>,
        id: i64,
        symbol: String,
    ) -> Result<Watchlist> {
        let (user, id) = list_of(ctx, id)?;
        let mut fields = Map::new();
        fields.insert("symbol".into(), symbol.into());
        let symbol = symbol_request(&body(fields))
            .map_err(ApiError::fields)
            .answer()?;
        watchlists(state(ctx))
            .answer()?
            .add(user, id, symbol)
            .await
            .answer()
    }

    /// Removes a symbol from a watchlist
    /// (`DELETE /api/watchlists/{id}/symbols/{symbol}`).
    async fn remove_from_watchlist(
        &self,
        ctx: &Context<'_>,
        id: i64,
        symbol: String,
    ) -> Result<Watchlist> {
        let (user, id) = list_of(ctx, id)?;
        let symbol = symbol_param(&symbol).answer()?;
        watchlists(state(ctx))
            .answer()?
            .remove(user, id, &symbol)
            .await
            .answer()
    }

    /// Deletes a watchlist (`DELETE /api/watchlists/{id}`); true when done.
    async fn delete_watchlist(&self, ctx: &Context<'_>, id: i64) -> Result<bool> {
        let (user, id) = list_of(ctx, id)?;
        watchlists(state(ctx))
            .answer()?
            .delete(user, id)
            .await
            .answer()?;
        Ok(true)
    }
}
