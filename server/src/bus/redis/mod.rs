//! [`RedisBus`]: the bus on Redis.
//!
//! # Keys (all behind the configured prefix)
//! - `ticks.received` — stream of accepted ticks in packs: one entry holds up
//!   to [`PACK_MAX`] ticks of one append in its field `ticks`, their JSON
//!   bodies (a `StreamTick` without its id) joined by newlines. Tick `k` of
//!   entry `ms-s` has the stream id `ms-(s * SLOTS + k)` (see [`tick_id`]),
//!   so tick ids stay unique and increasing, and the entry of a tick is
//!   found from its id alone. Consumer groups hand out, track and
//!   acknowledge whole entries: acknowledging any tick of an entry
//!   acknowledges the entry. Stream length, pending and lag count entries.
//! - `seen:{g}` — set of the event ids appended in de-dupe generation g,
//!   and `seen:gen`, the current generation, when it started and what its
//!   ids count. A generation lasts a window (`DEDUPE_TTL_SECS`), or less
//!   when its ids would pass half of the budget (`DEDUPE_MAX_BYTES`); two
//!   are kept (see `scripts/append.lua`). One set per generation (rather
//!   than one `seen:{event_id}` key per tick) replaces a command and a key
//!   with its own expiry per tick by two `SMISMEMBER` and one `SADD` per
//!   batch
//! - `realtime:updates` — channel; one message per stream entry (pack) an
//!   append wrote (see [`decode_update`])
//! - `views` — hash symbol → `View` JSON, written by the calc stage; with
//!   the ticks calc has not acknowledged yet, the latest tick per symbol
//!   (`Views::latest_all`)
//! - `realtime:views` — channel; a JSON array of the views of one calc batch
//! - `realtime:alerts` — channel; a JSON array of the monitor's alerts
//! - `lease:{name}` — holder of a lease (the active calc consumer of a
//!   partition, say), with a TTL
//! - `ticks.dead` — dead-letter stream: entries a consumer group gave up on,
//!   with fields `source_id`, `group`, `reason` and the original fields;
//!   capped at about [`super::policy::DEAD_LETTER_CAP`] entries
//!
//! One append is one `EVALSHA` per partition (`append.lua`): de-dupe,
//! `XADD` and publish in a single round trip, atomically.
//!
//! # Partitions
//! With `BUS_PARTITIONS` > 1, or on a cluster, every key and channel above
//! except leases and heartbeats exists once per partition, behind the
//! prefix and the partition's hash tag (`tp:{3.17}ticks.received`; see
//! [`keys`]), so one partition's work is one slot's. One partition on one
//! instance has no tag: its keys are those above. `bus:partitions` holds
//! the number of partitions the bus was created with; a process started
//! with another number refuses to run ([`RedisBus::check`]). Node
//! heartbeats are `nodes:beats` (hash node → beat) and `nodes:until`
//! (sorted set node → expiry in ms), under the tag `{nodes}`.

mod conn;
mod groups;
mod keys;
mod pack;
mod stream;
mod views;

use self::conn::{unavailable, Conn, Connections, BACKEND};
use self::keys::PartKeys;
pub use self::pack::{decode_update, entry_of, tick_id, PACK_MAX, SLOTS};
use self::pack::{decode_views, entries_holding, unpack_entry, StreamEntry, Wanted};

use super::{
    Accepted, BusError, Coordination, DeadLetter, Delivered, Failure, GroupStats, Published, Read,
    StreamStats, TickStream, Topic, UpdateChannel, Updates, Views,
};
use async_trait::async_trait;
use futures::StreamExt;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;
use tickpulse_core::{LatestTick, Partition, StreamId, Symbol, Tick, Timestamp, View};

/// Most entries one read asks for: at most this many packs (100,000 ticks)
/// arrive at once.
const ENTRIES_PER_READ: usize = 100;
/// Bytes a remembered event id takes in a Redis set besides its own length
/// (measured: 100,000 ids of 21 characters took 7.17 MB, 72 bytes each,
/// with `MEMORY USAGE`; rounded up).
pub const BYTES_PER_ID: u64 = 56;
/// Bytes a stream entry takes in Redis besides its pack and the allocator's
/// rounding of it: its node in the stream's radix tree and the listpack
/// around the pack (measured with `MEMORY USAGE`: entries of 16,000 and
/// 200,000 bytes took 344 and 534 bytes more than their rounded size; see
/// also the `redis_a_stream_byte_budget…` test).
pub const STREAM_BYTES_PER_ENTRY: u64 = 512;

/// What Redis holds for a stream entry whose pack has `pack` bytes: jemalloc
/// rounds an allocation up to one of four sizes per power of two, so a
/// quarter more at most, and [`STREAM_BYTES_PER_ENTRY`].
pub(super) fn stream_entry_bytes(pack: u64) -> u64 {
    pack + pack / 4 + STREAM_BYTES_PER_ENTRY
}

pub struct RedisBus {
    conns: Connections,
    append: redis::Script,
    dead_letter: redis::Script,
    lease: redis::Script,
    release: redis::Script,
    prefix: String,
    /// The keys of each partition.
    parts: Vec<PartKeys>,
    timeout: Duration,
    dedupe_ttl_secs: u64,
    /// De-dupe budget in bytes (0: none), in all and per partition.
    dedupe_max_bytes: u64,
    dedupe_budget: u64,
    stream_retain: Duration,
    /// Stream byte budget per partition (0: none).
    stream_budget: u64,
    /// Average ticks per entry of the last read, to size the next one.
    ticks_per_entry: std::sync::atomic::AtomicUsize,
    /// Set once the bus's number of partitions matched this process's.
    checked: tokio::sync::OnceCell<()>,
}

