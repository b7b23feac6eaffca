//! What recording a metric costs: today's atomics and the server's own
//! histogram next to the `prometheus-client` crate's counter, labelled
//! family and histogram, for the work the ingest and persist paths record
//! (two counter adds per ingest request, a rejection by reason, the persist
//! lag of every tick of a 1,000-tick batch).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use tickpulse_server::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

const SECONDS: [f64; 17] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
    60.0,
];

fn recording(c: &mut Criterion) {
    let mut g = c.benchmark_group("ingest request: two counter adds");
    let (a, b) = (AtomicU64::new(0), AtomicU64::new(0));
    g.bench_function("atomics (today)", |bench| {
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
    let m = Metrics::default();
    g.bench_function("atomics array (today)", |bench| {
        bench.iter(|| m.reject(black_box(tickpulse_server::metrics::Rejection::Invalid)))
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
    g.bench_function("server histogram observe_many (today)", |bench| {
        bench.iter(|| {
            m.persist_lag_seconds
                .observe_many(black_box(&lags).iter().copied())
        })
    });
    let h = Histogram::new(SECONDS);
    g.bench_function("prometheus-client Histogram::observe x1000", |bench| {
        bench.iter(|| {
            for v in black_box(&lags) {
                h.observe(*v);
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::short_criterion();
    targets = recording
}
criterion_main!(benches);
