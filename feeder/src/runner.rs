//! Posting ticks: `concurrency` workers share one simulated market and one
//! HTTP connection pool. Paced runs are open-loop (request `k` is due at
//! `start + k × batch / rate` whatever happened to earlier ones), so a slow
//! server shows up as latency instead of silently lowering the rate.

use crate::market::{Instrument, Market};
use crate::report::Report;
use serde::Deserialize;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where to post, and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL of the server, e.g. `http://127.0.0.1:3000`.
    pub base_url: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many ticks per second in total.
    Rate(f64),
    /// As fast as the server acknowledges (load mode).
    Unlimited,
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub endpoint: Endpoint,
    pub instruments: Vec<Instrument>,
    pub source: String,
    pub seed: u64,
    pub pace: Pace,
    /// Ticks per request: 1 posts to `/ingest/tick`, more to `/ingest/ticks`.
    pub batch: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Stop after this long (`None`: until `stop`).
    pub duration: Option<Duration>,
    /// Stop after this many ticks (`None`: no limit).
    pub max_ticks: Option<u64>,
    /// Print a progress line to stderr every second.
    pub progress: bool,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    sent: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    errors: AtomicU64,
}

#[derive(Deserialize)]
struct Ack {
    accepted: u64,
    duplicates: u64,
}