/// Settings of a [`RedisBus`].
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// One address, or a cluster's seed nodes separated by commas.
    pub url: String,
    /// A cluster even when `url` names one address (`REDIS_CLUSTER`).
    pub cluster: bool,
    /// Partitions of the tick stream (`BUS_PARTITIONS`).
    pub partitions: u16,
    pub prefix: String,
    pub timeout: Duration,
    pub dedupe_ttl_secs: u64,
    /// Most bytes the remembered event ids may count, over all partitions
    /// (`DEDUPE_MAX_BYTES`; 0: no bound).
    pub dedupe_max_bytes: u64,
    /// Acknowledged entries younger than this stay in the stream (for
    /// late readers); older ones are trimmed by [`Bus::trim`].
    pub stream_retain: Duration,
    /// Most bytes the stream's entries may take, over all partitions
    /// (`STREAM_RETAIN_BYTES`; 0: no bound): past it [`Bus::trim`] cuts
    /// `stream_retain` short, never below what a group has not acknowledged.
    pub stream_max_bytes: u64,
}

impl RedisBus {
    /// Prepares the bus without connecting, so the server can start (and
    /// report "not ready") while Redis is down; it connects on first use and
    /// reconnects by itself.
    ///
    /// # Errors
    /// When the URL is malformed, or the prefix holds a `{` (it would take
    /// the place of the partitions' hash tags).
    pub fn new(settings: RedisSettings) -> Result<Self, BusError> {
        if settings.prefix.contains('{') {
            return Err(BusError::new(
                BACKEND,
                Failure::Refused,
                "REDIS_PREFIX must not hold '{': the partitions' hash tags follow it",
            ));
        }
        let conns = Connections::new(&settings.url, settings.cluster, settings.timeout)?;
        let partitions = settings.partitions.max(1);
        let tagged = partitions > 1 || conns.is_cluster();
        Ok(Self {
            parts: Partition::all(partitions)
                .map(|p| PartKeys::new(&settings.prefix, p, partitions, tagged))
                .collect(),
            conns,
            append: redis::Script::new(include_str!("scripts/append.lua")),
            dead_letter: redis::Script::new(include_str!("scripts/dead_letter.lua")),
            // Renews the lease for its holder, or takes it when free.
            lease: redis::Script::new(
                "local cur = redis.call('GET', KEYS[1])
                 if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
                 if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
                 return 0",
            ),
            release: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            ),
            prefix: settings.prefix,
            timeout: settings.timeout,
            dedupe_ttl_secs: settings.dedupe_ttl_secs,
            dedupe_max_bytes: settings.dedupe_max_bytes,
            dedupe_budget: settings.dedupe_max_bytes / u64::from(partitions),
            stream_retain: settings.stream_retain,
            stream_budget: settings.stream_max_bytes / u64::from(partitions),
            ticks_per_entry: std::sync::atomic::AtomicUsize::new(1),
            checked: tokio::sync::OnceCell::new(),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The keys of partition `p`.
    fn part(&self, p: Partition) -> Result<&PartKeys, BusError> {
        self.parts.get(p.index()).ok_or_else(|| {
            BusError::new(
                BACKEND,
                Failure::Refused,
                format!("no partition {p}: the bus has {}", self.parts.len()),
            )
        })
    }

    /// Checks that the bus was created with as many partitions as this
    /// process has (and records the number on a new bus). Every call of the
    /// bus checks it first, once.
    ///
    /// # Errors
    /// `Refused` naming both numbers when they differ; `Unavailable` when
    /// Redis cannot be reached.
    pub async fn check(&self) -> Result<(), BusError> {
        self.checked
            .get_or_try_init(|| async {
                let mut conn = self.conns.shared().await?;
                let key = self.key("bus:partitions");
                let ours = self.parts.len();
                let (_, stored): (Option<String>, Option<usize>) = self
                    .bounded(
                        redis::pipe()
                            .cmd("SET")
                            .arg(&key)
                            .arg(ours)
                            .arg("NX")
                            .cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn),
                    )
                    .await?;
                match stored {
                    Some(n) if n != ours => Err(BusError::new(
                        BACKEND,
                        Failure::Refused,
                        format!(
                            "the bus at REDIS_URL was created with {n} partitions and this process has BUS_PARTITIONS={ours}; start it with BUS_PARTITIONS={n} (changing the number takes an empty bus: see the README)"
                        ),
                    )),
                    _ => Ok(()),
                }
            })
            .await
            .map(|_| ())
    }

    /// The shared connection, once the partitions are checked.
    async fn conn(&self) -> Result<Conn, BusError> {
        self.check().await?;
        self.conns.shared().await
    }

    /// Runs one Redis call under the configured timeout, handing back the
    /// call's own result so the caller can inspect Redis errors.
    async fn bounded_raw<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<redis::RedisResult<T>, BusError> {
        tokio::time::timeout(self.timeout, call).await.map_err(|_| {
            BusError::new(
                BACKEND,
                Failure::Timeout,
                format!("no answer within {:?}", self.timeout),
            )
        })
    }

    /// Runs one Redis call under the configured timeout.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BusError> {
        conn::bounded(self.timeout, call).await
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::new(BACKEND, Failure::Corrupt, format!("unreadable {what}: {e}"))
}
