//! Node and feed health: what a heartbeat says, how old a beat may be before
//! a node is `suspect` or `down`, when a feed is stale, and which alerts a
//! change of state raises.
//!
//! Pure: every function takes `now` (milliseconds since the Unix epoch). The
//! monitor runs [`Tracker`] on the beats it reads; the admin view and API
//! run [`summarize`] on the same beats, so both agree on every status.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Width of one bucket of a node's ingest series, in milliseconds.
pub const SERIES_BUCKET_MS: i64 = 10_000;
/// Buckets a node keeps: 15 minutes.
pub const SERIES_BUCKETS: usize = 90;

/// One heartbeat of a process, as it stores it (JSON) every beat interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

/// Cumulative counters of one process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
pub struct FeedBeat {
    pub source: String,
    /// When this process last accepted a tick of the source, ms.
    pub last_tick: i64,
    /// Ticks of the source this process accepted since it started.
    pub ticks: u64,
    /// Ticks per second over the last complete series bucket.
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Up,
    /// Missed several beats.
    Suspect,
    /// No beat for the down threshold.
    Down,
    /// Said goodbye (graceful stop).
    Stopped,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Suspect => "suspect",
            Self::Down => "down",
            Self::Stopped => "stopped",
        }
    }
}

/// When a node or a feed changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// How often each process beats.
    pub beat_ms: i64,
    /// Missed beats before a node is `suspect`.
    pub suspect_after_missed: i64,
    /// Silence before a node is `down`.
    pub down_after_ms: i64,
    /// Silence of a feed source before it is stale.
    pub feed_stale_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            beat_ms: 2_000,
            suspect_after_missed: 3,
            down_after_ms: 10_000,
            feed_stale_ms: 30_000,
        }
    }
}

/// The status of a node whose last beat is `beat`.
pub fn node_status(now: i64, beat: &Beat, th: &Thresholds) -> NodeStatus {
    let age = now - beat.at;
    if beat.stopping {
        NodeStatus::Stopped
    } else if age >= th.down_after_ms {
        NodeStatus::Down
    } else if age >= th.beat_ms * th.suspect_after_missed {
        NodeStatus::Suspect
    } else {
        NodeStatus::Up
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// One entry of the alert log (a `node_event` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Row id once stored; 0 before.
    #[serde(default)]
    pub id: i64,
    /// ms since the epoch.
    pub at: i64,
    /// `node.suspect`, `node.down`, `node.recovered`, `node.stopped`,
    /// `feed.stale` or `feed.recovered`.
    pub kind: String,
    /// The node id or the feed source.
    pub subject: String,
    pub severity: Severity,
    pub message: String,
}

impl Alert {
    fn new(at: i64, kind: &str, subject: &str, severity: Severity, message: String) -> Self {
        Self {
            id: 0,
            at,
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            severity,
            message,
        }
    }

    /// `node` or `feed`.
    pub fn scope(&self) -> &str {
        self.kind.split('.').next().unwrap_or("")
    }
}

/// Remembers the last known state of every node and feed, and turns the
/// next observation into the alerts its changes raise.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    nodes: BTreeMap<String, NodeStatus>,
    /// Source → stale.
    feeds: BTreeMap<String, bool>,
}

impl Tracker {
    /// Starts from the alerts already logged (oldest first), so a monitor
    /// taking over does not raise them again.
    pub fn seeded<'a>(log: impl IntoIterator<Item = &'a Alert>) -> Self {
        let mut t = Self::default();
        for alert in log {
            match alert.kind.as_str() {
                "node.suspect" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Suspect);
                }
                "node.down" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Down);
                }
                "node.recovered" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Up);
                }
                "node.stopped" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Stopped);
                }
                "feed.stale" => {
                    t.feeds.insert(alert.subject.clone(), true);
                }
                "feed.recovered" => {
                    t.feeds.insert(alert.subject.clone(), false);
                }
                _ => {}
            }
        }
        t
    }

    /// The alerts raised by the beats read at `now`. A node seen for the
    /// first time is taken as it is without an alert unless it is already
    /// down or suspect; a node whose beat expired is forgotten.
    pub fn observe(&mut self, now: i64, beats: &[Beat], th: &Thresholds) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for beat in beats {
            let status = node_status(now, beat, th);
            let before = self.nodes.insert(beat.node.clone(), status);
            let secs = |ms: i64| ms as f64 / 1000.0;
            let silent = secs(now - beat.at);
            let alert = match (before, status) {
                (Some(b), s) if b == s => None,
                (_, NodeStatus::Suspect) => Some((
                    "node.suspect",
                    Severity::Warning,
                    format!("no heartbeat for {silent:.1} s"),
                )),
                (_, NodeStatus::Down) => Some((
                    "node.down",
                    Severity::Critical,
                    format!("no heartbeat for {silent:.1} s"),
                )),
                (Some(NodeStatus::Suspect | NodeStatus::Down), NodeStatus::Up) => Some((
                    "node.recovered",
                    Severity::Info,
                    "heartbeats again".to_owned(),
                )),
                (
                    Some(NodeStatus::Up | NodeStatus::Suspect | NodeStatus::Down),
                    NodeStatus::Stopped,
                ) => Some((
                    "node.stopped",
                    Severity::Info,
                    "stopped on purpose".to_owned(),
                )),
                _ => None,
            };
            if let Some((kind, severity, message)) = alert {
                alerts.push(Alert::new(now, kind, &beat.node, severity, message));
            }
        }
        self.nodes
            .retain(|node, _| beats.iter().any(|b| &b.node == node));
        for feed in feeds(now, beats, th) {
            let before = self.feeds.insert(feed.source.clone(), feed.stale);
            let silent = (now - feed.last_tick) as f64 / 1000.0;
            match (before.unwrap_or(false), feed.stale) {
                (false, true) => alerts.push(Alert::new(
                    now,
                    "feed.stale",
                    &feed.source,
                    Severity::Warning,
                    format!("no tick for {silent:.1} s"),
                )),
                (true, false) => alerts.push(Alert::new(
                    now,
                    "feed.recovered",
                    &feed.source,
                    Severity::Info,
                    "ticks again".to_owned(),
                )),
                _ => {}
            }
        }
        alerts
    }
}

