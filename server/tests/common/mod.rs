//! Test harness: a real tickpulse server on `127.0.0.1:0` against a real
//! Redis, isolated by a key prefix of its own, plus a private `redis-server`
//! for outage tests (the machine's shared Redis is never stopped).

#![allow(dead_code)]

pub mod bus;
pub mod cluster;
pub mod deployment;

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tickpulse_server::platform::config::Config;
use tokio::sync::oneshot;

pub const USER: &str = "feeder";
pub const PASSWORD: &str = "test-secret";

/// The shared Redis the tests use (the machine's, unless `TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "test:{}:{}:{}:",
        std::process::id(),
        Instant::now().elapsed().as_nanos(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct TestServer {
    pub base: String,
    pub prefix: String,
    pub redis_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Leave the Redis keys for a server that takes over.
    keep_data: bool,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(redis_url(), |_| {}).await
    }

    /// Starts a server on the shared test cluster, with
    /// [`cluster::PARTITIONS`] partitions.
    pub async fn on_cluster() -> Self {
        Self::start_with(cluster::shared().url.clone(), |c| {
            c.bus_partitions = cluster::PARTITIONS;
        })
        .await
    }

    /// Starts a server on `redis_url` after letting `tweak` change the config.
    pub async fn start_with(redis_url: String, tweak: impl FnOnce(&mut Config)) -> Self {
        let prefix = unique_prefix();
        let mut config = Config::defaults();
        config.redis_url = Some(redis_url.clone());
        config.redis_key_prefix = prefix.clone();
        config.ingest_username = Some(USER.into());
        config.ingest_password = Some(PASSWORD.into());
        config.sse_keepalive_secs = 1;
        // A beat sent while a dropped server winds down outlives the key
        // cleanup; let it expire soon.
        config.node_forget_secs = 60;
        tweak(&mut config);
        let prefix = config.redis_key_prefix.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            tickpulse_server::serve(listener, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            base,
            prefix,
            redis_url,
            stop: Some(stop),
            task: Some(task),
            keep_data: false,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The WebSocket door's address.
    pub fn ws_url(&self) -> String {
        self.url("/api/ws").replacen("http://", "ws://", 1)
    }

    /// POSTs `body` to `path` with the right credentials and content type.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url(path))
            .basic_auth(USER, Some(PASSWORD))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.post(path, "application/json", body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.expect("request sent")
    }

    /// Waits until readiness says `ready` (e.g. the database is migrated).
    pub async fn wait_ready(&self) {
        let ready = eventually(Duration::from_secs(30), || async {
            let body: serde_json::Value = self.get("/health/readiness").await.json().await.ok()?;
            (body["status"] == "ready").then_some(())
        })
        .await;
        assert!(
            ready.is_some(),
            "server at {} not ready after 30 s",
            self.base
        );
    }

    /// The latest tick of `symbol` from the compacted view (`GET /api/symbols`).
    pub async fn latest(&self, symbol: &str) -> Option<serde_json::Value> {
        let all: Vec<serde_json::Value> = self.get("/api/symbols").await.json().await.ok()?;
        all.into_iter().find(|t| t["symbol"] == symbol)
    }

    /// The View of `symbol` once `ready` holds for it (the calc stage runs
    /// a few milliseconds behind ingest); panics after 30 s (a generous
    /// bound: debug builds of many tests share two cores).
    pub async fn view_when(
        &self,
        symbol: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let path = format!("/api/symbols/{symbol}");
        let mut last = serde_json::Value::Null;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let r = self.get(&path).await;
            if r.status() == 200 {
                last = r.json().await.expect("view JSON");
                if ready(&last) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("view of {symbol} not ready after 30 s; last seen: {last}");
    }

    /// A server (all roles) persisting to `db` with batches that wait at
    /// most `batch_wait_ms`, once it is ready (the database is migrated).
    pub async fn with_database(db: &TestDb, batch_wait_ms: u64) -> Self {
        let url = db.url.clone();
        let s = Self::start_with(redis_url(), |c| {
            c.database_url = Some(url);
            c.persist_batch_wait_ms = batch_wait_ms;
        })
        .await;
        s.wait_ready().await;
        s
    }

    /// A second server on this one's Redis keys that persists to `db` and
    /// takes over entries pending for more than a second.
    pub async fn persister(&self, db: &TestDb) -> Self {
        let (url, prefix) = (db.url.clone(), self.prefix.clone());
        Self::start_with(self.redis_url.clone(), |c| {
            c.redis_key_prefix = prefix;
            c.database_url = Some(url);
            c.claim_idle_secs = 1;
            c.persist_batch_wait_ms = 50;
        })
        .await
    }

    /// Posts `n` ticks of `symbol` at `price` with event ids
    /// `{id_prefix}-0…` in one batch and checks they were accepted (202).
    pub async fn accept(&self, symbol: &str, price: &str, id_prefix: &str, n: usize) {
        let batch: Vec<serde_json::Value> = (0..n)
            .map(|i| tick(symbol, price, &format!("{id_prefix}-{i}")))
            .collect();
        let r = self
            .post_json("/ingest/ticks", &serde_json::Value::Array(batch))
            .await;
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }

    /// Makes `consumer` take `count` new entries of `group` (creating the
    /// group) and then re-read them `rereads` times without acknowledging
    /// them, as a consumer that keeps failing, or dies, would.
    pub fn hold_entries(&self, group: &str, consumer: &str, count: usize, rereads: usize) {
        let mut redis = self.redis();
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.key("ticks.received"))
            .arg(group)
            .arg("0")
            .query(&mut redis)
            .expect("XGROUP CREATE");
        for start in std::iter::once(">").chain(std::iter::repeat_n("0", rereads)) {
            let _: redis::Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(group)
                .arg(consumer)
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(self.key("ticks.received"))
                .arg(start)
                .query(&mut redis)
                .expect("XREADGROUP");
        }
    }

    /// A synchronous connection to this server's Redis, for checking what was
    /// really written.
    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.redis_url.as_str())
            .expect("url")
            .get_connection()
            .expect("redis")
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Ticks in the tick stream, however they are packed into entries.
    pub fn stream_len(&self) -> usize {
        let entries: Vec<(String, std::collections::HashMap<String, String>)> =
            redis::cmd("XRANGE")
                .arg(self.key("ticks.received"))
                .arg("-")
                .arg("+")
                .query(&mut self.redis())
                .expect("XRANGE");
        entries
            .iter()
            .map(|(_, fields)| fields.get("ticks").map_or(0, |t| t.split('\n').count()))
            .sum()
    }

    /// Stops the server but leaves its Redis keys for a successor.
    pub async fn stop_keeping_data(mut self) {
        self.keep_data = true;
        self.stop().await;
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    /// Removes every key of this test from the shared Redis.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if !self.keep_data {
            delete_keys(&self.redis_url, &self.prefix);
        }
    }
}

