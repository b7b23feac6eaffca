//! Anomaly rules over the metric samples the monitor takes every
//! `METRICS_SAMPLE_SECS`: each looks at one figure, raises its alert once
//! when the figure has stayed out of bounds long enough, and clears it once
//! when the figure has stayed back inside a narrower band (hysteresis), so
//! a figure hovering at the edge does not flap.
//!
//! | kind | subject | raised when | cleared when |
//! | --- | --- | --- | --- |
//! | `feed.rate_anomaly` | source | rate more than `k` σ from its EWMA baseline, either way, for `rate_intervals` samples | within `k`/2 σ for as many |
//! | `pipeline.persist_lag` | `persist` | persist lag p99 over `persist_lag_warn_ms` for `hold_secs` | under 80 % of it for as long |
//! | `pipeline.backlog_growing` | group | the group's lag grew at every sample for `backlog_secs` | it did not grow for `hold_secs` |
//! | `node.cpu_high` | node | CPU over `cpu_high_pct` for `hold_secs` | under `cpu_high_pct` − 10 for as long |
//! | `node.memory_growth` | node | RSS rose steadily over `memory_window_secs` (a fitted line, slope ≥ `memory_slope_mb_per_min`, r² ≥ 0.8) | the slope fell under half of it, or r² under 0.5 |
//! | `sse.resets` | node | at least `sse_reset_burst` reset snapshots in one sample | none for `rate_intervals` samples |
//!
//! A clear is the kind with `.cleared` appended. Pure: the caller passes
//! each sample with its time.

use super::{Alert, NodeMetric, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The thresholds of the rules (settings `ANOMALY_*`, `PERSIST_LAG_WARN_MS`,
/// `MEMORY_LIMIT_MB`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnomalySettings {
    /// Seconds between samples.
    pub sample_secs: u64,
    /// How far from its baseline a feed's rate may go, in standard deviations.
    pub k_sigma: f64,
    /// Samples in a row a rate must stay out (or back in).
    pub rate_intervals: u32,
    /// The span the rate baseline remembers (its EWMA's horizon).
    pub baseline_secs: u64,
    pub persist_lag_warn_ms: f64,
    /// How long persist lag or CPU must stay high (or low again).
    pub hold_secs: u64,
    pub backlog_secs: u64,
    pub cpu_high_pct: f64,
    pub memory_window_secs: u64,
    pub memory_slope_mb_per_min: f64,
    /// Memory a node may use; the growth alert says when it is reached.
    pub memory_limit_mb: f64,
    pub sse_reset_burst: u64,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        Self {
            sample_secs: 10,
            k_sigma: 4.0,
            rate_intervals: 3,
            baseline_secs: 3_600,
            persist_lag_warn_ms: 2_000.0,
            hold_secs: 60,
            backlog_secs: 300,
            cpu_high_pct: 90.0,
            memory_window_secs: 600,
            memory_slope_mb_per_min: 1.0,
            memory_limit_mb: 1_024.0,
            sse_reset_burst: 20,
        }
    }
}

impl AnomalySettings {
    /// Samples that cover `secs` (at least one).
    fn samples(&self, secs: u64) -> u32 {
        (secs / self.sample_secs.max(1)).max(1) as u32
    }

    /// The EWMA weight of a new sample for the baseline's horizon.
    fn alpha(&self) -> f64 {
        2.0 / (f64::from(self.samples(self.baseline_secs)) + 1.0)
    }
}

/// One sample of the whole system: every node's row, every feed's rate and
/// every consumer group's lag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    pub at: i64,
    pub nodes: Vec<NodeMetric>,
    /// Source → ticks per second, summed over the nodes.
    pub feeds: BTreeMap<String, f64>,
    /// Consumer group → entries not yet delivered.
    pub groups: BTreeMap<String, u64>,
}

/// Raises once after `need` samples in a row that trip, clears once after
/// `need` samples in a row that are calm.
#[derive(Debug, Clone, Default)]
struct Latch {
    raised: bool,
    run: u32,
}

