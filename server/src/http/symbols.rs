//! The read API: `GET /api/symbols` (latest tick per symbol),
//! `GET /api/symbols/{id}` (the symbol's View), `…/history` and `…/candles`.
//! The handlers check the parameters; [`crate::market`] does the reading, for
//! these handlers and for the pages alike.

use crate::accounts::MaybeUser;
use crate::error::{ApiError, ErrorBody, ReadRefusals};
use crate::market::report::time_param as market_time;
use crate::pipeline::gateway::sse;
use crate::platform::edge::conn::Peer;
use crate::platform::edge::extract::{Path, Query};
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use tickpulse_core::StreamId;
use tickpulse_core::{Candle, Interval, LatestTick, StreamTick, Symbol, Timestamp, View};

/// The most ticks one history request returns.
pub const MAX_HISTORY: usize = 5_000;

/// Every symbol with its latest tick, ordered by symbol.

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Comma-separated symbols; absent or empty means all.
    #[param(example = "BTC-USD,ETH-USD")]
    symbols: Option<String>,
    /// One of your watchlists (instead of `symbols`): its symbols, followed
    /// as the list changes.
    #[param(example = 1)]
    watchlist: Option<String>,
    /// At most one `tick` and one `view` per symbol per interval, the
    /// latest, with `skipped` (how many it replaces) in its data: `250ms`,
    /// `2s`, `1m`, from 10ms to 60s; `0` or absent: every update.
    #[param(example = "250ms")]
    conflate: Option<String>,
}