/// Removes every key under `prefix` (a test's own) from the Redis at `url`,
/// or from every node of a cluster's seed list; best effort, for use in
/// `Drop`.
pub fn delete_keys(url: &str, prefix: &str) {
    let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
    let cluster = seeds.len() > 1;
    for seed in seeds {
        let Ok(mut conn) = redis::Client::open(seed).and_then(|c| c.get_connection()) else {
            continue;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query(&mut conn)
            .unwrap_or_default();
        if cluster {
            // One key per command: keys of different slots cannot share one
            // (a replica refuses, its master deletes).
            for key in keys {
                let _: Result<(), _> = redis::cmd("UNLINK").arg(key).query(&mut conn);
            }
        } else {
            for chunk in keys.chunks(1_000) {
                let _: Result<(), _> = redis::cmd("UNLINK").arg(chunk).query(&mut conn);
            }
        }
    }
}

/// Waits (up to 30 s) until something listens on `port` of this machine.
pub async fn wait_listening(port: u16) {
    let up = eventually(Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(up.is_some(), "server did not listen on {port}");
}

/// A `redis-server` of this test alone, on a free port, that the test may
/// stop and start again.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = free_port();
        let mut redis = Self { port, child: None };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it answers.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut c) = redis::Client::open(self.url()).and_then(|c| c.get_connection()) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("private redis-server did not start on port {}", self.port);
    }

    /// Kills the server: an outage.
    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: connections
    /// stay open, calls wait, data is kept.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Postgres the tests create their databases in.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of this test alone on the shared Postgres, dropped afterwards.
pub struct TestDb {
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn create() -> Self {
        use sqlx::Connection;
        let admin = admin_database_url();
        let name = format!(
            "tickpulse_test_{}_{}",
            std::process::id(),
            unique_prefix().replace(':', "_").replace("test_", "")
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("Postgres at TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin.clone());
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Rows in `md_ticks` (0 while the table does not exist yet).
    pub async fn count(pool: &sqlx::PgPool) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM md_ticks")
            .fetch_one(pool)
            .await
            .unwrap_or(0)
    }

    /// Waits up to `limit` until `md_ticks` holds `n` rows, failing the
    /// test with what it holds then (`what` says which rows are meant).
    pub async fn wait_count(pool: &sqlx::PgPool, n: i64, limit: Duration, what: &str) {
        let reached = eventually(limit, || async {
            (Self::count(pool).await == n).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "{what}: {n} rows expected in md_ticks, found {}",
            Self::count(pool).await
        );
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.url)
            .await
            .expect("test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (admin_database_url(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

impl TestDb {
    /// This database's URL through another port (e.g. a [`TcpProxy`]).
    pub fn url_via(&self, port: u16) -> String {
        let rest = self
            .url
            .split_once('@')
            .map(|(_, r)| r)
            .unwrap_or(&self.url);
        let (_, path) = rest.split_once('/').unwrap_or((rest, ""));
        let user = self
            .url
            .split_once('@')
            .map(|(u, _)| u)
            .unwrap_or("postgres://postgres");
        format!("{user}@127.0.0.1:{port}/{path}")
    }
}

/// A TCP proxy the test controls, to make a service unreachable without
/// stopping it (the machine's services are shared).
pub struct TcpProxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), connections.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let handle = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(handle);
            }
        });
        Self {
            port,
            up,
            connections,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port nothing listens on (right now): for a server to start on, or to
/// stand for a service that is down.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A valid tick as JSON, with the current time.
pub fn tick(symbol: &str, price: &str, event_id: &str) -> serde_json::Value {
    serde_json::json!({
        "symbol": symbol, "price": price, "volume": "1.5", "source": "test",
        "ts": now_ms(), "event_id": event_id
    })
}

pub fn now_ms() -> i64 {
    tickpulse_core::Timestamp::now().as_millis()
}

/// One event of a live door: `(event, id, data)`.
pub type Event = (String, Option<String>, String);

/// What every live door's reader does.
#[allow(async_fn_in_trait)]
pub trait Events {
    /// The next event, or `None` after `wait` or when the stream ends.
    async fn next_event(&mut self, wait: Duration) -> Option<Event>;

    /// The next event named `kind`, skipping others; `None` after `wait`.
    async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_event(left).await?;
            if event.0 == kind {
                return Some(event);
            }
        }
    }
}

