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
//! drops ticks the snapshot already holds, so nothing falls in between.
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

use super::{frames, held, Frame, Gateway, Kind, Update, WatchlistChange};
use crate::bus::{Appended, Bus};
use crate::error::ApiError;
use crate::platform::prometheus::Metrics;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use tickpulse_core::{Cursor, LatestTick, Partition, StreamId, Symbol};
use tokio::sync::{broadcast, watch};

/// Ticks read from the stream per replayed chunk (about 130 KB of frames:
/// what a resuming client holds at a time).
const REPLAY_PAGE: usize = 500;

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
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let last_event_id = last_event_id(headers)?;
    // Subscribe first, then read the snapshot or the stream: see the module
    // docs (the list's changes were subscribed to before it was read).
    let rx = gateway.subscribe();
    let bus = gateway.bus.as_ref();
    let sent_id = last_event_id.is_some();
    let resume = match last_event_id {
        Some(cursor) if replayable(bus, &cursor, filter.as_ref()).await? => Some(cursor),
        _ => None,
    };
    let (first, after, cursor, replay) = match resume {
        Some(cursor) => {
            let replay = Partition::all(bus.partitions())
                .filter(|p| holds_some(*p, bus.partitions(), filter.as_ref()))
                .map(|p| (p, cursor.get(p).next()))
                .collect();
            (None, HashMap::new(), cursor, replay)
        }
        None => {
            let (event, after, cursor) = snapshot(bus, filter.as_ref(), sent_id, true).await?;
            (Some(event), after, cursor, Vec::new())
        }
    };
    let mut keepalive = tokio::time::interval(gateway.keepalive);
    keepalive.reset();
    let buffered = gateway.metrics.sse_buffered.clone();
    let client = Client {
        rx,
        filter,
        after,
        bus: gateway.bus.clone(),
        keepalive,
        shutdown: gateway.shutdown.clone(),
        first,
        metrics: gateway.metrics.clone(),
        replayed_to: vec![None; usize::from(cursor.partitions())],
        texts: cursor
            .iter()
            .map(|(_, id)| Bytes::from(id.to_string()))
            .collect(),
        cursor,
        replay,
        following,
        ending: false,
    };
    let chunks = futures::stream::unfold(client, |mut c| async move {
        c.next_chunk().await.map(|chunk| (chunk, c))
    });
    Ok(event_stream(futures::StreamExt::map(
        chunks,
        move |chunk| held(chunk, &buffered),
    )))
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

/// Whether partition `p` of `count` holds symbols of `filter` (all do
/// without one).
fn holds_some(p: Partition, count: u16, filter: Option<&HashSet<Symbol>>) -> bool {
    filter.is_none_or(|f| f.iter().any(|s| Partition::of(s, count) == p))
}

