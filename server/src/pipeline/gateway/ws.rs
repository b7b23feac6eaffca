//! `GET /api/ws`: the live feed over a WebSocket, with subscriptions that
//! change without a reconnect.
//!
//! The protocol (the client's `subscribe`, `unsubscribe`, `resume` and
//! `ping`; the server's events) is written in [`tickpulse_core::live`];
//! the promises (no gap or repeat, resume, bounded memory, conflation) are
//! the feed's, the same as the SSE stream's (see [`super::feed`]). Every
//! message is one JSON object, `{"event", "id"?, "data"}`: `id` is the
//! position (ticks, and snapshots of everything followed), `data` what the
//! SSE event would carry.
//!
//! A signed-in connection also gets its user's `order` events (and, after
//! it fell behind on them, `orders`: its open orders, `{"orders": […]}`).
//!
//! # Limits
//! Each client message counts against the API's rate limit like a
//! request. A message over [`tickpulse_core::live::MAX_REQUEST_BYTES`] gets an `error` naming
//! `message`; one over [`MAX_MESSAGE_BYTES`] is not even read: the
//! connection is closed with 1009. A socket that takes nothing for
//! `SSE_STALL_SECS` is closed as an SSE one is; keep-alive is a WebSocket
//! ping every `SSE_KEEPALIVE_SECS`.

use super::encoder::Encoder;
use super::feed::Feed;
use super::sse::with_skipped;
use super::{Gateway, OrderFrame};
use crate::error::ApiError;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::{Bytes, BytesMut};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use tickpulse_core::live::{conflation_text, request, Follow, Request, Subscription};
use tickpulse_core::{Cursor, Symbol};
use tokio::sync::broadcast;

/// The largest message the socket reads at all; a larger one closes the
/// connection (1009).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What the door asks of the rest of the server for its caller.
#[async_trait::async_trait]
pub trait Caller: Send + Sync {
    /// The signed-in user, if any.
    fn user(&self) -> Option<&str>;
    /// Takes one request from the caller's rate allowance.
    ///
    /// # Errors
    /// `RateLimited` when it is spent.
    fn admit(&self) -> Result<(), ApiError>;
    /// The symbols of `user`'s list `id`.
    ///
    /// # Errors
    /// 404 for another's list or none.
    async fn watchlist(&self, user: &str, id: i64) -> Result<HashSet<Symbol>, ApiError>;
    /// The caller's open orders, as `{"orders": [Order…]}`.
    ///
    /// # Errors
    /// The store's failure.
    async fn open_orders(&self) -> Result<Vec<u8>, ApiError>;
}

/// Serves one upgraded connection until either side ends it.
pub async fn serve(socket: WebSocket, gateway: Gateway, caller: impl Caller) {
    // The client's messages are read by a task of their own, so sending an
    // event does not poll the socket's read side each time (it was about a
    // tenth of the door's CPU under fan-out).
    let (mut socket, mut incoming) = socket.split();
    let (to_serve, mut messages) = tokio::sync::mpsc::channel(16);
    let reader = tokio::spawn(async move {
        while let Some(message) = incoming.next().await {
            let last = matches!(message, Err(_) | Ok(Message::Close(_)));
            if to_serve.send(message).await.is_err() || last {
                break;
            }
        }
    });
    serve_messages(&mut socket, &mut messages, gateway, caller).await;
    reader.abort();
}

