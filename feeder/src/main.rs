//! `tickpulse-feeder`: simulate a market and post its ticks to tickpulse.

use anyhow::{bail, Context};
use clap::Parser;
use std::time::{Duration, Instant};
use tickpulse_feeder::market::{default_instruments, generated_symbols, instruments_for};
use tickpulse_feeder::{run, Endpoint, Pace, RunConfig};

#[derive(Debug, Parser)]
#[command(
    name = "tickpulse-feeder",
    version,
    about = "Simulated market and load generator for tickpulse.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    feed: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Load-test paper trading and verify every order (see the README).
    Trade(TradeArgs),
}

#[derive(Debug, clap::Args)]
struct TradeArgs {
    /// Base URLs of the tickpulse processes, comma-separated: requests are
    /// spread over them, and a failed one is resent to the next.
    #[arg(
        long,
        env = "TICKPULSE_URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:3000"
    )]
    url: Vec<String>,
    /// Sessions at once, each with a user of its own.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Rounds per session and phase (a lookup, and maybe an order).
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Order probabilities per round, comma-separated: one phase each.
    #[arg(long, value_delimiter = ',', default_value = "0,0.5,1")]
    probability: Vec<f64>,
    /// The stock cache: on, off, or both (each probability runs twice).
    #[arg(long, value_parser = ["on", "off", "both"], default_value = "both")]
    cache: String,
    /// Random seed, to replay a run (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Pause between a session's rounds, in milliseconds.
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// The server's ADMIN_API_KEY: makes the client's stocks, users and tokens.
    #[arg(long, env = "ADMIN_API_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// `user token` lines to use instead of making users (one per client).
    #[arg(long)]
    tokens_file: Option<std::path::PathBuf>,
    /// Ingest user name, for the price feed of the client's stocks.
    #[arg(long, env = "INGEST_USERNAME")]
    username: String,
    /// Ingest password.
    #[arg(long, env = "INGEST_PASSWORD", hide_env_values = true)]
    password: String,
    /// Stocks the client makes and trades.
    #[arg(long, default_value_t = 20)]
    stocks: usize,
    /// Shares of each.
    #[arg(long, default_value_t = 100_000)]
    quantity: u64,
    /// Longest wait for one attempt of a request, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// Resend every n-th placed order at once with the same client id, as a
    /// client whose answer was lost does (0: never); it must answer the
    /// same order.
    #[arg(long, default_value_t = 10)]
    resend_every: usize,
    /// Write the latency chart (PNG) here.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the first URL to become ready.
    #[arg(long, default_value_t = 60)]
    wait_ready: u64,
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Base URL of the tickpulse server.
    #[arg(long, env = "TICKPULSE_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Ingest user name (HTTP Basic Auth).
    #[arg(long, env = "INGEST_USERNAME")]
    username: Option<String>,
    /// Ingest password.
    #[arg(long, env = "INGEST_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Comma-separated symbols to simulate (default: ten well-known ones).
    #[arg(
        long,
        env = "FEEDER_SYMBOLS",
        value_delimiter = ',',
        conflicts_with = "symbol_count"
    )]
    symbols: Vec<String>,
    /// Simulate this many generated symbols (SYM0001…) instead.
    #[arg(long, env = "FEEDER_SYMBOL_COUNT")]
    symbol_count: Option<usize>,
    /// Ticks per second in total (ignored with --load).
    #[arg(long, env = "FEEDER_RATE", default_value_t = 20.0)]
    rate: f64,
    /// Ticks per request: 1 uses /ingest/tick, more use /ingest/ticks (≤ 10000).
    #[arg(long, env = "FEEDER_BATCH", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    batch: u16,
    /// How long to run, e.g. 30s, 5m, 2h (default: until Ctrl-C).
    #[arg(long, env = "FEEDER_DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many ticks.
    #[arg(long)]
    max_ticks: Option<u64>,
    /// Load mode: send as fast as the server acknowledges.
    #[arg(long)]
    load: bool,
    /// Requests in flight at most (default 4, or 64 with --load).
    #[arg(long)]
    concurrency: Option<usize>,
    /// The `source` field of every tick.
    #[arg(long, env = "FEEDER_SOURCE", default_value = "sim")]
    source: String,
    /// Random seed, to replay a run (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds to wait for the server to become ready before starting.
    #[arg(long, default_value_t = 60)]
    wait_ready: u64,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 2h"))?;
    let secs = match unit {
        "ms" => n / 1_000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3_600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}; use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

