//! `GET /api/stream?symbols=A,B`: live ticks over Server-Sent Events.
//!
//! # Format
//! First `event: snapshot` with `{"reset": false, "ticks": [LatestTick…]}`,
//! then one `event: tick` per accepted tick with `id:` = its stream id and a
//! `StreamTick` as data, `event: view` per View the calc stage writes, and
//! `event: stock` (`{"symbol", "available"}`, no `id:`) whenever a trade or
//! an admin changes a stock's available quantity, so caches of stock
//! lookups stay right without polling. Keep-alive comments every few
//! seconds. When this
//! client fell behind or the server lost its bus subscription, another
//! `snapshot` with `"reset": true` replaces everything the client holds.
//!
//! The client subscribes to the gateway before reading the snapshot and
//! drops ticks the snapshot already holds, so nothing falls in between
//! (see [`super::feed`] for what every door promises).
//!
//! # Conflation
//! With `?conflate=250ms` (10 ms to 60 s; `0` or absent: every update), a
//! symbol gets at most one `tick` and one `view` per interval, the latest,
//! with `"skipped": n` in the data: how many of its updates it replaces.
//!
//! # Following a watchlist
//! With `?watchlist={id}` (the signed-in owner only) the stream carries that
//! list's symbols, and follows the list as it changes, without a
//! reconnect: an `event: watchlist` (the list after the change, a
//! `WatchlistEvent`), then a `snapshot` (`"reset": false`, no `id:`) of the
//! symbols it gained. When the list is deleted the event says `deleted` and
//! the stream ends.
//!
//! # Resuming
//! Every tick's `id:` is the client's cursor: its position in each
//! partition of the tick stream (one stream id with one partition, the
//! partitions' ids joined by commas with several; see
//! [`tickpulse_core::Cursor`]). A client that reconnects with
//! `Last-Event-ID` (browsers' `EventSource` does by itself) gets no
//! snapshot: from each partition holding some of its symbols, the ticks
//! after its position there are replayed, in order, then live ticks follow
//! without a gap or a repeat. When a partition no longer holds everything
//! after that position (or the cursor is of another number of partitions),
//! the client gets a `snapshot` with `"reset": true` instead.
//!
//! # Order
//! A symbol's ticks come in the order they were accepted. Ticks of symbols
//! in different partitions have no order between them.

use super::encoder::Encoder;
use super::feed::{Feed, Following};
use super::{held, Gateway};
use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;
use tickpulse_core::{Cursor, Symbol};

/// Opens a stream of `filter`'s symbols (all with `None`) for a client
/// that sent `headers`, following a list's changes with `following` (see
/// the module docs). The HTTP handler is `http::symbols::stream`.
///
/// # Errors
/// A bad `Last-Event-ID` (400), or the bus's failure.
pub async fn open(
    gateway: &Gateway,
    filter: Option<HashSet<Symbol>>,
    following: Option<Following>,
    conflate: Option<Duration>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let resume = last_event_id(headers)?;
    let mut first = Sse::default();
    let feed = Feed::open(gateway, filter, following, resume, conflate, &mut first).await?;
    let buffered = gateway.metrics.sse_buffered.clone();
    let chunks =
        futures::stream::unfold((feed, Some(first.take())), |(mut feed, first)| async move {
            if let Some(first) = first.filter(|f| !f.is_empty()) {
                return Some((first, (feed, None)));
            }
            let mut out = Sse::default();
            // On a failure the client reconnects (with its last id) and
            // tries again.
            match feed.next(&mut out).await {
                Ok(true) => Some((out.take(), (feed, None))),
                Ok(false) | Err(_) => None,
            }
        });
    Ok(event_stream(futures::StreamExt::map(
        chunks,
        move |chunk| held(chunk, &buffered),
    )))
}

/// The feed's events as Server-Sent Events.
#[derive(Default)]
struct Sse(BytesMut);

impl Sse {
    fn take(&mut self) -> Bytes {
        self.0.split().freeze()
    }

    fn data(&mut self, json: &[u8], skipped: Option<u64>) {
        self.0.extend_from_slice(b"data: ");
        with_skipped(&mut self.0, json, skipped);
        self.0.extend_from_slice(b"\n\n");
    }
}

