//! Who may do what, and the admin endpoints.
//!
//! - `/api/admin/*` (nodes, events, health, live stream): an admin session,
//!   or `x-api-key: ADMIN_API_KEY` for scripts.
//! - Other `/api/*` routes: open, or, with `API_KEY` set, `x-api-key:
//!   API_KEY`, any signed-in user, or a personal token
//!   (`Authorization: Bearer`).
//! - Trading (`/api/account`, `/api/orders*`): a signed-in user or a
//!   personal token, always.
//! - Pages: each page's access is declared beside the routes, in
//!   `tickpulse_app::PAGES`. An admin page redirects a visitor to the login
//!   page and answers a signed-in viewer 403 (the app's `Forbidden` view);
//!   with `API_KEY` set every page but the login page needs a signed-in user.

use crate::error::{AdminRefusals, ApiError, ErrorBody};
use crate::monitor;
use crate::pipeline::gateway::sse::event_stream;
use crate::platform::edge::extract::{Json as JsonBody, Path, Query};
use crate::state::AppState;
use crate::store::AlertFilter;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tickpulse_app::Access;
use tickpulse_core::account::{Role, SignedIn};
use tickpulse_core::health::{NodeHealth, Severity, Thresholds};
use tower_sessions::Session;

/// The request's session, when the session layer is on (there is a
/// database).
pub struct MaybeSession(pub Option<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MaybeSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Session>().cloned()))
    }
}

