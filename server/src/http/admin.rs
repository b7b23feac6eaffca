//! The admin endpoints: nodes, the alert log, the health view and its live
//! stream, the catalog and users. Who counts as an admin is
//! `accounts::Admin`'s to say.

use crate::accounts::{Admin, Caller};
use crate::error::{AdminRefusals, ApiError, ErrorBody};
use crate::monitor;
use crate::pipeline::gateway::sse::event_stream;
use crate::platform::edge::extract::{Json as JsonBody, Path, Query};
use crate::state::AppState;
use crate::store::AlertFilter;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use std::time::Duration;
use tickpulse_core::account::Role;
use tickpulse_core::health::{NodeHealth, Severity, Thresholds};

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Nodes {
    pub thresholds: Thresholds,
    pub nodes: Vec<NodeHealth>,
}

/// `GET /api/admin/nodes`: every node with its status.
#[utoipa::path(
    get, path = "/api/admin/nodes", tag = "admin",
    responses(
        (status = 200, description = "Every node that sent a heartbeat recently, with its status", body = Nodes),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn nodes(State(state): State<AppState>, _: Admin) -> Result<Json<Nodes>, ApiError> {
    let beats = monitor::beats(state.bus.as_ref()).await?;
    let thresholds = state.config.thresholds();
    let now = tickpulse_core::Timestamp::now().as_millis();
    Ok(Json(Nodes {
        nodes: tickpulse_core::health::nodes(now, &beats, &thresholds),
        thresholds,
    }))
}

/// `GET /api/admin/health`: what the health view shows.
#[utoipa::path(
    get, path = "/api/admin/health", tag = "admin",
    responses(
        (status = 200, description = "Nodes, feeds, the pipeline and the latest alerts", body = tickpulse_core::health::Health),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn health(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    Ok(Json(monitor::health(&state).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// `node`, `feed` or `bus`.
    #[param(pattern = "^(node|feed|bus)$")]
    scope: Option<String>,
    /// `info`, `warning` or `critical`.
    #[param(value_type = Option<Severity>)]
    severity: Option<String>,
    /// A node id or a feed source.
    subject: Option<String>,
    /// Events per page, 1–1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The smallest id of the previous page.
    #[param(value_type = Option<i64>)]
    before: Option<String>,
}

/// Longest page of `GET /api/admin/events`.
pub const MAX_EVENTS: usize = 1_000;

/// A query value, trimmed; `None` when absent or empty.
fn some(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl EventParams {
    fn filter(&self) -> Result<AlertFilter, ApiError> {
        let bad = |field: &'static str, message: String| ApiError::BadParam { field, message };
        let scope = match some(&self.scope) {
            None => None,
            Some(s @ ("node" | "feed" | "bus")) => Some(s.to_owned()),
            Some(s) => return Err(bad("scope", format!("{s:?} is not node, feed or bus"))),
        };
        let severity = match some(&self.severity) {
            None => None,
            Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                bad(
                    "severity",
                    format!("{s:?} is not info, warning or critical"),
                )
            })?),
        };
        let limit = match some(&self.limit) {
            None => 100,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_EVENTS).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "limit",
                        format!("{s:?} is not a number from 1 to {MAX_EVENTS}"),
                    ))
                }
            },
        };
        let before_id = match some(&self.before) {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .map_err(|_| bad("before", format!("{s:?} is not an event id")))?,
            ),
        };
        Ok(AlertFilter {
            scope,
            severity,
            subject: some(&self.subject).map(str::to_owned),
            before_id,
            limit,
            ..AlertFilter::default()
        })
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Events {
    pub events: Vec<tickpulse_core::health::Alert>,
}

