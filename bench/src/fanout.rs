//! `bench-fanout`: SSE fan-out of one tickpulse process (DESIGN §9, P5),
//! and with `--transport ws` the WebSocket door beside it.
//!
//! The dashboard workload: 500 symbols, ticks posted through the webhook at
//! `--rate` per second in all (batches every 10 ms), N SSE clients on
//! `/api/stream?symbols=…`, each watching 20 of the symbols. For growing N
//! it measures the tick events delivered per second, the latency of each
//! (publisher's send → client's read, from a send time carried in the
//! event id), lost events (expected from the subscriptions, minus those
//! read) and resets, and the server's memory. The answer is the largest N
//! with p99 ≤ 100 ms and nothing lost. The clients and the publisher run in
//! this process, on the same 2 cores as the server.
//!
//! With `--transport ws` (and `--baseline nchan`) every case runs on
//! tickpulse's SSE, tickpulse's WebSocket (`/api/ws`, one `subscribe`) and
//! nchan's WebSocket subscribers, and one more measurement follows: the
//! bytes and updates a client of 20 symbols receives at 1,000 ticks/s over
//! those 20, with `conflate=250ms` and without, on both doors.

use anyhow::Context;
use clap::Parser;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tickpulse_bench::{machine, publish, start_tickpulse, Proc, PASSWORD, USER};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

#[derive(Parser)]
struct Args {
    /// Client counts to try, in order; stops after the first that misses.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2500,5000,7500,10000"
    )]
    clients: Vec<usize>,
    /// Ticks per second in all, spread over the symbols.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Symbols each client watches.
    #[arg(long, default_value_t = 20)]
    per_client: usize,
    /// Seconds of measurement per client count (after a 3 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Cases as clients × tick events per client per second (e.g.
    /// `1000x117,2000x47`), run in turn instead of `--clients` at `--rate`;
    /// the rate of a case is events × symbols / per-client.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<Case>,
    /// Run the same cases against this server too, side by side: `nchan`
    /// (nginx + nchan with `bench/nchan/nginx.conf`, one worker).
    #[arg(long)]
    baseline: Option<Baseline>,
    /// Folder with the release binary `tickpulse`.
    #[arg(long, default_value = "target/release")]
    bin_dir: String,
    /// `sse` (the SSE stream alone), or `ws`: the WebSocket door beside
    /// SSE (and beside nchan's WebSocket subscribers with `--baseline`),
    /// and the conflation measurement.
    #[arg(long, default_value = "sse", value_parser = ["sse", "ws"])]
    transport: String,
    /// Where to write the report (Markdown); with `--transport ws`,
    /// `bench/reports/fanout-ws.md` unless given.
    #[arg(long)]
    out: Option<String>,
}

/// One case of `--cases`.
#[derive(Debug, Clone, Copy)]
struct Case {
    clients: usize,
    /// Tick events each client reads per second.
    events: u64,
}

impl std::str::FromStr for Case {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (c, e) = s
            .split_once('x')
            .ok_or_else(|| format!("a case is CLIENTSxEVENTS, like 1000x117, not {s:?}"))?;
        let number = |v: &str| {
            v.trim()
                .parse()
                .map_err(|_| format!("not a number in case {s:?}: {v:?}"))
        };
        Ok(Case {
            clients: number(c)? as usize,
            events: number(e)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Baseline {
    Nchan,
}

/// The server and door a level runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Tickpulse,
    /// tickpulse's `/api/ws`.
    TickpulseWs,
    Nchan,
    /// nchan's WebSocket subscribers.
    NchanWs,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Tickpulse => "tickpulse",
            Target::TickpulseWs => "tickpulse WebSocket",
            Target::Nchan => "nginx + nchan",
            Target::NchanWs => "nginx + nchan WebSocket",
        }
    }
    /// The subscription path of a client watching `symbols`.
    fn path(self, symbols: &[String]) -> String {
        match self {
            Target::Tickpulse => format!("/api/stream?symbols={}", symbols.join(",")),
            Target::TickpulseWs => "/api/ws".to_owned(),
            Target::Nchan => format!("/sub/{}", symbols.join(",")),
            Target::NchanWs => format!("/ws/{}", symbols.join(",")),
        }
    }
    fn websocket(self) -> bool {
        matches!(self, Target::TickpulseWs | Target::NchanWs)
    }
}

/// Latency bound of the target.
const P99_TARGET_MS: f64 = 100.0;

