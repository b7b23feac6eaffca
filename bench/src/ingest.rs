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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickpulse_feeder::market::default_instruments;
use tickpulse_feeder::{run, Endpoint, Pace, Report, RunConfig};

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

const USER: &str = "bench";
const PASSWORD: &str = "bench-secret";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not become ready within 30 s")
}

async fn wait_listening(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("nothing listens on port {port} after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn load(base: &str, batch: usize, connections: usize, seconds: u64) -> Report {
    let config = |secs: u64| RunConfig {
        endpoint: Endpoint {
            base_url: base.into(),
            username: USER.into(),
            password: PASSWORD.into(),
        },
        instruments: default_instruments(),
        source: "bench".into(),
        seed: Instant::now().elapsed().as_nanos() as u64 ^ 0x5eed,
        pace: Pace::Unlimited,
        batch,
        concurrency: connections,
        duration: Some(Duration::from_secs(secs)),
        max_ticks: None,
        progress: false,
    };
    run(config(2), std::future::pending()).await; // warm-up
    run(config(seconds), std::future::pending()).await
}

fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {:.1} GiB memory, load generator on the same machine",
        mem_kb as f64 / 1_048_576.0
    )
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

fn cleanup_redis(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(redis_url)?.get_connection()?;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query(&mut conn)?;
        if !keys.is_empty() {
            redis::cmd("UNLINK").arg(&keys).query::<()>(&mut conn)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
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
        4 * (args.seconds + 2) + 10
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
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let prefix = format!("bench:{}:", std::process::id());
    let server = Proc(
        Command::new(&server_bin)
            .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
            .env("REDIS_URL", &args.redis_url)
            .env("REDIS_KEY_PREFIX", &prefix)
            .env("INGEST_USERNAME", USER)
            .env("INGEST_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("start tickpulse")?,
    );
    wait_ready(&format!("{base}/health/readiness")).await?;
    eprintln!("  tickpulse, 1 tick per request…");
    let ours_single = load(&base, 1, args.connections, args.seconds).await;
    eprintln!("  tickpulse, {} ticks per request…", args.batch);
    let ours_batch = load(&base, args.batch, args.batch_connections, args.seconds).await;
    drop(server);
    cleanup_redis(&args.redis_url, &prefix)?;

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
        "- tickpulse: release build, Redis at {}\n",
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
    row(&mut out, "P1 tickpulse `POST /ingest/tick`", &ours_single);
    row(
        &mut out,
        &format!("P2 baseline: axum POST echo, {} ticks/request", args.batch),
        &echo_batch,
    );
    row(
        &mut out,
        &format!(
            "P2 tickpulse `POST /ingest/ticks`, {} ticks/request",
            args.batch
        ),
        &ours_batch,
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
    let _ = writeln!(
        out,
        "\nP1: tickpulse single-tick requests/s = **{p1:.0} %** of the echo's (target ≥ 50 %)."
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
    print!("{out}");
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &out).with_context(|| format!("write {}", args.out))?;
    eprintln!("report written to {}", args.out);
    Ok(())
}
