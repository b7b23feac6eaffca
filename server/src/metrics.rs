//! Counters and histograms of this process, rendered for `GET /metrics` in
//! the Prometheus text format (version 0.0.4).
//!
//! Everything is a plain atomic: recording costs an add, never a lock, so
//! the hot paths (ingest, persist) can record every request and every tick.
//! Gauges that live in the bus (stream length, pending per group) are read
//! when the page is rendered.

use crate::bus::{Group, StreamStats};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why an ingest request was refused; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized,
    Invalid,
    TooLarge,
    UnsupportedMediaType,
    Unavailable,
    Disabled,
    Other,
}

impl Rejection {
    pub const ALL: [Rejection; 7] = [
        Rejection::Unauthorized,
        Rejection::Invalid,
        Rejection::TooLarge,
        Rejection::UnsupportedMediaType,
        Rejection::Unavailable,
        Rejection::Disabled,
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
            Rejection::Other => "other",
        }
    }
}

/// A cumulative histogram with fixed upper bounds.
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the `+Inf` bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    /// The sum of observations, in millionths of the unit.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn bucket(&self, value: f64) -> usize {
        self.bounds.partition_point(|b| *b < value)
    }

    pub fn observe(&self, value: f64) {
        self.counts[self.bucket(value)].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros(value), Relaxed);
    }

    /// Records many observations with one atomic add per bucket.
    pub fn observe_many(&self, values: impl IntoIterator<Item = f64>) {
        let mut local = vec![0u64; self.counts.len()];
        let mut sum = 0u64;
        for v in values {
            local[self.bucket(v)] += 1;
            sum = sum.saturating_add(micros(v));
        }
        for (count, add) in self.counts.iter().zip(local) {
            if add > 0 {
                count.fetch_add(add, Relaxed);
            }
        }
        self.sum_micros.fetch_add(sum, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), ToString::to_string);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

fn micros(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        (value * 1e6) as u64
    } else {
        0
    }
}

const SECONDS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
    60.0,
];
const BATCH_SIZES: &[f64] = &[1.0, 10.0, 100.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0];