#[utoipa::path(
    get, path = "/api/stream", tag = "market data",
    params(
        StreamParams,
        ("last-event-id" = Option<StreamId>, Header, description = "Resume after this tick (browsers send it by themselves on reconnect)"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `snapshot` (a `Snapshot`), `tick` (a `StreamTick`, `id:` its stream id), `view` (a `View`), `stock` (a `StockEvent`: a stock's available quantity changed) and, with `watchlist`, `watchlist` (a `WatchlistEvent`: the list changed; a `snapshot` of the symbols it gained follows), with keep-alive comments", content_type = "text/event-stream", body = String),
        (status = 400, description = "A symbol, `watchlist`, `conflate` or `Last-Event-ID` is invalid, or both `symbols` and `watchlist` were given; `details` names it", body = ErrorBody),
        (status = 404, description = "You have no watchlist with this id", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []), ("bearer" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    Query(params): Query<StreamParams>,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    asking: MaybeUser,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(Extension(ConnectInfo(peer))) = peer {
        peer.streaming();
    }
    let (filter, following) =
        match params.watchlist.as_deref().map(str::trim) {
            Some(text) => {
                if params
                    .symbols
                    .as_deref()
                    .is_some_and(|s| !s.trim().is_empty())
                {
                    return Err(ApiError::BadParam {
                        field: "watchlist",
                        message: "give symbols or watchlist, not both".into(),
                    });
                }
                let id = text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::BadParam {
                        field: "watchlist",
                        message: format!(
                            "must be a watchlist id (a whole number from 1), got {text:?}"
                        ),
                    }
                })?;
                let user = asking.user().await?;
                let (symbols, following) =
                    super::watchlists::follow(&state, &user.username, id).await?;
                (Some(symbols), Some(following))
            }
            None => (sse::parse_filter(params.symbols.as_deref())?, None),
        };
    let conflate = sse::parse_conflate(params.conflate.as_deref())?;
    sse::open(&state.gateway, filter, following, conflate, &headers).await
}

#[utoipa::path(
    get, path = "/api/symbols", tag = "market data",
    responses(
        (status = 200, description = "The latest tick of every symbol, by symbol", body = Vec<LatestTick>),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<LatestTick>>, ApiError> {
    Ok(Json(state.bus.latest_all().await?))
}

/// The View of one symbol (last tick and window statistics); 404 when no
/// tick of it has been through the calc stage yet.
#[utoipa::path(
    get, path = "/api/symbols/{id}", tag = "market data",
    params(("id" = Symbol, Path, description = "The symbol")),
    responses(
        (status = 200, description = "The symbol's View: last tick and window statistics", body = View),
        (status = 400, description = "`id` is not a symbol", body = ErrorBody),
        (status = 404, description = "No view of this symbol yet", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<View>, ApiError> {
    let symbol = Symbol::new_checked(&id).map_err(|e| ApiError::BadParam {
        field: "id",
        message: e.to_string(),
    })?;
    match state.bus.view(&symbol).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::NotFound(format!(
            "unknown symbol {symbol} (no view computed yet)"
        ))),
    }
}

pub(super) fn symbol_param(id: &str) -> Result<Symbol, ApiError> {
    Symbol::new_checked(id).map_err(|e| ApiError::BadParam {
        field: "id",
        message: e.to_string(),
    })
}

pub(super) fn time_param(field: &'static str, text: &str) -> Result<Timestamp, ApiError> {
    Ok(market_time(field, text)?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// How many ticks, 1–5000 (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 5000)]
    pub(super) limit: Option<String>,
    /// Only ticks with an event time before this (RFC 3339 or epoch ms).
    #[param(value_type = Option<Timestamp>)]
    pub(super) before: Option<String>,
}

impl HistoryParams {
    /// How many ticks, and before when.
    ///
    /// # Errors
    /// 400 naming the bad parameter.
    pub(super) fn checked(&self) -> Result<(usize, Timestamp), ApiError> {
        let limit = match self.limit.as_deref() {
            None => 1_000,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_HISTORY).contains(n))
                .ok_or_else(|| ApiError::BadParam {
                    field: "limit",
                    message: format!(
                        "must be a whole number from 1 to {MAX_HISTORY}, got {text:?}"
                    ),
                })?,
        };
        let before = match self.before.as_deref() {
            Some(text) => time_param("before", text)?,
            None => Timestamp::from_nanos(i64::MAX),
        };
        Ok((limit, before))
    }
}

/// Ticks of one symbol, newest first: `limit` (1–5000, default 1000) ticks
/// with an event time before `before` (RFC 3339 or epoch ms; default: now
/// and later). Ticks accepted but not yet persisted are included, so the
/// history has no hole.
#[utoipa::path(
    get, path = "/api/symbols/{id}/history", tag = "market data",
    params(("id" = Symbol, Path, description = "The symbol"), HistoryParams),
    responses(
        (status = 200, description = "Ticks, newest first", body = Vec<StreamTick>),
        (status = 400, description = "A parameter is invalid; `details` names it", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []))
)]
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<Vec<StreamTick>>, ApiError> {
    let symbol = symbol_param(&id)?;
    let (limit, before) = params.checked()?;
    Ok(Json(state.market.history(&symbol, before, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandleParams {
    /// Candle length (default 1m).
    #[param(value_type = Option<Interval>)]
    pub(super) interval: Option<String>,
    /// First event time included (RFC 3339 or epoch ms).
    #[param(value_type = Option<Timestamp>)]
    pub(super) from: Option<String>,
    /// First event time left out (RFC 3339 or epoch ms).
    #[param(value_type = Option<Timestamp>)]
    pub(super) to: Option<String>,
}

impl CandleParams {
    /// The interval, and the range of event times.
    ///
    /// # Errors
    /// 400 naming the bad parameter.
    pub(super) fn checked(
        &self,
    ) -> Result<(Interval, Option<Timestamp>, Option<Timestamp>), ApiError> {
        let interval: Interval = self.interval.as_deref().unwrap_or("1m").parse().map_err(
            |e: tickpulse_core::ValueError| ApiError::BadParam {
                field: "interval",
                message: e.to_string(),
            },
        )?;
        let to = self
            .to
            .as_deref()
            .map(|text| time_param("to", text))
            .transpose()?;
        let from = self
            .from
            .as_deref()
            .map(|text| time_param("from", text))
            .transpose()?;
        Ok((interval, from, to))
    }
}

/// OHLCV candles of one symbol: `interval` 1s|1m|5m|1h|1d (default 1m),
/// event times in `[from, to)` (RFC 3339 or epoch ms; default: the last 500
/// intervals), at most 10,000 candles.
#[utoipa::path(
    get, path = "/api/symbols/{id}/candles", tag = "market data",
    params(("id" = Symbol, Path, description = "The symbol"), CandleParams),
    responses(
        (status = 200, description = "Candles, oldest first", body = Vec<Candle>),
        (status = 400, description = "A parameter is invalid, or the range holds more than 10,000 candles; `details` names it", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []))
)]
pub async fn candles(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<CandleParams>,
) -> Result<Json<Vec<Candle>>, ApiError> {
    let symbol = symbol_param(&id)?;
    let (interval, from, to) = params.checked()?;
    Ok(Json(
        state.market.candles(&symbol, interval, from, to).await?,
    ))
}