/// `GET /api/admin/events?scope=node|feed|bus&severity=&subject=&limit=&before=`:
/// the alert log, newest first; `before` is the smallest id of the
/// previous page.
#[utoipa::path(
    get, path = "/api/admin/events", tag = "admin",
    params(EventParams),
    responses(
        (status = 200, description = "The alert log, newest first", body = Events),
        (status = 400, description = "A parameter is invalid; `details` names it", body = ErrorBody),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn events(
    State(state): State<AppState>,
    Query(params): Query<EventParams>,
    _: Admin,
) -> Result<Json<Events>, ApiError> {
    let filter = params.filter()?;
    let store = state
        .store
        .as_ref()
        .ok_or(ApiError::NoStore("the alert log"))?;
    Ok(Json(Events {
        events: store.alerts(&filter).await?,
    }))
}

/// `PUT /api/admin/catalog/{symbol}`: adds the stock (201) or sets its name
/// and available quantity (200); the answer is the entry with its price.
#[utoipa::path(
    put, path = "/api/admin/catalog/{symbol}", tag = "trading",
    params(("symbol" = tickpulse_core::Symbol, Path, description = "The stock")),
    request_body(content = crate::trading::catalog::StockUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = crate::trading::catalog::Stock),
        (status = 201, description = "Added to the catalog", body = crate::trading::catalog::Stock),
        (status = 400, description = "A field is invalid; `details` names it", body = ErrorBody),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn put_stock(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
    _: Admin,
    JsonBody(update): JsonBody<crate::trading::catalog::StockUpdate>,
) -> Result<Response, ApiError> {
    let symbol = crate::trading::catalog::symbol("symbol", &symbol)?;
    let (added, stock) = super::services::catalog(&state)?
        .put_stock(&symbol, &update)
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stock)).into_response())
}

/// What `PUT /api/admin/users/{username}` takes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// `viewer` (default) or `admin`.
    pub role: Option<String>,
    /// 12–1024 characters; absent: a random one nobody knows (the user then
    /// acts only through personal tokens).
    pub password: Option<String>,
}

/// A user as the admin API shows it (never a password or its hash).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub username: String,
    /// `viewer` or `admin`.
    pub role: String,
    pub created_at: tickpulse_core::Timestamp,
}

/// A new personal token: shown once, only its hash is kept.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NewToken {
    pub username: String,
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
}

fn accounts(state: &AppState) -> Result<&crate::accounts::Accounts, ApiError> {
    state
        .accounts
        .as_deref()
        .ok_or(ApiError::NoStore("accounts"))
}

fn account_refusal(e: crate::accounts::AccountError) -> ApiError {
    use crate::accounts::AccountError;
    match e {
        AccountError::Invalid { field, message } => ApiError::BadParam { field, message },
        AccountError::NotFound(name) => ApiError::NotFound(format!("no user {name:?}")),
        AccountError::Exists(name) => ApiError::Conflict(format!("user {name:?} already exists")),
        AccountError::Store(e) => ApiError::Store(e),
        AccountError::Hash(e) => ApiError::Internal(e),
    }
}

/// `PUT /api/admin/users/{username}`: adds the user (201), or answers the
/// one there, unchanged (200), so a setup script can run twice.
#[utoipa::path(
    put, path = "/api/admin/users/{username}", tag = "admin",
    params(("username" = String, Path, description = "1–64 of a-z 0-9 . _ - @ (upper case is lowered)")),
    request_body(content = UserUpdate, content_type = "application/json"),
    responses(
        (status = 201, description = "Added", body = UserInfo),
        (status = 200, description = "The user exists already: unchanged", body = UserInfo),
        (status = 400, description = "A field is invalid; `details` names it", body = ErrorBody),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("bearer" = []), ("session" = []))
)]
pub async fn put_user(
    State(state): State<AppState>,
    Path(username): Path<String>,
    _: Admin,
    JsonBody(update): JsonBody<UserUpdate>,
) -> Result<Response, ApiError> {
    let role = match update.role.as_deref() {
        None => Role::Viewer,
        Some(text) => Role::parse(text).ok_or_else(|| ApiError::BadParam {
            field: "role",
            message: format!("must be viewer or admin, got {text:?}"),
        })?,
    };
    let password = update
        .password
        .unwrap_or_else(|| crate::accounts::token::generate().0);
    let accounts = accounts(&state)?;
    let info = |u: crate::store::UserRecord| UserInfo {
        username: u.username,
        role: u.role.to_string(),
        created_at: tickpulse_core::Timestamp::from_nanos(u.created_at.saturating_mul(1_000_000)),
    };
    match accounts.add(&username, &password, role).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(info(user))).into_response()),
        Err(crate::accounts::AccountError::Exists(name)) => {
            let user = accounts
                .list()
                .await
                .map_err(account_refusal)?
                .into_iter()
                .find(|u| u.username == name)
                .ok_or_else(|| ApiError::NotFound(format!("no user {name:?}")))?;
            Ok((StatusCode::OK, Json(info(user))).into_response())
        }
        Err(e) => Err(account_refusal(e)),
    }
}

