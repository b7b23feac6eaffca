//! The metric history: what each node measured per sample (a
//! `node_metric` row), how rows are averaged into coarser ones as they age,
//! and the report over a period (min, mean, max and p95 of each figure per
//! step, per node and in total, uptime, alerts and the busiest minute).

use super::Alert;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What one node measured over one sample interval (a `node_metric` row).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeMetric {
    pub node: String,
    /// ms since the epoch.
    pub at: i64,
    /// Seconds the row covers: the sample interval, or 60 and 3,600 once
    /// downsampled.
    pub step_secs: i64,
    /// CPU of the process, in % of one core.
    pub cpu_pct: f64,
    pub rss_bytes: f64,
    /// Network bytes per second received and sent by the machine.
    pub net_in_bps: f64,
    pub net_out_bps: f64,
    /// Open HTTP connections of the process.
    pub connections: f64,
    pub sse_clients: f64,
    /// Tasks alive in the process's async runtime.
    pub tasks: f64,
    /// How long a ready task waited to run (a sampled probe), ms.
    pub sched_delay_ms: f64,
    /// Ticks per second accepted.
    pub ingest_rate: f64,
    /// p99 of receive → commit of the batches persisted in the interval, ms.
    pub persist_lag_p99_ms: Option<f64>,
    /// Entries not yet delivered, the largest over the consumer groups.
    pub stream_lag: f64,
    pub dead_letters: f64,
    /// SSE reset snapshots sent in the interval (clients fallen behind).
    pub sse_resets: f64,
}

/// The figures of a row, by the names the table, the JSON and the CSV use.
pub const FIGURES: [&str; 14] = [
    "cpu_pct",
    "rss_bytes",
    "net_in_bps",
    "net_out_bps",
    "connections",
    "sse_clients",
    "tasks",
    "sched_delay_ms",
    "ingest_rate",
    "persist_lag_p99_ms",
    "stream_lag",
    "dead_letters",
    "sse_resets",
    "uptime_secs",
];

impl NodeMetric {
    /// The value of figure `name` ([`FIGURES`]); `uptime_secs` is the
    /// seconds the row covers.
    pub fn figure(&self, name: &str) -> Option<f64> {
        Some(match name {
            "cpu_pct" => self.cpu_pct,
            "rss_bytes" => self.rss_bytes,
            "net_in_bps" => self.net_in_bps,
            "net_out_bps" => self.net_out_bps,
            "connections" => self.connections,
            "sse_clients" => self.sse_clients,
            "tasks" => self.tasks,
            "sched_delay_ms" => self.sched_delay_ms,
            "ingest_rate" => self.ingest_rate,
            "persist_lag_p99_ms" => return self.persist_lag_p99_ms,
            "stream_lag" => self.stream_lag,
            "dead_letters" => self.dead_letters,
            "sse_resets" => self.sse_resets,
            "uptime_secs" => self.step_secs as f64,
            _ => return None,
        })
    }

    /// One row of `step_secs` at `at` for the rows of one node: the mean of
    /// each figure, the sum of the counts (dead letters, resets), the worst
    /// persist lag.
    pub fn averaged(rows: &[NodeMetric], at: i64, step_secs: i64) -> NodeMetric {
        let n = rows.len().max(1) as f64;
        let mean = |f: fn(&NodeMetric) -> f64| rows.iter().map(f).sum::<f64>() / n;
        NodeMetric {
            node: rows.first().map(|r| r.node.clone()).unwrap_or_default(),
            at,
            step_secs,
            cpu_pct: mean(|r| r.cpu_pct),
            rss_bytes: mean(|r| r.rss_bytes),
            net_in_bps: mean(|r| r.net_in_bps),
            net_out_bps: mean(|r| r.net_out_bps),
            connections: mean(|r| r.connections),
            sse_clients: mean(|r| r.sse_clients),
            tasks: mean(|r| r.tasks),
            sched_delay_ms: mean(|r| r.sched_delay_ms),
            ingest_rate: mean(|r| r.ingest_rate),
            persist_lag_p99_ms: rows
                .iter()
                .filter_map(|r| r.persist_lag_p99_ms)
                .reduce(f64::max),
            stream_lag: mean(|r| r.stream_lag),
            dead_letters: rows.iter().map(|r| r.dead_letters).sum(),
            sse_resets: rows.iter().map(|r| r.sse_resets).sum(),
        }
    }
}

/// `rows` (any nodes, any order) averaged into rows of `step_secs`, one per
/// node and step, by node then time.
pub fn downsample(rows: &[NodeMetric], step_secs: i64) -> Vec<NodeMetric> {
    let step_ms = step_secs.max(1) * 1_000;
    let mut groups: BTreeMap<(&str, i64), Vec<NodeMetric>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.node.as_str(), r.at.div_euclid(step_ms) * step_ms))
            .or_default()
            .push(r.clone());
    }
    groups
        .into_iter()
        .map(|((_, at), rows)| NodeMetric::averaged(&rows, at, step_secs))
        .collect()
}

