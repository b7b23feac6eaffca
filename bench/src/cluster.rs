//! `bench-cluster`: ingest on a private Redis Cluster of 1, 2 and 3 masters
//! (`scripts/redis-cluster.sh`, no replicas), with the tick stream in
//! partitions, next to the same load on one plain Redis in the same run.
//!
//! Two cores cannot show N times the throughput with N masters: the masters,
//! tickpulse and the load generator share them. What the report shows is
//! what decides the ceiling: the Redis CPU per tick, per master and in all,
//! stays flat as masters are added, and each master takes its share of the
//! ticks; one master's CPU per tick then says how many ticks/s each added
//! master (one core) can take.

use anyhow::{bail, Context};
use clap::Parser;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use tickpulse_bench::wrk::{self, Load, Run};
use tickpulse_bench::{cpu_seconds, free_port, machine, publish, start_tickpulse, Proc};

#[derive(Parser)]
struct Args {
    /// Seconds of measurement per case (after a 2 s warm-up); at most 59.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..60))]
    seconds: u64,
    /// Ticks per request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Symbols the ticks spread over.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Partitions of the tick stream on the cluster.
    #[arg(long, default_value_t = 6)]
    partitions: u16,
    /// Folder with the release binary `tickpulse`.
    #[arg(long, default_value = "target/release")]
    bin_dir: String,
    /// Where to write the report (Markdown).
    #[arg(long, default_value = "bench/reports/cluster.md")]
    out: String,
}

/// A private cluster, stopped when dropped.
struct Cluster {
    dir: std::path::PathBuf,
    url: String,
}

