//! The bus: where accepted ticks go and where live updates come from.
//!
//! Handlers and pipelines only see the [`Bus`] trait; it has two backends,
//! Redis ([`RedisBus`]) and one inside the process for the embedded mode
//! ([`MemoryBus`]), which pass the same conformance suite. A bus owns
//! de-duplication, the tick stream, the compacted latest-tick view and the
//! update channel; it does not validate (that is `tickpulse_core`) and it
//! does not batch requests (that is the writer).

pub mod memory;
pub mod policy;
pub mod redis;

pub use self::memory::{MemoryBus, MemorySettings};
pub use self::redis::RedisBus;

use async_trait::async_trait;
use futures::stream::BoxStream;
use std::time::Duration;
use tickpulse_core::{LatestTick, Partition, StreamId, StreamTick, Symbol, Tick, Timestamp, View};

/// A backend failure: which backend, what kind of failure (callers decide
/// on it: retry, 503, dead-letter), and the cause for the log, which is
/// never sent to a client. Cheap to clone so one failed write can answer
/// every request that was coalesced into it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{backend} {kind}: {reason}")]
pub struct BusError {
    pub backend: &'static str,
    pub kind: Failure,
    pub reason: String,
}

/// What kind of failure a bus call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The backend cannot be reached, or the connection broke mid-way:
    /// retry later.
    Unavailable,
    /// No answer in time: the call may or may not have taken effect (every
    /// write of the bus can be repeated safely).
    Timeout,
    /// The backend refused the call as it stands (an unknown group, a
    /// journal another process holds, a writer shutting down): the same
    /// call fails again.
    Refused,
    /// Stored data cannot be read back.
    Corrupt,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timed out",
            Self::Refused => "refused the call",
            Self::Corrupt => "holds unreadable data",
        })
    }
}

impl BusError {
    pub fn new(backend: &'static str, kind: Failure, reason: impl Into<String>) -> Self {
        Self {
            backend,
            kind,
            reason: reason.into(),
        }
    }
}

/// The consumer groups on the tick stream, one per stage that must see
/// every tick. The bus speaks of a group by its [`Group::name`], which is
/// also its name in Redis and in the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// The calc stage: windows and views.
    Calc,
    /// The persist stage: ticks into the store.
    Persist,
    /// The trade stage: ticks that fill resting limit orders.
    Trade,
}

impl Group {
    /// The group's name on the stream (`calc`, `persist`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Calc => "calc",
            Self::Persist => "persist",
            Self::Trade => "trade",
        }
    }
}

impl std::fmt::Display for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// For each tick of an [`Bus::append`] call, whether it was new (`true`) or a
/// duplicate of an `event_id` already seen (`false`).
pub type Accepted = Vec<bool>;

/// One appended tick as update subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub id: StreamId,
    pub symbol: Symbol,
    /// The full `StreamTick` JSON (with its `id`), ready to send.
    pub json: String,
}

/// What subscribers hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The ticks of one append, in stream order.
    Ticks(Vec<Appended>),
    /// Views the calc stage wrote (`symbol.updated`); `id` is the view's
    /// `stream_id`, `json` the View.
    Views(Vec<Appended>),
    /// Alerts the monitor raised (`node.down`, `feed.stale`…): a JSON array
    /// of [`tickpulse_core::health::Alert`].
    Alerts(String),
    /// Order changes: a JSON array of `tickpulse_core::notice::OrderNotice` (owner and
    /// [`tickpulse_core::trade::OrderEvent`]).
    Orders(String),
    /// Changes of stocks' available quantities: a JSON array of
    /// [`tickpulse_core::trade::StockEvent`].
    Stocks(String),
    /// Watchlist changes: a JSON array of `tickpulse_core::notice::WatchlistNotice` (owner and
    /// [`tickpulse_core::watchlist::WatchlistEvent`]).
    Watchlists(String),
}

/// What [`UpdateChannel::publish`] sends besides ticks and views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Alerts,
    Orders,
    Stocks,
    Watchlists,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Topic::Alerts,
        Topic::Orders,
        Topic::Stocks,
        Topic::Watchlists,
    ];

    /// The channel's name (Redis: `realtime:<name>`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Alerts => "alerts",
            Self::Orders => "orders",
            Self::Stocks => "stocks",
            Self::Watchlists => "watchlists",
        }
    }

    /// The message subscribers hear for `json`.
    pub fn message(self, json: String) -> Published {
        match self {
            Self::Alerts => Published::Alerts(json),
            Self::Orders => Published::Orders(json),
            Self::Stocks => Published::Stocks(json),
            Self::Watchlists => Published::Watchlists(json),
        }
    }
}