/// `json` (an object), with `"skipped": n` first when conflating.
pub(super) fn with_skipped(out: &mut BytesMut, json: &[u8], skipped: Option<u64>) {
    match (skipped, json.split_first()) {
        (Some(n), Some((b'{', rest))) => {
            out.extend_from_slice(format!("{{\"skipped\":{n}").as_bytes());
            if rest.first() != Some(&b'}') {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(rest);
        }
        _ => out.extend_from_slice(json),
    }
}

impl Encoder for Sse {
    fn tick(&mut self, position: &[Bytes], json: &[u8], skipped: Option<u64>) {
        self.0.extend_from_slice(b"event: tick\nid: ");
        for (i, text) in position.iter().enumerate() {
            if i > 0 {
                self.0.extend_from_slice(b",");
            }
            self.0.extend_from_slice(text);
        }
        self.0.extend_from_slice(b"\n");
        self.data(json, skipped);
    }

    fn event(&mut self, name: &'static str, json: &[u8], skipped: Option<u64>) {
        self.0.extend_from_slice(b"event: ");
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\n");
        self.data(json, skipped);
    }

    fn snapshot(&mut self, reset: bool, position: Option<&Cursor>, json: &[u8]) {
        if !reset {
            // Reconnect quickly after a server restart.
            self.0.extend_from_slice(b"retry: 1000\n");
        }
        self.0.extend_from_slice(b"event: snapshot\n");
        if let Some(cursor) = position {
            self.0
                .extend_from_slice(format!("id: {cursor}\n").as_bytes());
        }
        self.data(json, None);
    }

    fn keepalive(&mut self) {
        self.0.extend_from_slice(b": keep-alive\n\n");
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `text/event-stream` response sending `chunks` as they come.
pub fn event_stream(chunks: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response {
    use futures::StreamExt;
    let body = Body::from_stream(chunks.map(Ok::<_, Infallible>));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tell buffering proxies (nginx) to pass events through at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The `Last-Event-ID` header, when the client sent one.
fn last_event_id(headers: &HeaderMap) -> Result<Option<Cursor>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    Cursor::from_last_event_id(value.as_bytes()).map_err(|e| ApiError::BadParam {
        field: "Last-Event-ID",
        message: e.to_string(),
    })
}

/// The `symbols` parameter as a set (`None`: all symbols).
///
/// # Errors
/// 400 naming the bad symbol.
pub fn parse_filter(symbols: Option<&str>) -> Result<Option<HashSet<Symbol>>, ApiError> {
    let Some(list) = symbols.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    list.split(',')
        .map(|s| {
            Symbol::new_checked(s.trim()).map_err(|e| ApiError::BadParam {
                field: "symbols",
                message: format!("{:?} {e}", s.trim()),
            })
        })
        .collect::<Result<HashSet<_>, _>>()
        .map(Some)
}

/// The `conflate` parameter (`None`: every update).
///
/// # Errors
/// 400 naming `conflate`.
pub fn parse_conflate(text: Option<&str>) -> Result<Option<Duration>, ApiError> {
    match text {
        None => Ok(None),
        Some(t) => tickpulse_core::live::conflation(t).map_err(|e| ApiError::BadParam {
            field: "conflate",
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_names_the_bad_symbol() {
        assert!(parse_filter(None).unwrap().is_none());
        assert!(parse_filter(Some(" ")).unwrap().is_none());
        assert_eq!(parse_filter(Some("a, b")).unwrap().unwrap().len(), 2);
        let err = parse_filter(Some("A,B C")).unwrap_err();
        assert!(matches!(
            err,
            ApiError::BadParam {
                field: "symbols",
                ..
            }
        ));
    }

    #[test]
    fn conflation_is_optional_and_named_when_bad() {
        assert_eq!(parse_conflate(None).unwrap(), None);
        assert_eq!(parse_conflate(Some("0")).unwrap(), None);
        assert_eq!(
            parse_conflate(Some("250ms")).unwrap(),
            Some(Duration::from_millis(250))
        );
        assert!(matches!(
            parse_conflate(Some("1ms")).unwrap_err(),
            ApiError::BadParam {
                field: "conflate",
                ..
            }
        ));
    }

    #[test]
    fn a_conflated_event_counts_what_it_replaced_inside_its_data() {
        let mut out = BytesMut::new();
        with_skipped(&mut out, br#"{"a":1}"#, Some(3));
        assert_eq!(&out[..], br#"{"skipped":3,"a":1}"#);
        let mut out = BytesMut::new();
        with_skipped(&mut out, b"{}", Some(0));
        assert_eq!(&out[..], br#"{"skipped":0}"#);
        let mut out = BytesMut::new();
        with_skipped(&mut out, br#"{"a":1}"#, None);
        assert_eq!(&out[..], br#"{"a":1}"#);
    }
}