/// Whether every partition holding `filter`'s symbols still holds every
/// tick after the cursor's position there: its oldest entry is not after it
/// (or, with an empty stream, none of its latest ticks is after it: nothing
/// was trimmed that the client has not seen). A cursor of another number
/// of partitions cannot be resumed.
async fn replayable(
    bus: &dyn Bus,
    cursor: &Cursor,
    filter: Option<&HashSet<Symbol>>,
) -> Result<bool, ApiError> {
    let count = bus.partitions();
    if cursor.partitions() != count {
        return Ok(false);
    }
    let mut latest: Option<Vec<LatestTick>> = None;
    for (p, id) in cursor.iter() {
        if !holds_some(p, count, filter) {
            continue;
        }
        let kept = match bus.range(p, StreamId::ZERO, 1).await?.first() {
            Some(oldest) => oldest.id <= id,
            None => {
                if latest.is_none() {
                    latest = Some(bus.latest_all().await?);
                }
                latest
                    .iter()
                    .flatten()
                    .filter(|t| Partition::of(t.symbol(), count) == p)
                    .all(|t| t.tick.id <= id)
            }
        };
        if !kept {
            return Ok(false);
        }
    }
    Ok(true)
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

/// The snapshot event, per symbol the stream id it reflects, and the cursor
/// it stands at: each partition's last id, read before the latest ticks (a
/// tick after it comes live, as the client subscribed first). `with_id`
/// gives the event that cursor as `id:`, which a snapshot of only some
/// symbols must not carry: resuming from it could skip ticks of the others.
async fn snapshot(
    bus: &dyn Bus,
    filter: Option<&HashSet<Symbol>>,
    reset: bool,
    with_id: bool,
) -> Result<(Bytes, HashMap<Symbol, StreamId>, Cursor), ApiError> {
    let mut cursor = Cursor::start(bus.partitions());
    if with_id {
        for p in Partition::all(bus.partitions()) {
            cursor.advance(p, bus.last_id(p).await?);
        }
    }
    let ticks: Vec<LatestTick> = bus
        .latest_all()
        .await?
        .into_iter()
        .filter(|t| filter.is_none_or(|f| f.contains(t.symbol())))
        .collect();
    let after: HashMap<Symbol, StreamId> = ticks
        .iter()
        .map(|t| (t.symbol().clone(), t.tick.id))
        .collect();
    #[derive(serde::Serialize)]
    struct Snapshot<'a> {
        reset: bool,
        ticks: &'a [LatestTick],
    }
    let data = serde_json::to_string(&Snapshot {
        reset,
        ticks: &ticks,
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut event = String::with_capacity(data.len() + 64);
    if !reset {
        // Reconnect quickly after a server restart.
        event.push_str("retry: 1000\n");
    }
    event.push_str("event: snapshot\n");
    if with_id {
        event.push_str(&format!("id: {cursor}\n"));
    }
    event.push_str("data: ");
    event.push_str(&data);
    event.push_str("\n\n");
    Ok((Bytes::from(event), after, cursor))
}

struct Client {
    rx: broadcast::Receiver<Update>,
    filter: Option<HashSet<Symbol>>,
    /// Ticks at or before these ids are already in the last snapshot.
    after: HashMap<Symbol, StreamId>,
    bus: Arc<dyn Bus>,
    keepalive: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
    first: Option<Bytes>,
    metrics: Arc<Metrics>,
    /// Where this client stands in each partition: the `id:` of its ticks.
    cursor: Cursor,
    /// `cursor`'s stream ids as text, one per partition.
    texts: Vec<Bytes>,
    /// While resuming: the partitions still to replay, and from which id.
    replay: Vec<(Partition, StreamId)>,
    /// Per partition, live ticks up to this id were (or will be)
    /// replayed: dropped.
    replayed_to: Vec<Option<StreamId>>,
    /// The watchlist this stream follows.
    following: Option<Following>,
    /// The followed list was deleted: the stream ends after its event.
    ending: bool,
}

/// What a client heard first: an update of the ring, or a list change.
enum Heard {
    Update(Result<Update, broadcast::error::RecvError>),
    Change(Result<Arc<WatchlistChange>, broadcast::error::RecvError>),
}

/// A followed watchlist: whose, which, and where its changes arrive.
pub struct Following {
    user: String,
    id: i64,
    rx: broadcast::Receiver<Arc<WatchlistChange>>,
}

impl Gateway {
    /// Starts hearing the changes of `user`'s list `id`: call it before the
    /// list is read, so no change falls in between.
    pub fn follow_list(&self, user: String, id: i64) -> Following {
        Following {
            user,
            id,
            rx: self.watchlists(),
        }
    }
}

/// The next change any user made to any list; never, without a list.
async fn next_change(
    following: &mut Option<Following>,
) -> Result<Arc<WatchlistChange>, broadcast::error::RecvError> {
    match following {
        Some(f) => f.rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Client {
    /// The next bytes to send; `None` ends the response.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        if self.ending {
            return None;
        }
        while let Some((p, from)) = self.replay.pop() {
            match self.replay_page(p, from).await {
                Ok(Some(chunk)) => return Some(chunk),
                Ok(None) => {}
                // The client reconnects (with its last id) and tries again.
                Err(_) => return None,
            }
        }
        loop {
            // In this order: a list change the gateway heard before a tick
            // is applied before it, so the tick meets the changed filter.
            let next = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|s| *s) => return None,
                change = next_change(&mut self.following) => Heard::Change(change),
                update = self.rx.recv() => Heard::Update(update),
                _ = self.keepalive.tick() => return Some(Bytes::from_static(b": keep-alive\n\n")),
            };
            let update = match next {
                Heard::Update(update) => update,
                Heard::Change(change) => {
                    // Missed changes end the stream: the client reconnects
                    // and reads the list afresh.
                    let change = change.ok()?;
                    match self.follow(&change).await {
                        Ok(Some(chunk)) => return Some(chunk),
                        Ok(None) => continue,
                        Err(()) => return None,
                    }
                }
            };
            match update {
                Ok(Update::Frames(frames)) => {
                    let chunk = self.render(&frames, false);
                    if !chunk.is_empty() {
                        return Some(chunk);
                    }
                }
                Ok(Update::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(broadcast::error::RecvError::Lagged(n)) = update {
                        self.metrics.sse_skipped.inc_by(n);
                    }
                    self.metrics.sse_resets.inc_by(1);
                    return match snapshot(self.bus.as_ref(), self.filter.as_ref(), true, true).await
                    {
                        Ok((event, after, cursor)) => {
                            self.after = after;
                            self.texts = cursor
                                .iter()
                                .map(|(_, id)| Bytes::from(id.to_string()))
                                .collect();
                            self.cursor = cursor;
                            Some(event)
                        }
                        // The client reconnects by itself and starts afresh.
                        Err(_) => None,
                    };
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The events of a change of the followed list: `None` for another
    /// list's. The filter becomes the list's symbols; the ones it gained
    /// get a snapshot of their latest ticks. `Err` when that snapshot
    /// cannot be read (the stream ends).
    async fn follow(&mut self, change: &WatchlistChange) -> Result<Option<Bytes>, ()> {
        let Some(f) = self.following.as_ref() else {
            return Ok(None);
        };
        if change.user != f.user || change.event.list.id != f.id {
            return Ok(None);
        }
        let data = serde_json::to_string(&change.event).map_err(|_| ())?;
        let mut out = BytesMut::from(format!("event: watchlist\ndata: {data}\n\n").as_bytes());
        if change.event.deleted {
            self.ending = true;
            return Ok(Some(out.freeze()));
        }
        let now: HashSet<Symbol> = change.event.list.symbols.iter().cloned().collect();
        let gained: HashSet<Symbol> = now
            .iter()
            .filter(|s| self.filter.as_ref().is_none_or(|old| !old.contains(*s)))
            .cloned()
            .collect();
        self.filter = Some(now);
        if !gained.is_empty() {
            let (event, after, _) = snapshot(self.bus.as_ref(), Some(&gained), false, false)
                .await
                .map_err(|_| ())?;
            out.extend_from_slice(&event);
            self.after.extend(after);
        }
        Ok(Some(out.freeze()))
    }

    /// One page of partition `p`'s replayed ticks from `from` on, as one
    /// chunk (`None` when the page held none of this client's symbols); the
    /// partition's replay ends with its first page that is not full.
    async fn replay_page(
        &mut self,
        p: Partition,
        from: StreamId,
    ) -> Result<Option<Bytes>, ApiError> {
        let page = self.bus.range(p, from, REPLAY_PAGE).await?;
        if let Some(last) = page.last().filter(|_| page.len() == REPLAY_PAGE) {
            self.replay.push((p, last.id.next()));
        }
        let mut items = Vec::with_capacity(page.len());
        for entry in page {
            let to = &mut self.replayed_to[p.index()];
            *to = Some(to.map_or(entry.id, |r| r.max(entry.id)));
            let Ok(tick) = entry.tick else { continue };
            items.push(Appended {
                id: tick.id,
                json: serde_json::to_string(&tick)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                symbol: tick.tick.symbol,
            });
        }
        let frames = frames(Kind::Tick, items, self.cursor.partitions());
        let out = self.render(&frames, true);
        Ok((!out.is_empty()).then_some(out))
    }

    /// This client's frames of one update (or of a replayed page), as one
    /// chunk. Every tick moves the cursor, the client's or not: its position
    /// says every tick of its symbols up to there was sent.
    fn render(&mut self, frames: &[Frame], replayed: bool) -> Bytes {
        let mut out = BytesMut::new();
        for f in frames {
            let wanted = self
                .filter
                .as_ref()
                .is_none_or(|set| set.contains(&f.symbol));
            // The snapshot holds ticks, not views or stock changes: only
            // ticks can repeat it.
            if f.kind != Kind::Tick {
                if wanted {
                    out.extend_from_slice(&f.bytes);
                }
                continue;
            }
            let p = f.partition.index();
            if !replayed
                && self
                    .replayed_to
                    .get(p)
                    .copied()
                    .flatten()
                    .is_some_and(|r| f.id <= r)
            {
                continue;
            }
            match self.after.get(&f.symbol) {
                Some(seen) if f.id <= *seen => continue,
                Some(_) => {
                    self.after.remove(&f.symbol);
                }
                None => {}
            }
            if f.id > self.cursor.get(f.partition) {
                self.cursor.advance(f.partition, f.id);
                if let Some(text) = self.texts.get_mut(p) {
                    *text = f.id_text.clone();
                }
            }
            if !wanted {
                continue;
            }
            out.extend_from_slice(b"event: tick\nid: ");
            for (i, text) in self.texts.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",");
                }
                out.extend_from_slice(text);
            }
            out.extend_from_slice(b"\n");
            out.extend_from_slice(&f.bytes);
        }
        out.freeze()
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
}
