//! The health view: nodes, feeds, the ingest series and the pipeline, as the
//! admin page and API show them.

use super::{
    feeds, node_status, Alert, Beat, Dedupe, FeedHealth, NodeStatus, Thresholds, SERIES_BUCKETS,
    SERIES_BUCKET_MS,
};
use serde::{Deserialize, Serialize};

/// A node as the health view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeHealth {
    pub status: NodeStatus,
    /// ms since the last beat.
    pub silent_ms: i64,
    pub beat: Beat,
}

/// The nodes with their status, ordered by node id.
pub fn nodes(now: i64, beats: &[Beat], th: &Thresholds) -> Vec<NodeHealth> {
    let mut out: Vec<NodeHealth> = beats
        .iter()
        .map(|b| NodeHealth {
            status: node_status(now, b, th),
            silent_ms: (now - b.at).max(0),
            beat: b.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.beat.node.cmp(&b.beat.node));
    out
}

/// Ticks accepted per second by all nodes over the last 15 minutes, one
/// point per complete bucket: `(bucket start ms, ticks/s)`, oldest first.
pub fn ingest_series(now: i64, beats: &[Beat]) -> Vec<(i64, f64)> {
    let current = now.div_euclid(SERIES_BUCKET_MS);
    let first = current - SERIES_BUCKETS as i64;
    let mut sums = vec![0u64; SERIES_BUCKETS];
    for beat in beats {
        let len = beat.series.len() as i64;
        for (i, n) in beat.series.iter().enumerate() {
            let bucket = beat.series_end - (len - 1 - i as i64);
            if bucket >= first && bucket < current {
                sums[(bucket - first) as usize] += n;
            }
        }
    }
    let per_sec = 1000.0 / SERIES_BUCKET_MS as f64;
    sums.into_iter()
        .enumerate()
        .map(|(i, n)| ((first + i as i64) * SERIES_BUCKET_MS, n as f64 * per_sec))
        .collect()
}

/// A consumer group's backlog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupBacklog {
    pub group: String,
    pub pending: u64,
    pub lag: Option<u64>,
}

/// The pipeline as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pipeline {
    /// Ticks/s accepted by all live nodes over the last complete bucket.
    pub ingest_rate: f64,
    /// Entries in the tick stream, when the bus answered.
    pub stream_length: Option<u64>,
    pub dead_letters: Option<u64>,
    pub groups: Vec<GroupBacklog>,
    /// The largest persist lag any node reported for its last batch.
    pub persist_lag_secs: Option<f64>,
    pub sse_clients: u64,
    /// De-duplication, when the bus answered.
    #[serde(default)]
    pub dedupe: Option<Dedupe>,
}

/// Everything the admin health view shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub at: i64,
    pub thresholds: Thresholds,
    pub nodes: Vec<NodeHealth>,
    pub feeds: Vec<FeedHealth>,
    pub pipeline: Pipeline,
    pub ingest_series: Vec<(i64, f64)>,
    /// The newest alerts, newest first.
    pub alerts: Vec<Alert>,
    /// Why the alert log is missing, when it is.
    pub alerts_error: Option<String>,
}

/// Nodes, feeds, series and the beat-borne pipeline figures; the caller
/// adds the stream figures and the alerts.
pub fn summarize(now: i64, beats: &[Beat], th: &Thresholds) -> Health {
    let nodes = nodes(now, beats, th);
    let series = ingest_series(now, beats);
    let live: Vec<&Beat> = nodes
        .iter()
        .filter(|n| matches!(n.status, NodeStatus::Up | NodeStatus::Suspect))
        .map(|n| &n.beat)
        .collect();
    let pipeline = Pipeline {
        ingest_rate: series.last().map_or(0.0, |p| p.1),
        sse_clients: live.iter().map(|b| b.counters.sse_clients).sum(),
        persist_lag_secs: live
            .iter()
            .filter_map(|b| b.counters.persist_lag_secs)
            .reduce(f64::max),
        ..Pipeline::default()
    };
    Health {
        at: now,
        thresholds: *th,
        feeds: feeds(now, beats, th),
        nodes,
        pipeline,
        ingest_series: series,
        alerts: Vec::new(),
        alerts_error: None,
    }
}
