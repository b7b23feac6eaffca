//! `bench-ingest`: ingest throughput and acknowledgement latency of
//! tickpulse next to same-run baselines (DESIGN §9, P1 and P2):
//!
//! - P1: single-tick `POST /ingest/tick`, keep-alive, N connections, against
//!   a bare axum POST echo of the same bodies;
//! - P2: `POST /ingest/ticks` with 1,000 ticks per request, against the echo
//!   with the same bodies and against `redis-benchmark` XADD of the same
//!   tick JSON (pipeline 100).
//!
//! The client is `wrk` with `bench/wrk/ingest.lua` (see [`tickpulse_bench::wrk`]),
//! on the same machine; the report shows what it cost per request next to
//! what the server did. The table goes to stdout and to `--out`.

use anyhow::{bail, Context};
use clap::Parser;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use tickpulse_bench::wrk::{self, Load, Run};
use tickpulse_bench::{
    children_cpu_seconds, cleanup_redis, cpu_seconds, free_port, machine, publish, start_tickpulse,
    wait_listening, Proc,
};

#[derive(Parser)]
struct Args {
    /// Seconds of measurement per case (after a 2 s warm-up); at most 59.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..60))]
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
    /// wrk's threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Symbols the ticks spread over.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
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

impl Args {
    fn single(&self) -> Load {
        Load {
            batch: 1,
            connections: self.connections,
            threads: self.threads,
            seconds: self.seconds,
            symbols: self.symbols,
        }
    }
    fn batches(&self) -> Load {
        Load {
            batch: self.batch,
            connections: self.batch_connections,
            threads: self.threads.min(self.batch_connections),
            ..self.single()
        }
    }
}

/// A warm-up of 2 s, then the measured run.
fn measure(base: &str, load: Load, server: u32) -> anyhow::Result<Run> {
    Ok(measure_with_redis(base, load, server, None)?.0)
}

/// [`measure`], and the CPU µs Redis (process `redis`) spent per tick of
/// the measured run.
fn measure_with_redis(
    base: &str,
    load: Load,
    server: u32,
    redis: Option<u32>,
) -> anyhow::Result<(Run, Option<f64>)> {
    wrk::run(base, Load { seconds: 2, ..load }, server)?;
    let before = redis.map(cpu_seconds);
    let run = wrk::run(base, load, server)?;
    let used = redis.map(cpu_seconds).zip(before).map(|(a, b)| a - b);
    let ticks = run.requests as f64 * run.batch as f64;
    Ok((run, used.map(|s| s * 1e6 / ticks.max(1.0))))
}

/// The process id of the Redis at `redis_url` (`INFO server`), when it runs
/// on this machine.
fn redis_pid(redis_url: &str) -> Option<u32> {
    let out = Command::new("redis-cli")
        .args(["-u", redis_url, "INFO", "server"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pid: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))?
        .trim()
        .parse()
        .ok()?;
    std::path::Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

/// The tick body the wrk script sends, as the bus stores it.
const TICK_JSON: &str = r#"{"symbol":"W-001","price":"101.25","volume":"0.25","source":"wrk","ts":1764669600000,"event_id":"wrk-1-1-1-1","received_at":"2026-12-02T10:00:00.126Z"}"#;

/// `redis-benchmark` XADD of one tick per entry, 50 clients, pipeline 100:
/// ticks/s and the CPU seconds Redis and redis-benchmark used.
fn redis_benchmark_xadd(redis_url: &str, key: &str) -> Option<(f64, f64)> {
    let hostport = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()?
        .rsplit('@')
        .next()?;
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "6379"));
    let client_before = children_cpu_seconds();
    let out = Command::new("redis-benchmark")
        .args([
            "-h", host, "-p", port, "-c", "50", "-P", "100", "-n", "3000000", "-q",
        ])
        .args(["XADD", key, "*", "ticks", TICK_JSON])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let client_cpu = children_cpu_seconds() - client_before;
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
    let rate: f64 = before.split_whitespace().last()?.parse().ok()?;
    Some((rate, client_cpu * 1e6 / 3_000_000.0))
}

