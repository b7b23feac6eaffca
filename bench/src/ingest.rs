//! `bench-ingest`: ingest throughput and acknowledgement latency of
//! tickpulse next to same-run baselines (DESIGN §9, P1 and P2):
//!
//! - P1: single-tick `POST /ingest/tick`, keep-alive, N connections, against
//!   a bare axum POST echo of the same bodies;
//! - P2: `POST /ingest/ticks` with 1,000 ticks per request, against the echo
//!   with the same bodies and against `redis-benchmark` XADD (pipeline 100).
//!
//! The load comes from the feeder's load mode, on the same machine. The
//! table goes to stdout and to `--out`.

use anyhow::{bail, Context};
use clap::Parser;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use tickpulse_bench::{
    cleanup_redis, feeder, free_port, machine, publish, start_tickpulse, wait_listening, Proc,
};
use tickpulse_feeder::{run, Pace, Report};

#[derive(Parser)]
struct Args {
    /// Seconds of measurement per case (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections for single-tick requests.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Ticks per batch request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Connections for batch requests.
    #[arg(long, default_value_t = 8)]
    batch_connections: usize,
    /// Folder with the release binaries `tickpulse` and `bench-echo`.
    #[arg(long, default_value = "target/release")]
    bin_dir: String,
    /// Redis tickpulse uses (keys are prefixed and removed afterwards).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Where to write the report (Markdown).
    #[arg(long, default_value = "bench/reports/ingest.md")]
    out: String,
}

async fn start_server(
    bin: &str,
    redis_url: &str,
    prefix: &str,
    roles: &str,
) -> anyhow::Result<(Proc, String)> {
    start_tickpulse(
        bin,
        &[
            ("REDIS_URL", redis_url),
            ("REDIS_KEY_PREFIX", prefix),
            ("ROLES", roles),
        ],
    )
    .await
}

async fn load(base: &str, batch: usize, connections: usize, seconds: u64) -> Report {
    let config = |secs| feeder(base, Pace::Unlimited, batch, connections, secs);
    run(config(2), std::future::pending()).await; // warm-up
    run(config(seconds), std::future::pending()).await
}

fn redis_benchmark_xadd(redis_url: &str, key: &str) -> Option<f64> {
    let hostport = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()?
        .rsplit('@')
        .next()?;
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "6379"));
    let out = Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-c", "50", "-P", "100", "-n", "1000000", "-q", "XADD", key, "*", "symbol", "BTC-USD", "tick"])
        .arg(r#"{"symbol":"BTC-USD","price":"64000.5","volume":"0.25","source":"bench","ts":"2026-11-22T10:00:00.125Z","event_id":"bench-1","received_at":"2026-11-22T10:00:00.126Z"}"#)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let _ = Command::new("redis-cli")
        .args(["-h", host, "-p", port, "DEL", key])
        .stdout(Stdio::null())
        .status();
    let text = String::from_utf8_lossy(&out.stdout);
    // "…: 465116.28 requests per second, p50=…" (the command itself holds colons)
    let before = text
        .rsplit('\r')
        .next()
        .unwrap_or(&text)
        .split("requests per second")
        .next()?
        .to_owned();
    before.split_whitespace().last()?.parse().ok()
}