impl Events for SseReader {
    async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        self.next(wait).await
    }
}

impl Events for WsReader {
    async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        self.next(wait).await
    }
}

/// The live doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Sse,
    Ws,
}

/// A reader of either door.
pub enum Live {
    Sse(SseReader),
    Ws(WsReader),
}

impl Events for Live {
    async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        match self {
            Live::Sse(r) => r.next(wait).await,
            Live::Ws(r) => r.next(wait).await,
        }
    }
}

impl Live {
    /// Follows `symbols` (comma-separated) through `door`, from `last` (a
    /// position) when given, with `conflate` when given.
    pub async fn open(
        s: &TestServer,
        door: Door,
        symbols: &str,
        last: Option<&str>,
        conflate: Option<&str>,
    ) -> Self {
        match door {
            Door::Sse => {
                let mut path = format!("/api/stream?symbols={symbols}");
                if let Some(c) = conflate {
                    path.push_str(&format!("&conflate={c}"));
                }
                let mut request = reqwest::Client::new().get(s.url(&path));
                if let Some(id) = last {
                    request = request.header("last-event-id", id);
                }
                let response = request.send().await.unwrap();
                if response.status() != 200 {
                    let status = response.status();
                    panic!("{status}: {}", response.text().await.unwrap_or_default());
                }
                Live::Sse(SseReader::new(response))
            }
            Door::Ws => {
                let mut ws = WsReader::connect(&s.ws_url()).await;
                let mut message = serde_json::json!({
                    "action": "subscribe",
                    "symbols": symbols.split(',').collect::<Vec<_>>(),
                });
                if let Some(id) = last {
                    message["action"] = "resume".into();
                    message["from"] = id.into();
                }
                if let Some(c) = conflate {
                    message["conflate"] = c.into();
                }
                ws.send(&message.to_string()).await;
                Live::Ws(ws)
            }
        }
    }
}

/// Reads SSE events `(event, id, data)` from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buf: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: String::new(),
        }
    }

    /// The next event named `kind`, skipping others; `None` after `wait`.
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<Event> {
        <Self as Events>::next_of(self, kind, wait).await
    }

    /// The next event that is not a comment, or `None` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.into();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.into());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !data.is_empty() {
                    return Some((event, id, data));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// A WebSocket client of `/api/ws` (tokio-tungstenite), reading events
/// `(event, id, data)` as [`SseReader`] does.
pub struct WsReader {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsReader {
    /// Connects to `url` (`ws://…/api/ws`).
    pub async fn connect(url: &str) -> Self {
        let (socket, response) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        assert_eq!(response.status(), 101);
        Self { socket }
    }

    /// Sends one message as text.
    pub async fn send(&mut self, message: &str) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(message))
            .await
            .expect("send");
    }

    /// The next event (`data` as JSON text), or `None` after `wait` or
    /// when the connection ends.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => return None,
                _ => continue,
            };
            let v: serde_json::Value = serde_json::from_str(&text).expect("an event is JSON");
            let event = v["event"].as_str().expect("an event has a name").to_owned();
            let id = v["id"].as_str().map(str::to_owned);
            return Some((event, id, v["data"].to_string()));
        }
    }

    /// The close frame's code, reading past anything before it.
    pub async fn closed_with(&mut self, wait: Duration) -> Option<u16> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
            {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

/// A data folder of this test alone, removed when dropped.
pub struct DataDir(pub std::path::PathBuf);

impl DataDir {
    pub fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!(
            "tickpulse-embedded-{}-{}-{name}",
            std::process::id(),
            now_ms()
        )))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server in the embedded mode, its data in `dir`, once it is ready.
pub async fn embedded(dir: &DataDir) -> TestServer {
    let path = dir.0.clone();
    let s = TestServer::start_with(String::new(), |c| {
        c.redis_url = None;
        c.data_dir = path;
    })
    .await;
    s.wait_ready().await;
    s
}