/// Min, mean, max and p95 of one figure over some rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stat {
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub p95: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len());
        Some(Stat {
            min: sorted[0],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            max: sorted[sorted.len() - 1],
            p95: sorted[rank - 1],
        })
    }
}

/// The figures of one step (or of the whole period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Figures {
    /// Start of the step, ms (the period's start for the whole period).
    pub at: i64,
    /// Rows the figures come from.
    pub samples: usize,
    /// Figure name ([`FIGURES`], but `uptime_secs`) → its statistics; a
    /// figure with no value in the step is absent.
    pub figures: BTreeMap<String, Stat>,
}

/// The minute with the most ticks accepted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Busiest {
    /// Start of the minute, ms.
    pub at: i64,
    /// Mean ticks per second over it.
    pub ingest_rate: f64,
}

/// One node over the period, or all nodes together (`node` = `total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeReport {
    pub node: String,
    /// Share of the period the node reported figures, in %.
    pub uptime_pct: f64,
    /// Alerts raised about it (about anything, for the total) in the period.
    pub alerts: usize,
    pub busiest_minute: Option<Busiest>,
    /// The whole period.
    pub period: Figures,
    pub steps: Vec<Figures>,
}

/// `GET /api/admin/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub from: i64,
    pub to: i64,
    pub step_secs: i64,
    pub nodes: Vec<NodeReport>,
    pub total: NodeReport,
}

/// The name of the all-nodes row of a report.
pub const TOTAL: &str = "total";

fn figures_of(rows: &[&NodeMetric], at: i64) -> Figures {
    let figures = FIGURES
        .iter()
        .filter(|f| **f != "uptime_secs")
        .filter_map(|f| {
            let values: Vec<f64> = rows.iter().filter_map(|r| r.figure(f)).collect();
            Stat::of(&values).map(|s| ((*f).to_owned(), s))
        })
        .collect();
    Figures {
        at,
        samples: rows.len(),
        figures,
    }
}

fn node_report(
    node: &str,
    rows: &[&NodeMetric],
    alerts: usize,
    from: i64,
    to: i64,
    step_ms: i64,
) -> NodeReport {
    let covered: f64 = rows.iter().map(|r| r.step_secs as f64 * 1_000.0).sum();
    let span = to.saturating_sub(from).max(1) as f64;
    let mut steps: BTreeMap<i64, Vec<&NodeMetric>> = BTreeMap::new();
    let mut minutes: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for r in rows {
        steps
            .entry(from + (r.at - from).div_euclid(step_ms) * step_ms)
            .or_default()
            .push(r);
        minutes
            .entry(r.at.div_euclid(60_000) * 60_000)
            .or_default()
            .push(r.ingest_rate);
    }
    let busiest_minute = minutes
        .into_iter()
        .map(|(at, rates)| Busiest {
            at,
            ingest_rate: rates.iter().sum::<f64>() / rates.len() as f64,
        })
        .max_by(|a, b| a.ingest_rate.total_cmp(&b.ingest_rate));
    NodeReport {
        node: node.to_owned(),
        uptime_pct: (covered / span * 100.0).min(100.0),
        alerts,
        busiest_minute,
        period: figures_of(rows, from),
        steps: steps
            .into_iter()
            .map(|(at, rows)| figures_of(&rows, at))
            .collect(),
    }
}

/// The report of `[from, to)` in steps of `step_secs`. The total adds the
/// nodes' figures up at each sample time (the mean for CPU, the largest for
/// the pipeline's lags and delays); its uptime is that of any node.
pub fn report(rows: &[NodeMetric], alerts: &[Alert], from: i64, to: i64, step_secs: i64) -> Report {
    let step_ms = step_secs.max(1) * 1_000;
    let rows: Vec<&NodeMetric> = rows.iter().filter(|r| r.at >= from && r.at < to).collect();
    let mut by_node: BTreeMap<&str, Vec<&NodeMetric>> = BTreeMap::new();
    let mut by_time: BTreeMap<i64, Vec<&NodeMetric>> = BTreeMap::new();
    for r in &rows {
        by_node.entry(r.node.as_str()).or_default().push(r);
        by_time.entry(r.at).or_default().push(r);
    }
    let nodes = by_node
        .iter()
        .map(|(node, rows)| {
            let raised = alerts.iter().filter(|a| a.subject == *node).count();
            node_report(node, rows, raised, from, to, step_ms)
        })
        .collect();
    let totals: Vec<NodeMetric> = by_time
        .into_iter()
        .map(|(at, rows)| {
            let sum = |f: fn(&NodeMetric) -> f64| rows.iter().map(|r| f(r)).sum::<f64>();
            let max = |f: fn(&NodeMetric) -> f64| rows.iter().map(|r| f(r)).fold(0.0, f64::max);
            NodeMetric {
                node: TOTAL.to_owned(),
                at,
                step_secs: rows.iter().map(|r| r.step_secs).max().unwrap_or(0),
                cpu_pct: sum(|r| r.cpu_pct) / rows.len() as f64,
                rss_bytes: sum(|r| r.rss_bytes),
                net_in_bps: max(|r| r.net_in_bps),
                net_out_bps: max(|r| r.net_out_bps),
                connections: sum(|r| r.connections),
                sse_clients: sum(|r| r.sse_clients),
                tasks: sum(|r| r.tasks),
                sched_delay_ms: max(|r| r.sched_delay_ms),
                ingest_rate: sum(|r| r.ingest_rate),
                persist_lag_p99_ms: rows
                    .iter()
                    .filter_map(|r| r.persist_lag_p99_ms)
                    .reduce(f64::max),
                stream_lag: max(|r| r.stream_lag),
                dead_letters: sum(|r| r.dead_letters),
                sse_resets: sum(|r| r.sse_resets),
            }
        })
        .collect();
    let total_rows: Vec<&NodeMetric> = totals.iter().collect();
    let total = node_report(TOTAL, &total_rows, alerts.len(), from, to, step_ms);
    Report {
        from,
        to,
        step_secs,
        nodes,
        total,
    }
}

