//! Node and feed health: what a heartbeat says, how old a beat may be before
//! a node is `suspect` or `down`, when a feed is stale, and which alerts a
//! change of state raises.
//!
//! Pure: every function takes `now` (milliseconds since the Unix epoch). The
//! monitor runs [`Tracker`] on the beats it reads; the admin view and API
//! run [`summarize`] on the same beats, so both agree on every status.

mod alert;
mod anomaly;
mod beat;
mod dedupe;
mod node_metric;
mod status;
mod summary;

pub use self::alert::{Alert, Severity, Tracker};
pub use self::anomaly::{active_anomalies, AnomalySettings, Detector, Observation, ANOMALY_KINDS};
pub use self::beat::{Beat, Counters, FeedBeat, Load, SERIES_BUCKETS, SERIES_BUCKET_MS};
pub use self::dedupe::Dedupe;
pub use self::node_metric::{
    downsample, report, report_csv, Busiest, Figures, NodeMetric, NodeReport, Report, Stat,
    FIGURES, TOTAL,
};
pub use self::status::{feeds, node_status, FeedHealth, NodeStatus, Thresholds};
pub use self::summary::{
    ingest_series, nodes, summarize, GroupBacklog, Health, NodeHealth, Pipeline,
};

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
            load: Load::default(),
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

    #[test]
    fn a_shortened_dedupe_window_raises_one_alert_and_its_end_another() {
        let mut t = Tracker::default();
        let d = |window_secs| Dedupe {
            ids: 10,
            bytes: 100,
            budget_bytes: Some(100),
            window_secs,
            ttl_secs: 3_600,
        };
        assert_eq!(t.observe_dedupe(1, &d(3_600)), None);
        let raised = t.observe_dedupe(2, &d(40)).expect("an alert");
        assert_eq!(
            (raised.kind.as_str(), raised.severity),
            ("bus.dedupe_shortened", Severity::Warning)
        );
        assert!(raised.message.contains("40 s"), "{}", raised.message);
        assert_eq!(t.observe_dedupe(3, &d(30)), None, "once per change");
        let seeded = Tracker::seeded([&raised]).observe_dedupe(4, &d(30));
        assert_eq!(seeded, None, "a monitor taking over knows it was raised");
        let ended = t.observe_dedupe(5, &d(3_600)).expect("an alert");
        assert_eq!(ended.kind, "bus.dedupe_restored");
    }
}