async fn serve_messages(
    socket: &mut SplitSink<WebSocket, Message>,
    messages: &mut tokio::sync::mpsc::Receiver<Result<Message, axum::Error>>,
    gateway: Gateway,
    caller: impl Caller,
) {
    let mut out = Ws::default();
    let mut feed = match Feed::idle(&gateway).await {
        Ok(feed) => feed,
        Err(e) => {
            out.error(&e);
            close(
                socket,
                &mut out,
                1011,
                "the bus is unavailable; reconnect shortly",
            )
            .await;
            return;
        }
    };
    let mut orders = caller.user().map(|_| gateway.orders());
    loop {
        let ended = tokio::select! {
            biased;
            message = messages.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    handle(text.as_bytes(), &mut feed, &gateway, &caller, &mut out).await;
                    None
                }
                Some(Ok(Message::Binary(data))) => {
                    handle(&data, &mut feed, &gateway, &caller, &mut out).await;
                    None
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(e)) => {
                    let too_big = e
                        .into_inner()
                        .downcast_ref::<tungstenite::Error>()
                        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)));
                    if !too_big {
                        return;
                    }
                    out.error(&ApiError::TooLarge { limit: MAX_MESSAGE_BYTES });
                    Some((1009, "message too big"))
                }
            },
            heard = feed.wait() => match feed.handle(heard, &mut out).await {
                Ok(true) => None,
                Ok(false) => Some((1000, "the stream ended")),
                Err(e) => {
                    out.error(&e);
                    Some((1011, "the feed failed; resume from your last id"))
                }
            },
            order = next_order(&mut orders) => {
                match order {
                    Ok(frame) if Some(frame.user.as_str()) == caller.user() => {
                        out.event("order", &frame.json, None);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => match caller.open_orders().await {
                        Ok(json) => out.event("orders", &json, None),
                        Err(e) => out.error(&e),
                    },
                    Err(broadcast::error::RecvError::Closed) => orders = None,
                }
                None
            }
        };
        if let Some((code, reason)) = ended {
            close(socket, &mut out, code, reason).await;
            return;
        }
        if send(socket, &mut out).await.is_err() {
            return;
        }
    }
}

async fn next_order(
    orders: &mut Option<broadcast::Receiver<Arc<OrderFrame>>>,
) -> Result<Arc<OrderFrame>, broadcast::error::RecvError> {
    match orders {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes what is waiting, then flushes.
async fn send(socket: &mut SplitSink<WebSocket, Message>, out: &mut Ws) -> Result<(), axum::Error> {
    if out.messages.is_empty() {
        return Ok(());
    }
    for message in out.messages.drain(..) {
        socket.feed(message).await?;
    }
    socket.flush().await
}

async fn close(
    socket: &mut SplitSink<WebSocket, Message>,
    out: &mut Ws,
    code: u16,
    reason: &'static str,
) {
    out.messages.push(Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    })));
    let _ = send(socket, out).await;
}

/// Answers one client message.
async fn handle(
    message: &[u8],
    feed: &mut Feed,
    gateway: &Gateway,
    caller: &impl Caller,
    out: &mut Ws,
) {
    let request = match request(message) {
        Ok(r) => r,
        Err(errors) => return out.error(&ApiError::fields(errors)),
    };
    if let Err(e) = caller.admit() {
        return out.error(&e);
    }
    let done = match request {
        Request::Ping(data) => {
            out.pong(data.as_deref());
            return;
        }
        Request::Unsubscribe(symbols) => feed.remove(symbols.as_deref()),
        Request::Subscribe(Subscription { follow, conflate }) => {
            feed.set_conflation(conflate, out);
            match follow {
                Follow::All => feed.add(None, out).await,
                Follow::Symbols(list) => feed.add(Some(list.into_iter().collect()), out).await,
                Follow::Watchlist(id) => watch_list(feed, gateway, caller, id, None, out).await,
            }
        }
        Request::Resume { from, subscription } => {
            feed.set_conflation(subscription.conflate, out);
            match subscription.follow {
                Follow::All => feed.replace(None, None, Some(from), out).await,
                Follow::Symbols(list) => {
                    feed.replace(Some(list.into_iter().collect()), None, Some(from), out)
                        .await
                }
                Follow::Watchlist(id) => {
                    watch_list(feed, gateway, caller, id, Some(from), out).await
                }
            }
        }
    };
    match done {
        Ok(()) => out.subscribed(feed),
        Err(e) => out.error(&e),
    }
}

