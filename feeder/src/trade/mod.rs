//! `tickpulse-feeder trade`: a load client for paper trading that verifies
//! every order it places.
//!
//! Setup (with the admin key): its own stocks (`LT<run>-NNN`, `--quantity`
//! shares each) with a price feed of its own (a tick per stock every
//! 200 ms, through the webhook), its own users and their tokens (or
//! `--tokens-file`). Then, per probability `p` and cache mode, `--clients`
//! sessions run `--iterations` rounds each: look a random stock up (with the
//! cache on, through the client package's `StockCache`, kept right by the
//! `stock` events of `/api/stream`), and with probability `p` place an order
//! (market or limit, buy or sell, 1–5 shares). Its `client_order_id` is
//! fixed before it is sent; a timeout, a connection error or a 503 resends
//! the same order to the next URL.
//!
//! After each phase every order is read back, by number and by client id,
//! and compared with what was sent (see [`verify`]); at the end the
//! invariants are checked over the client's users and stocks. Any mismatch,
//! lost order or double execution is named, and the exit status is 1.

pub mod api;
pub mod plot;
mod readback;
mod shared;
pub mod stats;
pub mod verify;

use api::{Answer, Api};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use readback::{no_doubles, read_back, trade_caught_up};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{json, Value};
use shared::{now_ms, Shared};
use stats::{Kind, Recorder, Summary};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickpulse_client::StockCache;
use tickpulse_core::Symbol;
use verify::{Outcome, PriceLog, Sent};

/// What a load run does.
#[derive(Debug, Clone)]
pub struct TradeConfig {
    pub urls: Vec<String>,
    pub clients: usize,
    pub iterations: usize,
    pub probabilities: Vec<f64>,
    /// The cache modes to run, in order (`true` = on).
    pub caches: Vec<bool>,
    pub seed: u64,
    pub think: Duration,
    /// `x-api-key` for the admin API (users, tokens, the catalog).
    pub admin_key: Option<String>,
    /// Ingest credentials, for the price feed of the client's stocks.
    pub ingest: (String, String),
    /// `user token` lines, instead of making users.
    pub tokens_file: Option<std::path::PathBuf>,
    pub stocks: usize,
    pub quantity: u64,
    pub timeout: Duration,
    /// Resend every n-th placed order at once, as a client whose answer got
    /// lost would (0: never); the resend must answer the same order.
    pub resend_every: usize,
    pub progress: bool,
}

/// The figures of one phase: one probability, one cache mode.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub probability: f64,
    pub cache: bool,
    pub lookups: Summary,
    pub orders: Summary,
    pub reads: Summary,
    pub elapsed_secs: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TradeReport {
    pub phases: Vec<Phase>,
    /// Orders sent, placed (new ones), refused, and unknown after every
    /// resend (then resolved by reading back).
    pub sent: u64,
    pub placed: u64,
    pub refused: u64,
    pub unknown: u64,
    /// Everything that did not read back as sent, naming the order.
    pub mismatches: Vec<String>,
}

/// Makes the client's stocks, users and tokens; `(users, tokens, symbols)`.
async fn setup(
    config: &TradeConfig,
    api: &Api,
    run: &str,
) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<Symbol>)> {
    let key = config.admin_key.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "set --admin-key (ADMIN_API_KEY of the server) to make the client's stocks and users"
        )
    })?;
    let admin = |method: reqwest::Method, path: String, body: Value| {
        let key = key.to_owned();
        async move {
            let sent = api
                .send(|http, url| {
                    http.request(method.clone(), format!("{url}{path}"))
                        .header("x-api-key", &key)
                        .json(&body)
                })
                .await;
            match sent.answer {
                Answer::Http(s, body) if (200..300).contains(&s) => Ok(body),
                Answer::Http(s, body) => Err(anyhow::anyhow!("{path}: {s} {body}")),
                Answer::Failed(e) => Err(anyhow::anyhow!("{path}: {e}")),
            }
        }
    };
    let mut symbols = Vec::new();
    for i in 0..config.stocks {
        let symbol = Symbol::new_checked(&format!("LT{run}-{i:03}"))
            .map_err(|e| anyhow::anyhow!("stock symbol: {e}"))?;
        admin(
            reqwest::Method::PUT,
            format!("/api/admin/catalog/{symbol}"),
            json!({"name": format!("Load test {i}"), "available": config.quantity}),
        )
        .await?;
        symbols.push(symbol);
    }
    let (users, tokens) = match &config.tokens_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let pairs: Vec<(String, String)> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    let mut parts = l.split_whitespace();
                    (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            if pairs.len() < config.clients || pairs.iter().any(|(_, t)| t.is_empty()) {
                anyhow::bail!(
                    "{}: needs {} lines of `user token`",
                    path.display(),
                    config.clients
                );
            }
            pairs.into_iter().take(config.clients).unzip()
        }
        None => {
            let mut users = Vec::new();
            let mut tokens = Vec::new();
            for i in 0..config.clients {
                let name = format!("lt{run}-{i}").to_ascii_lowercase();
                admin(
                    reqwest::Method::PUT,
                    format!("/api/admin/users/{name}"),
                    json!({"role": "viewer"}),
                )
                .await?;
                let made = admin(
                    reqwest::Method::POST,
                    format!("/api/admin/users/{name}/tokens"),
                    json!({}),
                )
                .await?;
                let token = made["token"].as_str().unwrap_or("").to_owned();
                users.push(name);
                tokens.push(token);
            }
            (users, tokens)
        }
    };
    Ok((users, tokens, symbols))
}