impl Latch {
    /// `Some(true)` when this sample raises, `Some(false)` when it clears.
    fn step(&mut self, trip: bool, calm: bool, need: u32) -> Option<bool> {
        let toward = if self.raised { calm } else { trip };
        if !toward {
            self.run = 0;
            return None;
        }
        self.run += 1;
        if self.run < need {
            return None;
        }
        self.run = 0;
        self.raised = !self.raised;
        Some(self.raised)
    }
}

/// A rate's baseline: the EWMA of its mean and variance.
#[derive(Debug, Clone, Default)]
struct Baseline {
    mean: f64,
    var: f64,
    seen: u32,
}

impl Baseline {
    /// Adds a sample. The first ones weigh alike (a plain mean and
    /// variance) until there are enough for the EWMA's weight, so a young
    /// baseline does not understate its spread.
    fn add(&mut self, x: f64, alpha: f64) {
        let alpha = alpha.max(1.0 / f64::from(self.seen + 1));
        if self.seen == 0 {
            self.mean = x;
        } else {
            let d = x - self.mean;
            self.mean += alpha * d;
            self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        }
        self.seen += 1;
    }

    /// The spread a sample is measured in, never under 5 % of the mean (a
    /// perfectly steady feed must not alarm on its first wobble).
    fn sigma(&self) -> f64 {
        self.var.sqrt().max(self.mean.abs() * 0.05).max(0.1)
    }
}

/// The kinds the anomaly rules raise (a clear appends `.cleared`).
pub const ANOMALY_KINDS: [&str; 6] = [
    "feed.rate_anomaly",
    "pipeline.persist_lag",
    "pipeline.backlog_growing",
    "node.cpu_high",
    "node.memory_growth",
    "sse.resets",
];

/// The anomalies raised and not cleared since, from an alert log given
/// newest first: the raising alert of each, newest first.
pub fn active_anomalies(log: &[Alert]) -> Vec<&Alert> {
    let mut decided = std::collections::BTreeSet::new();
    let mut active = Vec::new();
    for alert in log {
        let (kind, cleared) = match alert.kind.strip_suffix(".cleared") {
            Some(kind) => (kind, true),
            None => (alert.kind.as_str(), false),
        };
        if !ANOMALY_KINDS.contains(&kind) || !decided.insert((kind, alert.subject.as_str())) {
            continue;
        }
        if !cleared {
            active.push(alert);
        }
    }
    active
}

/// Samples a baseline must have before its rule may raise.
const WARM_UP: u32 = 10;

#[derive(Debug, Clone, Default)]
struct Feed {
    baseline: Baseline,
    latch: Latch,
}

#[derive(Debug, Clone, Default)]
struct Group {
    last: Option<u64>,
    latch: Latch,
}

#[derive(Debug, Clone, Default)]
struct Node {
    cpu: Latch,
    memory: Latch,
    resets: Latch,
    /// (ms, bytes) over the memory window.
    rss: VecDeque<(i64, f64)>,
}

/// The state of every rule; [`Detector::observe`] turns the next sample
/// into the alerts it raises and clears.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    feeds: BTreeMap<String, Feed>,
    groups: BTreeMap<String, Group>,
    nodes: BTreeMap<String, Node>,
    persist: Latch,
}

