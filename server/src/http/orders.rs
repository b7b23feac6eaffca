//! Paper trading for signed-in users and programs with a personal token:
//! `GET /api/account`, `POST /api/orders`, `GET /api/orders`,
//! `GET /api/orders/{number}`, `GET /api/orders/by-client-id/{id}`,
//! `DELETE /api/orders/{number}` and the live `GET /api/orders/stream`.

use super::services::trading;
use crate::accounts::CurrentUser;
use crate::error::{ApiError, ErrorBody, UserRefusals};
use crate::pipeline::gateway::sse::event_stream;
use crate::pipeline::gateway::OrderFrame;
use crate::platform::edge::extract::{Path, Query};
use crate::state::AppState;
use crate::store::trading::{OrderQuery, StatusFilter};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tickpulse_core::trade::{
    order_request, Account, ClientOrderId, Order, OrderNumber, OrderRequest,
};
use tokio::sync::broadcast;

/// A 415 unless the body is declared `application/json`.
///
/// # Errors
/// `UnsupportedMediaType` naming what was sent.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            got: content_type.to_owned(),
            expected: "application/json",
        })
    }
}

/// The most orders one list answers with.
pub const MAX_LIST: usize = 500;

#[utoipa::path(
    get, path = "/api/account", tag = "trading",
    responses(
        (status = 200, description = "Cash, reserved cash, buying power, equity and positions at live prices", body = Account),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(trading(&state)?.account(&user.username).await?))
}

#[utoipa::path(
    post, path = "/api/orders", tag = "trading",
    request_body(content = OrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Placed: the order as it stands (a market order is filled already)", body = Order),
        (status = 200, description = "You placed an order with this `client_order_id` before: that order, unchanged; nothing was traded", body = Order),
        (status = 400, description = "A field is invalid; `details` names each one", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "Refused by the trading rules; `code` is `insufficient_cash`, `insufficient_quantity`, `insufficient_position`, `no_live_price` or `unknown_symbol`; nothing was written", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn place(
    State(state): State<AppState>,
    headers: HeaderMap,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let trading = trading(&state)?;
    let request = order_request(&body).map_err(ApiError::fields)?;
    let (created, order) = trading.place(&user.username, &request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(order)).into_response())
}

/// `GET /api/orders` parameters, read as text so each bad one is named.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `open` (new, partially filled), `closed` (the rest) or `all`
    /// (default).
    pub(super) status: Option<String>,
    /// 1–500, default 50.
    pub(super) limit: Option<String>,
    /// Only orders with a smaller number (the next page).
    pub(super) before: Option<String>,
}

