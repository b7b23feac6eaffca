//! A deployment of the real binary for end-to-end tests, in either mode:
//! Redis + Postgres (processes share a key prefix and a database of their
//! own) or embedded (one data folder). Users act with personal tokens
//! (`tickpulse user token`); stocks get a catalog entry and a live price.

use super::{eventually, TestDb};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const ADMIN_KEY: &str = "deployment-admin-key";
/// Every user's starting cash.
pub const START: i64 = 100_000;

pub struct Node {
    pub child: Child,
    pub base: String,
}

impl Node {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end by itself; its exit code.
    pub fn exited(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, and waits: a graceful stop (the trade lease is handed back).
    pub fn stop(&mut self) {
        // SAFETY: a plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.exited(Duration::from_secs(30));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Embedded,
    Shared,
}

/// A deployment under test: its processes, its database and what the
/// tests created in it.
pub struct Env {
    pub mode: Mode,
    pub nodes: Vec<Node>,
    pub db: Option<TestDb>,
    pub dir: std::path::PathBuf,
    pub prefix: String,
    /// `(user, token)` of every user made.
    pub users: Vec<(String, String)>,
    /// `(symbol, shares the catalog started with)`.
    pub stocks: Vec<(String, u64)>,
    pub http: reqwest::Client,
    pub ticks: std::sync::atomic::AtomicU64,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.mode == Mode::Shared {
            super::delete_keys(&super::redis_url(), &self.prefix);
        }
    }
}

impl Env {
    pub async fn new(mode: Mode) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}-{}-{n}", std::process::id(), super::now_ms());
        let db = match mode {
            Mode::Shared => Some(TestDb::create().await),
            Mode::Embedded => None,
        };
        let dir = std::env::temp_dir().join(format!("tickpulse-deployment-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            mode,
            nodes: Vec::new(),
            db,
            dir,
            prefix: format!("test:deployment:{tag}:"),
            users: Vec::new(),
            stocks: Vec::new(),
            http: reqwest::Client::new(),
            ticks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Both processes in the shared mode, the one in the embedded mode.
    pub async fn standard(mode: Mode) -> Self {
        let mut env = Self::new(mode).await;
        env.start("a", &[]).await;
        if mode == Mode::Shared {
            env.start("b", &[]).await;
        }
        env
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
        cmd.env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .env_remove("FAULT_INJECTION")
            .env_remove("ROLES")
            .env("RUST_LOG", "warn");
        match (&self.db, self.mode) {
            (Some(db), Mode::Shared) => {
                cmd.env("REDIS_URL", super::redis_url())
                    .env("REDIS_KEY_PREFIX", &self.prefix)
                    .env("DATABASE_URL", &db.url);
            }
            _ => {
                cmd.env("DATA_DIR", &self.dir);
            }
        }
        cmd
    }

    /// Starts a process (`NODE_ID` e2e-`name`) with `extra` settings and
    /// waits until it is ready; its index.
    pub async fn start(&mut self, name: &str, extra: &[(&str, &str)]) -> usize {
        // A port found free can be taken by another test's process before
        // this one binds it: then it exits, and is started on another.
        for _ in 0..3 {
            let i = self.spawn(name, extra);
            let base = self.nodes[i].base.clone();
            let ready = eventually(Duration::from_secs(60), || {
                let url = format!("{base}/health/readiness");
                let exited = matches!(self.nodes[i].child.try_wait(), Ok(Some(_)));
                async move {
                    if exited {
                        return Some(false);
                    }
                    let r = reqwest::get(url).await.ok()?;
                    let body: Value = r.json().await.ok()?;
                    (body["status"] == "ready").then_some(true)
                }
            })
            .await;
            match ready {
                Some(true) => return i,
                Some(false) => {
                    self.nodes.pop();
                }
                None => panic!("{name} did not become ready"),
            }
        }
        panic!("{name} could not start")
    }

    /// Starts a process without waiting for it; its index.
    pub fn spawn(&mut self, name: &str, extra: &[(&str, &str)]) -> usize {
        let port = super::free_port();
        let mut cmd = self.command();
        cmd.env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
            .env("INGEST_USERNAME", super::USER)
            .env("INGEST_PASSWORD", super::PASSWORD)
            .env("ADMIN_API_KEY", ADMIN_KEY)
            .env("NODE_ID", format!("e2e-{name}"))
            .env("CLAIM_IDLE_SECS", "1")
            .env("STARTING_CASH", START.to_string());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tickpulse");
        self.nodes.push(Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        });
        self.nodes.len() - 1
    }

    pub fn base(&self, i: usize) -> &str {
        &self.nodes[i % self.nodes.len()].base
    }

    pub fn cli(&self, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the CLI");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "tickpulse {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// A new user and a personal token for it.
    pub fn user(&mut self, name: &str) -> String {
        self.cli(&["user", "add", name], "a long enough password\n");
        let out = self.cli(&["user", "token", name], "");
        let token = out.lines().next().unwrap().trim().to_owned();
        assert!(token.starts_with("tp_"), "{out}");
        self.users.push((name.to_owned(), token.clone()));
        token
    }

    /// Adds a stock with `available` shares and gives it a live price.
    pub async fn stock(&mut self, symbol: &str, available: u64, price: &str) {
        let r = self
            .http
            .put(format!("{}/api/admin/catalog/{symbol}", self.base(0)))
            .header("x-api-key", ADMIN_KEY)
            .json(&json!({ "available": available }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        self.stocks.push((symbol.to_owned(), available));
        self.tick(symbol, price).await;
        self.priced(symbol, price).await;
    }

    /// Sends one tick of `symbol` at `price` (now), through process 0.
    pub async fn tick(&self, symbol: &str, price: &str) {
        let n = self
            .ticks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let r = self
            .http
            .post(format!("{}/ingest/tick", self.base(0)))
            .basic_auth(super::USER, Some(super::PASSWORD))
            .json(&super::tick(symbol, price, &format!("e2e-{symbol}-{n}")))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Waits until every process trades `symbol` at `price`.
    pub async fn priced(&self, symbol: &str, price: &str) {
        for i in 0..self.nodes.len() {
            let url = format!("{}/api/stocks/{symbol}", self.base(i));
            let seen = eventually(Duration::from_secs(20), || {
                let url = url.clone();
                async move {
                    let stock: Value = reqwest::get(url).await.ok()?.json().await.ok()?;
                    (stock["price"] == price).then_some(())
                }
            })
            .await;
            assert!(seen.is_some(), "{symbol} never showed {price}");
        }
    }

    pub async fn request(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base(node)))
            .bearer_auth(token);
        if let Some(body) = body {
            r = r.json(body);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, node: usize, token: &str, path: &str) -> (u16, Value) {
        self.request(node, reqwest::Method::GET, path, token, None)
            .await
    }
}
