//! `GET /api/ws`: the WebSocket door to the live feed (the protocol is in
//! [`tickpulse_core::live`], the connection in
//! [`crate::pipeline::gateway::ws`]). Authentication is the API's (the
//! public routes' key guard, and a session or a bearer token for a user's
//! orders and watchlists); a browser's handshake must come from this site,
//! as a state-changing request must.

use super::orders::open_orders;
use super::services::watchlists;
use crate::accounts::MaybeUser;
use crate::error::{ApiError, ErrorBody, ReadRefusals};
use crate::pipeline::gateway::ws::{serve, Caller, MAX_MESSAGE_BYTES};
use crate::platform::edge::browser::cross_site;
use crate::platform::edge::conn::{addr_of, Peer};
use crate::platform::edge::limits::Route;
use crate::state::AppState;
use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use std::collections::HashSet;
use std::net::IpAddr;
use tickpulse_core::Symbol;

#[utoipa::path(
    get, path = "/api/ws", tag = "market data",
    responses(
        (status = 101, description = "A WebSocket of JSON text messages. The client sends `{\"action\": \"subscribe\", \"symbols\": [\"BTC-USD\"], \"conflate\": \"250ms\"}` (no `symbols`: every symbol; `\"watchlist\": 3` instead follows one of your lists; `conflate` from 10ms to 60s, absent: every update), `{\"action\": \"unsubscribe\", \"symbols\": [...]}` (no `symbols`: everything), `{\"action\": \"resume\", \"from\": \"<id>\", \"symbols\": [...]}` (the ticks after `from`, the `id` of the last event it got, are replayed) and `{\"action\": \"ping\", \"data\": \"...\"}`. The server sends `{\"event\", \"id\"?, \"data\"}`: `snapshot` (a `Snapshot`, `id` its position when it covers everything followed), `tick` (a `StreamTick`, `id` the position to resume from), `view` (a `View`), `stock` (a `StockEvent`), `watchlist` (a `WatchlistEvent`), and, signed in, `order` (an `OrderEvent`) and `orders` (`{\"orders\": [Order…]}` after missed order events); conflated ticks and views carry `skipped` in `data`. Answers: `subscribed` (`{\"symbols\", \"watchlist\", \"conflate\"}`: what the connection follows now), `error` (an `ErrorBody` naming the field) and `pong` (`{\"data\"}`). Messages over 16 KiB get an `error`; over 64 KiB close the connection (1009). Keep-alive: a WebSocket ping every `SSE_KEEPALIVE_SECS`."),
        (status = 400, description = "Not a WebSocket handshake (`details` names `upgrade`)", body = ErrorBody),
        (status = 401, description = "`API_KEY` is set and none was sent, or a bearer token is not valid", body = ErrorBody),
        (status = 403, description = "A browser's handshake from another site", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []), ("bearer" = []))
)]
pub async fn ws(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    asking: MaybeUser,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Response, ApiError> {
    let upgrade = handshake(
        &headers,
        upgrade.map_err(|e| e.to_string()),
        "this endpoint speaks WebSocket only",
    )?;
    let user = asking.optional().await?.map(|u| u.username);
    if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<Peer>>() {
        peer.streaming();
    }
    let caller = HttpCaller {
        addr: addr_of(&headers, &extensions, state.config.trust_forwarded_for),
        state: state.clone(),
        user,
    };
    let gateway = state.gateway.clone();
    Ok(sized(upgrade).on_upgrade(move |socket| serve(socket, gateway, caller)))
}

/// Every WebSocket handshake of the API (this door's and GraphQL's): a
/// browser's must come from this site (403), and a request that is not
/// one (`upgrade` says why) is a 400 naming `upgrade`; `what` says what
/// the endpoint takes.
///
/// # Errors
/// As above.
pub(super) fn handshake<T>(
    headers: &HeaderMap,
    upgrade: Result<T, String>,
    what: &str,
) -> Result<T, ApiError> {
    if let Some(why) = cross_site(headers) {
        return Err(ApiError::Forbidden(why));
    }
    upgrade.map_err(|e| ApiError::BadParam {
        field: "upgrade",
        message: format!("{what}: {e}"),
    })
}

/// The buffers and limits of every WebSocket of the API (this door's and
/// GraphQL's): small buffers, so a connection holds what it is sending and
/// not 128 KiB each way ahead of time (tungstenite's defaults), and
/// thousands of clients cost what SSE clients cost (each batch is flushed
/// anyway); no message over [`MAX_MESSAGE_BYTES`].
pub(super) fn sized(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
}

/// The caller of one connection, as the door sees it.
struct HttpCaller {
    state: AppState,
    user: Option<String>,
    addr: Option<IpAddr>,
}

#[async_trait::async_trait]
impl Caller for HttpCaller {
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    fn admit(&self) -> Result<(), ApiError> {
        match self.addr {
            Some(addr) => self.state.limits.check_addr(Route::Api, addr),
            None => Ok(()),
        }
    }

    async fn watchlist(&self, user: &str, id: i64) -> Result<HashSet<Symbol>, ApiError> {
        let list = watchlists(&self.state)?.owned(user, id).await?;
        Ok(list.symbols.into_iter().collect())
    }

    async fn open_orders(&self) -> Result<Vec<u8>, ApiError> {
        match self.user.as_deref() {
            Some(user) => open_orders(&self.state, user).await.map(String::into_bytes),
            None => Ok(br#"{"orders":[]}"#.to_vec()),
        }
    }
}