/// Whether `headers` carry `x-api-key` equal to `expected`.
fn key_matches(headers: &HeaderMap, expected: Option<&str>) -> bool {
    match (expected, headers.get("x-api-key")) {
        (Some(expected), Some(given)) if !expected.is_empty() => {
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

/// The signed-in user of a request, if any.
async fn signed_in(
    state: &AppState,
    session: Option<&Session>,
) -> Result<Option<SignedIn>, ApiError> {
    match (&state.accounts, session) {
        (Some(accounts), Some(session)) => accounts
            .current(session)
            .await
            .map_err(ApiError::SessionUnavailable),
        _ => Ok(None),
    }
}

/// The user a trading request acts for: the owner of the personal token
/// in `Authorization: Bearer …`, or the signed-in user of the session.
///
/// # Errors
/// `SignInRequired` without either (or with a token that is not valid),
/// `NoStore` without a database, or the check's failure.
pub async fn require_user(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<&Session>,
) -> Result<SignedIn, ApiError> {
    let accounts = state
        .accounts
        .as_ref()
        .ok_or(ApiError::NoStore("trading"))?;
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::SignInRequired(
                "Authorization must be `Bearer <personal token>`",
            ))?;
        return accounts
            .token_user(token)
            .await?
            .ok_or(ApiError::SignInRequired(
                "the personal token is not valid (make one with `tickpulse user token NAME`)",
            ));
    }
    signed_in(state, session).await?.ok_or(ApiError::SignInRequired(
        "sign in, or send Authorization: Bearer <personal token> (`tickpulse user token NAME` makes one)",
    ))
}

/// Who called an admin endpoint.
pub(super) enum Caller {
    /// A script with the admin API key, or an admin's personal token.
    Key,
    /// An admin, by session; checked again while a stream lasts.
    Admin(Session),
}

pub(super) async fn require_admin(
    state: &AppState,
    headers: &HeaderMap,
    session: Option<Session>,
) -> Result<Caller, ApiError> {
    if key_matches(headers, state.config.admin_api_key.as_deref()) {
        return Ok(Caller::Key);
    }
    if headers.contains_key(header::AUTHORIZATION) {
        let user = require_user(state, headers, None).await?;
        return match user.role {
            Role::Admin => Ok(Caller::Key),
            _ => Err(ApiError::Forbidden("admins only")),
        };
    }
    let sign_in =
        ApiError::SignInRequired("sign in as an admin, or send x-api-key with ADMIN_API_KEY");
    let Some(session) = session else {
        return Err(sign_in);
    };
    match signed_in(state, Some(&session)).await? {
        Some(user) if user.role == Role::Admin => Ok(Caller::Admin(session)),
        Some(_) => Err(ApiError::Forbidden("admins only")),
        None => Err(sign_in),
    }
}

/// Guards the public `/api/*` routes when `API_KEY` is set.
pub async fn api_key_guard(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = state.config.api_key.as_deref() else {
        return next.run(request).await;
    };
    if key_matches(request.headers(), Some(key)) {
        return next.run(request).await;
    }
    // A program with a personal token counts as its user.
    if request.headers().contains_key(header::AUTHORIZATION) {
        return match require_user(&state, request.headers(), None).await {
            Ok(_) => next.run(request).await,
            Err(e) => e.into_response(),
        };
    }
    match signed_in(&state, session.as_ref()).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => ApiError::SignInRequired("send x-api-key, or sign in").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Guards the pages (see the module docs).
pub async fn page_guard(
    State(state): State<AppState>,
    MaybeSession(session): MaybeSession,
    request: Request,
    next: Next,
) -> Response {
    // Only pages are guarded here: the API, the webhook, static files and
    // the server functions have guards of their own.
    let Some(page) = tickpulse_app::page(request.uri().path()) else {
        return next.run(request).await;
    };
    let admin_page = page.access == Access::Admin;
    let needs_user = match page.access {
        Access::Open => false,
        Access::Viewer => state.config.api_key.is_some(),
        Access::User | Access::Admin => true,
    };
    if !needs_user {
        return next.run(request).await;
    }
    let back_to = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let login = || {
        Redirect::to(&format!(
            "/login?next={}",
            tickpulse_app::account::encode(&back_to)
        ))
        .into_response()
    };
    match signed_in(&state, session.as_ref()).await {
        Ok(Some(user)) if !admin_page || user.role == Role::Admin => next.run(request).await,
        Ok(Some(user)) => (
            StatusCode::FORBIDDEN,
            // No inline script, so no nonce.
            [(
                axum::http::header::CONTENT_SECURITY_POLICY,
                tickpulse_app::security::policy(None),
            )],
            Html(forbidden_page(&user, &state.assets.css)),
        )
            .into_response(),
        Ok(None) => login(),
        Err(e) => e.into_response(),
    }
}

/// The 403 page: the app's [`tickpulse_app::Forbidden`] view in a small
/// document of its own (no router, no hydration).
fn forbidden_page(user: &SignedIn, css: &str) -> String {
    use leptos::prelude::*;
    let (username, role) = (user.username.clone(), user.role.to_string());
    let main = view! { <tickpulse_app::Forbidden username role/> }.to_html();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden · tickpulse</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body>{main}</body></html>"
    )
}

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
pub async fn nodes(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
) -> Result<Json<Nodes>, ApiError> {
    require_admin(&state, &headers, session).await?;
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
pub async fn health(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, session).await?;
    Ok(Json(monitor::health(&state).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// `node` or `feed`.
    #[param(pattern = "^(node|feed)$")]
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
            Some(s @ ("node" | "feed")) => Some(s.to_owned()),
            Some(s) => return Err(bad("scope", format!("{s:?} is not node or feed"))),
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

/// `GET /api/admin/events?scope=node|feed&severity=&subject=&limit=&before=`:
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
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Query(params): Query<EventParams>,
) -> Result<Json<Events>, ApiError> {
    require_admin(&state, &headers, session).await?;
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
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Path(symbol): Path<String>,
    JsonBody(update): JsonBody<crate::trading::catalog::StockUpdate>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, session).await?;
    let symbol = crate::trading::catalog::symbol("symbol", &symbol)?;
    let store = super::stocks::store(&state)?;
    let added = crate::trading::catalog::put(store, &symbol, &update).await?;
    let stock = crate::trading::catalog::stock(store, state.bus.as_ref(), &symbol).await?;
    crate::bus::publish_json(
        state.bus.as_ref(),
        crate::bus::Topic::Stocks,
        &[tickpulse_core::trade::StockEvent {
            symbol: stock.symbol.clone(),
            available: stock.available,
        }],
    )
    .await;
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
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Path(username): Path<String>,
    JsonBody(update): JsonBody<UserUpdate>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, session).await?;
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
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Path(username): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, session).await?;
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
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
) -> Result<Response, ApiError> {
    let caller = require_admin(&state, &headers, session).await?;
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
        if let Caller::Admin(session) = &f.caller {
            // The session object keeps the record it loaded when the stream
            // opened: read it again, or a logout elsewhere goes unseen. A
            // failed read (the database is down) ends nothing.
            let still_admin = match session.load().await {
                Ok(()) => match signed_in(&f.state, Some(session)).await {
                    Ok(user) => user.is_some_and(|u| u.role == Role::Admin),
                    Err(_) => true,
                },
                Err(_) => true,
            };
            if !still_admin {
                f.ended = true;
                return Some((Bytes::from_static(b"event: signed_out\ndata: {}\n\n"), f));
            }
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

    #[test]
    fn keys_compare_whole_and_never_match_an_unset_key() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "secret".parse().unwrap());
        assert!(key_matches(&h, Some("secret")));
        assert!(!key_matches(&h, Some("secret2")));
        assert!(!key_matches(&h, None));
        assert!(!key_matches(&h, Some("")));
        assert!(!key_matches(&HeaderMap::new(), Some("secret")));
    }
}