/// One feed source over every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedHealth {
    pub source: String,
    pub last_tick: i64,
    pub ticks: u64,
    pub rate: f64,
    pub stale: bool,
}

/// The feeds of all nodes: the latest tick any node saw, summed counts and
/// rates, ordered by source.
pub fn feeds(now: i64, beats: &[Beat], th: &Thresholds) -> Vec<FeedHealth> {
    let mut all: BTreeMap<&str, FeedHealth> = BTreeMap::new();
    for feed in beats.iter().flat_map(|b| &b.feeds) {
        let entry = all.entry(&feed.source).or_insert_with(|| FeedHealth {
            source: feed.source.clone(),
            last_tick: feed.last_tick,
            ticks: 0,
            rate: 0.0,
            stale: false,
        });
        entry.last_tick = entry.last_tick.max(feed.last_tick);
        entry.ticks += feed.ticks;
        entry.rate += feed.rate;
    }
    all.into_values()
        .map(|mut f| {
            f.stale = now - f.last_tick >= th.feed_stale_ms;
            if f.stale {
                f.rate = 0.0;
            }
            f
        })
        .collect()
}

/// A node as the health view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
pub struct GroupBacklog {
    pub group: String,
    pub pending: u64,
    pub lag: Option<u64>,
}

/// The pipeline as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
}