/// Runs until the duration, the tick limit or `stop`, whichever comes first.
pub async fn run(config: RunConfig, stop: impl Future<Output = ()> + Send) -> Report {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client builds with default TLS-free settings");
    let market = Arc::new(Mutex::new(Market::new(
        config.instruments.clone(),
        &config.source,
        config.seed,
    )));
    let counters = Arc::new(Counters::default());
    let first_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let stopping = Arc::new(AtomicBool::new(false));
    let next_request = Arc::new(AtomicU64::new(0));
    let batch = config.batch.max(1);
    let url = if batch == 1 {
        format!(
            "{}/ingest/tick",
            config.endpoint.base_url.trim_end_matches('/')
        )
    } else {
        format!(
            "{}/ingest/ticks",
            config.endpoint.base_url.trim_end_matches('/')
        )
    };
    let start = Instant::now();

    let mut workers = Vec::new();
    for _ in 0..config.concurrency.max(1) {
        let w = Worker {
            client: client.clone(),
            url: url.clone(),
            endpoint: config.endpoint.clone(),
            market: market.clone(),
            counters: counters.clone(),
            first_errors: first_errors.clone(),
            stopping: stopping.clone(),
            next_request: next_request.clone(),
            pace: config.pace,
            batch,
            max_ticks: config.max_ticks,
            start,
        };
        workers.push(tokio::spawn(w.run()));
    }

    let progress = config
        .progress
        .then(|| tokio::spawn(progress_loop(counters.clone(), start)));
    let deadline = async {
        match config.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let all_done = futures::future::join_all(workers);
    tokio::pin!(all_done);
    let latencies: Vec<u32> = tokio::select! {
        done = &mut all_done => done.into_iter().flatten().flatten().collect(),
        _ = deadline => { stopping.store(true, Relaxed); all_done.await.into_iter().flatten().flatten().collect() }
        _ = stop => { stopping.store(true, Relaxed); all_done.await.into_iter().flatten().flatten().collect() }
    };
    stopping.store(true, Relaxed);
    let elapsed_secs = start.elapsed().as_secs_f64();
    if let Some(p) = progress {
        p.abort();
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
    }

    let mut report = Report {
        requests: counters.requests.load(Relaxed),
        sent: counters.sent.load(Relaxed),
        accepted: counters.accepted.load(Relaxed),
        duplicates: counters.duplicates.load(Relaxed),
        errors: counters.errors.load(Relaxed),
        elapsed_secs,
        first_errors: first_errors.lock().map(|e| e.clone()).unwrap_or_default(),
        ..Report::default()
    };
    report.set_latencies(latencies);
    report
}

struct Worker {
    client: reqwest::Client,
    url: String,
    endpoint: Endpoint,
    market: Arc<Mutex<Market>>,
    counters: Arc<Counters>,
    first_errors: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
    next_request: Arc<AtomicU64>,
    pace: Pace,
    batch: usize,
    max_ticks: Option<u64>,
    start: Instant,
}

impl Worker {
    /// Returns the acknowledgement latency of every request, in µs.
    async fn run(self) -> Vec<u32> {
        let mut latencies = Vec::new();
        let mut last_ts = Instant::now();
        while !self.stopping.load(Relaxed) {
            let k = self.next_request.fetch_add(1, Relaxed);
            if let Some(max) = self.max_ticks {
                if k * self.batch as u64 >= max {
                    break;
                }
            }
            if let Pace::Rate(rate) = self.pace {
                let due = self.start
                    + Duration::from_secs_f64(k as f64 * self.batch as f64 / rate.max(0.001));
                tokio::time::sleep_until(due.into()).await;
                if self.stopping.load(Relaxed) {
                    break;
                }
            }
            let body = self.body(&mut last_ts);
            let sent_at = Instant::now();
            let result = self
                .client
                .post(&self.url)
                .basic_auth(&self.endpoint.username, Some(&self.endpoint.password))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            self.counters.requests.fetch_add(1, Relaxed);
            self.counters.sent.fetch_add(self.batch as u64, Relaxed);
            match result {
                Ok(response) if response.status().is_success() => {
                    let bytes = response.bytes().await.unwrap_or_default();
                    latencies
                        .push(u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX));
                    // The bench's echo baseline answers with the body itself.
                    if let Ok(ack) = serde_json::from_slice::<Ack>(&bytes) {
                        self.counters.accepted.fetch_add(ack.accepted, Relaxed);
                        self.counters.duplicates.fetch_add(ack.duplicates, Relaxed);
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    self.error(format!(
                        "HTTP {status}: {}",
                        text.chars().take(300).collect::<String>()
                    ));
                }
                Err(e) => self.error(format!("request failed: {e}")),
            }
        }
        latencies
    }

    fn body(&self, last: &mut Instant) -> Vec<u8> {
        let now_ms = tickpulse_core::Timestamp::now().as_millis();
        let dt = last.elapsed().as_secs_f64();
        *last = Instant::now();
        let mut market = self.market.lock().unwrap_or_else(|p| p.into_inner());
        if self.batch == 1 {
            serde_json::to_vec(&market.next_tick(now_ms, dt)).unwrap_or_default()
        } else {
            let ticks: Vec<_> = (0..self.batch)
                .map(|_| market.next_tick(now_ms, dt / self.batch as f64))
                .collect();
            serde_json::to_vec(&ticks).unwrap_or_default()
        }
    }

    fn error(&self, message: String) {
        self.counters.errors.fetch_add(1, Relaxed);
        let mut seen = self.first_errors.lock().unwrap_or_else(|p| p.into_inner());
        let kind: String = message.chars().take(12).collect();
        if seen.len() < 5 && !seen.iter().any(|m| m.starts_with(&kind)) {
            eprintln!("\nfeeder: {message}");
            seen.push(message);
        }
    }
}

/// Runs until aborted.
async fn progress_loop(counters: Arc<Counters>, start: Instant) {
    let tty = std::io::stderr().is_terminal();
    let mut last_sent = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let sent = counters.sent.load(Relaxed);
        let line = format!(
            "[{:>6.1}s] sent {sent}  accepted {}  duplicates {}  errors {}  {} ticks/s",
            start.elapsed().as_secs_f64(),
            counters.accepted.load(Relaxed),
            counters.duplicates.load(Relaxed),
            counters.errors.load(Relaxed),
            sent - last_sent,
        );
        last_sent = sent;
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
        } else if n % 5 == 0 {
            let _ = writeln!(err, "{line}");
        }
    }
}