/// `POST /api/admin/users/{username}/tokens`: a new personal token for the
/// user, shown once.
#[utoipa::path(
    post, path = "/api/admin/users/{username}/tokens", tag = "admin",
    params(("username" = String, Path, description = "The user")),
    responses(
        (status = 201, description = "The token, shown only now", body = NewToken),
        (status = 400, description = "`username` is not a user name", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("bearer" = []), ("session" = []))
)]
pub async fn new_token(
    State(state): State<AppState>,
    Path(username): Path<String>,
    _: Admin,
) -> Result<Response, ApiError> {
    let token = accounts(&state)?
        .new_token(&username)
        .await
        .map_err(account_refusal)?;
    let username = tickpulse_core::account::username(&username).unwrap_or(username);
    Ok((StatusCode::CREATED, Json(NewToken { username, token })).into_response())
}

/// How often the admin stream sends the health view.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// `GET /api/admin/stream`: SSE with a `health` event (the whole view) at
/// once and every second, and an `alert` event (a JSON array) the moment
/// the monitor raises alerts. A session stream ends when its session does.
#[utoipa::path(
    get, path = "/api/admin/stream", tag = "admin",
    responses(
        (status = 200, description = "Server-Sent Events: `health` (a `Health`) at once and every second, `alert` (an array of `Alert`) when alerts are raised", content_type = "text/event-stream", body = String),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn stream(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> Result<Response, ApiError> {
    struct Feed {
        state: AppState,
        caller: Caller,
        alerts: tokio::sync::broadcast::Receiver<std::sync::Arc<str>>,
        every: tokio::time::Interval,
        ended: bool,
    }
    let feed = Feed {
        alerts: state.gateway.alerts(),
        every: tokio::time::interval(HEALTH_EVERY),
        state,
        caller,
        ended: false,
    };
    let chunks = futures::stream::unfold(feed, |mut f| async move {
        if f.ended {
            return None;
        }
        let mut shutdown = f.state.shutdown.clone();
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return None,
            alert = f.alerts.recv() => {
                if let Ok(json) = alert {
                    return Some((Bytes::from(format!("event: alert\ndata: {json}\n\n")), f));
                }
            }
            _ = f.every.tick() => {}
        }
        if !f.caller.still_admin(&f.state.gate).await {
            f.ended = true;
            return Some((Bytes::from_static(b"event: signed_out\ndata: {}\n\n"), f));
        }
        let chunk = match monitor::health(&f.state).await {
            Ok(h) => format!(
                "event: health\ndata: {}\n\n",
                serde_json::to_string(&h).unwrap_or_default()
            ),
            Err(e) => format!(
                "event: unavailable\ndata: {}\n\n",
                serde_json::json!({ "error": e.to_string() })
            ),
        };
        Some((Bytes::from(chunk), f))
    });
    let mut response = event_stream(chunks);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> EventParams {
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        };
        EventParams {
            scope: get("scope"),
            severity: get("severity"),
            subject: get("subject"),
            limit: get("limit"),
            before: get("before"),
        }
    }

    fn field(e: ApiError) -> &'static str {
        match e {
            ApiError::BadParam { field, .. } => field,
            other => panic!("not a bad parameter: {other}"),
        }
    }

    #[test]
    fn event_filters_are_checked_and_name_the_field() {
        let f = params(&[("scope", "node"), ("severity", "critical"), ("limit", "5")])
            .filter()
            .unwrap();
        assert_eq!(f.scope.as_deref(), Some("node"));
        assert_eq!(f.severity, Some(Severity::Critical));
        assert_eq!(f.limit, 5);
        assert_eq!(params(&[]).filter().unwrap().limit, 100);
        assert_eq!(
            field(params(&[("scope", "disk")]).filter().unwrap_err()),
            "scope"
        );
        assert_eq!(
            field(params(&[("severity", "bad")]).filter().unwrap_err()),
            "severity"
        );
        assert_eq!(
            field(params(&[("limit", "0")]).filter().unwrap_err()),
            "limit"
        );
        assert_eq!(
            field(params(&[("limit", "1001")]).filter().unwrap_err()),
            "limit"
        );
        assert_eq!(
            field(params(&[("before", "x")]).filter().unwrap_err()),
            "before"
        );
    }
}