fn row(out: &mut String, case: &str, r: &Run) {
    let _ = writeln!(
        out,
        "| {case} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.1} |",
        r.ticks_per_sec(),
        r.requests_per_sec(),
        r.p50_ms,
        r.p99_ms,
        r.errors,
        r.server_us_per_request(),
        r.client_us_per_request(),
    );
}

fn ratio(ours: f64, baseline: f64) -> f64 {
    ours / baseline.max(1e-9)
}

fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio >= target {
        "met"
    } else {
        "not met"
    }
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
    let client = wrk::version()?;
    eprintln!(
        "bench-ingest: {client}, {} s per case after a 2 s warm-up; this takes about {} s",
        args.seconds,
        8 * (args.seconds + 2) + 15
    );
    let (single, batches) = (args.single(), args.batches());

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
    let echo_pid = echo.0.id();
    eprintln!("  echo, 1 tick per request…");
    let echo_single = measure(&echo_base, single, echo_pid)?;
    eprintln!("  echo, {} ticks per request…", args.batch);
    let echo_batch = measure(&echo_base, batches, echo_pid)?;
    drop(echo);

    // tickpulse on the same Redis, under a prefix of its own.
    let prefix = format!("bench:{}:", std::process::id());
    let redis = |roles: &'static str| {
        [
            ("REDIS_URL", args.redis_url.as_str()),
            ("REDIS_KEY_PREFIX", prefix.as_str()),
            ("ROLES", roles),
            ("DATABASE_URL", ""),
        ]
    };
    let redis_process = redis_pid(&args.redis_url);
    let (server, base) = start_tickpulse(&server_bin, &redis("api,calc")).await?;
    eprintln!("  tickpulse, 1 tick per request…");
    let ours_single = measure(&base, single, server.0.id())?;
    eprintln!("  tickpulse, {} ticks per request…", args.batch);
    let (ours_batch, ours_batch_redis) =
        measure_with_redis(&base, batches, server.0.id(), redis_process)?;
    drop(server);
    cleanup_redis(&args.redis_url, &prefix)?;
    // The same with the ingest role alone (calc in another process).
    let (server, base) = start_tickpulse(&server_bin, &redis("api")).await?;
    eprintln!("  tickpulse ROLES=api, 1 tick per request…");
    let api_single = measure(&base, single, server.0.id())?;
    eprintln!("  tickpulse ROLES=api, {} ticks per request…", args.batch);
    let (api_batch, api_batch_redis) =
        measure_with_redis(&base, batches, server.0.id(), redis_process)?;
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
    let embedded_single = measure(&base, single, server.0.id())?;
    eprintln!("  tickpulse embedded, {} ticks per request…", args.batch);
    let embedded_batch = measure(&base, batches, server.0.id())?;
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);

    eprintln!("  redis-benchmark XADD, pipeline 100…");
    let before = redis_process.map(cpu_seconds);
    let xadd = redis_benchmark_xadd(&args.redis_url, &format!("{prefix}xadd"));
    let xadd_redis = redis_process
        .map(cpu_seconds)
        .zip(before)
        .map(|(a, b)| (a - b) * 1e6 / 3_000_000.0);

    let mut out = String::new();
    let _ = writeln!(out, "# Ingest benchmark\n");
    let _ = writeln!(out, "- date: {}", tickpulse_core::Timestamp::now());
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- client: {client} with `bench/wrk/ingest.lua` (a new event id per tick, Basic Auth), {} threads; single ticks over {} keep-alive connections, batches of {} ticks over {}; {} symbols; {} s per case after a 2 s warm-up",
        args.threads, args.connections, args.batch, args.batch_connections, args.symbols, args.seconds
    );
    let _ = writeln!(
        out,
        "- tickpulse: release build, Redis at {}, no database; `ROLES=api,calc` (the calc stage works in the same process) unless the row says otherwise",
        args.redis_url
    );
    let _ = writeln!(
        out,
        "- CPU per request: user + system time of the process answering (tickpulse or the echo; Redis's own time is not in it) and of wrk, over the measured run, divided by its requests\n"
    );
    let _ = writeln!(
        out,
        "| case | ticks/s | requests/s | p50 ms | p99 ms | errors | server CPU µs/request | wrk CPU µs/request |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
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
            "P2 tickpulse `POST /ingest/ticks`, {} ticks/request, `ROLES=api` (ingest only)",
            args.batch
        ),
        &api_batch,
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
        Some((rate, client_us)) => {
            let _ = writeln!(
                out,
                "| P2 baseline: redis-benchmark XADD of the same tick JSON, one tick per entry, 50 clients, pipeline 100 | {rate:.0} | {rate:.0} | | | | | {client_us:.2} (redis-benchmark) |"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "| P2 baseline: redis-benchmark XADD (redis-benchmark not found) | | | | | | | |"
            );
        }
    }
    let p1 = ratio(
        ours_single.requests_per_sec(),
        echo_single.requests_per_sec(),
    );
    let p1_api = ratio(
        api_single.requests_per_sec(),
        echo_single.requests_per_sec(),
    );
    let _ = writeln!(out, "\n| target | figure | ratio | holds? |");
    let _ = writeln!(out, "| --- | --- | ---: | --- |");
    let _ = writeln!(
        out,
        "| P1 ≥ 0.5 of the echo (ingest + calc) | {:.0} / {:.0} req/s | {p1:.2} | {} |",
        ours_single.requests_per_sec(),
        echo_single.requests_per_sec(),
        verdict(p1, 0.5)
    );
    let _ = writeln!(
        out,
        "| P1 ≥ 0.5 of the echo (`ROLES=api`) | {:.0} / {:.0} req/s | {p1_api:.2} | {} |",
        api_single.requests_per_sec(),
        echo_single.requests_per_sec(),
        verdict(p1_api, 0.5)
    );
    if let Some((rate, _)) = xadd {
        let p2 = ratio(ours_batch.ticks_per_sec(), rate);
        let _ = writeln!(
            out,
            "| P2 ≥ 0.45 of raw XADD (ingest + calc) | {:.0} / {rate:.0} ticks/s | {p2:.2} | {} |",
            ours_batch.ticks_per_sec(),
            verdict(p2, 0.45)
        );
        let p2_api = ratio(api_batch.ticks_per_sec(), rate);
        let _ = writeln!(
            out,
            "| P2 ≥ 0.45 of raw XADD (`ROLES=api`) | {:.0} / {rate:.0} ticks/s | {p2_api:.2} | {} |",
            api_batch.ticks_per_sec(),
            verdict(p2_api, 0.45)
        );
    }
    let embedded = ratio(embedded_batch.ticks_per_sec(), ours_batch.ticks_per_sec());
    let _ = writeln!(
        out,
        "| embedded batches ≥ the Redis mode's (accepted; committed: `bench/reports/persist.md`) | {:.0} / {:.0} ticks/s | {embedded:.2} | {} |",
        embedded_batch.ticks_per_sec(),
        ours_batch.ticks_per_sec(),
        verdict(embedded, 1.0)
    );
    let _ = writeln!(
        out,
        "\nP2 against the echo of the same bodies: {:.2}. Embedded single ticks against the echo: {:.2}.",
        ratio(ours_batch.ticks_per_sec(), echo_batch.ticks_per_sec()),
        ratio(embedded_single.requests_per_sec(), echo_single.requests_per_sec()),
    );
    let us = |v: Option<f64>| v.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.2} µs"));
    let _ = writeln!(
        out,
        "\nRedis CPU per tick (user + system of `redis-server` over the measured run): raw XADD {}, tickpulse batches with calc {}, `ROLES=api` {}.",
        us(xadd_redis),
        us(ours_batch_redis),
        us(api_batch_redis),
    );
    publish(&args.out, &out)
}