/// The report as CSV: one line per node (and the total), step and figure.
pub fn report_csv(report: &Report) -> String {
    let mut out = String::from("node,step_start_ms,figure,min,mean,max,p95,samples\n");
    for node in report.nodes.iter().chain(std::iter::once(&report.total)) {
        for step in &node.steps {
            for (figure, s) in &step.figures {
                out.push_str(&format!(
                    "{},{},{figure},{},{},{},{},{}\n",
                    csv_field(&node.node),
                    step.at,
                    s.min,
                    s.mean,
                    s.max,
                    s.p95,
                    step.samples
                ));
            }
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(node: &str, at: i64, cpu: f64, rate: f64) -> NodeMetric {
        NodeMetric {
            node: node.into(),
            at,
            step_secs: 10,
            cpu_pct: cpu,
            ingest_rate: rate,
            ..NodeMetric::default()
        }
    }

    #[test]
    fn rows_average_into_coarser_steps_per_node() {
        let rows = vec![
            row("a", 0, 10.0, 100.0),
            row("a", 10_000, 30.0, 300.0),
            row("b", 20_000, 50.0, 0.0),
            row("a", 60_000, 70.0, 700.0),
        ];
        let minutes = downsample(&rows, 60);
        let got: Vec<_> = minutes
            .iter()
            .map(|r| (r.node.as_str(), r.at, r.step_secs, r.cpu_pct))
            .collect();
        assert_eq!(
            got,
            [
                ("a", 0, 60, 20.0),
                ("a", 60_000, 60, 70.0),
                ("b", 0, 60, 50.0)
            ]
        );
    }

    #[test]
    fn a_report_gives_each_node_its_figures_uptime_and_busiest_minute() {
        // Node a: 12 samples over two minutes; b: 3 samples in the first.
        let mut rows: Vec<_> = (0..12)
            .map(|i| row("a", i * 10_000, i as f64, if i >= 6 { 50.0 } else { 10.0 }))
            .collect();
        rows.extend((0..3).map(|i| row("b", i * 10_000, 100.0, 1.0)));
        let alerts = vec![Alert::new(
            5_000,
            "node.cpu_high",
            "b",
            super::super::Severity::Warning,
            "x".into(),
        )];
        let r = report(&rows, &alerts, 0, 120_000, 60);
        assert_eq!(r.nodes.len(), 2);
        let a = &r.nodes[0];
        assert_eq!(a.node, "a");
        assert!((a.uptime_pct - 100.0).abs() < 1e-9);
        assert_eq!(a.steps.len(), 2);
        let cpu = a.steps[0].figures["cpu_pct"];
        assert_eq!((cpu.min, cpu.mean, cpu.max, cpu.p95), (0.0, 2.5, 5.0, 5.0));
        assert_eq!(
            a.busiest_minute,
            Some(Busiest {
                at: 60_000,
                ingest_rate: 50.0
            })
        );
        let b = &r.nodes[1];
        assert!((b.uptime_pct - 25.0).abs() < 1e-9, "{}", b.uptime_pct);
        assert_eq!(b.alerts, 1);
        // The total adds the rates of the nodes at each sample time.
        assert_eq!(r.total.period.figures["ingest_rate"].max, 50.0);
        assert_eq!(r.total.steps[0].figures["ingest_rate"].max, 11.0);
        assert_eq!(r.total.alerts, 1);
        let csv = report_csv(&r);
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "node,step_start_ms,figure,min,mean,max,p95,samples"
        );
        assert!(lines.iter().all(|l| l.split(',').count() == 8), "{csv}");
        assert!(lines.contains(&"a,0,cpu_pct,0,2.5,5,5,6"), "{csv}");
    }

    #[test]
    fn a_csv_field_with_a_comma_is_quoted() {
        assert_eq!(csv_field("n1"), "n1");
        assert_eq!(csv_field("a,\"b"), "\"a,\"\"b\"");
    }
}