/// A stream of updates, in the order they were published.
pub type Updates = BoxStream<'static, Published>;

/// One entry of the tick stream as a consumer group hands it out. It stays
/// pending for the group until acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub id: StreamId,
    /// The tick, or why the entry could not be read (a poison entry).
    pub tick: Result<StreamTick, String>,
    /// How often the group has handed this entry out, this time included.
    /// An entry delivered many times without being acknowledged stopped or
    /// stalled every consumer that took it.
    pub deliveries: u32,
}

/// Figures of the tick stream, for metrics and readiness.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Entries in the tick stream (the Redis bus packs the ticks of one
    /// append into entries of up to `redis::PACK_MAX` ticks).
    pub length: u64,
    /// Entries in the dead-letter stream.
    pub dead_letters: u64,
    pub groups: Vec<GroupStats>,
    pub dedupe: DedupeStats,
}

/// What de-duplication remembers, summed over the partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DedupeStats {
    /// Event ids remembered.
    pub ids: u64,
    /// Bytes they count (the ids' lengths plus a per-id cost measured for
    /// the backend; see the README).
    pub bytes: u64,
    /// The budget (`DEDUPE_MAX_BYTES`), when there is one.
    pub budget: Option<u64>,
    /// How long every id is remembered at least: `DEDUPE_TTL_SECS`, or less
    /// when the budget shortened the window at the current rate.
    pub window: Duration,
    /// `DEDUPE_TTL_SECS`.
    pub ttl: Duration,
}

impl DedupeStats {
    /// Whether the budget shortened the window below the TTL.
    pub fn shortened(&self) -> bool {
        self.window < self.ttl
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    pub name: String,
    /// Delivered to a consumer and not acknowledged.
    pub pending: u64,
    /// Not delivered yet, when the backend can tell.
    pub lag: Option<u64>,
}

/// An entry a consumer group gives up on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub id: StreamId,
    pub reason: String,
}

/// Which entries a consumer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Entries never delivered to the group, waiting up to this long.
    New(Duration),
    /// Entries delivered to this consumer before and not acknowledged
    /// (after a restart under the same consumer name).
    OwnPending,
}