impl Detector {
    pub fn observe(&mut self, o: &Observation, s: &AnomalySettings) -> Vec<Alert> {
        let mut out = Vec::new();
        let mut emit =
            |raised: Option<bool>, kind: &str, subject: &str, message: String| match raised {
                Some(true) => out.push(Alert::new(o.at, kind, subject, Severity::Warning, message)),
                Some(false) => out.push(Alert::new(
                    o.at,
                    &format!("{kind}.cleared"),
                    subject,
                    Severity::Info,
                    message,
                )),
                None => {}
            };

        // Feeds: a source that stops sending counts as 0 ticks/s; its
        // baseline starts with its first ticks.
        for (source, rate) in &o.feeds {
            if *rate > 0.0 {
                self.feeds.entry(source.clone()).or_default();
            }
        }
        let (k, alpha, need) = (s.k_sigma, s.alpha(), s.rate_intervals.max(1));
        for (source, feed) in &mut self.feeds {
            let rate = o.feeds.get(source).copied().unwrap_or(0.0);
            let (mean, sigma) = (feed.baseline.mean, feed.baseline.sigma());
            let off = (rate - mean).abs() / sigma;
            let warm = feed.baseline.seen >= WARM_UP;
            let raised = feed.latch.step(warm && off > k, off < k / 2.0, need);
            emit(
                raised,
                "feed.rate_anomaly",
                source,
                format!(
                    "{rate:.1} ticks/s against a baseline of {mean:.1} ± {sigma:.1} ({off:.1} σ)"
                ),
            );
            // The baseline learns only from normal samples (and every
            // sample while it warms up), so a drop that lasts is not taken
            // for the new normal.
            if !warm || (!feed.latch.raised && off <= k) {
                feed.baseline.add(rate, alpha);
            }
        }

        // Persist lag: the worst p99 over the nodes that persist.
        let hold = s.samples(s.hold_secs);
        if let Some(p99) = o
            .nodes
            .iter()
            .filter_map(|n| n.persist_lag_p99_ms)
            .reduce(f64::max)
        {
            let warn = s.persist_lag_warn_ms;
            let raised = self.persist.step(p99 > warn, p99 < warn * 0.8, hold);
            emit(
                raised,
                "pipeline.persist_lag",
                "persist",
                format!("persist lag p99 {p99:.0} ms (warning over {warn:.0} ms)"),
            );
        }

        // Backlogs: a lag that grows at every sample.
        for (name, &lag) in &o.groups {
            let group = self.groups.entry(name.clone()).or_default();
            let grew = group.last.is_some_and(|last| lag > last);
            let raised = group.latch.step(
                grew,
                !grew,
                if group.latch.raised {
                    hold
                } else {
                    s.samples(s.backlog_secs)
                },
            );
            group.last = Some(lag);
            emit(
                raised,
                "pipeline.backlog_growing",
                name,
                format!(
                    "group {name} is {lag} entries behind and {}",
                    if grew {
                        "still growing"
                    } else {
                        "no longer growing"
                    }
                ),
            );
        }

        for m in &o.nodes {
            let node = self.nodes.entry(m.node.clone()).or_default();
            let high = s.cpu_high_pct;
            let raised = node
                .cpu
                .step(m.cpu_pct > high, m.cpu_pct < high - 10.0, hold);
            emit(
                raised,
                "node.cpu_high",
                &m.node,
                format!("CPU at {:.0} % (high over {high:.0} %)", m.cpu_pct),
            );

            node.rss.push_back((m.at, m.rss_bytes));
            let window_ms = (s.memory_window_secs * 1000) as i64;
            while node
                .rss
                .front()
                .is_some_and(|(at, _)| m.at - at > window_ms)
            {
                node.rss.pop_front();
            }
            let full = node
                .rss
                .front()
                .is_some_and(|(at, _)| m.at - at >= window_ms * 9 / 10);
            if full {
                let (slope, r2) = fit(&node.rss);
                let mb_per_min = slope * 60_000.0 / (1024.0 * 1024.0);
                let want = s.memory_slope_mb_per_min;
                let raised = node.memory.step(
                    mb_per_min >= want && r2 >= 0.8,
                    mb_per_min < want / 2.0 || r2 < 0.5,
                    1,
                );
                let rss_mb = m.rss_bytes / (1024.0 * 1024.0);
                let message = if mb_per_min > 0.0 && rss_mb < s.memory_limit_mb {
                    let minutes = (s.memory_limit_mb - rss_mb) / mb_per_min;
                    format!(
                        "RSS {rss_mb:.0} MB rising {mb_per_min:.1} MB/min: at this rate memory is exhausted in ~{minutes:.0} min (limit {:.0} MB)",
                        s.memory_limit_mb
                    )
                } else {
                    format!("RSS {rss_mb:.0} MB, changing {mb_per_min:.1} MB/min")
                };
                emit(raised, "node.memory_growth", &m.node, message);
            }

            let resets = m.sse_resets;
            let raised = node.resets.step(
                resets >= s.sse_reset_burst as f64,
                resets == 0.0,
                if node.resets.raised { need } else { 1 },
            );
            emit(
                raised,
                "sse.resets",
                &m.node,
                format!("{resets:.0} SSE reset snapshots in {} s", s.sample_secs),
            );
        }
        self.nodes
            .retain(|name, _| o.nodes.iter().any(|m| &m.node == name));
        out
    }
}

