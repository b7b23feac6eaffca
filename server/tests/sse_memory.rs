//! Memory per live client is bounded whatever the client does: 50 clients
//! (half on SSE, half on the WebSocket) that connect and never read (with
//! small receive buffers) while 300,000 ticks pass cost the server at most a
//! fixed allowance over the same run without them. Meanwhile a reading
//! client on each door gets every tick or a reset, and the stuck clients are
//! disconnected after `SSE_STALL_SECS`.
//!
//! The server is the release-or-debug `tickpulse` binary in its own process,
//! so its peak resident memory (`VmHWM`) is its own. Both modes run.

mod common;

use common::{eventually, free_port, now_ms, Events, Live, SseReader, WsReader, PASSWORD, USER};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TICKS: usize = 300_000;
const BATCH: usize = 1_000;
const SYMBOLS: usize = 500;
const STUCK: usize = 50;
const STALL_SECS: u64 = 3;
/// What each stuck client may cost, and what the run may differ by anyway
/// (allocator, timing of batches).
const PER_CLIENT_KIB: u64 = 1_024;
const SLACK_KIB: u64 = 48 * 1_024;

enum Mode {
    Embedded,
    Redis,
}

struct Server {
    child: Child,
    base: String,
    port: u16,
    _dir: Option<tempdir::Dir>,
    prefix: Option<String>,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "tickpulse-sse-memory-{}-{}",
                std::process::id(),
                super::now_ms()
            ));
            std::fs::create_dir_all(&path).expect("temp dir");
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Server {
    async fn start(mode: &Mode) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
        cmd.env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
            .env("INGEST_USERNAME", USER)
            .env("INGEST_PASSWORD", PASSWORD)
            .env("SSE_STALL_SECS", STALL_SECS.to_string())
            // The stream keeps acknowledged ticks only briefly, so the
            // baseline's peak does not swing with how long the run lasts
            // (what is measured is the stuck clients' share).
            .env("STREAM_RETAIN_SECS", "5")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (dir, prefix) = match mode {
            Mode::Embedded => {
                let dir = tempdir::Dir::new();
                cmd.env("DATA_DIR", &dir.0);
                (Some(dir), None)
            }
            Mode::Redis => {
                let prefix = format!("test:ssemem:{}:{}:", std::process::id(), now_ms());
                cmd.env("REDIS_URL", common::redis_url())
                    .env("REDIS_KEY_PREFIX", &prefix);
                (None, Some(prefix))
            }
        };
        let child = cmd.spawn().expect("start the tickpulse binary");
        let base = format!("http://127.0.0.1:{port}");
        let server = Self {
            child,
            base,
            port,
            _dir: dir,
            prefix,
        };
        let client = reqwest::Client::new();
        let url = format!("{}/health/readiness", server.base);
        let up = eventually(Duration::from_secs(60), || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let r = client.get(&url).send().await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        assert!(up.is_some(), "server not ready");
        server
    }

    /// Peak resident memory of the server process so far.
    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("server status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmHWM")
    }

    async fn metric(&self, name: &str) -> i64 {
        let page = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(prefix) = &self.prefix {
            common::delete_keys(&common::redis_url(), prefix);
        }
    }
}

/// A client that asks for every tick and then never reads, with a receive
/// buffer as small as the kernel allows: over SSE, or (`ws`) over the
/// WebSocket, where it sends its `subscribe` (a masked frame) along with the
/// handshake.
async fn stuck_client(port: u16, ws: bool) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4_096).unwrap();
    let mut stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    if !ws {
        stream
            .write_all(
                b"GET /api/stream HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n",
            )
            .await
            .unwrap();
        return stream;
    }
    let mut request = b"GET /api/ws HTTP/1.1\r\nhost: localhost\r\nconnection: Upgrade\r\n\
        upgrade: websocket\r\nsec-websocket-version: 13\r\n\
        sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        .to_vec();
    let payload = br#"{"action":"subscribe"}"#;
    let mask = [7u8, 1, 9, 4];
    request.extend_from_slice(&[0x81, 0x80 | payload.len() as u8]);
    request.extend_from_slice(&mask);
    request.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    stream.write_all(&request).await.unwrap();
    stream
}

/// What a reading client ends up knowing: the latest event id per symbol,
/// from ticks and (reset) snapshots, and how it got there.
#[derive(Default)]
struct Seen {
    latest: HashMap<String, String>,
    ticks: usize,
    resets: usize,
}

