//! What one heartbeat's process readings (CPU time, resident memory) cost
//! through `sysinfo` (the server's own function), next to reading `/proc/self/stat` and
//! `/proc/self/statm` by hand, the server's former way (Linux only).

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

/// CPU ticks and resident pages from `/proc`, as the server read them.
fn by_hand() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ticks, pages))
}

fn readings(c: &mut Criterion) {
    let mut g = c.benchmark_group("one beat's process readings");
    g.bench_function("/proc by hand (former)", |b| {
        b.iter(|| black_box(by_hand()))
    });
    g.bench_function("server: sysinfo, one process", |b| {
        b.iter(|| black_box(tickpulse_server::monitor::beat::process_readings()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::short_criterion();
    targets = readings
}
criterion_main!(benches);