async fn wait_ready(url: &str, limit: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let ready = format!("{}/health/readiness", url.trim_end_matches('/'));
    let start = Instant::now();
    let mut told = false;
    loop {
        match client
            .get(&ready)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            _ if start.elapsed() >= limit => bail!("{url} is not ready after {limit:?} ({ready})"),
            _ => {
                if !told {
                    eprintln!("feeder: waiting for {url} to become ready…");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn trade(args: TradeArgs) -> anyhow::Result<()> {
    use tickpulse_feeder::trade::{plot, run, TradeConfig};
    if args.clients == 0 || args.iterations == 0 || args.stocks == 0 {
        bail!("--clients, --iterations and --stocks must be at least 1");
    }
    if let Some(p) = args.probability.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        bail!("--probability {p} is not between 0 and 1");
    }
    if args.wait_ready > 0 {
        wait_ready(&args.url[0], Duration::from_secs(args.wait_ready))
            .await
            .context("server not reachable")?;
    }
    let caches = match args.cache.as_str() {
        "on" => vec![true],
        "off" => vec![false],
        _ => vec![true, false],
    };
    let seed = args.seed.unwrap_or_else(|| {
        rand::RngCore::next_u64(&mut <rand::rngs::SmallRng as rand::SeedableRng>::from_os_rng())
    });
    eprintln!(
        "trade: {} clients × {} rounds, probabilities {:?}, cache {}, seed {seed}, against {}",
        args.clients,
        args.iterations,
        args.probability,
        args.cache,
        args.url.join(", ")
    );
    let report = run(TradeConfig {
        urls: args.url,
        clients: args.clients,
        iterations: args.iterations,
        probabilities: args.probability,
        caches,
        seed,
        think: Duration::from_millis(args.think_ms),
        admin_key: args.admin_key,
        ingest: (args.username, args.password),
        tokens_file: args.tokens_file,
        stocks: args.stocks,
        quantity: args.quantity,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        resend_every: args.resend_every,
        progress: !args.json,
    })
    .await?;
    if let Some(path) = &args.plot {
        plot::write(&report.phases, path)?;
        eprintln!("trade: chart written to {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if !report.mismatches.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Trade(args)) = cli.command {
        return trade(args).await;
    }
    let args = cli.feed;
    let (Some(username), Some(password)) = (args.username.clone(), args.password.clone()) else {
        bail!("set --username and --password (or INGEST_USERNAME and INGEST_PASSWORD): the webhook's credentials");
    };
    if !(args.rate > 0.0) && !args.load {
        bail!("--rate must be greater than 0");
    }
    let instruments = match (&args.symbol_count, args.symbols.is_empty()) {
        (Some(n), _) => instruments_for(&generated_symbols(*n)),
        (None, false) => instruments_for(&args.symbols),
        (None, true) => default_instruments(),
    };
    for i in &instruments {
        tickpulse_core::Symbol::new_checked(&i.symbol)
            .map_err(|e| anyhow::anyhow!("symbol {:?} {e}", i.symbol))?;
    }
    if args.wait_ready > 0 {
        wait_ready(&args.url, Duration::from_secs(args.wait_ready))
            .await
            .context("server not reachable")?;
    }
    let pace = if args.load {
        Pace::Unlimited
    } else {
        Pace::Rate(args.rate)
    };
    let config = RunConfig {
        endpoint: Endpoint {
            base_url: args.url.clone(),
            username,
            password,
        },
        instruments,
        source: args.source,
        seed: args.seed.unwrap_or_else(|| {
            rand::RngCore::next_u64(&mut <rand::rngs::SmallRng as rand::SeedableRng>::from_os_rng())
        }),
        pace,
        batch: usize::from(args.batch),
        concurrency: args.concurrency.unwrap_or(if args.load { 64 } else { 4 }),
        duration: args.duration,
        max_ticks: args.max_ticks,
        progress: !args.json,
    };
    let what = match pace {
        Pace::Rate(r) => format!("{r} ticks/s"),
        Pace::Unlimited => format!("load mode, {} in flight", config.concurrency),
    };
    eprintln!(
        "feeder: {} symbols → {} ({what}, {} per request{})",
        config.instruments.len(),
        args.url,
        config.batch,
        config
            .duration
            .map(|d| format!(", for {d:?}"))
            .unwrap_or_else(|| ", Ctrl-C to stop".into())
    );
    let report = run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if report.errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}