/// Posts a tick per stock every 200 ms (a random walk around 100) until
/// `stop`; the prices are the ones orders trade on.
fn feed_prices(
    api: Api,
    ingest: (String, String),
    symbols: Vec<Symbol>,
    seed: u64,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let mut prices: Vec<Decimal> = symbols.iter().map(|_| Decimal::from(100)).collect();
        let mut n: u64 = 0;
        let run = seed;
        while !*stop.borrow() {
            let ts = tickpulse_core::Timestamp::now().as_millis();
            let mut batch = Vec::with_capacity(symbols.len());
            for (i, s) in symbols.iter().enumerate() {
                let step = Decimal::new(rng.random_range(-50..=50), 2);
                prices[i] = (prices[i] + step).max(Decimal::ONE);
                n += 1;
                batch.push(
                    json!({"symbol": s.as_str(), "price": prices[i].to_string(), "volume": "1",
                    "source": "load-test", "ts": ts, "event_id": format!("lt-{run}-{n}")}),
                );
            }
            let body = Value::Array(batch);
            let (user, password) = (ingest.0.clone(), ingest.1.clone());
            let _ = api
                .send(|http, url| {
                    http.post(format!("{url}/ingest/ticks"))
                        .basic_auth(&user, Some(&password))
                        .json(&body)
                })
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Follows `/api/stream` for the client's stocks: every tick goes to the
/// price log, and every event to the stock cache.
fn follow_market(shared: Arc<Shared>, url: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tickpulse_client::sse::follow(&url, |event| {
            if event.event == "tick" {
                if let Ok(t) = serde_json::from_str::<tickpulse_core::StreamTick>(&event.data) {
                    shared.prices.lock().unwrap().saw(
                        t.tick.symbol.as_str(),
                        t.received_at.as_millis(),
                        t.tick.price.value(),
                    );
                }
            }
            shared.cache.lock().unwrap().on_event(&event);
            true
        })
        .await;
    })
}