/// Follows the caller's list `id` in place of what the feed followed.
async fn watch_list(
    feed: &mut Feed,
    gateway: &Gateway,
    caller: &impl Caller,
    id: i64,
    from: Option<Cursor>,
    out: &mut Ws,
) -> Result<(), ApiError> {
    let Some(user) = caller.user() else {
        return Err(ApiError::SignInRequired(
            "sign in (or send a bearer token) to follow a watchlist",
        ));
    };
    // Changes are heard from before the list is read.
    let following = gateway.follow_list(user.to_owned(), id);
    let symbols = caller.watchlist(user, id).await?;
    feed.replace(Some(symbols), Some(following), from, out)
        .await
}

/// The feed's events as WebSocket messages.
#[derive(Default)]
struct Ws {
    messages: Vec<Message>,
    buf: BytesMut,
}

impl Ws {
    fn start(&mut self, event: &str) {
        self.buf.extend_from_slice(b"{\"event\":\"");
        self.buf.extend_from_slice(event.as_bytes());
        self.buf.extend_from_slice(b"\"");
    }

    fn data(&mut self, json: &[u8], skipped: Option<u64>) {
        self.buf.extend_from_slice(b",\"data\":");
        with_skipped(&mut self.buf, json, skipped);
        self.end();
    }

    fn end(&mut self) {
        self.buf.extend_from_slice(b"}");
        let text = self.buf.split().freeze();
        match Utf8Bytes::try_from(text) {
            Ok(text) => self.messages.push(Message::Text(text)),
            Err(e) => tracing::error!(error = %e, "an event that is not UTF-8 was not sent"),
        }
    }

    fn json(&mut self, event: &str, value: &serde_json::Value) {
        self.start(event);
        let data = value.to_string();
        self.data(data.as_bytes(), None);
    }

    fn error(&mut self, error: &ApiError) {
        if error.status().is_server_error() {
            tracing::warn!(error = %error, "WebSocket request failed");
        }
        match serde_json::to_value(error.body()) {
            Ok(body) => self.json("error", &body),
            Err(e) => tracing::error!(error = %e, "an error event was not sent"),
        }
    }

    fn pong(&mut self, data: Option<&str>) {
        self.json("pong", &serde_json::json!({ "data": data }));
    }

    /// What the connection follows now.
    fn subscribed(&mut self, feed: &Feed) {
        let mut symbols: Option<Vec<&str>> = feed
            .filter()
            .map(|f| f.iter().map(Symbol::as_str).collect());
        if let Some(list) = symbols.as_mut() {
            list.sort_unstable();
        }
        self.json(
            "subscribed",
            &serde_json::json!({
                "symbols": symbols,
                "watchlist": feed.following(),
                "conflate": feed.conflation().map(conflation_text),
            }),
        );
    }
}

impl Encoder for Ws {
    fn tick(&mut self, position: &[Bytes], json: &[u8], skipped: Option<u64>) {
        self.start("tick");
        self.buf.extend_from_slice(b",\"id\":\"");
        for (i, text) in position.iter().enumerate() {
            if i > 0 {
                self.buf.extend_from_slice(b",");
            }
            self.buf.extend_from_slice(text);
        }
        self.buf.extend_from_slice(b"\"");
        self.data(json, skipped);
    }

    fn event(&mut self, name: &'static str, json: &[u8], skipped: Option<u64>) {
        self.start(name);
        self.data(json, skipped);
    }

    fn snapshot(&mut self, _reset: bool, position: Option<&Cursor>, json: &[u8]) {
        self.start("snapshot");
        if let Some(cursor) = position {
            self.buf
                .extend_from_slice(format!(",\"id\":\"{cursor}\"").as_bytes());
        }
        self.data(json, None);
    }

    fn keepalive(&mut self) {
        self.messages.push(Message::Ping(Bytes::new()));
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}
