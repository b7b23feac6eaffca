//! The metric history and the anomaly rules. Every `METRICS_SAMPLE_SECS`
//! the active monitor turns the nodes' last beats into one `node_metric`
//! row per node, runs the rules (`tickpulse_core::health::Detector`) on
//! them, and writes the rows in one batch; rows the database did not take
//! wait for the next round (an outage only delays them). Once an hour it
//! averages aged rows and deletes expired ones.

use crate::bus::StreamStats;
use crate::store::node_metrics::Retention;
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tickpulse_core::health::{
    node_status, Alert, AnomalySettings, Beat, Detector, NodeMetric, NodeStatus, Observation,
    Thresholds,
};

/// Rows kept for the database while it is down; the oldest go first.
const MAX_UNWRITTEN: usize = 50_000;
/// How often aged rows are compacted.
const COMPACT_EVERY: Duration = Duration::from_secs(3_600);

/// A node's counters at the previous sample.
#[derive(Debug, Clone, Copy)]
struct Seen {
    at: i64,
    ingested: u64,
    sse_resets: u64,
    dead_lettered: u64,
}

pub struct History {
    pub settings: AnomalySettings,
    retention: Retention,
    detector: Detector,
    seen: HashMap<String, Seen>,
    unwritten: Vec<NodeMetric>,
    next: Instant,
    compacted: Option<Instant>,
}

impl History {
    pub fn new(settings: AnomalySettings, retain_days: u64) -> Self {
        Self {
            settings,
            retention: Retention::days(retain_days),
            detector: Detector::default(),
            seen: HashMap::new(),
            unwritten: Vec::new(),
            next: Instant::now() + Duration::from_secs(settings.sample_secs),
            compacted: None,
        }
    }

    /// Whether a sample is due; if so, the next one is scheduled.
    pub fn due(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next {
            return false;
        }
        let every = Duration::from_secs(self.settings.sample_secs.max(1));
        self.next += every;
        if self.next <= now {
            self.next = now + every;
        }
        true
    }

    /// The rows of this sample and the alerts the rules raise on them.
    pub fn sample(
        &mut self,
        now: i64,
        beats: &[Beat],
        stats: Option<&StreamStats>,
        th: &Thresholds,
    ) -> Vec<Alert> {
        let observation = self.observe(now, beats, stats, th);
        let alerts = self.detector.observe(&observation, &self.settings);
        self.unwritten.extend(observation.nodes);
        let extra = self.unwritten.len().saturating_sub(MAX_UNWRITTEN);
        self.unwritten.drain(..extra);
        alerts
    }

    fn observe(
        &mut self,
        now: i64,
        beats: &[Beat],
        stats: Option<&StreamStats>,
        th: &Thresholds,
    ) -> Observation {
        let groups: BTreeMap<String, u64> = stats
            .map(|s| {
                s.groups
                    .iter()
                    .filter_map(|g| Some((g.name.clone(), g.lag?)))
                    .collect()
            })
            .unwrap_or_default();
        let stream_lag = groups.values().copied().max().unwrap_or(0) as f64;
        let mut feeds: BTreeMap<String, f64> = BTreeMap::new();
        let mut nodes = Vec::new();
        for beat in beats {
            if beat.stopping || node_status(now, beat, th) != NodeStatus::Up {
                continue;
            }
            for feed in &beat.feeds {
                *feeds.entry(feed.source.clone()).or_default() += feed.rate;
            }
            let c = &beat.counters;
            let seen = Seen {
                at: beat.at,
                ingested: c.ingested,
                sse_resets: beat.load.sse_resets,
                dead_lettered: beat.load.dead_lettered,
            };
            let before = self.seen.insert(beat.node.clone(), seen);
            // Counters restart with the process: a smaller count is a new one.
            let delta = |now: u64, before: Option<u64>| match before {
                Some(b) if b <= now => now - b,
                Some(_) => now,
                None => 0,
            };
            let secs = before.map_or(0.0, |b| (beat.at - b.at) as f64 / 1_000.0);
            let ingested = delta(seen.ingested, before.map(|b| b.ingested));
            nodes.push(NodeMetric {
                node: beat.node.clone(),
                at: now,
                step_secs: self.settings.sample_secs as i64,
                cpu_pct: beat.cpu_pct,
                rss_bytes: beat.rss_bytes as f64,
                net_in_bps: beat.load.net_in_bps,
                net_out_bps: beat.load.net_out_bps,
                connections: beat.load.connections as f64,
                sse_clients: c.sse_clients as f64,
                tasks: beat.load.tasks as f64,
                sched_delay_ms: beat.load.sched_delay_ms,
                ingest_rate: if secs > 0.0 {
                    ingested as f64 / secs
                } else {
                    0.0
                },
                persist_lag_p99_ms: beat.load.persist_lag_p99_ms,
                stream_lag,
                dead_letters: delta(seen.dead_lettered, before.map(|b| b.dead_lettered)) as f64,
                sse_resets: delta(seen.sse_resets, before.map(|b| b.sse_resets)) as f64,
            });
        }
        self.seen
            .retain(|node, _| beats.iter().any(|b| &b.node == node));
        Observation {
            at: now,
            nodes,
            feeds,
            groups,
        }
    }

    /// Writes the rows waiting, and compacts the table when it is time.
    pub async fn write(&mut self, store: Option<&dyn Store>, now: i64) {
        let Some(store) = store else {
            self.unwritten.clear();
            return;
        };
        if !self.unwritten.is_empty() {
            match store.add_node_metrics(&self.unwritten).await {
                Ok(()) => self.unwritten.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, waiting = self.unwritten.len(), "metric rows not written yet; retrying")
                }
            }
        }
        if self
            .compacted
            .is_some_and(|at| at.elapsed() < COMPACT_EVERY)
        {
            return;
        }
        match store.compact_node_metrics(now, self.retention).await {
            Ok(done) => {
                self.compacted = Some(Instant::now());
                if done.averaged > 0 || done.deleted > 0 {
                    tracing::info!(
                        averaged = done.averaged,
                        deleted = done.deleted,
                        "metric history compacted"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "metric history not compacted; retrying"),
        }
    }
}