fn micros_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn symbol(i: usize) -> String {
    format!("P5-{i:03}")
}

/// The symbols client `c` watches.
fn watched(c: usize, args: &Args) -> Vec<usize> {
    (0..args.per_client)
        .map(|k| (c * args.per_client + k) % args.symbols)
        .collect()
}

/// What the clients saw, shared.
#[derive(Default)]
struct Seen {
    /// Tick events of the measured phase.
    ticks: AtomicU64,
    views: AtomicU64,
    resets: AtomicU64,
    /// Clients whose stream ended or failed.
    dropped: AtomicU64,
    /// Microseconds from send to read, of the measured phase.
    latencies: Mutex<Vec<u32>>,
}

/// The phase a tick belongs to, carried in its event id:
/// `p5-{run}-{phase}-{seq}-{send µs}`.
const WARM: char = 'w';
const MEASURED: char = 'm';

/// What every client shares with the driver.
struct Shared {
    seen: Seen,
    run: String,
    connected: AtomicU64,
    /// True during the measured phase (for the view count).
    measuring: AtomicBool,
}

/// One client of `target`: an SSE connection, or a WebSocket one that
/// subscribes to `symbols` (tickpulse) or names them in its path (nchan).
async fn client(
    target: Target,
    base: String,
    (path, symbols): (String, Vec<String>),
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    if target.websocket() {
        let subscribe = (target == Target::TickpulseWs).then(|| {
            let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
            format!(r#"{{"action":"subscribe","symbols":[{}]}}"#, list.join(","))
        });
        return ws_client(base, path, subscribe, shared, stop).await;
    }
    sse_client(base, path, shared, stop).await
}

/// What one event read tells: a measured tick's latency, a view, a reset.
fn count(kind: &str, data: &str, marker: &str, shared: &Shared, latencies: &mut Vec<u32>) {
    let seen = &shared.seen;
    match kind {
        "tick" => {
            let now = micros_now();
            if let Some(at) = data.find(marker) {
                let rest = &data[at + marker.len()..];
                if rest.starts_with(MEASURED) {
                    let id = rest.split('"').next().unwrap_or("");
                    if let Some(sent) = id.rsplit('-').next().and_then(|s| s.parse::<u64>().ok()) {
                        latencies.push(now.saturating_sub(sent).min(u32::MAX as u64) as u32);
                        seen.ticks.fetch_add(1, Relaxed);
                    }
                }
            }
        }
        "view" if shared.measuring.load(Relaxed) => {
            seen.views.fetch_add(1, Relaxed);
        }
        "snapshot" if data.contains("\"reset\":true") => {
            seen.resets.fetch_add(1, Relaxed);
        }
        _ => {}
    }
    if latencies.len() >= 4096 {
        seen.latencies.lock().unwrap().append(latencies);
    }
}

/// A WebSocket client, by hand (a handshake and unmasked server frames),
/// so it costs about what the SSE one costs: reads events until `stop`.
async fn ws_client(
    base: String,
    path: String,
    subscribe: Option<String>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::io::AsyncReadExt;
    let seen = &shared.seen;
    let fail = |seen: &Seen| {
        seen.dropped.fetch_add(1, Relaxed);
    };
    let host = base.trim_start_matches("http://").to_owned();
    let Ok(mut stream) = TcpStream::connect(&host).await else {
        return fail(seen);
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    if let Some(text) = subscribe {
        request.extend_from_slice(&mask_frame(text.as_bytes()));
    }
    if stream.write_all(&request).await.is_err() {
        return fail(seen);
    }
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    // The handshake's answer, up to its empty line.
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return fail(seen),
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
    }
    shared.connected.fetch_add(1, Relaxed);
    let marker = format!("\"event_id\":\"p5-{}-", shared.run);
    let mut latencies = Vec::new();
    let mut payload = Vec::new();
    loop {
        let frame = async {
            let mut head = [0u8; 2];
            reader.read_exact(&mut head).await?;
            let len = match head[1] & 0x7f {
                126 => u64::from(reader.read_u16().await?),
                127 => reader.read_u64().await?,
                n => u64::from(n),
            };
            payload.resize(len as usize, 0);
            reader.read_exact(&mut payload).await?;
            std::io::Result::Ok(head[0] & 0x0f)
        };
        let opcode = tokio::select! {
            f = frame => match f {
                Ok(op) => op,
                Err(_) => {
                    fail(seen);
                    break;
                }
            },
            _ = stop.changed() => break,
        };
        match opcode {
            0x1 => {
                let text = String::from_utf8_lossy(&payload);
                // tickpulse: {"event":"tick",…}; nchan: the message itself.
                let kind = match text.strip_prefix("{\"event\":\"") {
                    Some(rest) => rest.split('"').next().unwrap_or(""),
                    None => "tick",
                };
                count(kind, &text, &marker, &shared, &mut latencies);
            }
            0x8 => {
                fail(seen);
                break;
            }
            _ => {}
        }
    }
    seen.latencies.lock().unwrap().append(&mut latencies);
}

/// A client's text frame (masked, as a client's must be).
fn mask_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

async fn sse_client(
    base: String,
    path: String,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let seen = &shared.seen;
    let fail = |seen: &Seen| {
        seen.dropped.fetch_add(1, Relaxed);
    };
    let Ok(mut stream) = TcpStream::connect(base.trim_start_matches("http://")).await else {
        return fail(seen);
    };
    // HTTP/1.0: the body is the rest of the connection, no chunk framing.
    let request = format!("GET {path} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return fail(seen);
    }
    shared.connected.fetch_add(1, Relaxed);
    let mut lines = BufReader::with_capacity(16 * 1024, stream).lines();
    let marker = format!("\"event_id\":\"p5-{}-", shared.run);
    let mut event = String::new();
    let mut latencies = Vec::new();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => line,
                _ => {
                    fail(seen);
                    break;
                }
            },
            _ = stop.changed() => break,
        };
        if let Some(kind) = line.strip_prefix("event: ") {
            event.clear();
            event.push_str(kind);
        } else if let Some(data) = line.strip_prefix("data: ") {
            count(&event, data, &marker, &shared, &mut latencies);
        }
    }
    seen.latencies.lock().unwrap().append(&mut latencies);
}