/// Opens every tick's stream on `base`, over the WebSocket with `ws`.
async fn reader(base: &str, ws: bool) -> Live {
    if ws {
        let mut ws =
            WsReader::connect(&format!("{}/api/ws", base.replacen("http://", "ws://", 1))).await;
        ws.send(r#"{"action":"subscribe"}"#).await;
        return Live::Ws(ws);
    }
    let response = reqwest::get(format!("{base}/api/stream")).await.unwrap();
    assert_eq!(response.status(), 200);
    Live::Sse(SseReader::new(response))
}

async fn read_all(mut sse: Live, last_ids: HashMap<String, String>) -> Seen {
    let mut seen = Seen::default();
    let mut last_id: Option<(u64, u64)> = None;
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').expect("stream id");
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    while seen.latest != last_ids {
        let Some((event, id, data)) = sse.next_event(Duration::from_secs(60)).await else {
            panic!(
                "the reading client stalled with {} ticks and {} resets",
                seen.ticks, seen.resets
            );
        };
        match event.as_str() {
            "tick" => {
                let id = parse(&id.expect("a tick has an id"));
                assert!(
                    last_id.is_none_or(|last| id > last),
                    "tick {id:?} repeats or goes back"
                );
                last_id = Some(id);
                let tick: Value = serde_json::from_str(&data).unwrap();
                seen.latest.insert(
                    tick["symbol"].as_str().unwrap().into(),
                    tick["event_id"].as_str().unwrap().into(),
                );
                seen.ticks += 1;
            }
            "snapshot" => {
                let snapshot: Value = serde_json::from_str(&data).unwrap();
                if snapshot["reset"] == true {
                    seen.resets += 1;
                    seen.latest.clear();
                }
                for t in snapshot["ticks"].as_array().unwrap() {
                    let id = parse(t["id"].as_str().unwrap());
                    last_id = Some(last_id.map_or(id, |l| l.max(id)));
                    seen.latest.insert(
                        t["symbol"].as_str().unwrap().into(),
                        t["event_id"].as_str().unwrap().into(),
                    );
                }
            }
            _ => {}
        }
    }
    seen
}

/// Posts the run's ticks; the latest event id per symbol.
async fn post_ticks(base: &str) -> HashMap<String, String> {
    let client = reqwest::Client::new();
    let mut latest = HashMap::new();
    for batch in 0..TICKS / BATCH {
        let ticks: Vec<Value> = (0..BATCH)
            .map(|i| {
                let symbol = format!("M{:03}", (batch * BATCH + i) % SYMBOLS);
                let event_id = format!("m-{batch}-{i}");
                latest.insert(symbol.clone(), event_id.clone());
                json!({"symbol": symbol, "price": format!("{}.{}", 10 + i % 7, batch % 100),
                       "volume": "1", "source": "mem", "ts": now_ms(), "event_id": event_id})
            })
            .collect();
        let r = client
            .post(format!("{base}/ingest/ticks"))
            .basic_auth(USER, Some(PASSWORD))
            .json(&ticks)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
    latest
}

/// One run: the server's peak memory, what the reader saw, and the stuck
/// clients' sockets.
async fn run(mode: &Mode, stuck: usize) -> (u64, Seen, Server, Vec<tokio::net::TcpStream>) {
    let server = Server::start(mode).await;
    let mut clients = Vec::new();
    for i in 0..stuck {
        clients.push(stuck_client(server.port, i % 2 == 1).await);
    }
    // Every stuck client has its stream open before the ticks flow.
    let connected = eventually(Duration::from_secs(10), || async {
        (server.metric("tickpulse_sse_clients").await >= stuck as i64).then_some(())
    })
    .await;
    assert!(connected.is_some(), "the stuck clients did not connect");
    let expected: HashMap<String, String> = (0..SYMBOLS)
        .map(|s| {
            let symbol = format!("M{s:03}");
            // The last batch that holds the symbol, and its place in it.
            let n = (TICKS - SYMBOLS) + s;
            (symbol, format!("m-{}-{}", n / BATCH, n % BATCH))
        })
        .collect();
    let readers = [false, true].map(|ws| {
        let (base, expected) = (server.base.clone(), expected.clone());
        tokio::spawn(async move { read_all(reader(&base, ws).await, expected).await })
    });
    // The readers' streams are open before the first tick.
    let open = eventually(Duration::from_secs(10), || async {
        (server.metric("tickpulse_sse_clients").await >= stuck as i64 + 2).then_some(())
    })
    .await;
    assert!(open.is_some(), "the reading clients did not connect");
    let posted = post_ticks(&server.base).await;
    assert_eq!(posted, expected);
    let mut seen = Seen::default();
    for reader in readers {
        let one = tokio::time::timeout(Duration::from_secs(120), reader)
            .await
            .expect("the reading client caught up")
            .unwrap();
        seen.ticks += one.ticks;
        seen.resets += one.resets;
    }
    (server.peak_kib(), seen, server, clients)
}

/// The two modes measure one at a time, so neither run takes the other's
/// CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn memory_is_bounded_per_stuck_client(mode: Mode) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (baseline, alone, server, _) = run(&mode, 0).await;
    drop(server);
    let (peak, seen, server, mut stuck) = run(&mode, STUCK).await;
    let allowance = STUCK as u64 * PER_CLIENT_KIB + SLACK_KIB;
    println!(
        "peak RSS: {} MiB alone ({} ticks, {} resets), {} MiB with {STUCK} stuck clients \
         ({} ticks, {} resets); allowance {} MiB",
        baseline / 1_024,
        alone.ticks,
        alone.resets,
        peak / 1_024,
        seen.ticks,
        seen.resets,
        allowance / 1_024
    );
    assert!(
        peak <= baseline + allowance,
        "{STUCK} stuck clients cost {} MiB over the baseline of {} MiB (allowance {} MiB)",
        peak.saturating_sub(baseline) / 1_024,
        baseline / 1_024,
        allowance / 1_024
    );

    // Each stuck client is disconnected: its socket holds what was sent
    // before the stall, then ends.
    let dropped = eventually(Duration::from_secs(STALL_SECS * 10), || async {
        (server.metric("tickpulse_sse_dropped_total").await >= STUCK as i64).then_some(())
    })
    .await;
    assert!(
        dropped.is_some(),
        "dropped: {}",
        server.metric("tickpulse_sse_dropped_total").await
    );
    for socket in &mut stuck {
        let mut sink = vec![0u8; 64 * 1_024];
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match socket.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "a stuck client's connection stayed open");
    }
    assert_eq!(server.metric("tickpulse_sse_clients").await, 0);
    assert!(server.metric("tickpulse_sse_buffered_bytes").await < 4 * 1_024 * 1_024);
}

#[tokio::test]
async fn embedded_memory_is_bounded_per_stuck_client() {
    memory_is_bounded_per_stuck_client(Mode::Embedded).await;
}

#[tokio::test]
async fn redis_memory_is_bounded_per_stuck_client() {
    memory_is_bounded_per_stuck_client(Mode::Redis).await;
}