/// One session's rounds; the orders it sent and its latencies.
async fn session(
    shared: Arc<Shared>,
    client: usize,
    phase: usize,
    probability: f64,
    cache: bool,
    iterations: usize,
    seed: u64,
    think: Duration,
    run: String,
    resend_every: usize,
) -> (Vec<Sent>, Recorder, Recorder) {
    let mut rng = SmallRng::seed_from_u64(seed ^ ((phase as u64) << 32) ^ client as u64);
    let (mut lookups, mut orders) = (Recorder::default(), Recorder::default());
    let mut sent = Vec::new();
    let token = &shared.tokens[client];
    // Paced sessions start spread over one pause, not all at once.
    if !think.is_zero() {
        tokio::time::sleep(think.mul_f64(rng.random::<f64>())).await;
    }
    for i in 0..iterations {
        let symbol = &shared.stocks[rng.random_range(0..shared.stocks.len())];
        let start = Instant::now();
        let cached = cache
            .then(|| shared.cache.lock().unwrap().get(symbol).cloned())
            .flatten();
        let stock = match cached {
            Some(stock) => {
                lookups.record(start.elapsed(), 0, false);
                Some(stock)
            }
            None => {
                let got = shared
                    .api
                    .get(token, &format!("/api/stocks/{symbol}"))
                    .await;
                let stock = match &got.answer {
                    Answer::Http(200, body) => {
                        serde_json::from_value::<tickpulse_core::trade::Stock>(body.clone()).ok()
                    }
                    _ => None,
                };
                lookups.record(got.elapsed, got.retries, stock.is_none());
                if let (true, Some(s)) = (cache, &stock) {
                    shared.cache.lock().unwrap().put(s.clone());
                }
                stock
            }
        };
        if let Some(price) = stock.as_ref().and_then(|s| s.price) {
            shared
                .prices
                .lock()
                .unwrap()
                .saw(symbol.as_str(), now_ms(), price.value());
        }
        if rng.random_bool(probability.clamp(0.0, 1.0)) {
            let side = if rng.random_bool(0.6) { "buy" } else { "sell" };
            let quantity = rng.random_range(1..=5u64);
            let limit = match (rng.random_bool(0.3), stock.as_ref().and_then(|s| s.price)) {
                (true, Some(p)) => {
                    // Around the market: some cross at once, some rest.
                    let factor = Decimal::new(rng.random_range(97..=103), 2);
                    Some((p.value() * factor).round_dp(2).max(Decimal::new(1, 2)))
                }
                _ => None,
            };
            let client_order_id = format!("lt{run}-{phase}-{client}-{i}");
            let mut body = json!({"symbol": symbol.as_str(), "side": side, "quantity": quantity,
                "type": if limit.is_some() { "limit" } else { "market" }, "client_order_id": client_order_id});
            if let Some(l) = limit {
                body["limit_price"] = json!(l.to_string());
                body["time_in_force"] = json!("gtc");
            }
            let sent_ms = now_ms();
            let answer = shared.api.order(token, &body).await;
            let outcome = match &answer.answer {
                Answer::Http(s @ (200 | 201), order) => match order["number"].as_i64() {
                    Some(number) => Outcome::Placed {
                        number,
                        created: *s == 201,
                    },
                    None => Outcome::Unexpected(*s, order.to_string()),
                },
                Answer::Http(422, b) => {
                    Outcome::Refused(b["code"].as_str().unwrap_or("").to_owned())
                }
                Answer::Http(s, b) => Outcome::Unexpected(*s, b.to_string()),
                Answer::Failed(e) => Outcome::Unknown(e.clone()),
            };
            orders.record(
                answer.elapsed,
                answer.retries,
                matches!(outcome, Outcome::Unknown(_) | Outcome::Unexpected(..)),
            );
            let resend = match &outcome {
                Outcome::Placed { .. } if resend_every > 0 && sent.len() % resend_every == 0 => {
                    let again = shared.api.order(token, &body).await;
                    orders.record(
                        again.elapsed,
                        again.retries,
                        matches!(again.answer, Answer::Failed(_)),
                    );
                    Some(match again.answer {
                        Answer::Http(s @ (200 | 201), o) => match o["number"].as_i64() {
                            Some(number) => Outcome::Placed {
                                number,
                                created: s == 201,
                            },
                            None => Outcome::Unexpected(s, o.to_string()),
                        },
                        Answer::Http(s, b) => Outcome::Unexpected(s, b.to_string()),
                        Answer::Failed(e) => Outcome::Unknown(e),
                    })
                }
                _ => None,
            };
            sent.push(Sent {
                user: client,
                client_order_id,
                symbol: symbol.to_string(),
                side,
                quantity,
                kind: if limit.is_some() { "limit" } else { "market" },
                limit,
                sent_ms,
                answered_ms: now_ms(),
                outcome,
                resend,
            });
        }
        if !think.is_zero() {
            tokio::time::sleep(think).await;
        }
    }
    (sent, lookups, orders)
}

