//! What the benchmark programs share: starting and stopping the processes
//! under test, waiting for them, describing the machine, and cleaning up.

use anyhow::{bail, Context};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickpulse_feeder::market::default_instruments;
use tickpulse_feeder::{Endpoint, Pace, RunConfig};

pub mod wrk;

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-secret";

/// A child process that is killed when dropped, however the bench ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until the readiness endpoint `url` says `ready` (not `degraded`:
/// then the database is not created or migrated yet).
pub async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(url).await {
            last = r.text().await.unwrap_or_default();
            if last.contains("\"status\":\"ready\"") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} did not become ready within 30 s (last answer: {last})")
}

/// Waits until something accepts connections on `port`.
pub async fn wait_listening(port: u16) -> anyhow::Result<()> {
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

/// Clock ticks per second of `/proc`'s CPU times.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
            .unwrap_or(100.0)
    })
}

/// A process's name and its `/proc/{pid}/stat` fields after the name
/// (field 3 onwards, counted from 1).
fn stat(pid: &str) -> Option<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let rest = stat[close + 1..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some((stat[open + 1..close].to_owned(), rest))
}

/// Seconds from the stat fields `fields` (after the name) added up.
fn seconds(rest: &[String], fields: [usize; 2]) -> f64 {
    fields
        .iter()
        .map(|&i| {
            rest.get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        })
        .sum::<f64>()
        / clock_ticks()
}

/// CPU seconds (user + system) process `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat(&pid.to_string()).map_or(0.0, |(_, rest)| seconds(&rest, [11, 12]))
}

/// CPU seconds (user + system) of this process's children that ended and
/// were waited for: what a finished `wrk` or `redis-benchmark` cost.
pub fn children_cpu_seconds() -> f64 {
    stat("self").map_or(0.0, |(_, rest)| seconds(&rest, [13, 14]))
}

/// CPU seconds (user + system) used so far by each part of the system
/// under test, read from `/proc`: the tickpulse process `server`, this
/// process (the load generator), and every `redis-server` and `postgres`
/// process. Processes that ended are not counted.
pub fn cpu_by_part(server: u32) -> Vec<(&'static str, f64)> {
    let me = std::process::id();
    let mut parts: Vec<(&'static str, f64)> = vec![
        ("tickpulse", 0.0),
        ("load generator", 0.0),
        ("Redis", 0.0),
        ("Postgres", 0.0),
    ];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return parts;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some((comm, rest)) = stat(&pid.to_string()) else {
            continue;
        };
        let part = match (pid, comm.as_str()) {
            (p, _) if p == server => 0,
            (p, _) if p == me => 1,
            (_, "redis-server") => 2,
            (_, "postgres") => 3,
            _ => continue,
        };
        parts[part].1 += seconds(&rest, [11, 12]);
    }
    parts
}

/// One line describing this machine, for the report.
pub fn machine() -> String {
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

/// Removes every key under `prefix`.
pub fn cleanup_redis(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
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

/// The flags of the benches that run the release tickpulse on Redis and
/// on a Postgres database of their own.
#[derive(clap::Args)]
pub struct Services {
    /// Folder with the release binary `tickpulse`.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// A Postgres database the bench may connect to; a database of its own
    /// is created next to it and dropped at the end.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
}

impl Services {
    /// The release binary's path.
    ///
    /// # Errors
    /// When it is not built.
    pub fn tickpulse(&self) -> anyhow::Result<String> {
        let bin = format!("{}/tickpulse", self.bin_dir);
        if !std::path::Path::new(&bin).exists() {
            bail!("{bin} is missing: build with `cargo build --release -p tickpulse-server` (bench/run.sh does)");
        }
        Ok(bin)
    }

    /// The URL of the bench's own database `name`, next to `--database-url`
    /// (tickpulse creates it on start).
    ///
    /// # Errors
    /// When `--database-url` names no database.
    pub fn scratch_db(&self, name: &str) -> anyhow::Result<String> {
        let (admin_base, _) = self
            .database_url
            .rsplit_once('/')
            .context("BENCH_DATABASE_URL has no database name")?;
        Ok(format!("{admin_base}/{name}"))
    }

    /// Drops the database `name`, connections and all.
    ///
    /// # Errors
    /// When Postgres cannot be reached.
    pub async fn drop_db(&self, name: &str) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.database_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(())
    }
}

/// Writes the report to stdout and to `path` (creating its folder).
pub fn publish(path: &str, report: &str) -> anyhow::Result<()> {
    print!("{report}");
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report).map_err(|e| anyhow::anyhow!("write {path}: {e}"))?;
    eprintln!("report written to {path}");
    Ok(())
}

/// Starts the tickpulse binary `bin` on a free port with the bench's ingest
/// credentials and `env` (an empty value removes the variable), and waits
/// until it is ready; the process and its base URL.
pub async fn start_tickpulse(bin: &str, env: &[(&str, &str)]) -> anyhow::Result<(Proc, String)> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(bin);
    cmd.env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("INGEST_USERNAME", USER)
        .env("INGEST_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let server = Proc(cmd.spawn().context("start tickpulse")?);
    wait_ready(&format!("{base}/health/readiness")).await?;
    Ok((server, base))
}

/// A feeder run against `base`: the ten default symbols, `batch` ticks per
/// request, `connections` requests in flight, for `secs` seconds.
pub fn feeder(base: &str, pace: Pace, batch: usize, connections: usize, secs: u64) -> RunConfig {
    RunConfig {
        endpoint: Endpoint {
            base_url: base.into(),
            username: USER.into(),
            password: PASSWORD.into(),
        },
        instruments: default_instruments(),
        source: "bench".into(),
        seed: fresh_seed(),
        pace,
        batch,
        concurrency: connections,
        duration: Some(Duration::from_secs(secs)),
        max_ticks: None,
        progress: false,
    }
}

/// A seed no earlier run of this process used: the feeder derives event ids
/// from it, so two runs with one seed would send the same ticks twice.
fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    now ^ RUNS.fetch_add(1, Ordering::Relaxed).rotate_left(48)
}

/// A view of `symbol` after one tick, whose stream id grows with `id`: what
/// the cache benchmarks store.
pub fn sample_view(symbol: &str, id: u64) -> tickpulse_core::View {
    let tick: tickpulse_core::StreamTick = serde_json::from_value(serde_json::json!({
        "id": format!("{}-0", 1_795_000_000_000u64 + id), "symbol": symbol, "price": "64000.5",
        "volume": "0.25", "source": "bench", "ts": 1_795_000_000_000i64,
        "event_id": format!("{symbol}-{id}"), "received_at": 1_795_000_000_000i64
    }))
    .expect("a valid tick");
    let mut w = tickpulse_core::SymbolWindow::default();
    w.apply(&tick, &tickpulse_core::WindowSettings::default());
    w.view(tickpulse_core::Timestamp::from_nanos(0))
        .expect("a view")
}