fn row(out: &mut String, case: &str, r: &Report) {
    let _ = writeln!(
        out,
        "| {case} | {:.0} | {:.0} | {:.2} | {:.2} | {} |",
        r.ticks_per_sec(),
        r.requests_per_sec(),
        r.ack_p50_ms,
        r.ack_p99_ms,
        r.errors
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let echo_bin = format!("{}/bench-echo", args.bin_dir);
    let server_bin = format!("{}/tickpulse", args.bin_dir);
    for bin in [&echo_bin, &server_bin] {
        if !std::path::Path::new(bin).exists() {
            bail!("{bin} is missing: build with `cargo build --release -p tickpulse-server -p tickpulse-bench` (bench/run.sh does)");
        }
    }
    eprintln!(
        "bench-ingest: {} s per case after a 2 s warm-up; this takes about {} s",
        args.seconds,
        7 * (args.seconds + 2) + 10
    );

    // Baseline: the bare echo.
    let port = free_port()?;
    let echo_base = format!("http://127.0.0.1:{port}");
    let echo = Proc(
        Command::new(&echo_bin)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .context("start bench-echo")?,
    );
    wait_listening(port).await?;
    eprintln!("  echo, 1 tick per request…");
    let echo_single = load(&echo_base, 1, args.connections, args.seconds).await;
    eprintln!("  echo, {} ticks per request…", args.batch);
    let echo_batch = load(&echo_base, args.batch, args.batch_connections, args.seconds).await;
    drop(echo);

    // tickpulse on the same Redis, under a prefix of its own.
    let prefix = format!("bench:{}:", std::process::id());
    let (server, base) = start_server(&server_bin, &args.redis_url, &prefix, "api,calc").await?;
    eprintln!("  tickpulse, 1 tick per request…");
    let ours_single = load(&base, 1, args.connections, args.seconds).await;
    eprintln!("  tickpulse, {} ticks per request…", args.batch);
    let ours_batch = load(&base, args.batch, args.batch_connections, args.seconds).await;
    drop(server);
    cleanup_redis(&args.redis_url, &prefix)?;
    // The same with the ingest role alone (calc in another process).
    let (server, base) = start_server(&server_bin, &args.redis_url, &prefix, "api").await?;
    eprintln!("  tickpulse ROLES=api, 1 tick per request…");
    let api_single = load(&base, 1, args.connections, args.seconds).await;
    drop(server);
    cleanup_redis(&args.redis_url, &prefix)?;
    // The embedded mode: the bus in the process, journaled, and SQLite.
    let data_dir = std::env::temp_dir().join(format!("tickpulse-bench-{}", std::process::id()));
    let dir = data_dir.to_string_lossy().into_owned();
    let (server, base) = start_tickpulse(
        &server_bin,
        &[("REDIS_URL", ""), ("DATABASE_URL", ""), ("DATA_DIR", &dir)],
    )
    .await?;
    eprintln!("  tickpulse embedded, 1 tick per request…");
    let embedded_single = load(&base, 1, args.connections, args.seconds).await;
    eprintln!("  tickpulse embedded, {} ticks per request…", args.batch);
    let embedded_batch = load(&base, args.batch, args.batch_connections, args.seconds).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);

    eprintln!("  redis-benchmark XADD, pipeline 100…");
    let xadd = redis_benchmark_xadd(&args.redis_url, &format!("{prefix}xadd"));

    let mut out = String::new();
    let _ = writeln!(out, "# Ingest benchmark\n");
    let _ = writeln!(out, "- date: {}", tickpulse_core::Timestamp::now());
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- workload: feeder load mode, 10 symbols, {} s per case after a 2 s warm-up; single ticks over {} keep-alive connections, batches of {} ticks over {} connections",
        args.seconds, args.connections, args.batch, args.batch_connections
    );
    let _ = writeln!(
        out,
        "- tickpulse: release build, Redis at {}, no database; `ROLES=api,calc` (the calc stage works in the same process) unless the row says otherwise\n",
        args.redis_url
    );
    let _ = writeln!(
        out,
        "| case | ticks/s | requests/s | ack p50 ms | ack p99 ms | errors |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    row(
        &mut out,
        "P1 baseline: axum POST echo, 1 tick/request",
        &echo_single,
    );
    row(
        &mut out,
        "P1 tickpulse `POST /ingest/tick` (ingest + calc)",
        &ours_single,
    );
    row(
        &mut out,
        "P1 tickpulse `POST /ingest/tick`, `ROLES=api` (ingest only)",
        &api_single,
    );
    row(
        &mut out,
        "P1 tickpulse embedded mode `POST /ingest/tick` (ingest + calc + persist to SQLite)",
        &embedded_single,
    );
    row(
        &mut out,
        &format!("P2 baseline: axum POST echo, {} ticks/request", args.batch),
        &echo_batch,
    );
    row(
        &mut out,
        &format!(
            "P2 tickpulse `POST /ingest/ticks`, {} ticks/request (ingest + calc)",
            args.batch
        ),
        &ours_batch,
    );
    row(
        &mut out,
        &format!(
            "P2 tickpulse embedded mode `POST /ingest/ticks`, {} ticks/request (ingest + calc + persist to SQLite)",
            args.batch
        ),
        &embedded_batch,
    );
    match xadd {
        Some(rate) => {
            let _ = writeln!(out, "| P2 baseline: redis-benchmark XADD, 50 clients, pipeline 100 | {rate:.0} | | | | |");
        }
        None => {
            let _ = writeln!(
                out,
                "| P2 baseline: redis-benchmark XADD (redis-benchmark not found) | | | | | |"
            );
        }
    }
    let p1 = ours_single.requests_per_sec() / echo_single.requests_per_sec().max(1.0) * 100.0;
    let p1_api = api_single.requests_per_sec() / echo_single.requests_per_sec().max(1.0) * 100.0;
    let _ = writeln!(
        out,
        "\nP1: tickpulse single-tick requests/s = **{p1:.0} %** of the echo's with calc in the same process, **{p1_api:.0} %** with ingest alone (target ≥ 50 %)."
    );
    let p2 = ours_batch.ticks_per_sec() / echo_batch.ticks_per_sec().max(1.0) * 100.0;
    let _ = write!(
        out,
        "P2: tickpulse batch ticks/s = **{p2:.0} %** of the echo's"
    );
    if let Some(rate) = xadd {
        let _ = write!(
            out,
            ", **{:.0} %** of redis-benchmark XADD",
            ours_batch.ticks_per_sec() / rate * 100.0
        );
    }
    let _ = writeln!(out, ".");
    let _ = writeln!(
        out,
        "Embedded mode: single-tick requests/s = **{:.0} %** of the echo's; batch ticks/s = **{:.0} %** of the Redis mode's.",
        embedded_single.requests_per_sec() / echo_single.requests_per_sec().max(1.0) * 100.0,
        embedded_batch.ticks_per_sec() / ours_batch.ticks_per_sec().max(1.0) * 100.0
    );
    publish(&args.out, &out)
}
