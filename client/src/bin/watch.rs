//! `tickpulse-watch`: a live table of chosen symbols in the terminal, built
//! on the client package: views come from the [`CachedViews`] cache, filled
//! on a miss over HTTP and kept fresh by `view` events from the stream,
//! which resumes by itself after a dropped connection.

use clap::Parser;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_client::{sse, table, CacheConfig, CachedViews, HttpViews};
use tickpulse_core::{Symbol, Timestamp, View};

#[derive(Parser)]
#[command(
    name = "tickpulse-watch",
    version,
    about = "A live table of tickpulse symbols in the terminal."
)]
struct Args {
    /// Base URL of the tickpulse server.
    #[arg(long, env = "TICKPULSE_URL", default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Seconds between redraws.
    #[arg(long, default_value_t = 0.5)]
    every: f64,
    /// Print the table once and exit (for scripts).
    #[arg(long)]
    once: bool,
    /// The symbols to show, e.g. BTC-USD ETH-USD.
    #[arg(required = true)]
    symbols: Vec<String>,
}

fn now_ms() -> u64 {
    Timestamp::now().as_millis().unsigned_abs()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let symbols = args
        .symbols
        .iter()
        .map(|s| Symbol::new_checked(s).map_err(|e| anyhow::anyhow!("symbol {s:?} {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The views stay fresh through the stream: a long TTL, room for all.
    let views = Arc::new(CachedViews::new(
        HttpViews::new(&args.url),
        CacheConfig {
            capacity: symbols.len().max(1),
            ttl_ms: 60_000,
            half_life_ms: 60_000,
            admission: true,
        },
        now_ms,
    ));
    if !args.once {
        let list: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
        let url = format!(
            "{}/api/stream?symbols={}",
            args.url.trim_end_matches('/'),
            list.join(",")
        );
        let live = views.clone();
        tokio::spawn(async move {
            sse::follow(&url, |event| {
                if event.event == "view" {
                    if let Ok(view) = serde_json::from_str::<View>(&event.data) {
                        live.apply(view);
                    }
                }
                true
            })
            .await;
        });
    }
    loop {
        let mut rows = Vec::with_capacity(symbols.len());
        let mut problem = None;
        for symbol in &symbols {
            match views.get(symbol).await {
                Ok(view) => rows.push(view),
                Err(e) => {
                    problem = Some(e.to_string());
                    rows.push(None);
                }
            }
        }
        let text = table::render(&symbols, &rows, Timestamp::now());
        if args.once {
            print!("{text}");
            if let Some(p) = problem {
                anyhow::bail!(p);
            }
            return Ok(());
        }
        let stats = views.stats();
        let mut out = std::io::stdout().lock();
        // Clear the screen and draw from the top.
        let _ = write!(
            out,
            "\x1b[2J\x1b[H{text}\n{}  cache: {} hits, {} misses{}\n",
            args.url,
            stats.hits,
            stats.misses,
            problem.map(|p| format!("  ({p})")).unwrap_or_default()
        );
        let _ = out.flush();
        drop(out);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(args.every.max(0.05))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
