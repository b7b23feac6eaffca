//! Criterion measurements of the client's `PriceCache` operations, next to
//! their baselines: `get` of a resident symbol against `HashMap::get`, and
//! `put` replacing a view against cloning the view alone. `bench-cache`
//! puts the estimates into its report (`bench/run.sh cache` runs both).

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::HashMap;
use std::hint::black_box;
use tickpulse_bench::sample_view;
use tickpulse_client::{CacheConfig, PriceCache};
use tickpulse_core::{Symbol, View};

/// Symbols resident in the cache, as in the hit-ratio workload.
const RESIDENT: usize = 500;

fn operations(c: &mut Criterion) {
    let views: Vec<View> = (0..RESIDENT)
        .map(|i| sample_view(&format!("SYM{i:05}"), i as u64))
        .collect();
    let symbols: Vec<Symbol> = views.iter().map(|v| v.symbol.clone()).collect();
    let mut cache = PriceCache::new(CacheConfig {
        capacity: RESIDENT,
        ttl_ms: u64::MAX / 2,
        half_life_ms: 60_000,
        admission: false,
    });
    for v in &views {
        cache.put(v.clone(), 0);
    }
    let map: HashMap<Symbol, View> = views
        .iter()
        .map(|v| (v.symbol.clone(), v.clone()))
        .collect();

    let mut group = c.benchmark_group("cache");
    let mut i = 0usize;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % RESIDENT;
            black_box(cache.get(black_box(&symbols[i]), 1).is_some())
        })
    });
    group.bench_function("hashmap_get", |b| {
        b.iter(|| {
            i = (i + 1) % RESIDENT;
            black_box(map.get(black_box(&symbols[i])).is_some())
        })
    });
    group.bench_function("put_replace", |b| {
        b.iter(|| {
            i = (i + 1) % RESIDENT;
            black_box(cache.put(views[i].clone(), 2))
        })
    });
    group.bench_function("view_clone", |b| {
        b.iter(|| {
            i = (i + 1) % RESIDENT;
            black_box(views[i].clone())
        })
    });
    group.finish();
}

criterion_group!(benches, operations);
criterion_main!(benches);