/// The counters of one process.
pub struct Metrics {
    pub ingested: AtomicU64,
    pub duplicates: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    pub persisted: AtomicU64,
    pub persist_batch_size: Histogram,
    pub persist_batch_seconds: Histogram,
    pub persist_lag_seconds: Histogram,
    pub views_written: AtomicU64,
    pub calc_late_ticks: AtomicU64,
    /// Entries moved to the dead-letter stream, by consumer group.
    pub dead_lettered_calc: AtomicU64,
    pub dead_lettered_persist: AtomicU64,
    /// Update messages SSE clients of this process fell behind on (they got
    /// a reset snapshot, the latest tick per symbol, instead).
    pub sse_skipped: AtomicU64,
    /// Reset snapshots sent (a client fell behind, or the bus subscription
    /// was lost and restored).
    pub sse_resets: AtomicU64,
    /// Receive-to-commit time of the oldest tick of the last persisted
    /// batch, in microseconds (0 before the first batch).
    pub persist_lag_last_micros: AtomicU64,
    /// Per feed source: the ticks this process accepted.
    pub feeds: FeedStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ingested: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            rejected: Default::default(),
            persisted: AtomicU64::new(0),
            persist_batch_size: Histogram::new(BATCH_SIZES),
            persist_batch_seconds: Histogram::new(SECONDS),
            persist_lag_seconds: Histogram::new(SECONDS),
            views_written: AtomicU64::new(0),
            calc_late_ticks: AtomicU64::new(0),
            dead_lettered_calc: AtomicU64::new(0),
            dead_lettered_persist: AtomicU64::new(0),
            sse_skipped: AtomicU64::new(0),
            sse_resets: AtomicU64::new(0),
            persist_lag_last_micros: AtomicU64::new(0),
            feeds: FeedStats::default(),
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
        self.rejected[why as usize].fetch_add(1, Relaxed);
    }

    pub fn rejected(&self, why: Rejection) -> u64 {
        self.rejected[why as usize].load(Relaxed)
    }

    /// Counts entries moved to the dead-letter stream by `group`.
    pub fn dead_lettered(&self, group: Group, n: usize) {
        let counter = match group {
            Group::Calc => &self.dead_lettered_calc,
            Group::Persist => &self.dead_lettered_persist,
        };
        counter.fetch_add(n as u64, Relaxed);
    }

    /// The whole page in the Prometheus text format.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4_096);
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        };
        counter(
            &mut out,
            "tickpulse_ticks_ingested_total",
            "Ticks accepted by ingest (new, not duplicates).",
            &self.ingested,
        );
        counter(
            &mut out,
            "tickpulse_ticks_duplicate_total",
            "Ticks refused as duplicates of an event_id already seen.",
            &self.duplicates,
        );
        let _ = writeln!(
            out,
            "# HELP tickpulse_ingest_rejected_total Ingest requests answered with an error, by reason.\n\
             # TYPE tickpulse_ingest_rejected_total counter"
        );
        for why in Rejection::ALL {
            let _ = writeln!(
                out,
                "tickpulse_ingest_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                self.rejected(why)
            );
        }
        counter(
            &mut out,
            "tickpulse_ticks_persisted_total",
            "Ticks written to the database by this process's persist consumer.",
            &self.persisted,
        );
        self.persist_batch_size.render(
            &mut out,
            "tickpulse_persist_batch_size",
            "Ticks per persist transaction.",
        );
        self.persist_batch_seconds.render(
            &mut out,
            "tickpulse_persist_batch_seconds",
            "Time to commit one persist transaction.",
        );
        self.persist_lag_seconds.render(
            &mut out,
            "tickpulse_persist_lag_seconds",
            "Per tick, seconds from its receipt by ingest to its commit in the database.",
        );
        counter(
            &mut out,
            "tickpulse_views_written_total",
            "Views written by this process's calc consumer.",
            &self.views_written,
        );
        counter(
            &mut out,
            "tickpulse_calc_late_ticks_total",
            "Ticks older than their symbol's window, left out of the window statistics.",
            &self.calc_late_ticks,
        );
        let _ = writeln!(
            out,
            "# HELP tickpulse_dead_lettered_total Stream entries moved to the dead-letter stream, by consumer group.\n\
             # TYPE tickpulse_dead_lettered_total counter\n\
             tickpulse_dead_lettered_total{{group=\"calc\"}} {}\n\
             tickpulse_dead_lettered_total{{group=\"persist\"}} {}",
            self.dead_lettered_calc.load(Relaxed),
            self.dead_lettered_persist.load(Relaxed)
        );
        counter(
            &mut out,
            "tickpulse_sse_skipped_total",
            "Update messages SSE clients fell behind on; they got the latest tick per symbol in a reset snapshot instead.",
            &self.sse_skipped,
        );
        counter(
            &mut out,
            "tickpulse_sse_resets_total",
            "Reset snapshots sent to SSE clients.",
            &self.sse_resets,
        );
        let _ = writeln!(
            out,
            "# HELP tickpulse_sse_clients SSE clients connected to this process.\n\
             # TYPE tickpulse_sse_clients gauge\ntickpulse_sse_clients {}",
            gauges.sse_clients
        );
        let up = u8::from(gauges.stream.is_ok());
        let _ = writeln!(
            out,
            "# HELP tickpulse_bus_up Whether the bus answered while this page was rendered.\n\
             # TYPE tickpulse_bus_up gauge\ntickpulse_bus_up {up}"
        );
        if let Ok(stats) = &gauges.stream {
            let _ = writeln!(
                out,
                "# HELP tickpulse_stream_length Entries in the tick stream.\n\
                 # TYPE tickpulse_stream_length gauge\ntickpulse_stream_length {}\n\
                 # HELP tickpulse_dead_letter_length Entries in the dead-letter stream.\n\
                 # TYPE tickpulse_dead_letter_length gauge\ntickpulse_dead_letter_length {}",
                stats.length, stats.dead_letters
            );
            let _ = writeln!(
                out,
                "# HELP tickpulse_stream_pending Entries delivered to a consumer group and not acknowledged yet.\n\
                 # TYPE tickpulse_stream_pending gauge"
            );
            for g in &stats.groups {
                let _ = writeln!(
                    out,
                    "tickpulse_stream_pending{{group=\"{}\"}} {}",
                    g.name, g.pending
                );
            }
            let _ = writeln!(
                out,
                "# HELP tickpulse_stream_lag Entries not yet delivered to a consumer group.\n\
                 # TYPE tickpulse_stream_lag gauge"
            );
            for g in &stats.groups {
                if let Some(lag) = g.lag {
                    let _ = writeln!(out, "tickpulse_stream_lag{{group=\"{}\"}} {lag}", g.name);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.0);
        h.observe_many([1.5, 3.0, 7.0]);
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_sum 13\n"), "{out}");
        assert!(out.contains("x_count 5\n"), "{out}");
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
