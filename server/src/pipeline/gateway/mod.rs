//! The realtime gateway: one bus subscription per process, fanned out to
//! every live client of this process, whatever its door.
//!
//! Each update message is parsed once into [`Frame`]s (the JSON of each
//! tick or view) shared by all clients, so a client costs a filter and a
//! write, not a serialisation. Fan-out uses a bounded broadcast ring: a
//! client that falls behind loses its place and is told to resynchronise
//! (it gets a fresh snapshot); it never slows the others and never grows
//! memory. [`feed`] is one client's view of the ring (its symbols, its
//! position, its conflation); [`sse`] and [`ws`] are the doors clients
//! connect through, each writing the feed's events in its own framing.
//!
//! # Memory
//! The ring holds [`RING_CAPACITY`] messages of at most about
//! [`UPDATE_BYTES`] each (a large append is split), so what it keeps for a
//! client that stopped reading is bounded in bytes whatever the tick rate
//! or the batch size. Past the ring, a client holds only what the HTTP
//! connection buffers for its socket; a socket that accepts nothing for
//! `SSE_STALL_SECS` is closed (see [`crate::platform::edge::conn`]).
//! `tickpulse_sse_buffered_bytes` is what the ring and the connections hold.

mod conflate;
pub mod encoder;
pub mod feed;
pub mod sse;
mod start;
pub mod ws;

use crate::bus::{Appended, Bus, Published};
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::Tasks;
use bytes::Bytes;
use futures::StreamExt;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Partition, StreamId, Symbol};
use tokio::sync::{broadcast, watch};

/// How many update messages the ring keeps for slow clients.
pub const RING_CAPACITY: usize = 1_024;

/// Bytes of frames after which an update message is closed and the next
/// one begins: the ring holds at most `RING_CAPACITY` times this (plus one
/// frame each), about 16 MiB.
pub const UPDATE_BYTES: usize = 16 * 1_024;

/// One tick, view or stock change, ready to be written to any client.
#[derive(Debug)]
pub struct Frame {
    pub symbol: Symbol,
    /// The symbol's partition.
    pub partition: Partition,
    pub id: StreamId,
    /// `id` as text, for the client's cursor (ticks only).
    pub id_text: Bytes,
    pub kind: Kind,
    /// The event's data: a `StreamTick`, a `View` or a `StockEvent`.
    pub json: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tick,
    View,
    /// A change of a stock's available quantity (`event: stock`).
    Stock,
}

impl Kind {
    /// The event's name, in every door.
    pub fn event(self) -> &'static str {
        match self {
            Kind::Tick => "tick",
            Kind::View => "view",
            Kind::Stock => "stock",
        }
    }
}

/// One order change, ready to send to its owner's order streams.
#[derive(Debug)]
pub struct OrderFrame {
    pub user: String,
    /// The event's data: an `OrderEvent`.
    pub json: Bytes,
}

/// One watchlist change, for the streams that follow that list.
#[derive(Debug)]
pub struct WatchlistChange {
    pub user: String,
    pub event: tickpulse_core::watchlist::WatchlistEvent,
}

/// Consecutive frames of one append or calc batch, counted in
/// `tickpulse_sse_buffered_bytes` while any client may still send them.
#[derive(Debug)]
pub struct Frames {
    frames: Vec<Frame>,
    bytes: usize,
    held: Gauge,
}

impl Frames {
    fn new(frames: Vec<Frame>, held: &Gauge) -> Self {
        let bytes = frames.iter().map(|f| f.json.len() + f.id_text.len()).sum();
        held.inc_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        Self {
            frames,
            bytes,
            held: held.clone(),
        }
    }
}

impl std::ops::Deref for Frames {
    type Target = [Frame];
    fn deref(&self) -> &[Frame] {
        &self.frames
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.held
            .dec_by(i64::try_from(self.bytes).unwrap_or(i64::MAX));
    }
}

/// A chunk for a client's connection, counted in `held` until the
/// connection has written (or dropped) it.
pub fn held(chunk: Bytes, held: &Gauge) -> Bytes {
    struct Held {
        chunk: Bytes,
        held: Gauge,
    }
    impl AsRef<[u8]> for Held {
        fn as_ref(&self) -> &[u8] {
            &self.chunk
        }
    }
    impl Drop for Held {
        fn drop(&mut self) {
            self.held
                .dec_by(i64::try_from(self.chunk.len()).unwrap_or(i64::MAX));
        }
    }
    held.inc_by(i64::try_from(chunk.len()).unwrap_or(i64::MAX));
    Bytes::from_owner(Held {
        chunk,
        held: held.clone(),
    })
}