impl Cluster {
    fn start(masters: usize) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "tickpulse-bench-cluster-{}-{masters}",
            std::process::id()
        ));
        let out = Command::new("scripts/redis-cluster.sh")
            .arg("start")
            .arg(&dir)
            .arg(masters.to_string())
            .arg("0")
            .arg(std::process::id().to_string())
            .output()
            .context("scripts/redis-cluster.sh")?;
        if !out.status.success() {
            bail!(
                "the cluster did not start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let url = String::from_utf8(out.stdout)?.trim().to_owned();
        Ok(Self { dir, url })
    }

    /// Per master: its port and pid.
    fn masters(&self) -> Vec<(u16, u32)> {
        std::fs::read_to_string(self.dir.join("masters"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let port: u16 = l.trim().parse().ok()?;
                let pid = std::fs::read_to_string(self.dir.join(format!("{port}.pid"))).ok()?;
                Some((port, pid.trim().parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("scripts/redis-cluster.sh")
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// Ticks a master holds: the event ids remembered in the de-dupe sets of
/// the partitions it serves (every appended tick's, within the window).
fn ticks_on(port: u16) -> u64 {
    let Ok(mut conn) =
        redis::Client::open(format!("redis://127.0.0.1:{port}")).and_then(|c| c.get_connection())
    else {
        return 0;
    };
    let sets: Vec<String> = redis::cmd("KEYS")
        .arg("*seen:[0-9]*")
        .query(&mut conn)
        .unwrap_or_default();
    sets.iter()
        .map(|s| {
            redis::cmd("SCARD")
                .arg(s)
                .query::<u64>(&mut conn)
                .unwrap_or(0)
        })
        .sum()
}

/// One case's figures.
struct Case {
    label: String,
    run: Run,
    /// Per master: CPU seconds over the measured run and ticks taken.
    masters: Vec<(f64, u64)>,
}

impl Case {
    fn ticks(&self) -> f64 {
        self.run.ticks_per_sec() * self.run.seconds
    }
    fn redis_us_per_tick(&self) -> f64 {
        self.masters.iter().map(|m| m.0).sum::<f64>() * 1e6 / self.ticks().max(1.0)
    }
}

/// Runs the load against tickpulse on `url` (with `env`), measuring the
/// CPU of the Redis processes `masters` (port, pid).
async fn case(
    args: &Args,
    label: String,
    bin: &str,
    env: &[(&str, &str)],
    masters: &[(u16, u32)],
) -> anyhow::Result<Case> {
    let (server, base) = start_tickpulse(bin, env).await?;
    let load = Load {
        batch: args.batch,
        connections: args.connections,
        threads: 2,
        seconds: args.seconds,
        symbols: args.symbols,
    };
    wrk::run(&base, Load { seconds: 2, ..load }, server.0.id())?;
    let before_ticks: Vec<u64> = masters.iter().map(|(port, _)| ticks_on(*port)).collect();
    let before: Vec<f64> = masters.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
    let run = wrk::run(&base, load, server.0.id())?;
    let cpu: Vec<f64> = masters
        .iter()
        .zip(&before)
        .map(|((_, pid), b)| cpu_seconds(*pid) - b)
        .collect();
    let ticks: Vec<u64> = masters
        .iter()
        .zip(&before_ticks)
        .map(|((port, _), b)| ticks_on(*port).saturating_sub(*b))
        .collect();
    drop(server);
    Ok(Case {
        label,
        run,
        masters: cpu.into_iter().zip(ticks).collect(),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = format!("{}/tickpulse", args.bin_dir);
    if !std::path::Path::new(&bin).exists() {
        bail!("{bin} is missing: bench/run.sh cluster builds it");
    }
    let client = wrk::version()?;
    eprintln!(
        "bench-cluster: {client}, {} s per case after a 2 s warm-up; four cases",
        args.seconds
    );
    let mut cases = Vec::new();

    // Baseline: one plain Redis of this run's own, one partition.
    let port = free_port()?;
    let plain = Proc(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("start redis-server")?,
    );
    tickpulse_bench::wait_listening(port).await?;
    let url = format!("redis://127.0.0.1:{port}");
    eprintln!("  one Redis, one partition…");
    cases.push(
        case(
            &args,
            "one Redis (not a cluster), 1 partition".into(),
            &bin,
            &[("REDIS_URL", &url), ("ROLES", "api"), ("DATABASE_URL", "")],
            &[(port, plain.0.id())],
        )
        .await?,
    );
    drop(plain);

    let partitions = args.partitions.to_string();
    for masters in 1..=3 {
        let cluster = Cluster::start(masters)?;
        eprintln!("  cluster of {masters} master(s), {partitions} partitions…");
        cases.push(
            case(
                &args,
                format!("cluster, {masters} master(s), {partitions} partitions"),
                &bin,
                &[
                    ("REDIS_URL", &cluster.url),
                    ("REDIS_CLUSTER", "true"),
                    ("BUS_PARTITIONS", &partitions),
                    ("ROLES", "api"),
                    ("DATABASE_URL", ""),
                ],
                &cluster.masters(),
            )
            .await?,
        );
    }

    let mut out = String::new();
    let _ = writeln!(out, "# Cluster benchmark\n");
    let _ = writeln!(out, "- date: {}", tickpulse_core::Timestamp::now());
    let _ = writeln!(out, "- machine: {}", machine());
    let _ = writeln!(
        out,
        "- load: {client} with `bench/wrk/ingest.lua`, batches of {} ticks over {} connections, {} symbols, {} s per case after a 2 s warm-up",
        args.batch, args.connections, args.symbols, args.seconds
    );
    let _ = writeln!(
        out,
        "- tickpulse: release build, `ROLES=api` (ingest alone), no database; the clusters are private (`scripts/redis-cluster.sh`, masters without replicas), the baseline a private `redis-server` of the same run"
    );
    let _ = writeln!(
        out,
        "- Redis CPU: user + system time of each master over the measured run; ticks per master: the event ids its partitions' de-dupe sets gained\n"
    );
    let _ = writeln!(
        out,
        "| case | ticks/s | p99 ms | tickpulse CPU µs/tick | wrk CPU µs/tick | Redis CPU µs/tick (all masters) | per master: share of ticks, CPU µs per tick it took |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for c in &cases {
        let total: u64 = c.masters.iter().map(|m| m.1).sum();
        let per_master: Vec<String> = c
            .masters
            .iter()
            .map(|(cpu, ticks)| {
                format!(
                    "{:.0} % at {:.2}",
                    *ticks as f64 * 100.0 / (total.max(1) as f64),
                    cpu * 1e6 / (*ticks).max(1) as f64
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} |",
            c.label,
            c.run.ticks_per_sec(),
            c.run.p99_ms,
            c.run.server_us_per_request() / args.batch as f64,
            c.run.client_us_per_request() / args.batch as f64,
            c.redis_us_per_tick(),
            per_master.join("; ")
        );
    }
    if let (Some(base), Some(one)) = (cases.first(), cases.get(1)) {
        let us = one.redis_us_per_tick();
        let _ = writeln!(
            out,
            "\nOne master's Redis CPU per tick on the cluster is {:.2} µs against {:.2} µs on one plain Redis ({:.2}×): a master (one core) takes about {:.0} ticks/s of appends, and each added master adds about that much while the partitions outnumber the masters and tickpulse processes have the CPU to feed them.",
            us,
            base.redis_us_per_tick(),
            us / base.redis_us_per_tick().max(1e-9),
            1e6 / us.max(1e-9)
        );
    }
    publish(&args.out, &out)
}
