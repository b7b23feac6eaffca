//! `tickpulse-watch`: a live table of chosen symbols in the terminal, built
//! on the client package: views come from the [`CachedViews`] cache, filled
//! on a miss over HTTP and kept fresh by `view` events from the stream,
//! which resumes by itself after a dropped connection, over SSE or (with
//! `--transport ws`) the WebSocket, every update or (with `--conflate
//! 250ms`) the latest per symbol per interval. With `--watchlist NAME` (and
//! a personal token) it shows one of your watchlists and follows it as it
//! changes.

use clap::Parser;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickpulse_client::{sse, table, ws, CacheConfig, CachedViews, HttpViews, SseEvent, Watchlists};
use tickpulse_core::live::{conflation, Follow, Subscription};
use tickpulse_core::watchlist::WatchlistEvent;
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
    /// One of your watchlists, by name, instead of symbols (needs --token).
    #[arg(long, conflicts_with = "symbols")]
    watchlist: Option<String>,
    /// A personal token (`tickpulse user token NAME`), for --watchlist.
    #[arg(long, env = "TICKPULSE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How updates come: `sse` (`/api/stream`) or `ws` (`/api/ws`).
    #[arg(long, default_value = "sse", value_parser = ["sse", "ws"])]
    transport: String,
    /// At most one update per symbol per interval, the latest: `250ms`,
    /// `2s` (10ms to 60s); `0`: every update.
    #[arg(long, default_value = "0")]
    conflate: String,
    /// The symbols to show, e.g. BTC-USD ETH-USD.
    #[arg(required_unless_present = "watchlist")]
    symbols: Vec<String>,
}

fn now_ms() -> u64 {
    Timestamp::now().as_millis().unsigned_abs()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let conflate = conflation(&args.conflate).map_err(|e| anyhow::anyhow!("--conflate {e}"))?;
    let (symbols, stream, follow) = match &args.watchlist {
        Some(name) => {
            let token = args.token.as_deref().ok_or_else(|| {
                anyhow::anyhow!("--watchlist needs a personal token: --token or TICKPULSE_TOKEN (`tickpulse user token NAME` prints one)")
            })?;
            let lists = Watchlists::new(&args.url, token);
            let list = lists
                .find(name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("you have no watchlist named {name:?}"))?;
            (
                list.symbols,
                lists.stream_url(list.id),
                Follow::Watchlist(list.id),
            )
        }
        None => {
            let symbols = args
                .symbols
                .iter()
                .map(|s| Symbol::new_checked(s).map_err(|e| anyhow::anyhow!("symbol {s:?} {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let list: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
            let url = format!(
                "{}/api/stream?symbols={}",
                args.url.trim_end_matches('/'),
                list.join(",")
            );
            (symbols.clone(), url, Follow::Symbols(symbols))
        }
    };
    // The views stay fresh through the stream: a long TTL, room for all
    // (a watchlist holds at most 10,000).
    let views = Arc::new(CachedViews::new(
        HttpViews::new(&args.url),
        CacheConfig {
            capacity: symbols
                .len()
                .max(if args.watchlist.is_some() { 10_000 } else { 1 }),
            ttl_ms: 60_000,
            half_life_ms: 60_000,
            admission: true,
        },
        now_ms,
    ));
    let shown = Arc::new(Mutex::new(symbols));
    let deleted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if !args.once {
        let (live, list, gone) = (views.clone(), shown.clone(), deleted.clone());
        let token = args.watchlist.as_ref().and(args.token.clone());
        let (base, transport) = (args.url.clone(), args.transport.clone());
        tokio::spawn(async move {
            let on_event = |event: SseEvent| match event.event.as_str() {
                "view" => {
                    if let Ok(view) = serde_json::from_str::<View>(&event.data) {
                        live.apply(view);
                    }
                    true
                }
                "watchlist" => match serde_json::from_str::<WatchlistEvent>(&event.data) {
                    Ok(change) if change.deleted => {
                        gone.store(true, std::sync::atomic::Ordering::Relaxed);
                        false
                    }
                    Ok(change) => {
                        *list.lock().unwrap() = change.list.symbols;
                        true
                    }
                    Err(_) => true,
                },
                _ => true,
            };
            if transport == "ws" {
                let subscription = Subscription { follow, conflate };
                ws::follow(&base, token.as_deref(), subscription, on_event).await;
            } else {
                let stream = match conflate {
                    Some(c) => format!(
                        "{stream}&conflate={}",
                        tickpulse_core::live::conflation_text(c)
                    ),
                    None => stream,
                };
                sse::follow_with(&stream, token.as_deref(), on_event).await;
            }
        });
    }
    loop {
        if deleted.load(std::sync::atomic::Ordering::Relaxed) {
            anyhow::bail!("the watchlist was deleted");
        }
        let symbols = shown.lock().unwrap().clone();
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