/// Everything the admin health view shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(node: &str, at: i64) -> Beat {
        Beat {
            node: node.into(),
            roles: vec!["api".into()],
            version: "0.1.0".into(),
            started_at: 0,
            at,
            cpu_pct: 1.0,
            rss_bytes: 1 << 20,
            stopping: false,
            counters: Counters::default(),
            feeds: Vec::new(),
            series: Vec::new(),
            series_end: 0,
        }
    }

    fn feed(source: &str, last_tick: i64, ticks: u64, rate: f64) -> FeedBeat {
        FeedBeat {
            source: source.into(),
            last_tick,
            ticks,
            rate,
        }
    }

    #[test]
    fn status_follows_the_age_of_the_last_beat() {
        let th = Thresholds::default();
        let b = beat("a", 100_000);
        assert_eq!(node_status(100_000, &b, &th), NodeStatus::Up);
        assert_eq!(node_status(105_999, &b, &th), NodeStatus::Up);
        assert_eq!(node_status(106_000, &b, &th), NodeStatus::Suspect);
        assert_eq!(node_status(109_999, &b, &th), NodeStatus::Suspect);
        assert_eq!(node_status(110_000, &b, &th), NodeStatus::Down);
        let stopping = Beat {
            stopping: true,
            ..b
        };
        assert_eq!(node_status(200_000, &stopping, &th), NodeStatus::Stopped);
    }

    fn kinds(alerts: &[Alert]) -> Vec<(String, String)> {
        alerts
            .iter()
            .map(|a| (a.kind.clone(), a.subject.clone()))
            .collect()
    }

    #[test]
    fn a_node_that_stops_beating_goes_suspect_then_down_then_recovers() {
        let th = Thresholds::default();
        let mut t = Tracker::default();
        let beats = [beat("a", 0), beat("b", 0)];
        assert!(t.observe(1_000, &beats, &th).is_empty());
        // b keeps beating, a does not.
        let beats = [beat("a", 0), beat("b", 6_000)];
        assert_eq!(
            kinds(&t.observe(6_500, &beats, &th)),
            [("node.suspect".into(), "a".into())]
        );
        assert!(t.observe(7_000, &beats, &th).is_empty());
        let beats = [beat("a", 0), beat("b", 10_000)];
        let down = t.observe(10_000, &beats, &th);
        assert_eq!(kinds(&down), [("node.down".into(), "a".into())]);
        assert_eq!(down[0].severity, Severity::Critical);
        assert!(t.observe(11_000, &beats, &th).is_empty());
        let beats = [beat("a", 12_000), beat("b", 12_000)];
        assert_eq!(
            kinds(&t.observe(12_100, &beats, &th)),
            [("node.recovered".into(), "a".into())]
        );
    }

    #[test]
    fn a_node_first_seen_down_raises_one_alert_and_a_seeded_tracker_none() {
        let th = Thresholds::default();
        let beats = [beat("a", 0)];
        let mut fresh = Tracker::default();
        assert_eq!(
            kinds(&fresh.observe(20_000, &beats, &th)),
            [("node.down".into(), "a".into())]
        );
        let logged = Alert::new(15_000, "node.down", "a", Severity::Critical, String::new());
        let mut seeded = Tracker::seeded([&logged]);
        assert!(seeded.observe(20_000, &beats, &th).is_empty());
        // A graceful stop is logged once, as information.
        let stopping = [Beat {
            stopping: true,
            ..beat("b", 19_000)
        }];
        let mut t = Tracker::default();
        assert!(t.observe(19_500, &[beat("b", 19_000)], &th).is_empty());
        let stopped = t.observe(20_000, &stopping, &th);
        assert_eq!(kinds(&stopped), [("node.stopped".into(), "b".into())]);
        assert_eq!(stopped[0].severity, Severity::Info);
    }

    #[test]
    fn a_feed_goes_stale_after_its_threshold_and_recovers_on_the_next_tick() {
        let th = Thresholds::default();
        let mut t = Tracker::default();
        // The nodes beat throughout; only the feeds fall silent.
        let mut a = beat("a", 30_000);
        let mut b = beat("b", 30_000);
        a.feeds = vec![feed("sim", 1_000, 10, 2.0)];
        b.feeds = vec![feed("sim", 5_000, 5, 1.0), feed("x", 5_000, 1, 0.1)];
        let beats = [a.clone(), b.clone()];
        assert!(t.observe(30_999, &beats, &th).is_empty());
        let all = feeds(30_999, &beats, &th);
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].last_tick, all[0].ticks, all[0].rate),
            (5_000, 15, 3.0)
        );
        // 30 s after the latest tick any node saw, both feeds are stale.
        let beats = [
            Beat {
                at: 35_000,
                ..a.clone()
            },
            Beat {
                at: 35_000,
                ..b.clone()
            },
        ];
        let stale = t.observe(35_000, &beats, &th);
        assert_eq!(
            kinds(&stale),
            [
                ("feed.stale".into(), "sim".into()),
                ("feed.stale".into(), "x".into())
            ]
        );
        assert!(feeds(35_000, &beats, &th).iter().all(|f| f.rate == 0.0));
        assert!(t.observe(36_000, &beats, &th).is_empty());
        a.feeds = vec![feed("sim", 36_500, 11, 0.1)];
        a.at = 37_000;
        b.at = 37_000;
        assert_eq!(
            kinds(&t.observe(37_000, &[a, b], &th)),
            [("feed.recovered".into(), "sim".into())]
        );
    }

    #[test]
    fn the_ingest_series_sums_nodes_by_bucket_and_leaves_out_the_current_one() {
        let now = 1_000 * SERIES_BUCKET_MS + 5;
        let mut a = beat("a", now);
        a.series = vec![10, 20, 30];
        a.series_end = 1_000;
        let mut b = beat("b", now);
        b.series = vec![5];
        b.series_end = 999;
        let series = ingest_series(now, &[a, b]);
        assert_eq!(series.len(), SERIES_BUCKETS);
        let last = series[SERIES_BUCKETS - 1];
        assert_eq!(last.0, 999 * SERIES_BUCKET_MS);
        assert!((last.1 - 2.5).abs() < 1e-9, "(20 + 5) / 10 s: {}", last.1);
        assert!((series[SERIES_BUCKETS - 2].1 - 1.0).abs() < 1e-9);
        assert!(series[..SERIES_BUCKETS - 2].iter().all(|p| p.1 == 0.0));
    }

    #[test]
    fn summarize_counts_only_live_nodes_in_the_pipeline() {
        let th = Thresholds::default();
        let mut a = beat("a", 50_000);
        a.counters.sse_clients = 3;
        a.counters.persist_lag_secs = Some(0.2);
        let mut b = beat("b", 0);
        b.counters.sse_clients = 100;
        b.counters.persist_lag_secs = Some(9.0);
        let h = summarize(50_500, &[b, a], &th);
        assert_eq!(h.nodes[0].beat.node, "a");
        assert_eq!(h.nodes[1].status, NodeStatus::Down);
        assert_eq!(h.pipeline.sse_clients, 3);
        assert_eq!(h.pipeline.persist_lag_secs, Some(0.2));
    }
}