/// Least-squares slope (per ms) and r² of `(ms, value)` points.
fn fit(points: &VecDeque<(i64, f64)>) -> (f64, f64) {
    let n = points.len() as f64;
    if n < 3.0 {
        return (0.0, 0.0);
    }
    let t0 = points[0].0;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), (t, y)| {
        (sx + (t - t0) as f64, sy + y)
    });
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (t, y) in points {
        let (dx, dy) = ((t - t0) as f64 - mx, y - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return (0.0, 0.0);
    }
    (sxy / sxx, sxy * sxy / (sxx * syy))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: AnomalySettings = AnomalySettings {
        sample_secs: 10,
        k_sigma: 4.0,
        rate_intervals: 3,
        baseline_secs: 3_600,
        persist_lag_warn_ms: 2_000.0,
        hold_secs: 60,
        backlog_secs: 300,
        cpu_high_pct: 90.0,
        memory_window_secs: 600,
        memory_slope_mb_per_min: 1.0,
        memory_limit_mb: 1_024.0,
        sse_reset_burst: 20,
    };

    /// A repeatable noise in [-1, 0).
    fn noise(i: u64) -> f64 {
        let x = i
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) as f64 / (1u64 << 31) as f64) - 1.0
    }

    fn node(at: i64) -> NodeMetric {
        NodeMetric {
            node: "n1".into(),
            at,
            step_secs: 10,
            rss_bytes: 200.0 * 1024.0 * 1024.0,
            ..NodeMetric::default()
        }
    }

    /// The sample of one node's row.
    fn on_node(m: NodeMetric) -> Observation {
        Observation {
            at: m.at,
            nodes: vec![m],
            ..Observation::default()
        }
    }

    /// Runs `samples` through a fresh detector; the kinds raised and
    /// cleared, with the sample index.
    fn run(samples: impl IntoIterator<Item = Observation>) -> Vec<(usize, String, String)> {
        let mut d = Detector::default();
        samples
            .into_iter()
            .enumerate()
            .flat_map(|(i, o)| {
                d.observe(&o, &S)
                    .into_iter()
                    .map(move |a| (i, a.kind, a.subject))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn feed_rate(i: usize, rate: f64) -> Observation {
        Observation {
            at: i as i64 * 10_000,
            feeds: BTreeMap::from([("feed-a".to_owned(), rate)]),
            ..Observation::default()
        }
    }

    fn kinds(alerts: &[(usize, String, String)]) -> Vec<&str> {
        alerts.iter().map(|(_, k, _)| k.as_str()).collect()
    }

    #[test]
    fn rules_fire_on_their_pattern_stay_quiet_on_noise_and_clear_with_hysteresis() {
        struct Case {
            name: &'static str,
            samples: Vec<Observation>,
            want: Vec<&'static str>,
        }
        let noisy = |i: usize| 200.0 + 10.0 * noise(i as u64);
        let cases = vec![
            Case {
                name: "a rate with noise stays quiet",
                samples: (0..400).map(|i| feed_rate(i, noisy(i))).collect(),
                want: vec![],
            },
            Case {
                name: "a silent drop raises after 3 samples and clears after recovery",
                samples: (0..120)
                    .map(|i| feed_rate(i, if (60..80).contains(&i) { 5.0 } else { noisy(i) }))
                    .collect(),
                want: vec!["feed.rate_anomaly", "feed.rate_anomaly.cleared"],
            },
            Case {
                name: "a burst raises too",
                samples: (0..100)
                    .map(|i| {
                        feed_rate(
                            i,
                            if (60..70).contains(&i) {
                                900.0
                            } else {
                                noisy(i)
                            },
                        )
                    })
                    .collect(),
                want: vec!["feed.rate_anomaly", "feed.rate_anomaly.cleared"],
            },
            Case {
                name: "a single outlier does not raise",
                samples: (0..100)
                    .map(|i| feed_rate(i, if i == 50 || i == 52 { 5.0 } else { noisy(i) }))
                    .collect(),
                want: vec![],
            },
            Case {
                name: "a feed that goes silent (absent) counts as 0",
                samples: (0..80)
                    .map(|i| {
                        if i >= 60 {
                            Observation {
                                at: i as i64 * 10_000,
                                ..Observation::default()
                            }
                        } else {
                            feed_rate(i, noisy(i))
                        }
                    })
                    .collect(),
                want: vec!["feed.rate_anomaly"],
            },
            Case {
                name: "cpu over 90 % for a minute raises; 85 % does not clear; 70 % does",
                samples: (0..40)
                    .map(|i| {
                        let cpu = match i {
                            0..=9 => 40.0 + 5.0 * noise(i as u64),
                            10..=19 => 95.0,
                            20..=29 => 85.0,
                            _ => 70.0,
                        };
                        on_node(NodeMetric {
                            cpu_pct: cpu,
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec!["node.cpu_high", "node.cpu_high.cleared"],
            },
            Case {
                name: "cpu spikes shorter than a minute stay quiet",
                samples: (0..60)
                    .map(|i| {
                        let cpu = if i % 5 == 0 { 99.0 } else { 50.0 };
                        on_node(NodeMetric {
                            cpu_pct: cpu,
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec![],
            },
            Case {
                name:
                    "persist lag over the warning for a minute raises, and clears under 80 % of it",
                samples: (0..40)
                    .map(|i| {
                        let lag = match i {
                            0..=9 => 100.0,
                            10..=19 => 3_000.0,
                            20..=29 => 1_900.0,
                            _ => 200.0,
                        };
                        on_node(NodeMetric {
                            persist_lag_p99_ms: Some(lag),
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec!["pipeline.persist_lag", "pipeline.persist_lag.cleared"],
            },
            Case {
                name: "persist lag that crosses the warning in short bursts stays quiet",
                samples: (0..60)
                    .map(|i| {
                        let lag = if i % 4 == 0 {
                            2_500.0
                        } else {
                            1_500.0 + 300.0 * noise(i as u64)
                        };
                        on_node(NodeMetric {
                            persist_lag_p99_ms: Some(lag),
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec![],
            },
            Case {
                name: "a few resets now and then stay quiet",
                samples: (0..60)
                    .map(|i| {
                        let resets = (5.0 + 5.0 * noise(i as u64)).round();
                        on_node(NodeMetric {
                            sse_resets: resets,
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec![],
            },
            Case {
                name: "a backlog growing for 5 minutes raises; a bounded one that wobbles does not",
                samples: (0..60)
                    .map(|i| {
                        let growing = if i < 40 { 1_000 + i as u64 * 100 } else { 100 };
                        let wobbling = 500 + (i as u64 % 3) * 10;
                        Observation {
                            at: i as i64 * 10_000,
                            groups: BTreeMap::from([
                                ("persist".to_owned(), growing),
                                ("calc".to_owned(), wobbling),
                            ]),
                            ..Observation::default()
                        }
                    })
                    .collect(),
                want: vec![
                    "pipeline.backlog_growing",
                    "pipeline.backlog_growing.cleared",
                ],
            },
            Case {
                name: "a burst of SSE resets raises, and clears after quiet samples",
                samples: (0..20)
                    .map(|i| {
                        let resets = match i {
                            5 => 50.0,
                            6 | 7 => 3.0,
                            _ => 0.0,
                        };
                        on_node(NodeMetric {
                            sse_resets: resets,
                            ..node(i as i64 * 10_000)
                        })
                    })
                    .collect(),
                want: vec!["sse.resets", "sse.resets.cleared"],
            },
        ];
        for case in cases {
            let got = run(case.samples);
            assert_eq!(kinds(&got), case.want, "{}: {got:?}", case.name);
        }
    }

    #[test]
    fn steady_memory_growth_warns_with_the_time_to_the_limit_and_noise_does_not() {
        let mb = 1024.0 * 1024.0;
        let mut d = Detector::default();
        let mut raised = Vec::new();
        // 200 MB with ±5 MB of noise for 20 minutes: quiet.
        for i in 0..120 {
            let at = i * 10_000;
            let o = Observation {
                at,
                nodes: vec![NodeMetric {
                    rss_bytes: (200.0 + 5.0 * noise(i as u64)) * mb,
                    ..node(at)
                }],
                ..Observation::default()
            };
            raised.extend(d.observe(&o, &S));
        }
        assert!(raised.is_empty(), "{raised:?}");
        // Then +2 MB a minute.
        for i in 120..240 {
            let at = i * 10_000;
            let rss = 200.0 + (i - 120) as f64 * 2.0 / 6.0 + noise(i as u64);
            let o = Observation {
                at,
                nodes: vec![NodeMetric {
                    rss_bytes: rss * mb,
                    ..node(at)
                }],
                ..Observation::default()
            };
            raised.extend(d.observe(&o, &S));
        }
        let growth: Vec<_> = raised
            .iter()
            .filter(|a| a.kind == "node.memory_growth")
            .collect();
        assert_eq!(growth.len(), 1, "raised once: {raised:?}");
        // Within 10 minutes of the growth starting, and the time to the
        // limit follows from the figures the message gives.
        assert!(growth[0].at <= 180 * 10_000, "{:?}", growth[0]);
        let message = &growth[0].message;
        let number = |after: &str| -> f64 {
            message
                .split(after)
                .nth(1)
                .unwrap()
                .trim_start_matches(['~', ' '])
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (rss, slope, minutes) = (number("RSS"), number("rising"), number("exhausted in"));
        let expected = (1024.0 - rss) / slope;
        assert!(
            (minutes - expected).abs() <= expected * 0.1 + 1.0,
            "{message}"
        );
        assert!(slope >= 1.0, "{message}");
        // Flat again: cleared once.
        let top = 240.0;
        for i in 240..360 {
            let at = i * 10_000;
            let o = Observation {
                at,
                nodes: vec![NodeMetric {
                    rss_bytes: (top + noise(i as u64)) * mb,
                    ..node(at)
                }],
                ..Observation::default()
            };
            raised.extend(d.observe(&o, &S));
        }
        let kinds: Vec<_> = raised.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["node.memory_growth", "node.memory_growth.cleared"]);
    }

    #[test]
    fn an_anomaly_is_active_from_its_raise_until_its_clear() {
        let a = |at: i64, kind: &str, subject: &str| {
            Alert::new(at, kind, subject, Severity::Warning, String::new())
        };
        // Newest first, as the log reads.
        let log = vec![
            a(5, "node.cpu_high", "n1"),
            a(4, "feed.rate_anomaly.cleared", "f1"),
            a(3, "node.down", "n2"),
            a(2, "feed.rate_anomaly", "f1"),
            a(1, "feed.rate_anomaly", "f2"),
            a(0, "node.cpu_high.cleared", "n1"),
        ];
        let active: Vec<_> = active_anomalies(&log)
            .iter()
            .map(|a| (a.kind.as_str(), a.subject.as_str()))
            .collect();
        assert_eq!(
            active,
            [("node.cpu_high", "n1"), ("feed.rate_anomaly", "f2")]
        );
    }

    #[test]
    fn a_line_fits_exactly_and_noise_has_no_fit() {
        let line: VecDeque<_> = (0..10).map(|i| (i * 1000, 5.0 + 2.0 * i as f64)).collect();
        let (slope, r2) = fit(&line);
        assert!((slope - 0.002).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-9);
        let flat: VecDeque<_> = (0..10).map(|i| (i * 1000, 7.0)).collect();
        assert_eq!(fit(&flat), (0.0, 0.0));
    }
}
