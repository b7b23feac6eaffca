//! Watchlists for signed-in users and programs with a personal token:
//! `GET|POST /api/watchlists`, `GET|PUT|DELETE /api/watchlists/{id}`,
//! `POST /api/watchlists/{id}/symbols` and
//! `DELETE /api/watchlists/{id}/symbols/{symbol}`. A stream of one list is
//! `GET /api/stream?watchlist={id}`.

use super::orders::require_json;
use super::services::watchlists as service;
use crate::accounts::CurrentUser;
use crate::error::{ApiError, ErrorBody, UserRefusals};
use crate::pipeline::gateway::feed::Following;
use crate::platform::edge::extract::Path;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use tickpulse_core::watchlist::{symbol_request, watchlist_request, Watchlist, WatchlistViews};
use tickpulse_core::Symbol;

/// A list id from the path.
///
/// # Errors
/// 400 naming `id`.
/// The symbols of `user`'s list `id`, and its changes heard from before
/// the list was read: what a stream that follows the list starts from.
///
/// # Errors
/// 404 for another's list or none; the store's failure.
pub(super) async fn follow(
    state: &AppState,
    user: &str,
    id: i64,
) -> Result<(std::collections::HashSet<Symbol>, Following), ApiError> {
    let following = state.gateway.follow_list(user.to_owned(), id);
    let list = service(state)?.owned(user, id).await?;
    Ok((list.symbols.into_iter().collect(), following))
}

/// A symbol named in a path.
///
/// # Errors
/// 400 naming `symbol`.
pub(super) fn symbol_param(text: &str) -> Result<Symbol, ApiError> {
    Symbol::new_checked(text).map_err(|e| ApiError::BadParam {
        field: "symbol",
        message: e.to_string(),
    })
}

pub fn id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::BadParam {
            field: "id",
            message: format!("must be a watchlist id (a whole number from 1), got {text:?}"),
        })
}

/// The request body of `POST /api/watchlists` and `PUT /api/watchlists/{id}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct WatchlistBody {
    /// 1–64 characters, unique among your lists whatever the case
    /// (required for a new list).
    #[schema(example = "Tech")]
    name: Option<String>,
    /// Symbols in order; repeats are dropped. Each must have a tick or a
    /// catalog entry.
    #[schema(example = json!(["AAPL", "NVDA"]))]
    symbols: Option<Vec<String>>,
}

/// The request body of `POST /api/watchlists/{id}/symbols`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SymbolBody {
    #[schema(example = "MSFT")]
    symbol: String,
}

#[utoipa::path(
    get, path = "/api/watchlists", tag = "watchlists",
    responses(
        (status = 200, description = "Your watchlists, oldest first, with their symbols in order", body = [Watchlist]),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<Watchlist>>, ApiError> {
    Ok(Json(service(&state)?.list(&user.username).await?))
}

#[utoipa::path(
    post, path = "/api/watchlists", tag = "watchlists",
    request_body(content = WatchlistBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new list", body = Watchlist),
        (status = 400, description = "A field is invalid; `details` names each one", body = ErrorBody),
        (status = 404, description = "A symbol has no tick and is not in the catalog; the message names it", body = ErrorBody),
        (status = 409, description = "You have a list of this name", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "Over a limit (`code`: `watchlist_full` past WATCHLIST_MAX_SYMBOLS symbols, `too_many_watchlists` past 20 lists); nothing was saved", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let service = service(&state)?;
    let request = watchlist_request(&body, true).map_err(ApiError::fields)?;
    let list = service.create(&user.username, request).await?;
    Ok((StatusCode::CREATED, Json(list)).into_response())
}

#[utoipa::path(
    get, path = "/api/watchlists/{id}", tag = "watchlists",
    params(("id" = i64, Path, minimum = 1, description = "The list's id")),
    responses(
        (status = 200, description = "The list with the latest View of each symbol that has one", body = WatchlistViews),
        (status = 400, description = "`id` is not a list id", body = ErrorBody),
        (status = 404, description = "You have no list with this id (another user's answers the same)", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<WatchlistViews>, ApiError> {
    let id = id(&text)?;
    Ok(Json(service(&state)?.one(&user.username, id).await?))
}

#[utoipa::path(
    put, path = "/api/watchlists/{id}", tag = "watchlists",
    params(("id" = i64, Path, minimum = 1, description = "The list's id")),
    request_body(content = WatchlistBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The list after the change: renamed, and/or its symbols replaced", body = Watchlist),
        (status = 400, description = "`id` or a field is invalid; `details` names it", body = ErrorBody),
        (status = 404, description = "You have no list with this id, or a symbol is unknown (the message names it)", body = ErrorBody),
        (status = 409, description = "You have another list of this name", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "More than WATCHLIST_MAX_SYMBOLS symbols (`code` `watchlist_full`); nothing was saved", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn replace(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<Json<Watchlist>, ApiError> {
    let id = id(&text)?;
    require_json(&headers)?;
    let service = service(&state)?;
    let request = watchlist_request(&body, false).map_err(ApiError::fields)?;
    Ok(Json(service.update(&user.username, id, request).await?))
}

#[utoipa::path(
    delete, path = "/api/watchlists/{id}", tag = "watchlists",
    params(("id" = i64, Path, minimum = 1, description = "The list's id")),
    responses(
        (status = 204, description = "Deleted; streams that follow it get a `watchlist` event with `deleted` and end"),
        (status = 400, description = "`id` is not a list id", body = ErrorBody),
        (status = 404, description = "You have no list with this id", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
) -> Result<StatusCode, ApiError> {
    let id = id(&text)?;
    service(&state)?.delete(&user.username, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/api/watchlists/{id}/symbols", tag = "watchlists",
    params(("id" = i64, Path, minimum = 1, description = "The list's id")),
    request_body(content = SymbolBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The list after the change; a symbol already in it stays where it was (adding twice keeps one)", body = Watchlist),
        (status = 400, description = "`id` or `symbol` is invalid; `details` names it", body = ErrorBody),
        (status = 404, description = "You have no list with this id, or the symbol has no tick and is not in the catalog", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
        (status = 422, description = "The list is full (`code` `watchlist_full`); nothing was saved", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(text): Path<String>,
    CurrentUser(user): CurrentUser,
    body: Bytes,
) -> Result<Json<Watchlist>, ApiError> {
    let id = id(&text)?;
    require_json(&headers)?;
    let service = service(&state)?;
    let symbol = symbol_request(&body).map_err(ApiError::fields)?;
    Ok(Json(service.add(&user.username, id, symbol).await?))
}

#[utoipa::path(
    delete, path = "/api/watchlists/{id}/symbols/{symbol}", tag = "watchlists",
    params(
        ("id" = i64, Path, minimum = 1, description = "The list's id"),
        ("symbol" = String, Path, description = "The symbol to remove"),
    ),
    responses(
        (status = 200, description = "The list after the change", body = Watchlist),
        (status = 400, description = "`id` or `symbol` is invalid", body = ErrorBody),
        (status = 404, description = "You have no list with this id, or the symbol is not in it", body = ErrorBody),
        UserRefusals,
    ),
    security(("bearer" = []), ("session" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    Path((text, symbol)): Path<(String, String)>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Watchlist>, ApiError> {
    let id = id(&text)?;
    let service = service(&state)?;
    let symbol = symbol_param(&symbol)?;
    Ok(Json(service.remove(&user.username, id, &symbol).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_whole_numbers_from_one() {
        assert_eq!(super::id("7").unwrap(), 7);
        for bad in ["0", "-1", "x", "", "1.5"] {
            assert!(super::id(bad).is_err(), "{bad}");
        }
    }
}