/// Runs the load; `progress` lines go to stderr.
///
/// # Errors
/// When the setup fails (no admin key, the server refuses).
pub async fn run(config: TradeConfig) -> anyhow::Result<TradeReport> {
    let api = Api::new(&config.urls, config.timeout);
    let run = format!("{:06X}", config.seed % 0xFF_FFFF);
    let (_users, tokens, stocks) = setup(&config, &api, &run).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feed = feed_prices(
        api.clone(),
        config.ingest.clone(),
        stocks.clone(),
        config.seed,
        stop_rx,
    );
    let shared = Arc::new(Shared {
        api: api.clone(),
        tokens,
        stocks: stocks.clone(),
        prices: Mutex::new(PriceLog::default()),
        cache: Mutex::new(StockCache::new()),
    });
    let list: Vec<&str> = stocks.iter().map(Symbol::as_str).collect();
    // One follower per URL: a price is seen while any process is up.
    let followers: Vec<_> = api
        .urls()
        .iter()
        .map(|url| {
            follow_market(
                shared.clone(),
                format!("{url}/api/stream?symbols={}", list.join(",")),
            )
        })
        .collect();
    // Every stock has a live price before the first order.
    for s in &stocks {
        for _ in 0..100 {
            if let Answer::Http(200, b) = api
                .get(&shared.tokens[0], &format!("/api/stocks/{s}"))
                .await
                .answer
            {
                if !b["price"].is_null() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let starting = match api.get(&shared.tokens[0], "/api/account").await.answer {
        Answer::Http(200, a) => a["cash"].as_str().and_then(|c| c.parse::<Decimal>().ok()),
        _ => None,
    }
    .ok_or_else(|| anyhow::anyhow!("cannot read the first user's account"))?;
    let mut report = TradeReport::default();
    let mut all_sent: Vec<Sent> = Vec::new();
    let mut terminal: HashMap<i64, Value> = HashMap::new();
    let mut phase = 0;
    for &probability in &config.probabilities {
        for &cache in &config.caches {
            phase += 1;
            if !cache {
                *shared.cache.lock().unwrap() = StockCache::new();
            }
            let started = Instant::now();
            let handles: Vec<_> = (0..config.clients)
                .map(|client| {
                    tokio::spawn(session(
                        shared.clone(),
                        client,
                        phase,
                        probability,
                        cache,
                        config.iterations,
                        config.seed,
                        config.think,
                        run.clone(),
                        config.resend_every,
                    ))
                })
                .collect();
            let mut sent = Vec::new();
            let (mut lookups, mut orders) = (Recorder::default(), Recorder::default());
            for h in handles {
                let (s, l, o) = h.await?;
                sent.extend(s);
                lookups.merge(l);
                orders.merge(o);
            }
            let elapsed = started.elapsed();
            let (wrong, reads, resolved, settled) = read_back(&shared, &sent).await;
            terminal.extend(settled);
            report.mismatches.extend(wrong);
            report.sent += sent.len() as u64;
            report.placed += sent
                .iter()
                .filter(|s| matches!(s.outcome, Outcome::Placed { created: true, .. }))
                .count() as u64;
            report.refused += sent
                .iter()
                .filter(|s| matches!(s.outcome, Outcome::Refused(_)))
                .count() as u64;
            report.unknown += resolved;
            let p = Phase {
                probability,
                cache,
                lookups: lookups.summary(),
                orders: orders.summary(),
                reads: reads.summary(),
                elapsed_secs: elapsed.as_secs_f64(),
            };
            if config.progress {
                eprintln!(
                    "trade: p={probability} cache={} {} lookups, {} orders in {:.1} s; read back, {} mismatches so far",
                    if cache { "on" } else { "off" },
                    p.lookups.count,
                    p.orders.count,
                    p.elapsed_secs,
                    report.mismatches.len()
                );
            }
            report.phases.push(p);
            all_sent.extend(sent);
        }
    }
    let _ = stop_tx.send(true);
    let _ = feed.await;
    // The last ticks reach the trade role before open orders are judged.
    if !trade_caught_up(&api, Duration::from_secs(90)).await {
        report
            .mismatches
            .push("the trade group still had ticks pending or unread after 90 s".into());
    }
    for f in followers {
        f.abort();
    }
    let (wrong, ledger) = no_doubles(&shared, &all_sent, &terminal).await;
    report.mismatches.extend(wrong);
    let mut stock_state = Vec::new();
    for s in &stocks {
        if let Answer::Http(200, b) = api
            .get(&shared.tokens[0], &format!("/api/stocks/{s}"))
            .await
            .answer
        {
            stock_state.push((
                s.to_string(),
                config.quantity,
                b["available"].as_u64().unwrap_or(0),
            ));
        }
    }
    report
        .mismatches
        .extend(ledger.broken(starting, shared.tokens.len(), &stock_state));
    Ok(report)
}

impl std::fmt::Display for TradeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| p | cache | kind | count | p50 ms | p95 ms | p99 ms | mean ms | errors | retries |"
        )?;
        writeln!(
            f,
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for p in &self.phases {
            for (kind, s) in Kind::ALL.iter().zip([p.lookups, p.orders, p.reads]) {
                writeln!(
                    f,
                    "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    p.probability,
                    if p.cache { "on" } else { "off" },
                    kind.name(),
                    s.count,
                    s.p50_ms,
                    s.p95_ms,
                    s.p99_ms,
                    s.mean_ms,
                    s.errors,
                    s.retries
                )?;
            }
        }
        writeln!(
            f,
            "\n{} orders sent: {} placed, {} refused, {} without an answer (read back); {} mismatches",
            self.sent,
            self.placed,
            self.refused,
            self.unknown,
            self.mismatches.len()
        )?;
        for m in self.mismatches.iter().take(50) {
            writeln!(f, "  mismatch: {m}")?;
        }
        Ok(())
    }
}