impl ListParams {
    pub(super) fn query(&self) -> Result<OrderQuery, ApiError> {
        let bad = |field: &'static str, message: String| ApiError::BadParam { field, message };
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("" | "all") => StatusFilter::All,
            Some("open") => StatusFilter::Open,
            Some("closed") => StatusFilter::Closed,
            Some(other) => {
                return Err(bad(
                    "status",
                    format!("must be open, closed or all, got {other:?}"),
                ))
            }
        };
        let limit = match self.limit.as_deref() {
            None => 50,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST).contains(n))
                .ok_or_else(|| {
                    bad(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIST}, got {text:?}"),
                    )
                })?,
        };
        let before = self
            .before
            .as_deref()
            .map(|text| {
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(OrderNumber::new)
                    .ok_or_else(|| bad("before", format!("must be an order number, got {text:?}")))
            })
            .transpose()?;
        Ok(OrderQuery {
            status,
            limit,
            before,
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(rename_fields = "snake_case")]
pub struct OrderList {
    /// Newest first, without their fills.
    pub orders: Vec<Order>,
    /// Pass as `before` for the next page; absent on the last one.
    pub next_before: Option<OrderNumber>,
}

impl OrderList {
    /// A page of at most `limit` orders: a full one names the next.
    pub(super) fn page(orders: Vec<Order>, limit: usize) -> Self {
        let next_before = (orders.len() == limit)
            .then(|| orders.last().map(|o| o.number))
            .flatten();
        Self {
            orders,
            next_before,
        }
    }
}

#[utoipa::path(
    get, path = "/api/orders", tag = "trading",
    params(ListParams),
    responses(
        (status = 200, description = "Your orders, newest first", body = OrderList),
        (status = 400, description = "A parameter is invalid; `details` names it", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<OrderList>, ApiError> {
    let query = params.query()?;
    let orders = trading(&state)?.list(&user.username, &query).await?;
    Ok(Json(OrderList::page(orders, query.limit)))
}

pub(super) fn number(text: &str) -> Result<OrderNumber, ApiError> {
    OrderNumber::parse(text).map_err(|message| ApiError::BadParam {
        field: "number",
        message,
    })
}

#[utoipa::path(
    get, path = "/api/orders/{number}", tag = "trading",
    params(("number" = i64, Path, minimum = 1, description = "The order's number")),
    responses(
        (status = 200, description = "The order with its fills", body = Order),
        (status = 400, description = "`number` is not an order number", body = ErrorBody),
        (status = 404, description = "You have no order with this number (another user's answers the same)", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Order>, ApiError> {
    let number = number(&text)?;
    Ok(Json(trading(&state)?.order(&user, number).await?))
}

#[utoipa::path(
    get, path = "/api/orders/by-client-id/{id}", tag = "trading",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9._:-]{1,64}$", description = "The order's client_order_id")),
    responses(
        (status = 200, description = "The order with its fills", body = Order),
        (status = 400, description = "`client_order_id` is not a client order id", body = ErrorBody),
        (status = 404, description = "You have no order with this client order id", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn by_client_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Order>, ApiError> {
    let id = ClientOrderId::new_checked(&id).map_err(|message| ApiError::BadParam {
        field: "client_order_id",
        message,
    })?;
    Ok(Json(
        trading(&state)?
            .by_client_id(&user.username, id.as_str())
            .await?,
    ))
}

#[utoipa::path(
    delete, path = "/api/orders/{number}", tag = "trading",
    params(("number" = i64, Path, minimum = 1, description = "The order's number")),
    responses(
        (status = 200, description = "Canceled; what it reserved is released", body = Order),
        (status = 400, description = "`number` is not an order number", body = ErrorBody),
        (status = 404, description = "You have no order with this number", body = ErrorBody),
        (status = 409, description = "The order is already filled, canceled or expired", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Order>, ApiError> {
    let number = number(&text)?;
    Ok(Json(trading(&state)?.cancel(&user.username, number).await?))
}

#[utoipa::path(
    get, path = "/api/orders/stream", tag = "trading",
    responses(
        (status = 200, description = "Server-Sent Events: `snapshot` (`{\"orders\": [Order…]}`, your open orders) at once and again whenever this stream fell behind, then `order` (an `OrderEvent`: the order after the change, and the fill when it was one) for every change of one of your orders, with keep-alive comments", content_type = "text/event-stream", body = String),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Response, ApiError> {
    // Subscribe first, then read the snapshot: no change falls in between.
    let rx = state.gateway.orders();
    let first = snapshot(&state, &user.username).await?;
    let mut keepalive = tokio::time::interval(std::time::Duration::from_secs(
        state.config.sse_keepalive_secs.max(1),
    ));
    keepalive.reset();
    let feed = Feed {
        state,
        user: user.username,
        rx,
        keepalive,
        first: Some(first),
    };
    Ok(event_stream(futures::stream::unfold(
        feed,
        |mut f| async move { f.next_chunk().await.map(|chunk| (chunk, f)) },
    )))
}

struct Feed {
    state: AppState,
    user: String,
    rx: broadcast::Receiver<Arc<OrderFrame>>,
    keepalive: tokio::time::Interval,
    first: Option<Bytes>,
}

impl Feed {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        let mut shutdown = self.state.shutdown.clone();
        loop {
            let frame = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return None,
                _ = self.keepalive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
                frame = self.rx.recv() => frame,
            };
            match frame {
                Ok(frame) if frame.user == self.user => {
                    let mut chunk = Vec::with_capacity(frame.json.len() + 22);
                    chunk.extend_from_slice(b"event: order\ndata: ");
                    chunk.extend_from_slice(&frame.json);
                    chunk.extend_from_slice(b"\n\n");
                    return Some(Bytes::from(chunk));
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    return snapshot(&self.state, &self.user).await.ok();
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The `snapshot` event: the user's open orders.
async fn snapshot(state: &AppState, user: &str) -> Result<Bytes, ApiError> {
    let data = open_orders(state, user).await?;
    Ok(Bytes::from(format!(
        "retry: 1000\nevent: snapshot\ndata: {data}\n\n"
    )))
}

/// The user's open orders, as `{"orders": [Order…]}`.
pub(super) async fn open_orders(state: &AppState, user: &str) -> Result<String, ApiError> {
    let open = trading(state)?
        .list(
            user,
            &OrderQuery {
                status: StatusFilter::Open,
                limit: MAX_LIST,
                before: None,
            },
        )
        .await?;
    serde_json::to_string(&serde_json::json!({ "orders": open }))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(status: Option<&str>, limit: Option<&str>, before: Option<&str>) -> ListParams {
        ListParams {
            status: status.map(str::to_owned),
            limit: limit.map(str::to_owned),
            before: before.map(str::to_owned),
        }
    }

    fn field(e: ApiError) -> &'static str {
        match e {
            ApiError::BadParam { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn list_parameters_are_checked_by_name() {
        let q = params(None, None, None).query().unwrap();
        let before = |q: &OrderQuery| q.before.map(OrderNumber::get);
        assert_eq!(
            (q.status, q.limit, before(&q)),
            (StatusFilter::All, 50, None)
        );
        let q = params(Some("open"), Some("7"), Some("12")).query().unwrap();
        assert_eq!(
            (q.status, q.limit, before(&q)),
            (StatusFilter::Open, 7, Some(12))
        );
        assert_eq!(
            field(params(Some("x"), None, None).query().unwrap_err()),
            "status"
        );
        for limit in ["0", "501", "a", "-1"] {
            assert_eq!(
                field(params(None, Some(limit), None).query().unwrap_err()),
                "limit"
            );
        }
        assert_eq!(
            field(params(None, None, Some("0")).query().unwrap_err()),
            "before"
        );
        assert_eq!(field(number("x").unwrap_err()), "number");
        assert_eq!(number("12").unwrap().get(), 12);
    }
}
