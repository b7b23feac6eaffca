//! `bench-trade`: paper trading's throughput and latency, next to a
//! same-run baseline (DESIGN §9).
//!
//! 1. Orders: `tickpulse-feeder trade` (as a library) with 64 sessions, each
//!    a user of its own, placing market orders (probability 1, lookups from
//!    the stock cache) on 500 stocks whose prices move every 200 ms; orders/s
//!    and order latency p50/p99, every order verified afterwards.
//! 2. Baseline: `pgbench` with 64 clients running the SQL transaction
//!    tickpulse runs per market buy (`bench/sql/market_buy.sql`: the same
//!    statements and row locks) on the same database.
//! 3. Paced: the same 64 sessions, each waiting `--think-ms` between
//!    rounds (below saturation): order latency p50/p99 when orders do not
//!    queue behind each other.
//! 4. Lookups: probability 0, with the cache on and off; lookups/s over
//!    16 sessions × `--lookup-rounds` (each stock's first cached lookup is a
//!    fetch).
//! 5. The chart of the load client for probabilities 0, 0.2, 0.4, 0.6, 0.8,
//!    cache on and off (`bench/reports/trade.png`).
//!
//! 1, 3 and 4 run against one tickpulse process with Redis + Postgres and
//! then in the embedded mode; 2 and 5 with Redis + Postgres.

use anyhow::{bail, Context};
use clap::Parser;
use sqlx::{Connection, PgConnection};
use std::fmt::Write as _;
use std::time::Duration;
use tickpulse_bench::{
    cleanup_redis, cpu_by_part, machine, publish, start_tickpulse, Services, PASSWORD, USER,
};
use tickpulse_feeder::trade::{plot, run, TradeConfig, TradeReport};

#[derive(Parser)]
struct Args {
    /// Sessions placing orders at once.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Stocks traded.
    #[arg(long, default_value_t = 500)]
    stocks: usize,
    /// Orders per session in the orders phase.
    #[arg(long, default_value_t = 40)]
    orders_per_client: usize,
    /// Milliseconds each session waits between rounds in the paced phase.
    #[arg(long, default_value_t = 200)]
    think_ms: u64,
    /// Rounds per session (16 sessions) in the lookups phase.
    #[arg(long, default_value_t = 2000)]
    lookup_rounds: usize,
    /// Seconds of pgbench.
    #[arg(long, default_value_t = 15)]
    pgbench_seconds: u64,
    #[command(flatten)]
    services: Services,
    #[arg(long, default_value = "bench/reports/trade.md")]
    out: String,
    #[arg(long, default_value = "bench/reports/trade.png")]
    plot: String,
}

const ADMIN_KEY: &str = "bench-admin-key";

fn load(
    base: &str,
    args: &Args,
    clients: usize,
    iterations: usize,
    probabilities: Vec<f64>,
    caches: Vec<bool>,
    seed: u64,
) -> TradeConfig {
    TradeConfig {
        urls: vec![base.to_owned()],
        clients,
        iterations,
        probabilities,
        caches,
        seed,
        think: Duration::ZERO,
        admin_key: Some(ADMIN_KEY.into()),
        ingest: (USER.into(), PASSWORD.into()),
        tokens_file: None,
        stocks: args.stocks,
        quantity: 1_000_000_000,
        timeout: Duration::from_secs(10),
        resend_every: 0,
        progress: true,
    }
}

fn clean(report: &TradeReport, what: &str) -> anyhow::Result<()> {
    if !report.mismatches.is_empty() {
        bail!(
            "{what}: {} mismatches, e.g. {}",
            report.mismatches.len(),
            report.mismatches[0]
        );
    }
    Ok(())
}

