//! What recording a metric costs with the `prometheus-client` crate, which
//! the server uses, next to what it replaced (plain atomics and a batched
//! histogram of atomics), for the work the ingest and persist paths record:
//! two counter adds per ingest request, a rejection by reason, the persist
//! lag of every tick of a 1,000-tick batch.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tickpulse_server::platform::prometheus::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// The server's former histogram: one atomic per bucket, a batch counted
/// locally first, then one add per bucket.
struct Batched {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Batched {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe_many(&self, values: impl IntoIterator<Item = f64>) {
        let mut local = vec![0u64; self.counts.len()];
        let mut sum = 0u64;
        for v in values {
            local[self.bounds.partition_point(|b| *b < v)] += 1;
            sum = sum.saturating_add((v * 1e6) as u64);
        }
        for (count, add) in self.counts.iter().zip(local) {
            if add > 0 {
                count.fetch_add(add, Relaxed);
            }
        }
        self.sum_micros.fetch_add(sum, Relaxed);
    }
}

const SECONDS: [f64; 17] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
    60.0,
];

fn recording(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest request: two counter adds");
    let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    g.bench_function("atomics (former)", |bench| {
        bench.iter(|| {
            a.fetch_add(black_box(1), Relaxed);
            b.fetch_add(black_box(0), Relaxed);
        })
    });
    let (pa, pb): (Counter, Counter) = (Counter::default(), Counter::default());
    g.bench_function("prometheus-client Counter::inc_by", |bench| {
        bench.iter(|| {
            pa.inc_by(black_box(1));
            pb.inc_by(black_box(0));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("rejection by reason");
    let former: [AtomicU64; 7] = Default::default();
    g.bench_function("atomics array (former)", |bench| {
        bench.iter(|| former[black_box(1)].fetch_add(1, Relaxed))
    });
    let m = Metrics::default();
    g.bench_function("server: prometheus-client, handles kept", |bench| {
        bench.iter(|| {
            m.reject(black_box(
                tickpulse_server::platform::prometheus::Rejection::Invalid,
            ))
        })
    });
    let family: Family<Reason, Counter> = Family::default();
    g.bench_function("prometheus-client Family::get_or_create", |bench| {
        bench.iter(|| {
            family
                .get_or_create(&Reason {
                    reason: black_box("invalid"),
                })
                .inc();
        })
    });
    let handle = family.get_or_create(&Reason { reason: "invalid" }).clone();
    g.bench_function("prometheus-client Family handle kept", |bench| {
        bench.iter(|| handle.inc())
    });
    g.finish();

    let lags: Vec<f64> = (0..1_000).map(|i| 0.05 + f64::from(i) * 0.0003).collect();
    let mut g = c.benchmark_group("persist lag of a 1,000-tick batch");
    let batched = Batched::new(&SECONDS);
    g.bench_function("batched atomics (former)", |bench| {
        bench.iter(|| batched.observe_many(black_box(&lags).iter().copied()))
    });
    let h = Histogram::new(SECONDS.iter().copied());
    g.bench_function(
        "server: prometheus-client Histogram::observe x1000",
        |bench| {
            bench.iter(|| {
                for v in black_box(&lags) {
                    h.observe(*v);
                }
            })
        },
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::short_criterion();
    targets = recording
}
criterion_main!(benches);
