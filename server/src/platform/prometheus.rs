//! Counters and histograms of this process, kept with the `prometheus-client`
//! crate and rendered for `GET /metrics` in its text format (OpenMetrics,
//! which Prometheus reads as its text format 0.0.4).
//!
//! Recording costs what an atomic add costs: counters are atomics, and the
//! labelled ones are looked up once, when the metrics are built, not per
//! request (`bench/benches/metrics_ops.rs` measures both, beside plain
//! atomics). Gauges that live in the bus (stream length, pending per group)
//! are read when the page is rendered.

use crate::bus::{Group, StreamStats};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Why an ingest request was refused; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized,
    Invalid,
    TooLarge,
    UnsupportedMediaType,
    Unavailable,
    Disabled,
    RateLimited,
    Other,
}

impl Rejection {
    pub const ALL: [Rejection; 8] = [
        Rejection::Unauthorized,
        Rejection::Invalid,
        Rejection::TooLarge,
        Rejection::UnsupportedMediaType,
        Rejection::Unavailable,
        Rejection::Disabled,
        Rejection::RateLimited,
        Rejection::Other,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::Invalid => "invalid",
            Rejection::TooLarge => "too_large",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::Unavailable => "unavailable",
            Rejection::Disabled => "disabled",
            Rejection::RateLimited => "rate_limited",
            Rejection::Other => "other",
        }
    }
}

