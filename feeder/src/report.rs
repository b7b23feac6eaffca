//! [`Report`]: what a feeder run did, and the latency of its acknowledgements.

use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub requests: u64,
    /// Ticks sent.
    pub sent: u64,
    /// Ticks the server accepted as new.
    pub accepted: u64,
    /// Ticks the server recognised as already seen.
    pub duplicates: u64,
    /// Requests that failed (HTTP error or connection error).
    pub errors: u64,
    pub elapsed_secs: f64,
    pub ack_p50_ms: f64,
    pub ack_p95_ms: f64,
    pub ack_p99_ms: f64,
    pub ack_max_ms: f64,
    /// The first error message seen per kind, to explain failures.
    pub first_errors: Vec<String>,
}

impl Report {
    /// Fills the latency fields from per-request acknowledgement latencies.
    pub fn set_latencies(&mut self, mut micros: Vec<u32>) {
        micros.sort_unstable();
        let pick = |q: f64| -> f64 {
            if micros.is_empty() {
                return 0.0;
            }
            let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
            f64::from(micros[i]) / 1_000.0
        };
        self.ack_p50_ms = pick(0.50);
        self.ack_p95_ms = pick(0.95);
        self.ack_p99_ms = pick(0.99);
        self.ack_max_ms = pick(1.0);
    }

    pub fn ticks_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.accepted.max(self.sent.saturating_sub(self.errors)) as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    pub fn requests_per_sec(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.requests as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }

    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.elapsed_secs)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "requests     {:>12}   ({:.0}/s)",
            self.requests,
            self.requests_per_sec()
        )?;
        writeln!(f, "sent         {:>12}   ticks", self.sent)?;
        writeln!(f, "accepted     {:>12}", self.accepted)?;
        writeln!(f, "duplicates   {:>12}", self.duplicates)?;
        writeln!(f, "errors       {:>12}   requests", self.errors)?;
        writeln!(f, "elapsed      {:>12.2}   s", self.elapsed_secs)?;
        writeln!(
            f,
            "ack latency  p50 {:.2} ms   p95 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            self.ack_p50_ms, self.ack_p95_ms, self.ack_p99_ms, self.ack_max_ms
        )?;
        for e in &self.first_errors {
            writeln!(f, "error        {e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_ranks() {
        let mut r = Report::default();
        r.set_latencies((1..=100).map(|ms| ms * 1_000).collect());
        assert_eq!(r.ack_p50_ms, 50.0);
        assert_eq!(r.ack_p99_ms, 99.0);
        assert_eq!(r.ack_max_ms, 100.0);
        let mut empty = Report::default();
        empty.set_latencies(Vec::new());
        assert_eq!(empty.ack_p99_ms, 0.0);
    }
}
