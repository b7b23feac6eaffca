//! Latencies of the load client's requests, by kind, and their summary.

use serde::Serialize;
use std::time::Duration;

/// What a request did, for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A stock lookup (`GET /api/stocks/{symbol}`, or the cache).
    Lookup,
    /// `POST /api/orders`.
    Order,
    /// Reading an order back (`GET /api/orders/{number}`, by client id).
    Read,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Lookup, Kind::Order, Kind::Read];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Lookup => "lookups",
            Kind::Order => "orders",
            Kind::Read => "reads",
        }
    }
}

/// The latencies and failures of one kind of request.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    micros: Vec<u64>,
    pub errors: u64,
    pub retries: u64,
}

impl Recorder {
    pub fn record(&mut self, elapsed: Duration, retries: u32, failed: bool) {
        self.micros
            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        self.retries += u64::from(retries);
        self.errors += u64::from(failed);
    }

    pub fn merge(&mut self, other: Recorder) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
        self.retries += other.retries;
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let pick = |q: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[i] as f64 / 1_000.0
        };
        let mean = if sorted.is_empty() {
            0.0
        } else {
            sorted.iter().sum::<u64>() as f64 / sorted.len() as f64 / 1_000.0
        };
        Summary {
            count: sorted.len() as u64,
            mean_ms: mean,
            p50_ms: pick(0.50),
            p95_ms: pick(0.95),
            p99_ms: pick(0.99),
            errors: self.errors,
            retries: self.retries,
        }
    }
}

/// Count, latency quantiles (ms), errors and resends of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub retries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_means_come_from_every_sample() {
        let mut r = Recorder::default();
        for ms in 1..=100 {
            r.record(Duration::from_millis(ms), u32::from(ms == 100), ms > 98);
        }
        let s = r.summary();
        assert_eq!((s.count, s.errors, s.retries), (100, 2, 1));
        assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms), (50.0, 95.0, 99.0));
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Recorder::default().summary().count, 0);
    }
}
