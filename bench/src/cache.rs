//! `bench-cache`: the client's `PriceCache` (DESIGN §9, P6).
//!
//! - Cost per operation: `get` of a resident symbol and `put` replacing a
//!   view, next to the same-run baselines of a plain `HashMap<Symbol, View>`
//!   lookup (what any cache must at least do) and of cloning the view;
//!   measured by criterion (`benches/cache_ops.rs`, run first by
//!   `bench/run.sh cache`), whose estimates this program reads.
//! - Hit ratio on Zipf-distributed reads over 5,000 symbols with room for
//!   500 (10 %), for several skews, next to the best any cache of that size
//!   can do on such reads: the share of reads that go to the 500 most
//!   popular symbols.

use anyhow::Context;
use clap::Parser;
use std::fmt::Write as _;
use tickpulse_bench::{machine, publish, sample_view};
use tickpulse_client::{CacheConfig, PriceCache};
use tickpulse_core::{Symbol, Timestamp, View};

#[derive(Parser)]
struct Args {
    /// Distinct symbols.
    #[arg(long, default_value_t = 5_000)]
    symbols: usize,
    /// Cache capacity.
    #[arg(long, default_value_t = 500)]
    capacity: usize,
    /// Reads per hit-ratio run.
    #[arg(long, default_value_t = 2_000_000)]
    reads: usize,
    #[arg(long, default_value = "bench/reports/cache.md")]
    out: String,
    /// Where criterion left its estimates of `benches/cache_ops.rs`.
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: String,
}

/// Criterion's mean estimate of `cache/{name}`, in ns per iteration.
fn criterion_ns(dir: &str, name: &str) -> anyhow::Result<(f64, f64, f64)> {
    let path = format!("{dir}/cache/{name}/new/estimates.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no criterion estimates at {path}: run `bench/run.sh cache`, which runs `cargo bench -p tickpulse-bench --bench cache_ops` first")
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("read {path}"))?;
    let mean = &json["mean"];
    let number = |v: &serde_json::Value| {
        v.as_f64()
            .with_context(|| format!("{path}: no mean estimate"))
    };
    Ok((
        number(&mean["point_estimate"])?,
        number(&mean["confidence_interval"]["lower_bound"])?,
        number(&mean["confidence_interval"]["upper_bound"])?,
    ))
}

/// `mean [low, high]` of a criterion estimate.
fn show((mean, low, high): (f64, f64, f64)) -> String {
    format!("{mean:.1} [{low:.1}, {high:.1}]")
}

/// xorshift64*: fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Cumulative probabilities of Zipf(`s`) over `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|r| (r as f64).powf(-s)).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

/// The hit ratio of `reads` Zipf reads (a miss fetches and stores).
fn hit_ratio(
    cdf: &[f64],
    symbols: &[Symbol],
    views: &[View],
    config: CacheConfig,
    reads: usize,
) -> f64 {
    let mut cache = PriceCache::new(config);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for n in 0..reads {
        let u = rng.next_f64();
        let rank = cdf.partition_point(|c| *c < u).min(symbols.len() - 1);
        // Time advances 1 ms per 1,000 reads.
        let now = (n / 1_000) as u64;
        if cache.get(&symbols[rank], now).is_none() {
            cache.put(views[rank].clone(), now);
        }
    }
    let st = cache.stats();
    st.hits as f64 / (st.hits + st.misses) as f64
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let symbols: Vec<Symbol> = (0..args.symbols)
        .map(|i| Symbol::new(&format!("SYM{i:05}")))
        .collect();
    let views: Vec<View> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| sample_view(s.as_str(), i as u64))
        .collect();
    let config = CacheConfig {
        capacity: args.capacity,
        ttl_ms: u64::MAX / 2,
        half_life_ms: 60_000,
        admission: false,
    };
    eprintln!(
        "bench-cache: costs per operation, then hit ratios over {} reads per skew",
        args.reads
    );

    let get_ns = show(criterion_ns(&args.criterion_dir, "get_hit")?);
    let map_ns = show(criterion_ns(&args.criterion_dir, "hashmap_get")?);
    let put_ns = show(criterion_ns(&args.criterion_dir, "put_replace")?);
    let clone_ns = show(criterion_ns(&args.criterion_dir, "view_clone")?);

    // Hit ratios.
    let mut rows = Vec::new();
    for s in [0.8, 1.0, 1.2, 1.4] {
        let cdf = zipf_cdf(args.symbols, s);
        let best = cdf[args.capacity - 1];
        let lru = hit_ratio(&cdf, &symbols, &views, config, args.reads);
        let admitted = hit_ratio(
            &cdf,
            &symbols,
            &views,
            CacheConfig {
                admission: true,
                ..config
            },
            args.reads,
        );
        rows.push((s, lru, admitted, best));
    }

    let mut out = String::new();
    let _ = writeln!(out, "# Client cache benchmark (P6)\n");
    let _ = writeln!(out, "- date: {}", Timestamp::now());
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- workload: {} symbols, capacity {} (LRU), release build, one thread\n",
        args.symbols, args.capacity
    );
    let _ = writeln!(
        out,
        "Costs by criterion (`benches/cache_ops.rs`, 500 resident symbols): mean ns per operation [95 % confidence interval].\n"
    );
    let _ = writeln!(out, "| operation | ns/op | same-run baseline | ns/op |");
    let _ = writeln!(out, "| --- | ---: | --- | ---: |");
    let _ = writeln!(
        out,
        "| `get`, resident symbol (hit, LRU update, read count) | {get_ns} | `HashMap::get` | {map_ns} |"
    );
    let _ = writeln!(
        out,
        "| `put`, replacing a view (the view moved in) | {put_ns} | cloning the view alone | {clone_ns} |"
    );
    let _ = writeln!(
        out,
        "\n| Zipf skew | reads | hit ratio, LRU | hit ratio, LRU + admission (default) | best possible at this size |"
    );
    let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: |");
    for (s, lru, admitted, best) in &rows {
        let _ = writeln!(
            out,
            "| {s:.1} | {} | {lru:.3} | **{admitted:.3}** | {best:.3} |",
            args.reads
        );
    }
    let _ = writeln!(
        out,
        "\nThe best possible ratio is the share of reads that go to the {} most read symbols: no cache of that size can beat it on independent reads. The issue's target (≥ 0.95 with 10 % of the symbols) is reachable only where that bound allows it.",
        args.capacity
    );
    publish(&args.out, &out)
}