/// `frames` in messages of about `limit` bytes each, in order.
fn split(frames: Vec<Frame>, limit: usize) -> Vec<Vec<Frame>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for frame in frames {
        bytes += frame.json.len();
        current.push(frame);
        if bytes >= limit {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[derive(Debug, Clone)]
pub enum Update {
    /// Ticks of (part of) one append in stream order, or the views of (part
    /// of) one calc batch.
    Frames(Arc<Frames>),
    /// The subscription was lost and re-established: updates may have been
    /// missed, clients must take a fresh snapshot.
    Resync,
}

#[derive(Clone)]
pub struct Gateway {
    tx: broadcast::Sender<Update>,
    /// Alerts of the monitor (a JSON array each), for admin streams.
    alerts: broadcast::Sender<Arc<str>>,
    /// Order changes, for the owners' order streams.
    orders: broadcast::Sender<Arc<OrderFrame>>,
    /// Watchlist changes, for the streams that follow a list.
    watchlists: broadcast::Sender<Arc<WatchlistChange>>,
    /// Where a resuming client's missed ticks are read from.
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    /// How often an idle stream gets a keep-alive comment.
    keepalive: Duration,
    /// Streams end when it turns true, so shutdown does not wait for them.
    shutdown: watch::Receiver<bool>,
}

impl Gateway {
    /// Starts the subscription task (`gateway`); it resubscribes with
    /// backoff when the bus connection drops, and stops on the tasks'
    /// shutdown. `shutdown` ends the SSE streams, when the server stops
    /// taking requests.
    pub fn start(
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        keepalive: Duration,
        shutdown: watch::Receiver<bool>,
        tasks: &Tasks,
    ) -> Self {
        let (tx, _) = broadcast::channel(RING_CAPACITY);
        let (alerts, _) = broadcast::channel(64);
        let (orders, _) = broadcast::channel(RING_CAPACITY);
        let (watchlists, _) = broadcast::channel(256);
        {
            let (bus, fanout) = (
                bus.clone(),
                Fanout {
                    tx: tx.clone(),
                    alerts: alerts.clone(),
                    orders: orders.clone(),
                    watchlists: watchlists.clone(),
                    held: metrics.sse_buffered.clone(),
                },
            );
            let stop = tasks.shutdown();
            tasks.supervise("gateway", move || {
                run(bus.clone(), fanout.clone(), stop.clone())
            });
        }
        Self {
            tx,
            alerts,
            orders,
            watchlists,
            bus,
            metrics,
            keepalive,
            shutdown,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.tx.subscribe()
    }

    /// The monitor's alerts as they are published.
    pub fn alerts(&self) -> broadcast::Receiver<Arc<str>> {
        self.alerts.subscribe()
    }

    /// Order changes as they are published (every user's: order streams
    /// pick their own).
    pub fn orders(&self) -> broadcast::Receiver<Arc<OrderFrame>> {
        self.orders.subscribe()
    }

    /// Watchlist changes as they are published (every user's: streams
    /// pick their own list).
    pub fn watchlists(&self) -> broadcast::Receiver<Arc<WatchlistChange>> {
        self.watchlists.subscribe()
    }

    /// Number of connected SSE clients of this process.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Where the subscription task sends what it hears.
#[derive(Clone)]
struct Fanout {
    tx: broadcast::Sender<Update>,
    alerts: broadcast::Sender<Arc<str>>,
    orders: broadcast::Sender<Arc<OrderFrame>>,
    watchlists: broadcast::Sender<Arc<WatchlistChange>>,
    held: Gauge,
}

async fn run(bus: Arc<dyn Bus>, fanout: Fanout, mut shutdown: watch::Receiver<bool>) {
    let Fanout {
        tx,
        alerts,
        orders,
        watchlists,
        held,
    } = fanout;
    let mut backoff = crate::platform::tasks::Backoff::new();
    let mut first = true;
    loop {
        let subscribed = tokio::select! {
            s = bus.subscribe() => s,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        match subscribed {
            Ok(mut updates) => {
                if !first {
                    tracing::info!("update subscription restored");
                    let _ = tx.send(Update::Resync);
                }
                first = false;
                backoff = crate::platform::tasks::Backoff::new();
                loop {
                    let message = tokio::select! {
                        m = updates.next() => m,
                        _ = shutdown.wait_for(|s| *s) => return,
                    };
                    let Some(published) = message else { break };
                    let (kind, items) = match published {
                        Published::Ticks(items) => (Kind::Tick, items),
                        Published::Views(items) => (Kind::View, items),
                        Published::Alerts(json) => {
                            let _ = alerts.send(json.into());
                            continue;
                        }
                        Published::Orders(json) => {
                            for frame in order_frames(&json) {
                                let _ = orders.send(Arc::new(frame));
                            }
                            continue;
                        }
                        Published::Stocks(json) => (Kind::Stock, stock_items(&json)),
                        Published::Watchlists(json) => {
                            for change in watchlist_changes(&json) {
                                let _ = watchlists.send(Arc::new(change));
                            }
                            continue;
                        }
                    };
                    // Nobody listens: skip rendering (ingest-only nodes).
                    if tx.receiver_count() > 0 && !items.is_empty() {
                        let frames = frames(kind, items, bus.partitions());
                        for part in split(frames, UPDATE_BYTES) {
                            let _ = tx.send(Update::Frames(Arc::new(Frames::new(part, &held))));
                        }
                    }
                }
                tracing::warn!("update subscription lost; resubscribing");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to updates; retrying");
            }
        }
        if !crate::platform::tasks::pause(&mut shutdown, backoff.next()).await {
            return;
        }
    }
}

/// Turns ticks or views into frames, once for all clients (of a bus with
/// `partitions` partitions).
///
/// Tick events carry the client's position as they are sent, so a client
/// resumes after the last tick it got. View events do not: a view reflects
/// the stream up to its `stream_id` (in the data), which can be lower than
/// ticks already sent, and resuming from it would send those ticks twice.
pub fn frames(kind: Kind, items: Vec<Appended>, partitions: u16) -> Vec<Frame> {
    items
        .into_iter()
        .map(|a| Frame {
            json: Bytes::from(a.json),
            id_text: match kind {
                Kind::Tick => Bytes::from(a.id.to_string()),
                Kind::View | Kind::Stock => Bytes::new(),
            },
            partition: Partition::of(&a.symbol, partitions),
            symbol: a.symbol,
            id: a.id,
            kind,
        })
        .collect()
}

/// The order frames of an `orders` message (unreadable ones are logged
/// and skipped).
fn order_frames(json: &str) -> Vec<OrderFrame> {
    match serde_json::from_str::<Vec<tickpulse_core::notice::OrderNotice>>(json) {
        Ok(notices) => notices
            .into_iter()
            .filter_map(|n| {
                let data = serde_json::to_string(&n.event).ok()?;
                Some(OrderFrame {
                    user: n.user,
                    json: Bytes::from(data),
                })
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "unreadable orders message skipped");
            Vec::new()
        }
    }
}

/// The changes of a `watchlists` message (an unreadable one is logged and
/// skipped).
fn watchlist_changes(json: &str) -> Vec<WatchlistChange> {
    match serde_json::from_str::<Vec<tickpulse_core::notice::WatchlistNotice>>(json) {
        Ok(notices) => notices
            .into_iter()
            .map(|n| WatchlistChange {
                user: n.user,
                event: n.event,
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "unreadable watchlists message skipped");
            Vec::new()
        }
    }
}

/// The stock events of a `stocks` message, as items for [`frames`].
fn stock_items(json: &str) -> Vec<Appended> {
    match serde_json::from_str::<Vec<tickpulse_core::trade::StockEvent>>(json) {
        Ok(events) => events
            .into_iter()
            .filter_map(|e| {
                Some(Appended {
                    id: StreamId::ZERO,
                    json: serde_json::to_string(&e).ok()?,
                    symbol: e.symbol,
                })
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "unreadable stocks message skipped");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_json_and_the_id() {
        let a = Appended {
            id: StreamId::new(7, 0),
            symbol: Symbol::new("A"),
            json: r#"{"id":"7-0"}"#.into(),
        };
        let f = frames(Kind::Tick, vec![a], 4);
        assert_eq!(f[0].symbol.as_str(), "A");
        assert_eq!(f[0].partition, Partition::of(&Symbol::new("A"), 4));
        assert_eq!(&f[0].id_text[..], b"7-0");
        assert_eq!(&f[0].json[..], b"{\"id\":\"7-0\"}");
    }

    fn ticks(n: u64) -> Vec<Frame> {
        frames(
            Kind::Tick,
            (0..n)
                .map(|i| Appended {
                    id: StreamId::new(i, 0),
                    symbol: Symbol::new("A"),
                    json: "x".repeat(90),
                })
                .collect(),
            1,
        )
    }

    #[test]
    fn a_large_append_is_split_in_order_and_small_ones_are_not() {
        let parts = split(ticks(1_000), UPDATE_BYTES);
        assert!(parts.len() > 1);
        let ids: Vec<u64> = parts.iter().flatten().map(|f| f.id.millis).collect();
        assert_eq!(ids, (0..1_000).collect::<Vec<_>>());
        for part in &parts {
            let bytes: usize = part.iter().map(|f| f.json.len()).sum();
            assert!(bytes < UPDATE_BYTES + 200, "{bytes}");
        }
        assert_eq!(split(ticks(3), UPDATE_BYTES).len(), 1);
        assert!(split(Vec::new(), UPDATE_BYTES).is_empty());
    }

    #[test]
    fn held_bytes_count_frames_until_the_last_holder_drops_them() {
        let held = Gauge::default();
        let part = Arc::new(Frames::new(ticks(2), &held));
        let expected: usize = part.iter().map(|f| f.json.len() + f.id_text.len()).sum();
        assert_eq!(held.get(), expected as i64);
        let copy = part.clone();
        drop(part);
        assert_eq!(held.get(), expected as i64);
        drop(copy);
        assert_eq!(held.get(), 0);
        let chunk = super::held(Bytes::from_static(b"abc"), &held);
        assert_eq!((&chunk[..], held.get()), (&b"abc"[..], 3));
        drop(chunk);
        assert_eq!(held.get(), 0);
    }
}