/// The tick stream: appending, reading by consumer group, acknowledging,
/// dead letters and trimming. Every accepted tick passes here.
///
/// The stream has [`TickStream::partitions`] partitions; a symbol's ticks
/// all go to [`Partition::of`] it. Stream ids, groups, reads and
/// acknowledgements are per partition: ids of two partitions cannot be
/// compared.
#[async_trait]
pub trait TickStream: Send + Sync + 'static {
    /// How many partitions the stream has (the embedded bus has one).
    fn partitions(&self) -> u16;
    /// Appends the ticks that are not duplicates to their partitions'
    /// streams (the partitions at the same time) and publishes the
    /// appended ticks, one update message per partition. Returns only after
    /// the backend confirmed every partition's part.
    ///
    /// # Errors
    /// When the backend cannot be reached or did not answer in time.
    async fn append(&self, ticks: &[Tick], received_at: Timestamp) -> Result<Accepted, BusError>;
    /// Up to `count` entries of partition `p`'s stream from `from` on
    /// (inclusive), in stream order, outside any group (for rebuilding
    /// state, and for replaying to a client that resumes).
    async fn range(
        &self,
        p: Partition,
        from: StreamId,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError>;
    /// The id of the last tick appended to partition `p` (`0-0` when none
    /// was): a reader that has seen the stream up to here resumes after it.
    async fn last_id(&self, p: Partition) -> Result<StreamId, BusError>;
    /// Creates the consumer group on every partition's stream if it does not
    /// exist; a new group starts at the beginning of the stream.
    async fn create_group(&self, group: &str) -> Result<(), BusError>;
    /// About `count` ticks of partition `p` for `consumer` of `group`. A
    /// backend that packs the ticks of one append into one entry hands out
    /// whole entries, so a read may return more ticks than `count`, or
    /// fewer.
    async fn read_group(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        read: Read,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError>;
    /// Takes over about `count` ticks of partition `p` (whole entries, as
    /// `read_group`) of other consumers of `group` that have been pending
    /// for at least `min_idle` (their consumer died).
    async fn claim_idle(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError>;
    /// Acknowledges the entries of partition `p` holding these ticks: the
    /// group is done with them (with packed entries, with every tick of
    /// them).
    async fn ack(&self, p: Partition, group: &str, ids: &[StreamId]) -> Result<(), BusError>;
    /// Up to `max` entries of partition `p` that `group` has not
    /// acknowledged yet (pending or not yet delivered), oldest first: ticks
    /// accepted but not yet through that stage. All entries when the group
    /// does not exist.
    async fn unacknowledged(
        &self,
        p: Partition,
        group: &str,
        max: usize,
    ) -> Result<Vec<Delivered>, BusError>;
    /// Trims partition `p`'s stream below the oldest entry some consumer
    /// group has not acknowledged and below the retention period, whichever
    /// is older. Returns the number of entries removed.
    async fn trim(&self, p: Partition) -> Result<u64, BusError>;
    /// Moves entries of partition `p` a group cannot process to the
    /// dead-letter stream: a copy of each entry (with the group and the
    /// reason) is added there and the entry is acknowledged for the group,
    /// in one atomic step. With packed entries the whole entry holding a
    /// tick goes: callers move ticks aside only once the other ticks of
    /// their read are done, or when the entry as a whole cannot be
    /// processed.
    async fn dead_letter(
        &self,
        p: Partition,
        group: &str,
        entries: &[DeadLetter],
    ) -> Result<(), BusError>;
    /// Stream length, dead letters, pending per group, summed over the
    /// partitions.
    async fn stream_stats(&self) -> Result<StreamStats, BusError>;
}

/// The compacted views: the latest tick per symbol and the Views the calc
/// stage writes.
#[async_trait]
pub trait Views: Send + Sync + 'static {
    /// The latest tick of every symbol (by `Tick::supersedes`) of every
    /// appended tick, ordered by symbol.
    async fn latest_all(&self) -> Result<Vec<LatestTick>, BusError>;
    /// Stores the views (one per symbol) and publishes them as one update.
    async fn write_views(&self, views: &[View]) -> Result<(), BusError>;
    /// The view of one symbol, once the calc stage has computed it.
    async fn view(&self, symbol: &Symbol) -> Result<Option<View>, BusError>;
    /// Every stored view.
    async fn views(&self) -> Result<Vec<View>, BusError>;
}

/// What processes share to divide the work: leases (one active calc
/// consumer, one monitor) and heartbeats.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    /// Takes or renews the lease `name` for `holder` for `ttl`; `true` while
    /// `holder` has it. A holder that stops renewing loses it after `ttl`.
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, BusError>;
    /// Gives the lease up at once if `holder` has it (graceful stop), so a
    /// successor need not wait for it to expire.
    async fn release(&self, name: &str, holder: &str) -> Result<(), BusError>;
    /// Records `node`'s heartbeat (a JSON document: roles, version, load…)
    /// for `ttl`; a node that stops beating disappears after it.
    async fn heartbeat(&self, node: &str, beat: &str, ttl: Duration) -> Result<(), BusError>;
    /// The heartbeats of every node that beat within its TTL, as `(node,
    /// beat)`, ordered by node.
    async fn heartbeats(&self) -> Result<Vec<(String, String)>, BusError>;
}

/// The live updates every process hears: appended ticks, views, alerts,
/// order and stock changes.
#[async_trait]
pub trait UpdateChannel: Send + Sync + 'static {
    /// Subscribes to update messages. The stream ends when the subscription
    /// is lost; the caller resubscribes.
    async fn subscribe(&self) -> Result<Updates, BusError>;
    /// Publishes `json` (a JSON array) on `topic` to every subscriber.
    async fn publish(&self, topic: Topic, json: &str) -> Result<(), BusError>;
    /// Publishes alerts (a JSON array) to every subscriber.
    async fn publish_alerts(&self, json: &str) -> Result<(), BusError> {
        self.publish(Topic::Alerts, json).await
    }
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), BusError>;
}

/// Everything a bus does, in four parts by role; a backend implements all
/// four and is then a `Bus`. Callers bring the part they use into scope
/// (`use crate::bus::{Bus, TickStream}`).
pub trait Bus: TickStream + Views + Coordination + UpdateChannel {}

impl<T: TickStream + Views + Coordination + UpdateChannel> Bus for T {}

/// Publishes `items` as one JSON array on `topic`, logging a failure: the
/// change it tells of is already committed, so a lost event is logged, not
/// returned (streams catch up from their next snapshot).
pub async fn publish_json<T: serde::Serialize>(bus: &dyn Bus, topic: Topic, items: &[T]) {
    match serde_json::to_string(items) {
        Ok(json) => {
            if let Err(e) = bus.publish(topic, &json).await {
                tracing::warn!(error = %e, topic = topic.name(), "change committed, but its event was not published");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot render an event"),
    }
}
