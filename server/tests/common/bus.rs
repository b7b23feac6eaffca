//! The bus fixtures of the bus conformance suite and the Redis-only bus
//! tests: a bus of each backend for one test, and small helpers over it.

use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Partition, StreamId, Tick, Timestamp};
use tickpulse_server::bus::redis::RedisSettings;
use tickpulse_server::bus::{Bus, MemoryBus, MemorySettings, Read, RedisBus};

/// A bus for one test, and whatever cleans up after it.
pub struct Fixture {
    pub bus: Arc<dyn Bus>,
    pub _cleanup: Option<Cleanup>,
}

/// What a test bus keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Acknowledged entries younger than this stay in the stream.
    pub retain: Duration,
    pub dedupe_ttl: Duration,
    /// Bytes the remembered event ids may take (0: no bound).
    pub dedupe_max_bytes: u64,
    /// Bytes the stream's entries may take (0: no bound).
    pub stream_max_bytes: u64,
}

impl Limits {
    pub fn new(retain: Duration, dedupe_ttl: Duration) -> Self {
        Self {
            retain,
            dedupe_ttl,
            dedupe_max_bytes: 0,
            stream_max_bytes: 0,
        }
    }
}

pub trait Backend {
    fn bus_with(limits: Limits) -> Fixture;

    fn bus(retain: Duration, dedupe_ttl: Duration) -> Fixture {
        Self::bus_with(Limits::new(retain, dedupe_ttl))
    }
}

pub struct Redis;
pub struct Memory;
/// The Redis bus on the shared test cluster, with
/// [`super::cluster::PARTITIONS`] partitions.
pub struct Cluster;

/// A Redis bus on `url` under a prefix of its own, deleted afterwards.
fn redis_bus(url: String, cluster: bool, partitions: u16, limits: Limits) -> Fixture {
    let prefix = format!(
        "test:conformance:{}:{}:",
        std::process::id(),
        Timestamp::now().as_nanos()
    );
    let bus = RedisBus::new(RedisSettings {
        url,
        cluster,
        partitions,
        prefix: prefix.clone(),
        timeout: Duration::from_secs(2),
        dedupe_ttl_secs: limits.dedupe_ttl.as_secs().max(1),
        dedupe_max_bytes: limits.dedupe_max_bytes,
        stream_retain: limits.retain,
        stream_max_bytes: limits.stream_max_bytes,
    })
    .unwrap();
    Fixture {
        bus: Arc::new(bus),
        _cleanup: Some(if cluster {
            Cleanup::Cluster(prefix)
        } else {
            Cleanup::Redis(prefix)
        }),
    }
}

impl Backend for Redis {
    fn bus_with(limits: Limits) -> Fixture {
        redis_bus(super::redis_url(), false, 1, limits)
    }
}

impl Backend for Cluster {
    fn bus_with(limits: Limits) -> Fixture {
        let url = super::cluster::shared().url.clone();
        redis_bus(url, true, super::cluster::PARTITIONS, limits)
    }
}

impl Backend for Memory {
    fn bus_with(limits: Limits) -> Fixture {
        Fixture {
            bus: Arc::new(MemoryBus::new(MemorySettings {
                dedupe_ttl: limits.dedupe_ttl,
                dedupe_max_bytes: limits.dedupe_max_bytes,
                stream_retain: limits.retain,
                stream_max_bytes: limits.stream_max_bytes,
            })),
            _cleanup: None,
        }
    }
}

/// Deletes the keys of a prefix when dropped.
pub enum Cleanup {
    /// On the test Redis.
    Redis(String),
    /// On the shared test cluster.
    Cluster(String),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Self::Redis(prefix) => super::delete_keys(&super::redis_url(), prefix),
            Self::Cluster(prefix) => super::cluster::shared().delete_keys(prefix),
        }
    }
}

pub fn plain<B: Backend>() -> Fixture {
    B::bus(Duration::ZERO, Duration::from_secs(60))
}

pub fn tick_at(symbol: &str, price: &str, event_id: &str, ts_ms: i64) -> Tick {
    let mut t = super::tick(symbol, price, event_id);
    t["ts"] = ts_ms.into();
    serde_json::from_value(t).unwrap()
}

pub fn ticks(prefix: &str, n: usize) -> Vec<Tick> {
    (0..n)
        .map(|i| serde_json::from_value(super::tick("BUS", "1", &format!("{prefix}{i}"))).unwrap())
        .collect()
}

pub fn ids(entries: &[tickpulse_server::bus::Delivered]) -> Vec<StreamId> {
    entries.iter().map(|d| d.id).collect()
}

/// The one partition of the buses of one partition.
pub const P0: Partition = Partition(0);

/// The partition of `symbol` on `bus`.
pub fn part(bus: &Arc<dyn Bus>, symbol: &str) -> Partition {
    Partition::of(&tickpulse_core::Symbol::new(symbol), bus.partitions())
}

pub const SHORT: Duration = Duration::from_millis(10);

/// Appends `n` new ticks with event ids `{prefix}0…`, one call each: the
/// group tests below act on single ticks, and a backend may hand out the
/// ticks of one call together (the Redis bus packs them into one entry;
/// see the `redis_…` tests at the end).
pub async fn fill(bus: &Arc<dyn Bus>, prefix: &str, n: usize) {
    for tick in ticks(prefix, n) {
        let accepted = bus.append(&[tick], Timestamp::now()).await.unwrap();
        assert_eq!(accepted, [true], "a new tick");
    }
}

/// Up to `count` entries never delivered to `group`, for `consumer`.
pub async fn read_new(
    bus: &Arc<dyn Bus>,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<tickpulse_server::bus::Delivered> {
    bus.read_group(part(bus, "BUS"), group, consumer, Read::New(SHORT), count)
        .await
        .unwrap()
}

/// Up to `count` entries pending for `consumer` of `group`, delivered again.
pub async fn read_own(
    bus: &Arc<dyn Bus>,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<tickpulse_server::bus::Delivered> {
    bus.read_group(part(bus, "BUS"), group, consumer, Read::OwnPending, count)
        .await
        .unwrap()
}

/// Entries in the stream (one per tick when appended one at a time).
pub async fn length(bus: &Arc<dyn Bus>) -> u64 {
    bus.stream_stats().await.unwrap().length
}

/// Ticks in the stream.
pub async fn in_stream(bus: &Arc<dyn Bus>) -> usize {
    let mut n = 0;
    for p in Partition::all(bus.partitions()) {
        n += bus.range(p, StreamId::ZERO, 10_000).await.unwrap().len();
    }
    n
}