/// Posts `rate` ticks per second in batches every 10 ms, cycling over the
/// symbols, until `stop`; the phase comes from `phase`. Returns the ticks
/// accepted per symbol in the measured phase.
async fn publisher(
    target: Target,
    base: String,
    args_symbols: usize,
    rate: u64,
    run: String,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<u64>, u64)> {
    // A post that hangs counts as failed instead of stopping the publisher.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let per_batch = (rate / 100).max(1) as usize;
    let mut every = tokio::time::interval(Duration::from_millis(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = 0u64;
    let mut next_symbol = 0usize;
    let mut accepted = vec![0u64; args_symbols];
    let mut failed = 0u64;
    while !stop.load(Relaxed) {
        every.tick().await;
        let phase = if measuring.load(Relaxed) {
            MEASURED
        } else {
            WARM
        };
        let sent = micros_now();
        let ms = sent / 1000;
        let mut ticks = Vec::with_capacity(per_batch);
        let mut symbols = Vec::with_capacity(per_batch);
        for _ in 0..per_batch {
            let s = next_symbol;
            next_symbol = (next_symbol + 1) % args_symbols;
            seq += 1;
            symbols.push(s);
            ticks.push(format!(
                r#"{{"symbol":"{}","price":"{}.{:02}","volume":"1","source":"p5","ts":{ms},"event_id":"p5-{run}-{phase}-{seq}-{sent}"}}"#,
                symbol(s),
                100 + seq % 7,
                seq % 100
            ));
        }
        match target {
            Target::Tickpulse | Target::TickpulseWs => {
                let ok = http
                    .post(format!("{base}/ingest/ticks"))
                    .basic_auth(USER, Some(PASSWORD))
                    .header("content-type", "application/json")
                    .body(format!("[{}]", ticks.join(",")))
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if !ok {
                    failed += 1;
                } else if phase == MEASURED {
                    for s in symbols {
                        accepted[s] += 1;
                    }
                }
            }
            // nchan publishes one message per request: the batch's ticks
            // go out at once, each to its symbol's channel.
            Target::Nchan | Target::NchanWs => {
                let posts = ticks.into_iter().zip(&symbols).map(|(body, &s)| {
                    let http = &http;
                    let url = format!("{base}/pub/{}", symbol(s));
                    async move {
                        let ok = http
                            .post(url)
                            .body(body)
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false);
                        (s, ok)
                    }
                });
                for (s, ok) in futures::future::join_all(posts).await {
                    if !ok {
                        failed += 1;
                    } else if phase == MEASURED {
                        accepted[s] += 1;
                    }
                }
            }
        }
    }
    Ok((accepted, failed))
}

struct Level {
    clients: usize,
    rate: u64,
    /// Ticks accepted in the measured phase.
    posted: u64,
    connected: u64,
    expected: u64,
    delivered: u64,
    seconds: f64,
    views: u64,
    resets: u64,
    dropped: u64,
    failed_posts: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_mib: f64,
}

impl Level {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
    /// Tick events read more often than the subscriptions call for.
    fn extra(&self) -> u64 {
        self.delivered.saturating_sub(self.expected)
    }
    fn meets(&self) -> bool {
        self.p99_ms <= P99_TARGET_MS
            && self.lost() == 0
            && self.extra() == 0
            && self.dropped == 0
            && self.resets == 0
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn quantile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

async fn level(
    args: &Args,
    (target, server, base): (Target, u32, &str),
    n: usize,
    rate: u64,
    round: usize,
) -> anyhow::Result<Level> {
    let shared = Arc::new(Shared {
        seen: Seen::default(),
        run: format!("{}{round}", std::process::id()),
        connected: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
    });
    let (stop_clients, stopped) = watch::channel(false);
    let seen = &shared.seen;
    let mut subscribers = vec![0u64; args.symbols];
    let mut tasks = Vec::with_capacity(n);
    eprintln!("  {n} clients: connecting…");
    for c in 0..n {
        let set = watched(c, args);
        for &s in &set {
            subscribers[s] += 1;
        }
        let list: Vec<String> = set.iter().map(|&s| symbol(s)).collect();
        let path = target.path(&list);
        tasks.push(tokio::spawn(client(
            target,
            base.to_owned(),
            (path, list),
            shared.clone(),
            stopped.clone(),
        )));
        if c % 250 == 249 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (shared.connected.load(Relaxed) + seen.dropped.load(Relaxed)) < n as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let every snapshot arrive before the ticks start.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let run = shared.run.clone();
    let publishing = tokio::spawn(publisher(
        target,
        base.to_owned(),
        args.symbols,
        rate,
        run.clone(),
        measuring.clone(),
        stop.clone(),
    ));
    eprintln!(
        "  {n} clients: warm-up 3 s, then {} s measured…",
        args.seconds
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    measuring.store(true, Relaxed);
    shared.measuring.store(true, Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Relaxed);
    shared.measuring.store(false, Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    let rss = rss_mib(server);
    // The warm phase again briefly, then drain: late events still count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Relaxed);
    let (accepted, failed_posts) = publishing.await??;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Dropped so far means dropped during the run, not by this stop.
    let dropped = seen.dropped.load(Relaxed);
    let _ = stop_clients.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let expected: u64 = accepted.iter().zip(&subscribers).map(|(a, s)| a * s).sum();
    let mut lat = std::mem::take(&mut *seen.latencies.lock().unwrap());
    lat.sort_unstable();
    Ok(Level {
        clients: n,
        rate,
        posted: accepted.iter().sum(),
        connected: shared.connected.load(Relaxed),
        expected,
        delivered: seen.ticks.load(Relaxed),
        seconds,
        views: seen.views.load(Relaxed),
        resets: seen.resets.load(Relaxed),
        dropped,
        failed_posts,
        p50_ms: quantile(&lat, 0.50),
        p99_ms: quantile(&lat, 0.99),
        max_ms: lat.last().map_or(f64::NAN, |&m| m as f64 / 1000.0),
        rss_mib: rss,
    })
}

/// nginx with nchan on a free port, from `bench/nchan/nginx.conf`, in a
/// folder of its own: a master and one worker. Returns the master (killed
/// when dropped, after [`stop_nchan`]), the worker's pid and the base URL.
async fn start_nchan(dir: &std::path::Path) -> anyhow::Result<(Proc, u32, String)> {
    let port = tickpulse_bench::free_port()?;
    let prefix = dir.to_string_lossy();
    let conf = include_str!("../nchan/nginx.conf")
        .replace("@PORT@", &port.to_string())
        .replace("@PREFIX@", &prefix);
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let nginx = Proc(
        std::process::Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&path)
            .spawn()
            .context("start nginx (Debian: nginx-light and libnginx-mod-nchan; bench/run.sh fanout installs them)")?,
    );
    tickpulse_bench::wait_listening(port)
        .await
        .with_context(|| {
            format!(
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            )
        })?;
    let master = nginx.0.id();
    let worker = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(master);
    Ok((nginx, worker, format!("http://127.0.0.1:{port}")))
}

/// Stops nginx and its worker (`nginx -s stop`), before its master is
/// dropped.
fn stop_nchan(dir: &std::path::Path) {
    let _ = std::process::Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-s", "stop"])
        .stderr(std::process::Stdio::null())
        .status();
    std::thread::sleep(Duration::from_millis(500));
}

/// Runs `plan` (clients, ticks/s) against one server; with `stop_at_miss`,
/// stops after the first level that misses the target.
async fn levels(
    args: &Args,
    (target, server, base): (Target, u32, &str),
    plan: &[(usize, u64)],
    stop_at_miss: bool,
) -> anyhow::Result<Vec<Level>> {
    let mut levels = Vec::new();
    for (round, &(n, rate)) in plan.iter().enumerate() {
        eprintln!("{}: {n} clients at {rate} ticks/s", target.name());
        let l = level(args, (target, server, base), n, rate, round).await?;
        eprintln!(
            "  {n} clients: {:.0} events/s, p99 {:.1} ms, lost {}",
            l.delivered as f64 / l.seconds,
            l.p99_ms,
            l.lost()
        );
        let met = l.meets();
        levels.push(l);
        if stop_at_miss && !met {
            break;
        }
    }
    Ok(levels)
}

fn table(report: &mut String, levels: &[Level]) -> std::fmt::Result {
    writeln!(
        report,
        "| clients | connected | ticks/s posted | tick events/s delivered | view events/s | latency p50 ms | p99 ms | max ms | lost | extra | resets | failed posts | server memory MiB |"
    )?;
    writeln!(
        report,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for l in levels {
        writeln!(
            report,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.0} | {} | {} | {} | {} | {:.0} |",
            l.clients,
            l.connected,
            l.posted as f64 / l.seconds,
            l.delivered as f64 / l.seconds,
            l.views as f64 / l.seconds,
            l.p50_ms,
            l.p99_ms,
            l.max_ms,
            l.lost(),
            l.extra(),
            l.resets,
            l.failed_posts,
            l.rss_mib
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = format!("{}/tickpulse", args.bin_dir);
    let data = std::env::temp_dir().join(format!("tickpulse-bench-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    let data_dir = data.to_string_lossy().into_owned();
    let plan: Vec<(usize, u64)> = if args.cases.is_empty() {
        args.clients.iter().map(|&n| (n, args.rate)).collect()
    } else {
        args.cases
            .iter()
            .map(|c| {
                (
                    c.clients,
                    c.events * args.symbols as u64 / args.per_client.max(1) as u64,
                )
            })
            .collect()
    };
    let stop_at_miss = args.cases.is_empty() && args.baseline.is_none();
    eprintln!(
        "bench-fanout: {} symbols, clients watching {} each; {} s per level",
        args.symbols, args.per_client, args.seconds
    );
    // The embedded default: one process, nothing else on the machine. Next
    // to nchan, which keeps no views, the ingest and stream role alone.
    let roles = if args.baseline.is_some() { "api" } else { "" };
    let (server, base) = start_tickpulse(
        &bin,
        &[
            ("REDIS_URL", ""),
            ("DATABASE_URL", ""),
            ("DATA_DIR", &data_dir),
            ("STREAM_RETAIN_SECS", "60"),
            ("ROLES", roles),
        ],
    )
    .await
    .context("start tickpulse")?;
    let idle_rss = rss_mib(server.0.id());
    let ws = args.transport == "ws";
    let ours = levels(
        &args,
        (Target::Tickpulse, server.0.id(), &base),
        &plan,
        stop_at_miss,
    )
    .await?;
    let ours_ws = if ws {
        Some(
            levels(
                &args,
                (Target::TickpulseWs, server.0.id(), &base),
                &plan,
                stop_at_miss,
            )
            .await?,
        )
    } else {
        None
    };
    let conflated = if ws {
        Some(conflation(&base).await?)
    } else {
        None
    };
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let theirs = match args.baseline {
        Some(Baseline::Nchan) => {
            // A fresh nginx per level: after a level its publisher could not
            // keep up with, nchan refused the next level's posts.
            let mut got = Vec::new();
            for (round, &(n, rate)) in plan.iter().enumerate() {
                let dir = std::env::temp_dir().join(format!(
                    "tickpulse-bench-nchan-{}-{round}",
                    std::process::id()
                ));
                std::fs::create_dir_all(&dir)?;
                let (nginx, worker, base) = start_nchan(&dir).await?;
                let target = if ws { Target::NchanWs } else { Target::Nchan };
                eprintln!("{}: {n} clients at {rate} ticks/s", target.name());
                let l = level(&args, (target, worker, &base), n, rate, round).await;
                stop_nchan(&dir);
                drop(nginx);
                let _ = std::fs::remove_dir_all(&dir);
                got.push(l?);
            }
            Some(got)
        }
        None => None,
    };

    let out = args.out.clone().unwrap_or_else(|| {
        if ws {
            "bench/reports/fanout-ws.md"
        } else {
            "bench/reports/fanout.md"
        }
        .to_owned()
    });
    if let Some(ours_ws) = ours_ws {
        let report = ws_report(
            &args,
            (&ours, &ours_ws, theirs.as_deref()),
            conflated.as_deref().unwrap_or(&[]),
            idle_rss,
        )?;
        return publish(&out, &report);
    }
    let mut report = String::new();
    writeln!(report, "# SSE fan-out benchmark (P5)\n")?;
    writeln!(report, "- date: {}", tickpulse_core::Timestamp::now())?;
    writeln!(report, "- machine: {}", machine())?;
    writeln!(
        report,
        "- tickpulse: release build, one process in the embedded mode (no Redis, no database), {}; idle memory {idle_rss:.0} MiB",
        if roles.is_empty() { "every role" } else { "`ROLES=api` (ingest and streams; no views, like nchan)" }
    )?;
    if theirs.is_some() {
        writeln!(
            report,
            "- baseline: nginx {} with nchan (Debian's packages), `bench/nchan/nginx.conf`: one worker (its memory is the server memory below), started afresh for each level, a channel per symbol, each client an EventSource subscriber to its symbols' channels at once (`/sub/a,b,…`); the publisher posts each tick to its channel (nchan takes one message per request), the same ticks at the same times as tickpulse's batches",
            nginx_version()
        )?;
    }
    writeln!(
        report,
        "- workload: ticks through `POST /ingest/ticks` (a batch every 10 ms), cycling over {} symbols; each client an SSE connection on `/api/stream?symbols=` with {} of them; clients and publisher in the bench process on the same cores",
        args.symbols, args.per_client,
    )?;
    writeln!(
        report,
        "- latency: publisher's send → client's read of the `tick` event, from the send time in the event id; {} s measured after a 3 s warm-up; lost = tick events the subscriptions call for minus those read (after a 2 s drain)\n",
        args.seconds
    )?;
    if let Some(theirs) = &theirs {
        writeln!(report, "## Side by side\n")?;
        writeln!(
            report,
            "| clients × events/s per client | ticks/s | tickpulse delivered/s | p99 ms | nchan delivered/s | p99 ms | p99 ratio | lost (tickpulse / nchan) |"
        )?;
        writeln!(
            report,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        )?;
        for (a, b) in ours.iter().zip(theirs) {
            writeln!(
                report,
                "| {} × {:.0} | {} | {:.0} | {:.1} | {:.0} | {:.1} | {} | {} / {} |",
                a.clients,
                a.rate as f64 * args.per_client as f64 / args.symbols as f64,
                a.rate,
                a.delivered as f64 / a.seconds,
                a.p99_ms,
                b.delivered as f64 / b.seconds,
                b.p99_ms,
                if b.p99_ms.is_finite() {
                    format!("{:.2}", a.p99_ms / b.p99_ms.max(1e-9))
                } else {
                    "— (nchan delivered none)".to_owned()
                },
                a.lost(),
                b.lost()
            )?;
        }
        writeln!(
            report,
            "\nTarget: tickpulse's p99 ≤ 1.0× nchan's at equal delivered events/s.\n"
        )?;
        writeln!(report, "## tickpulse\n")?;
        table(&mut report, &ours)?;
        writeln!(report, "\n## nginx + nchan\n")?;
        table(&mut report, theirs)?;
    } else {
        table(&mut report, &ours)?;
    }
    let best = ours.iter().filter(|l| l.meets()).last();
    match best {
        Some(l) => writeln!(
            report,
            "\nP5: one process serves **{} clients** at {} ticks/s with latency p99 **{:.1} ms** (target ≤ {P99_TARGET_MS} ms) and nothing lost, delivering **{:.0} tick events/s** (target ≥ 5,000 clients).",
            l.clients,
            l.rate,
            l.p99_ms,
            l.delivered as f64 / l.seconds
        )?,
        None => writeln!(
            report,
            "\nP5: no level met p99 ≤ {P99_TARGET_MS} ms with nothing lost (target ≥ 5,000 clients)."
        )?,
    }
    publish(&out, &report)
}

/// One door's share of the conflation measurement.
struct Conflated {
    door: &'static str,
    conflate: Option<&'static str>,
    seconds: f64,
    bytes: u64,
    ticks: u64,
}

/// One client of `CONFLATION_SYMBOLS` symbols, every tick of which is
/// theirs, at 1,000 ticks/s: what it receives in 10 s through each door,
/// with `conflate=250ms` and without.
async fn conflation(base: &str) -> anyhow::Result<Vec<Conflated>> {
    const SYMBOLS: usize = 20;
    let list: Vec<String> = (0..SYMBOLS).map(symbol).collect();
    let mut got = Vec::new();
    for (round, (door, conflate)) in [
        ("SSE", None),
        ("SSE", Some("250ms")),
        ("WebSocket", None),
        ("WebSocket", Some("250ms")),
    ]
    .into_iter()
    .enumerate()
    {
        eprintln!(
            "conflation: {door}, conflate {}",
            conflate.unwrap_or("none")
        );
        let measuring = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let host = base.trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&host).await?;
        let request = if door == "SSE" {
            let c = conflate
                .map(|c| format!("&conflate={c}"))
                .unwrap_or_default();
            format!(
                "GET /api/stream?symbols={}{c} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
                list.join(",")
            )
            .into_bytes()
        } else {
            let quoted: Vec<String> = list.iter().map(|s| format!("\"{s}\"")).collect();
            let c = conflate
                .map(|c| format!(r#","conflate":"{c}""#))
                .unwrap_or_default();
            let mut r = format!(
                "GET /api/ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&mask_frame(
                format!(
                    r#"{{"action":"subscribe","symbols":[{}]{c}}}"#,
                    quoted.join(",")
                )
                .as_bytes(),
            ));
            r
        };
        stream.write_all(&request).await?;
        let publishing = tokio::spawn(publisher(
            Target::Tickpulse,
            base.to_owned(),
            SYMBOLS,
            1_000,
            format!("{}c{round}", std::process::id()),
            measuring,
            stop.clone(),
        ));
        // The first second (snapshot, subscription) is not counted.
        let (bytes, ticks, seconds) = read_for(
            &mut stream,
            Duration::from_secs(1),
            Duration::from_secs(10),
            door,
        )
        .await;
        stop.store(true, Relaxed);
        let _ = publishing.await?;
        got.push(Conflated {
            door,
            conflate,
            seconds,
            bytes,
            ticks,
        });
    }
    Ok(got)
}

/// Reads `stream` for `skip`, then counts the bytes and the tick events
/// that come in `measure`.
async fn read_for(
    stream: &mut TcpStream,
    skip: Duration,
    measure: Duration,
    door: &str,
) -> (u64, u64, f64) {
    use tokio::io::AsyncReadExt;
    let needle: &[u8] = if door == "SSE" {
        b"event: tick"
    } else {
        b"{\"event\":\"tick\""
    };
    let mut buf = vec![0u8; 64 * 1024];
    let skip_until = Instant::now() + skip;
    while Instant::now() < skip_until {
        let _ = tokio::time::timeout_at(skip_until.into(), stream.read(&mut buf)).await;
    }
    let started = Instant::now();
    let end = started + measure;
    let (mut bytes, mut ticks) = (0u64, 0u64);
    let mut carry: Vec<u8> = Vec::new();
    while Instant::now() < end {
        match tokio::time::timeout_at(end.into(), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                bytes += n as u64;
                carry.extend_from_slice(&buf[..n]);
                ticks += carry.windows(needle.len()).filter(|w| *w == needle).count() as u64;
                let keep = carry.len().min(needle.len() - 1);
                carry.drain(..carry.len() - keep);
            }
            _ => break,
        }
    }
    (bytes, ticks, started.elapsed().as_secs_f64())
}

/// The report of `--transport ws`.
fn ws_report(
    args: &Args,
    (sse, ws, nchan): (&[Level], &[Level], Option<&[Level]>),
    conflated: &[Conflated],
    idle_rss: f64,
) -> anyhow::Result<String> {
    let mut report = String::new();
    writeln!(report, "# WebSocket fan-out benchmark\n")?;
    writeln!(report, "- date: {}", tickpulse_core::Timestamp::now())?;
    writeln!(report, "- machine: {}", machine())?;
    writeln!(report, "- tickpulse: release build, one process in the embedded mode (no Redis, no database), `ROLES=api` next to nchan (every role without it); idle memory {idle_rss:.0} MiB; the SSE and WebSocket cases run on the same process one after the other")?;
    if nchan.is_some() {
        writeln!(report, "- baseline: nginx {} with nchan, `bench/nchan/nginx.conf`, one worker started afresh for each case; each client a WebSocket subscriber to its symbols' channels at once (`/ws/a,b,…`); the publisher posts each tick to its channel", nginx_version())?;
    }
    writeln!(report, "- workload: ticks through `POST /ingest/ticks` (a batch every 10 ms) over {} symbols; each client follows {} of them: SSE on `/api/stream?symbols=`, WebSocket on `/api/ws` with one `subscribe`; the clients (a handshake and frame reader by hand, as light as the SSE one) and the publisher run in the bench process on the same cores", args.symbols, args.per_client)?;
    writeln!(report, "- latency: publisher's send → client's read of the tick event; {} s measured after a 3 s warm-up; lost = tick events the subscriptions call for minus those read\n", args.seconds)?;
    writeln!(report, "## Side by side\n")?;
    writeln!(report, "| clients × events/s per client | ticks/s | SSE delivered/s | SSE p99 ms | WebSocket delivered/s | WebSocket p99 ms | nchan WebSocket delivered/s | nchan p99 ms | WS / SSE delivered | WS p99 / nchan p99 | lost (SSE / WS / nchan) |")?;
    writeln!(
        report,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    )?;
    for (i, (a, b)) in sse.iter().zip(ws).enumerate() {
        let c = nchan.and_then(|n| n.get(i));
        let rate = |l: &Level| l.delivered as f64 / l.seconds;
        writeln!(
            report,
            "| {} × {:.0} | {} | {:.0} | {:.1} | {:.0} | {:.1} | {} | {} | {:.2} | {} | {} / {} / {} |",
            a.clients,
            a.rate as f64 * args.per_client as f64 / args.symbols as f64,
            a.rate,
            rate(a),
            a.p99_ms,
            rate(b),
            b.p99_ms,
            c.map_or("—".into(), |c| format!("{:.0}", rate(c))),
            c.map_or("—".into(), |c| format!("{:.1}", c.p99_ms)),
            rate(b) / rate(a).max(1e-9),
            c.map_or("—".into(), |c| format!("{:.2}", b.p99_ms / c.p99_ms.max(1e-9))),
            a.lost(),
            b.lost(),
            c.map_or("—".into(), |c| c.lost().to_string()),
        )?;
    }
    writeln!(report, "\nTargets: WebSocket events/s delivered ≥ SSE's in the same run; WebSocket p99 ≤ nchan's WebSocket p99 at equal delivered events.\n")?;
    writeln!(report, "## tickpulse SSE\n")?;
    table(&mut report, sse)?;
    writeln!(report, "\n## tickpulse WebSocket\n")?;
    table(&mut report, ws)?;
    if let Some(nchan) = nchan {
        writeln!(report, "\n## nginx + nchan WebSocket\n")?;
        table(&mut report, nchan)?;
    }
    writeln!(report, "\n## Conflation\n")?;
    writeln!(report, "One client of 20 symbols; 1,000 ticks/s over those 20 (50 per symbol per second); 10 s counted after 1 s.\n")?;
    writeln!(
        report,
        "| door | conflate | tick events/s | bytes/s | bytes against every tick |"
    )?;
    writeln!(report, "| --- | --- | ---: | ---: | ---: |")?;
    for c in conflated {
        let every = conflated
            .iter()
            .find(|o| o.door == c.door && o.conflate.is_none());
        let ratio = every.map_or(f64::NAN, |e| {
            (c.bytes as f64 / c.seconds) / (e.bytes as f64 / e.seconds).max(1e-9)
        });
        writeln!(
            report,
            "| {} | {} | {:.0} | {:.0} | {:.2} |",
            c.door,
            c.conflate.unwrap_or("none"),
            c.ticks as f64 / c.seconds,
            c.bytes as f64 / c.seconds,
            ratio
        )?;
    }
    writeln!(report, "\nTarget: with `conflate=250ms` at most 80 updates/s (20 symbols × 4), ending on every symbol's last price (the last is checked by `server/tests/integration/ws.rs`).")?;
    Ok(report)
}

fn nginx_version() -> String {
    std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .trim()
                .trim_start_matches("nginx version: nginx/")
                .to_owned()
        })
        .unwrap_or_default()
}