/// One mode's figures.
struct Figures {
    orders_per_sec: f64,
    p50: f64,
    p99: f64,
    orders: u64,
    paced_per_sec: f64,
    paced_p50: f64,
    paced_p99: f64,
    cached_per_sec: f64,
    uncached_per_sec: f64,
    cpu: Vec<(&'static str, f64)>,
}

async fn measure(
    args: &Args,
    bin: &str,
    env: &[(&str, &str)],
    seed: u64,
) -> anyhow::Result<(Figures, String)> {
    let mut env = env.to_vec();
    env.extend([
        ("ADMIN_API_KEY", ADMIN_KEY),
        ("API_RATE_PER_SEC", "0"),
        ("STARTING_CASH", "1000000000"),
    ]);
    let (server, base) = start_tickpulse(bin, &env).await?;
    let pid = server.0.id();
    let before = cpu_by_part(pid);
    let orders = run(load(
        &base,
        args,
        args.clients,
        args.orders_per_client,
        vec![1.0],
        vec![true],
        seed,
    ))
    .await?;
    let after = cpu_by_part(pid);
    clean(&orders, "orders")?;
    let phase = &orders.phases[0];
    let mut paced_load = load(
        &base,
        args,
        args.clients,
        args.orders_per_client / 2,
        vec![1.0],
        vec![true],
        seed + 4,
    );
    paced_load.think = Duration::from_millis(args.think_ms);
    let paced = run(paced_load).await?;
    clean(&paced, "paced orders")?;
    let paced = &paced.phases[0];
    let lookups = run(load(
        &base,
        args,
        16,
        args.lookup_rounds,
        vec![0.0],
        vec![true, false],
        seed + 1,
    ))
    .await?;
    clean(&lookups, "lookups")?;
    let rate = |i: usize| {
        lookups.phases[i].lookups.count as f64 / lookups.phases[i].elapsed_secs.max(1e-9)
    };
    let cpu = before
        .iter()
        .zip(&after)
        .map(|((name, b), (_, a))| (*name, a - b))
        .collect();
    drop(server);
    Ok((
        Figures {
            orders_per_sec: phase.orders.count as f64 / phase.elapsed_secs.max(1e-9),
            p50: phase.orders.p50_ms,
            p99: phase.orders.p99_ms,
            orders: phase.orders.count,
            paced_per_sec: paced.orders.count as f64 / paced.elapsed_secs.max(1e-9),
            paced_p50: paced.orders.p50_ms,
            paced_p99: paced.orders.p99_ms,
            cached_per_sec: rate(0),
            uncached_per_sec: rate(1),
            cpu,
        },
        base,
    ))
}

/// pgbench's transactions per second and average latency (ms).
fn pgbench(db_url: &str, clients: usize, seconds: u64) -> anyhow::Result<(f64, f64)> {
    let out = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
            "bench/sql/market_buy.sql",
            db_url,
        ])
        .output()
        .context("run pgbench (Debian's postgresql-client)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let number = |prefix: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    Ok((
        number("tps").context("pgbench printed no tps")?,
        number("latency average").unwrap_or(0.0),
    ))
}

async fn prepare_baseline(db_url: &str, stocks: usize) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(db_url).await?;
    for u in 1..=64 {
        sqlx::query("INSERT INTO app_user (username, password_hash, role, created_at) VALUES ($1, 'x', 'viewer', 0) ON CONFLICT DO NOTHING")
            .bind(format!("bench-u{u}"))
            .execute(&mut db)
            .await?;
    }
    for s in 1..=stocks {
        sqlx::query("INSERT INTO catalog (symbol, name, available, created_at) VALUES ($1, $1, 1000000000, 0) ON CONFLICT DO NOTHING")
            .bind(format!("BENCH-{s:03}"))
            .execute(&mut db)
            .await?;
    }
    db.close().await?;
    Ok(())
}