const SECONDS: [f64; 17] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
    60.0,
];
const BATCH_SIZES: [f64; 8] = [1.0, 10.0, 100.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabel {
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrderLabel {
    r#type: &'static str,
    side: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

/// The counters of one process.
pub struct Metrics {
    registry: Registry,
    pub ingested: Counter,
    pub duplicates: Counter,
    /// One handle per [`Rejection`], in its order.
    rejected: Vec<Counter>,
    pub persisted: Counter,
    pub persist_batch_size: Histogram,
    pub persist_batch_seconds: Histogram,
    pub persist_lag_seconds: Histogram,
    pub views_written: Counter,
    pub calc_late_ticks: Counter,
    /// Entries moved to the dead-letter stream: calc's, persist's, trade's.
    dead_lettered: [Counter; 3],
    /// Update messages SSE clients of this process fell behind on (they got
    /// a reset snapshot, the latest tick per symbol, instead).
    pub sse_skipped: Counter,
    /// Reset snapshots sent (a client fell behind, or the bus subscription
    /// was lost and restored).
    pub sse_resets: Counter,
    /// SSE clients disconnected because their socket accepted nothing for
    /// `SSE_STALL_SECS`.
    pub sse_dropped: Counter,
    /// Bytes of SSE frames held for clients: in the fan-out ring and in
    /// connections' send queues.
    pub sse_buffered: Gauge,
    /// Requests refused with 429, by route group.
    rate_limited: Family<RouteLabel, Counter>,
    sse_clients: Gauge,
    bus_up: Gauge,
    /// Orders placed, by type, side and the status they were answered
    /// with (`refused_<code>` for a refusal).
    orders: Family<OrderLabel, Counter>,
    /// Accept-to-answer time of `POST /api/orders`.
    pub order_seconds: Histogram,
    /// Fills made (at once, or by the trade role).
    pub fills: Counter,
    /// Receive-to-commit time of the oldest tick of the last persisted
    /// batch, in microseconds (0 before the first batch); for heartbeats.
    pub persist_lag_last_micros: AtomicU64,
    /// Per feed source: the ticks this process accepted.
    pub feeds: FeedStats,
    /// Open HTTP connections.
    pub connections: Gauge,
    /// Receive → commit of each persisted batch's oldest tick (ms), with
    /// when it was committed, over the last sample interval.
    pub persist_lags: PersistLags,
    /// What the last heartbeat read of this process (the figures the
    /// metric history keeps, for Prometheus too).
    pub load: LoadGauges,
}

/// The load figures of this process as gauges, set at every beat.
pub struct LoadGauges {
    pub cpu_percent: Gauge<f64, AtomicU64>,
    pub rss_bytes: Gauge,
    pub net_in_bps: Gauge<f64, AtomicU64>,
    pub net_out_bps: Gauge<f64, AtomicU64>,
    pub tasks: Gauge,
    pub sched_delay_seconds: Gauge<f64, AtomicU64>,
    pub persist_lag_p99_seconds: Gauge<f64, AtomicU64>,
}

impl LoadGauges {
    fn register(registry: &mut Registry) -> Self {
        let mut float = |name: &str, help: &str| {
            let g = Gauge::<f64, AtomicU64>::default();
            registry.register(name, help, g.clone());
            g
        };
        let cpu_percent = float(
            "tickpulse_node_cpu_percent",
            "CPU used by this process since the previous beat, in % of one core",
        );
        let net_in_bps = float(
            "tickpulse_node_network_receive_bytes_per_second",
            "Network bytes received per second by the machine, since the previous beat",
        );
        let net_out_bps = float(
            "tickpulse_node_network_transmit_bytes_per_second",
            "Network bytes sent per second by the machine, since the previous beat",
        );
        let sched_delay_seconds = float(
            "tickpulse_runtime_schedule_delay_seconds",
            "How long a task just spawned waited to run (one probe per beat)",
        );
        let persist_lag_p99_seconds = float(
            "tickpulse_persist_lag_p99_seconds",
            "p99 of receive to commit over the batches persisted in the last sample interval",
        );
        let rss_bytes = Gauge::default();
        registry.register(
            "tickpulse_node_rss_bytes",
            "Resident memory of this process",
            rss_bytes.clone(),
        );
        let tasks = Gauge::default();
        registry.register(
            "tickpulse_runtime_tasks",
            "Tasks alive in this process's async runtime",
            tasks.clone(),
        );
        Self {
            cpu_percent,
            rss_bytes,
            net_in_bps,
            net_out_bps,
            tasks,
            sched_delay_seconds,
            persist_lag_p99_seconds,
        }
    }
}

/// Persist lags of recent batches, pruned to a window when read.
#[derive(Default)]
pub struct PersistLags(std::sync::Mutex<std::collections::VecDeque<(std::time::Instant, f64)>>);

/// Batches kept at most between two reads.
const MAX_LAGS: usize = 10_000;

impl PersistLags {
    pub fn record(&self, lag_ms: f64) {
        let mut lags = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if lags.len() == MAX_LAGS {
            lags.pop_front();
        }
        lags.push_back((std::time::Instant::now(), lag_ms));
    }

    /// The p99 over the batches of the last `window`, if any.
    pub fn p99(&self, window: std::time::Duration) -> Option<f64> {
        let mut lags = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while lags.front().is_some_and(|(at, _)| at.elapsed() > window) {
            lags.pop_front();
        }
        let mut values: Vec<f64> = lags.iter().map(|(_, lag)| *lag).collect();
        drop(lags);
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = ((values.len() as f64 * 0.99).ceil() as usize).clamp(1, values.len());
        Some(values[rank - 1])
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let ingested = counter(
            "tickpulse_ticks_ingested",
            "Ticks accepted by ingest (new, not duplicates)",
        );
        let duplicates = counter(
            "tickpulse_ticks_duplicate",
            "Ticks refused as duplicates of an event_id already seen",
        );
        let persisted = counter(
            "tickpulse_ticks_persisted",
            "Ticks written to the database by this process's persist consumer",
        );
        let views_written = counter(
            "tickpulse_views_written",
            "Views written by this process's calc consumer",
        );
        let calc_late_ticks = counter(
            "tickpulse_calc_late_ticks",
            "Ticks older than their symbol's window, left out of the window statistics",
        );
        let sse_skipped = counter(
            "tickpulse_sse_skipped",
            "Update messages SSE clients fell behind on; they got the latest tick per symbol in a reset snapshot instead",
        );
        let sse_resets = counter(
            "tickpulse_sse_resets",
            "Reset snapshots sent to SSE clients",
        );
        let sse_dropped = counter(
            "tickpulse_sse_dropped",
            "SSE clients disconnected because their socket accepted nothing for SSE_STALL_SECS",
        );
        let fills = counter(
            "tickpulse_fills",
            "Order fills made by this process (market orders at once, limit orders by the trade role)",
        );
        let rate_limited = Family::<RouteLabel, Counter>::default();
        registry.register(
            "tickpulse_rate_limited",
            "Requests refused with 429 because their client address or credential was over its rate limit, by route group",
            rate_limited.clone(),
        );
        for route in ["ingest", "api", "auth"] {
            let _ = rate_limited.get_or_create(&RouteLabel { route });
        }
        let rejected_family = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "tickpulse_ingest_rejected",
            "Ingest requests answered with an error, by reason",
            rejected_family.clone(),
        );
        let rejected = Rejection::ALL
            .iter()
            .map(|r| {
                rejected_family
                    .get_or_create(&ReasonLabel { reason: r.label() })
                    .clone()
            })
            .collect();
        let dead_family = Family::<GroupLabel, Counter>::default();
        registry.register(
            "tickpulse_dead_lettered",
            "Stream entries moved to the dead-letter stream, by consumer group",
            dead_family.clone(),
        );
        let dead = |g: Group| {
            dead_family
                .get_or_create(&GroupLabel {
                    group: g.name().to_owned(),
                })
                .clone()
        };
        let dead_lettered = [dead(Group::Calc), dead(Group::Persist), dead(Group::Trade)];
        let orders = Family::<OrderLabel, Counter>::default();
        registry.register(
            "tickpulse_orders",
            "Orders answered by this process, by type, side and status (refused_<code> for a refusal)",
            orders.clone(),
        );
        let mut histogram = |name: &str, help: &str, bounds: &[f64]| {
            let h = Histogram::new(bounds.iter().copied());
            registry.register(name, help, h.clone());
            h
        };
        let persist_batch_size = histogram(
            "tickpulse_persist_batch_size",
            "Ticks per persist transaction",
            &BATCH_SIZES,
        );
        let persist_batch_seconds = histogram(
            "tickpulse_persist_batch_seconds",
            "Time to commit one persist transaction",
            &SECONDS,
        );
        let persist_lag_seconds = histogram(
            "tickpulse_persist_lag_seconds",
            "Per tick, seconds from its receipt by ingest to its commit in the database",
            &SECONDS,
        );
        let order_seconds = histogram(
            "tickpulse_order_seconds",
            "Seconds from accepting an order request to answering it",
            &SECONDS,
        );
        let sse_clients = Gauge::default();
        registry.register(
            "tickpulse_sse_clients",
            "SSE clients connected to this process",
            sse_clients.clone(),
        );
        let sse_buffered = Gauge::default();
        registry.register(
            "tickpulse_sse_buffered_bytes",
            "Bytes of SSE frames held for clients, in the fan-out ring and in connections' send queues",
            sse_buffered.clone(),
        );
        let connections = Gauge::default();
        registry.register(
            "tickpulse_connections_open",
            "HTTP connections open on this process",
            connections.clone(),
        );
        let load = LoadGauges::register(&mut registry);
        let bus_up = Gauge::default();
        registry.register(
            "tickpulse_bus_up",
            "Whether the bus answered while this page was rendered",
            bus_up.clone(),
        );
        Self {
            registry,
            ingested,
            duplicates,
            rejected,
            persisted,
            persist_batch_size,
            persist_batch_seconds,
            persist_lag_seconds,
            views_written,
            calc_late_ticks,
            dead_lettered,
            sse_skipped,
            sse_resets,
            sse_dropped,
            sse_buffered,
            rate_limited,
            sse_clients,
            bus_up,
            orders,
            order_seconds,
            fills,
            persist_lag_last_micros: AtomicU64::new(0),
            feeds: FeedStats::default(),
            connections,
            persist_lags: PersistLags::default(),
            load,
        }
    }
}

/// Last tick time and tick count per feed source, for heartbeats.
#[derive(Default)]
pub struct FeedStats(std::sync::Mutex<std::collections::HashMap<String, (i64, u64)>>);

impl FeedStats {
    /// Counts accepted ticks at `now_ms`, one lock per call (a request
    /// usually carries one source).
    pub fn record<'a>(&self, sources: impl IntoIterator<Item = &'a str>, now_ms: i64) {
        let mut counts: Vec<(&str, u64)> = Vec::with_capacity(1);
        for source in sources {
            match counts.iter_mut().find(|(s, _)| *s == source) {
                Some((_, n)) => *n += 1,
                None => counts.push((source, 1)),
            }
        }
        let mut all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (source, n) in counts {
            match all.get_mut(source) {
                Some(entry) => {
                    entry.0 = entry.0.max(now_ms);
                    entry.1 += n;
                }
                None => {
                    all.insert(source.to_owned(), (now_ms, n));
                }
            }
        }
    }

    /// `(source, last tick ms, ticks)`, ordered by source.
    pub fn snapshot(&self) -> Vec<(String, i64, u64)> {
        let all = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<_> = all.iter().map(|(s, (t, n))| (s.clone(), *t, *n)).collect();
        out.sort();
        out
    }
}

/// What the page shows besides the counters, read when it is rendered.
pub struct Gauges {
    /// The bus's stream figures, or why they could not be read.
    pub stream: Result<StreamStats, String>,
    pub sse_clients: usize,
}

impl Metrics {
    pub fn reject(&self, why: Rejection) {
        self.rejected[why as usize].inc();
    }

    /// Counts a request refused with 429 on `route` (its group's label).
    pub fn rate_limited(&self, route: &'static str) {
        self.rate_limited.get_or_create(&RouteLabel { route }).inc();
    }

    pub fn rejected(&self, why: Rejection) -> u64 {
        self.rejected[why as usize].get()
    }

    /// Counts an order answered with `status` (`refused_<code>` for a
    /// refusal).
    pub fn order(&self, r#type: &'static str, side: &'static str, status: &'static str) {
        self.orders
            .get_or_create(&OrderLabel {
                r#type,
                side,
                status,
            })
            .inc();
    }

    /// Entries this process moved to the dead-letter stream, all groups.
    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.iter().map(Counter::get).sum()
    }

    /// Counts entries moved to the dead-letter stream by `group`.
    pub fn dead_lettered(&self, group: Group, n: usize) {
        let counter = match group {
            Group::Calc => &self.dead_lettered[0],
            Group::Persist => &self.dead_lettered[1],
            Group::Trade => &self.dead_lettered[2],
        };
        counter.inc_by(n as u64);
    }

    /// The whole page. The bus's gauges are only there while the bus
    /// answers (`tickpulse_bus_up` says whether it did).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(8_192);
        self.sse_clients
            .set(i64::try_from(gauges.sse_clients).unwrap_or(i64::MAX));
        self.bus_up.set(i64::from(gauges.stream.is_ok()));
        let _ = encode_registry(&mut out, &self.registry);
        if let Ok(stats) = &gauges.stream {
            let _ = encode_registry(&mut out, &stream_registry(stats));
        }
        let _ = encode_eof(&mut out);
        out
    }
}

