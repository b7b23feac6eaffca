//! The WebSocket door (`/api/ws`), natively: [`follow`] keeps one
//! connection open with one subscription, and after a dropped connection
//! opens another after 0.5 s (doubling up to 10 s while it keeps failing)
//! and `resume`s from the last position it got, so the server replays what
//! was missed, as [`crate::sse::follow`] does with `Last-Event-ID`. Events
//! come as the SSE ones do ([`SseEvent`]: name, position, data as JSON
//! text), so a caller handles both doors alike.

use crate::sse::SseEvent;
use serde::Deserialize;
use serde_json::value::RawValue;
use tickpulse_core::live::{Request, Subscription};
use tickpulse_core::Cursor;

/// One message of the server.
#[derive(Deserialize)]
struct Message<'a> {
    event: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// Reads one message of the server as an event; `None` when it is not one.
pub fn event(text: &str) -> Option<SseEvent> {
    let m: Message<'_> = serde_json::from_str(text).ok()?;
    Some(SseEvent {
        event: m.event,
        id: m.id,
        data: m
            .data
            .map_or_else(|| "null".to_owned(), |d| d.get().to_owned()),
    })
}

/// The WebSocket address of the server at `base` (`http(s)://…`).
pub fn url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/api/ws")
}

/// What to send on (re)connecting: `subscription`, or, once a position was
/// given, a `resume` from it.
pub fn opening(subscription: &Subscription, last: Option<&Cursor>) -> Request {
    match last {
        Some(from) => Request::Resume {
            from: from.clone(),
            subscription: subscription.clone(),
        },
        None => Request::Subscribe(subscription.clone()),
    }
}

/// Follows `subscription` on the server at `base` until `on_event`
/// returns `false` (see the module docs), as the user of `token` when
/// given (a watchlist needs one). An `error` event goes to `on_event` like
/// any other.
#[cfg(not(target_arch = "wasm32"))]
pub async fn follow(
    base: &str,
    token: Option<&str>,
    subscription: Subscription,
    mut on_event: impl FnMut(SseEvent) -> bool,
) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as Frame;
    let address = url(base);
    let mut last: Option<Cursor> = None;
    let mut reconnect = crate::sse::Reconnect::new();
    loop {
        let Ok(mut request) = address.as_str().into_client_request() else {
            return;
        };
        if let Some(token) = token {
            if let Ok(value) = format!("Bearer {token}").parse() {
                request.headers_mut().insert("authorization", value);
            }
        }
        if let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await {
            let hello = opening(&subscription, last.as_ref()).to_json();
            if socket.send(Frame::text(hello)).await.is_ok() {
                reconnect.connected();
                while let Some(Ok(frame)) = socket.next().await {
                    let Frame::Text(text) = frame else { continue };
                    let Some(event) = event(&text) else { continue };
                    if let Some(id) = event.id.as_deref().and_then(|id| id.parse().ok()) {
                        last = Some(id);
                    }
                    if !on_event(event) {
                        let _ = socket.close(None).await;
                        return;
                    }
                }
            }
        }
        reconnect.pause().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickpulse_core::live::Follow;
    use tickpulse_core::Symbol;

    #[test]
    fn messages_read_as_events() {
        let e = event(r#"{"event":"tick","id":"5-0,7-1","data":{"symbol":"A"}}"#).unwrap();
        assert_eq!(
            e,
            SseEvent {
                event: "tick".into(),
                id: Some("5-0,7-1".into()),
                data: r#"{"symbol":"A"}"#.into()
            }
        );
        assert_eq!(
            event(r#"{"event":"pong","data":{"data":null}}"#)
                .unwrap()
                .id,
            None
        );
        assert!(event("nope").is_none());
        assert!(event(r#"{"id":"1-0"}"#).is_none());
    }

    #[test]
    fn the_address_and_the_opening_message() {
        assert_eq!(url("http://h:3000/"), "ws://h:3000/api/ws");
        assert_eq!(url("https://h"), "wss://h/api/ws");
        let s = Subscription {
            follow: Follow::Symbols(vec![Symbol::new("A")]),
            conflate: None,
        };
        assert_eq!(opening(&s, None), Request::Subscribe(s.clone()));
        let at: Cursor = "9-0".parse().unwrap();
        assert_eq!(
            opening(&s, Some(&at)),
            Request::Resume {
                from: at,
                subscription: s
            }
        );
    }
}