fn cpu_line(cpu: &[(&'static str, f64)]) -> String {
    cpu.iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = args.services.tickpulse()?;
    let db_name = format!("tickpulse_bench_trade_{}", std::process::id());
    let db_url = args.services.scratch_db(&db_name)?;
    let prefix = format!("bench:trade:{}:", std::process::id());
    let seed = u64::from(std::process::id());
    let data = std::env::temp_dir().join(format!("tickpulse-bench-trade-{}", std::process::id()));

    let result: anyhow::Result<String> = async {
        eprintln!("bench-trade: Redis + Postgres");
        let shared_env = [("REDIS_URL", args.services.redis_url.as_str()), ("REDIS_KEY_PREFIX", prefix.as_str()), ("DATABASE_URL", db_url.as_str())];
        let (shared, _) = measure(&args, &bin, &shared_env, seed).await?;
        eprintln!("bench-trade: the chart (probabilities 0 to 0.8, cache on and off)");
        let (server, base) = start_tickpulse(&bin, &[("REDIS_URL", args.services.redis_url.as_str()), ("REDIS_KEY_PREFIX", prefix.as_str()), ("DATABASE_URL", db_url.as_str()), ("ADMIN_API_KEY", ADMIN_KEY), ("API_RATE_PER_SEC", "0")]).await?;
        let chart = run(load(&base, &args, 16, 40, vec![0.0, 0.2, 0.4, 0.6, 0.8], vec![true, false], seed + 2)).await?;
        clean(&chart, "chart")?;
        plot::write(&chart.phases, std::path::Path::new(&args.plot))?;
        drop(server);
        eprintln!("bench-trade: pgbench baseline ({} s)", args.pgbench_seconds);
        prepare_baseline(&db_url, args.stocks).await?;
        // At the sessions' count, and at tickpulse's pool size (8
        // connections): the better one is the baseline.
        let at_clients = pgbench(&db_url, args.clients, args.pgbench_seconds)?;
        let at_pool = pgbench(&db_url, 8, args.pgbench_seconds)?;
        let (tps, pg_latency, pg_clients) = if at_pool.0 > at_clients.0 {
            (at_pool.0, at_pool.1, 8)
        } else {
            (at_clients.0, at_clients.1, args.clients)
        };
        eprintln!("bench-trade: embedded mode");
        std::fs::create_dir_all(&data)?;
        let data_dir = data.to_string_lossy().into_owned();
        let embedded_env = [("REDIS_URL", ""), ("DATABASE_URL", ""), ("DATA_DIR", data_dir.as_str())];
        let (embedded, _) = measure(&args, &bin, &embedded_env, seed + 3).await?;

        let mut out = String::new();
        writeln!(out, "# Paper trading: orders and lookups\n")?;
        writeln!(out, "Machine: {}. Written by `bench/run.sh trade` ({}).\n", machine(), tickpulse_core::Timestamp::now())?;
        writeln!(out, "{} sessions, each a user of its own, place market orders (1–5 shares, buy or sell) on {} stocks whose prices move every 200 ms; every order is read back and verified afterwards (0 mismatches, or the bench fails). The baseline is `pgbench` running the SQL transaction of one market buy (`bench/sql/market_buy.sql`: tickpulse's statements and row locks) on the same Postgres database in the same run, with {} clients and with 8 (tickpulse's pool size); the better rate counts.\n", args.clients, args.stocks, args.clients)?;
        writeln!(out, "| figure | Redis + Postgres | embedded (SQLite) | target |")?;
        writeln!(out, "| --- | ---: | ---: | --- |")?;
        writeln!(out, "| orders/s ({} orders) | {:.0} | {:.0} | ≥ 50 % of pgbench |", shared.orders, shared.orders_per_sec, embedded.orders_per_sec)?;
        writeln!(out, "| pgbench market-buy transactions/s, {} clients: {:.0} ({:.1} ms avg); 8 clients (tickpulse's pool): {:.0} ({:.1} ms avg) | {tps:.0} (the better, {pg_clients} clients, {pg_latency:.1} ms) | — | baseline |", args.clients, at_clients.0, at_clients.1, at_pool.0, at_pool.1)?;
        writeln!(out, "| orders/s ÷ pgbench | {:.0} % | — | ≥ 50 % |", 100.0 * shared.orders_per_sec / tps.max(1e-9))?;
        writeln!(out, "| order latency p50 | {:.2} ms | {:.2} ms | |", shared.p50, embedded.p50)?;
        writeln!(out, "| order latency p99 | {:.2} ms | {:.2} ms | ≤ 20 ms |", shared.p99, embedded.p99)?;
        writeln!(out, "| paced ({} sessions, {} ms between rounds): orders/s | {:.0} | {:.0} | |", args.clients, args.think_ms, shared.paced_per_sec, embedded.paced_per_sec)?;
        writeln!(out, "| paced: order latency p50 | {:.2} ms | {:.2} ms | |", shared.paced_p50, embedded.paced_p50)?;
        writeln!(out, "| paced: order latency p99 | {:.2} ms | {:.2} ms | ≤ 20 ms |", shared.paced_p99, embedded.paced_p99)?;
        writeln!(out, "| lookups/s, cache on | {:.0} | {:.0} | |", shared.cached_per_sec, embedded.cached_per_sec)?;
        writeln!(out, "| lookups/s, cache off | {:.0} | {:.0} | |", shared.uncached_per_sec, embedded.uncached_per_sec)?;
        writeln!(out, "| cached ÷ uncached | {:.0}× | {:.0}× | ≥ 10× |", shared.cached_per_sec / shared.uncached_per_sec.max(1e-9), embedded.cached_per_sec / embedded.uncached_per_sec.max(1e-9))?;
        writeln!(out, "\nUnpaced, the {} sessions wait for nothing but their answers, so the rate is the capacity and orders queue for it: by Little's law each one waits about sessions ÷ rate ({:.0} ms with Redis + Postgres, {:.0} ms embedded), as pgbench's clients do at the same count. The paced rows show the latency of an order that does not queue behind the others. Lookups: 16 sessions × {} rounds over {} stocks; with the cache on, each stock's first lookup is a fetch and the rest are answered from `StockCache`.", args.clients, 1000.0 * args.clients as f64 / shared.orders_per_sec.max(1e-9), 1000.0 * args.clients as f64 / embedded.orders_per_sec.max(1e-9), args.lookup_rounds, args.stocks)?;
        writeln!(out, "\nCPU during the orders phase: Redis + Postgres: {}; embedded: {}.\n", cpu_line(&shared.cpu), cpu_line(&embedded.cpu))?;
        writeln!(out, "The load client's chart (16 sessions × 40 rounds per probability, Redis + Postgres):\n\n![latency against order probability](trade.png)\n")?;
        writeln!(out, "```\n{chart}```")?;
        Ok(out)
    }
    .await;
    let _ = cleanup_redis(&args.services.redis_url, &prefix);
    let _ = std::fs::remove_dir_all(&data);
    let _ = args.services.drop_db(&db_name).await;
    publish(&args.out, &result?)
}