/// The stream's gauges as read now, in a registry of their own.
fn stream_registry(stats: &StreamStats) -> Registry {
    let mut registry = Registry::default();
    let gauge = |v: u64| {
        let g: Gauge = Gauge::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    registry.register(
        "tickpulse_stream_length",
        "Entries in the tick stream",
        gauge(stats.length),
    );
    registry.register(
        "tickpulse_dead_letter_length",
        "Entries in the dead-letter stream",
        gauge(stats.dead_letters),
    );
    let pending = Family::<GroupLabel, Gauge>::default();
    let lag = Family::<GroupLabel, Gauge>::default();
    for g in &stats.groups {
        let label = GroupLabel {
            group: g.name.clone(),
        };
        pending
            .get_or_create(&label)
            .set(i64::try_from(g.pending).unwrap_or(i64::MAX));
        if let Some(l) = g.lag {
            lag.get_or_create(&label)
                .set(i64::try_from(l).unwrap_or(i64::MAX));
        }
    }
    let d = &stats.dedupe;
    registry.register(
        "tickpulse_dedupe_ids",
        "Event ids remembered for de-duplication",
        gauge(d.ids),
    );
    registry.register(
        "tickpulse_dedupe_bytes",
        "Bytes the remembered event ids count (DEDUPE_MAX_BYTES bounds them)",
        gauge(d.bytes),
    );
    if let Some(budget) = d.budget {
        registry.register(
            "tickpulse_dedupe_budget_bytes",
            "DEDUPE_MAX_BYTES",
            gauge(budget),
        );
    }
    registry.register(
        "tickpulse_dedupe_window_seconds",
        "How long every event id is remembered at least: DEDUPE_TTL_SECS, or less when the budget shortened it",
        gauge(d.window.as_secs()),
    );
    registry.register(
        "tickpulse_dedupe_window_shortened",
        "1 while the budget keeps ids for less than DEDUPE_TTL_SECS",
        gauge(u64::from(d.shortened())),
    );
    registry.register(
        "tickpulse_stream_pending",
        "Entries delivered to a consumer group and not acknowledged yet",
        pending,
    );
    registry.register(
        "tickpulse_stream_lag",
        "Entries not yet delivered to a consumer group",
        lag,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let m = Metrics::default();
        let h = &m.persist_batch_size;
        for v in [0.5, 1.0, 1.5, 3.0, 7.0] {
            h.observe(v);
        }
        let out = m.render(&Gauges {
            stream: Err("down".into()),
            sse_clients: 0,
        });
        let name = "tickpulse_persist_batch_size";
        assert!(
            out.contains(&format!("{name}_bucket{{le=\"1.0\"}} 2\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("{name}_bucket{{le=\"10.0\"}} 5\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("{name}_bucket{{le=\"+Inf\"}} 5\n")),
            "{out}"
        );
        assert!(out.contains(&format!("{name}_sum 13.0\n")), "{out}");
        assert!(out.contains(&format!("{name}_count 5\n")), "{out}");
    }

    #[test]
    fn rejections_are_counted_by_reason() {
        let m = Metrics::default();
        m.reject(Rejection::Invalid);
        m.reject(Rejection::Invalid);
        m.reject(Rejection::Unauthorized);
        let page = m.render(&Gauges {
            stream: Err("down".into()),
            sse_clients: 3,
        });
        assert!(page.contains("tickpulse_ingest_rejected_total{reason=\"invalid\"} 2\n"));
        assert!(page.contains("tickpulse_ingest_rejected_total{reason=\"unauthorized\"} 1\n"));
        assert!(page.contains("tickpulse_ingest_rejected_total{reason=\"too_large\"} 0\n"));
        assert!(page.contains("tickpulse_sse_clients 3\n"));
        assert!(page.contains("tickpulse_bus_up 0\n"));
        assert!(!page.contains("tickpulse_stream_length"));
    }
}
