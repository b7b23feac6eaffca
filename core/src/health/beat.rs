//! What a heartbeat says: a process's roles, load, counters, the feeds it
//! saw and its recent ingest series.

use serde::{Deserialize, Serialize};

/// Width of one bucket of a node's ingest series, in milliseconds.
pub const SERIES_BUCKET_MS: i64 = 10_000;
/// Buckets a node keeps: 15 minutes.
pub const SERIES_BUCKETS: usize = 90;

/// One heartbeat of a process, as it stores it (JSON) every beat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Beat {
    pub node: String,
    pub roles: Vec<String>,
    pub version: String,
    /// When the process started, ms since the epoch.
    pub started_at: i64,
    /// When this beat was sent, ms since the epoch.
    pub at: i64,
    /// CPU used by the process since the previous beat, in % of one core.
    pub cpu_pct: f64,
    /// Resident memory of the process, in bytes.
    pub rss_bytes: u64,
    /// The last beat of a process that stops on purpose.
    #[serde(default)]
    pub stopping: bool,
    #[serde(default)]
    pub counters: Counters,
    /// Sources that sent ticks to this process, with their figures.
    #[serde(default)]
    pub feeds: Vec<FeedBeat>,
    /// Ticks this process accepted per [`SERIES_BUCKET_MS`] bucket, oldest
    /// first; the last entry is the bucket `series_end` (bucket index =
    /// ms / [`SERIES_BUCKET_MS`]), which is still filling.
    #[serde(default)]
    pub series: Vec<u64>,
    #[serde(default)]
    pub series_end: i64,
    /// The process's load beyond CPU and memory.
    #[serde(default)]
    pub load: Load,
}

/// What a process reads of its load at each beat, for the metric history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Load {
    /// Network bytes per second received and sent by the machine, since the
    /// previous beat.
    pub net_in_bps: f64,
    pub net_out_bps: f64,
    /// Open HTTP connections.
    pub connections: u64,
    /// Tasks alive in the async runtime.
    pub tasks: u64,
    /// How long a task just spawned waited to run, ms (one probe per beat).
    pub sched_delay_ms: f64,
    /// p99 of receive → commit over the batches persisted in the last
    /// sample interval, ms; none when nothing was persisted.
    pub persist_lag_p99_ms: Option<f64>,
    /// Entries sent to the dead-letter stream since the process started.
    pub dead_lettered: u64,
    /// SSE reset snapshots sent since the process started.
    pub sse_resets: u64,
}

/// Cumulative counters of one process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counters {
    pub ingested: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub persisted: u64,
    pub views_written: u64,
    pub sse_clients: u64,
    /// Seconds from receive to commit of the last persisted batch.
    pub persist_lag_secs: Option<f64>,
}

/// One feed source as one process saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedBeat {
    pub source: String,
    /// When this process last accepted a tick of the source, ms.
    pub last_tick: i64,
    /// Ticks of the source this process accepted since it started.
    pub ticks: u64,
    /// Ticks per second over the last complete series bucket.
    pub rate: f64,
}
