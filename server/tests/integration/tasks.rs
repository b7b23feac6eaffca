//! Supervision of background tasks, on the real binary in both modes:
//! - a calc task that panics (the test-only `FAULT_INJECTION=calc-panic`)
//!   is logged with its name, readiness turns `degraded` while it is down,
//!   and it is started again and computes the view it owes;
//! - SIGTERM stops every task within the grace period: each logs that it
//!   stopped, none is aborted, the process exits with status 0.

use crate::common;

use common::{eventually, TestDb};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tickpulse process whose JSON log lines are collected as they come.
struct Process {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<Value>>>,
    /// Redis keys to remove afterwards (Redis mode).
    prefix: Option<String>,
    _data: Option<DataDir>,
}

struct DataDir(std::path::PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

enum Mode<'a> {
    Embedded,
    Redis { database_url: &'a str },
}

impl Process {
    fn start(mode: Mode<'_>, name: &str, extra: &[(&str, &str)]) -> Self {
        let port = common::free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
        cmd.env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
            .env("INGEST_USERNAME", common::USER)
            .env("INGEST_PASSWORD", common::PASSWORD)
            .env("NODE_ID", format!("tasks-{name}"))
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .env_remove("FAULT_INJECTION");
        let (prefix, data) = match mode {
            Mode::Embedded => {
                let dir = std::env::temp_dir().join(format!(
                    "tickpulse-tasks-{name}-{}-{}",
                    std::process::id(),
                    common::now_ms()
                ));
                cmd.env("DATA_DIR", &dir);
                (None, Some(DataDir(dir)))
            }
            Mode::Redis { database_url } => {
                let prefix = format!(
                    "test:tasks:{name}:{}:{}:",
                    std::process::id(),
                    common::now_ms()
                );
                cmd.env("REDIS_URL", common::redis_url())
                    .env("REDIS_KEY_PREFIX", &prefix)
                    .env("DATABASE_URL", database_url);
                (Some(prefix), None)
            }
        };
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the tickpulse binary");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            prefix,
            _data: data,
        }
    }

    fn lines(&self, message: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["message"] == message)
            .cloned()
            .collect()
    }

    async fn readiness(&self) -> Option<Value> {
        reqwest::get(format!("{}/health/readiness", self.base))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn wait_status(&self, status: &str, within: Duration) -> Value {
        let seen = eventually(within, || async {
            let body = self.readiness().await?;
            (body["status"] == status).then_some(body)
        })
        .await;
        let last = self.readiness().await;
        seen.unwrap_or_else(|| panic!("readiness never said {status:?}; last answer: {last:?}"))
    }

    async fn post_tick(&self, symbol: &str, event_id: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}/ingest/tick", self.base))
            .basic_auth(common::USER, Some(common::PASSWORD))
            .json(&common::tick(symbol, "10.5", event_id))
            .send()
            .await
            .expect("ingest request");
        assert_eq!(r.status(), 202, "tick {event_id} accepted");
    }

    /// SIGTERM, then the exit status (the wait is bounded so a hung process
    /// fails the test instead of hanging it).
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "SIGTERM sent");
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the process did not exit 30 s after SIGTERM");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(prefix) = &self.prefix {
            common::delete_keys(&common::redis_url(), prefix);
        }
    }
}

async fn a_panicking_calc_task_comes_back(mode: Mode<'_>, name: &str) {
    let p = Process::start(mode, name, &[("FAULT_INJECTION", "calc-panic")]);
    p.wait_status("ready", Duration::from_secs(60)).await;
    p.post_tick("PANIC", "panic-1").await;

    // Logged with the task's name.
    let logged = eventually(Duration::from_secs(30), || async {
        p.lines("task panicked; starting it again")
            .into_iter()
            .find(|l| l["task"] == "calc")
    })
    .await
    .expect("a log line names the panicking calc task");
    assert_eq!(logged["level"], "ERROR");
    assert!(
        logged["reason"]
            .as_str()
            .unwrap_or("")
            .contains("calc-panic"),
        "the log line says why: {logged}"
    );

    // Degraded while it is down, naming it.
    let degraded = p.wait_status("degraded", Duration::from_secs(30)).await;
    assert_eq!(degraded["tasks_down"], json!(["calc"]), "{degraded}");
    assert_eq!(degraded["tasks"]["calc"], "restarting", "{degraded}");

    // Running again: ready, and the tick it panicked on gets its view.
    let ready = p.wait_status("ready", Duration::from_secs(30)).await;
    assert_eq!(ready["tasks"]["calc"], "running", "{ready}");
    assert_eq!(ready["tasks_down"], json!([]), "{ready}");
    let view = eventually(Duration::from_secs(30), || async {
        let r = reqwest::get(format!("{}/api/symbols/PANIC", p.base))
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json::<Value>().await.ok()
    })
    .await
    .expect("the restarted calc task computes the view of the tick it panicked on");
    assert_eq!(view["last"]["event_id"], "panic-1");
    assert_eq!(view["tick_count"], 1, "the tick is counted once");
    assert_eq!(
        p.lines("task panicked; starting it again").len(),
        1,
        "the fault fires once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_panicking_calc_task_is_logged_degrades_readiness_and_runs_again() {
    a_panicking_calc_task_comes_back(Mode::Embedded, "panic-embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_panicking_calc_task_is_logged_degrades_readiness_and_runs_again() {
    let db = TestDb::create().await;
    a_panicking_calc_task_comes_back(
        Mode::Redis {
            database_url: &db.url,
        },
        "panic-redis",
    )
    .await;
}

/// Every task of a process running every role, by the name it logs.
const TASKS: &[&str] = &[
    "beat",
    "calc",
    "database",
    "durability",
    "gateway",
    "monitor",
    "persist",
    "session-sweeper",
    "writer-0",
];

async fn shutdown_stops_every_task(mode: Mode<'_>, name: &str) {
    let mut p = Process::start(mode, name, &[("SHUTDOWN_GRACE_SECS", "5")]);
    p.wait_status("ready", Duration::from_secs(60)).await;
    p.post_tick("STOP", "stop-1").await;
    // Every task is up before the signal.
    let all_up = eventually(Duration::from_secs(30), || async {
        let body = p.readiness().await?;
        let tasks = body["tasks"].as_object()?.clone();
        TASKS
            .iter()
            .all(|t| {
                tasks
                    .get(*t)
                    .is_some_and(|s| s == "running" || (*t == "database" && s == "stopped"))
            })
            .then_some(tasks)
    })
    .await;
    let last = p.readiness().await;
    assert!(
        all_up.is_some(),
        "every task runs before the shutdown: {last:?}"
    );

    let status = p.terminate();
    assert!(status.success(), "exit status {status}");
    // Give the log reader a moment to take the last lines.
    std::thread::sleep(Duration::from_millis(200));
    let stopped: Vec<String> = p
        .lines("task stopped")
        .iter()
        .filter_map(|l| l["task"].as_str().map(str::to_owned))
        .collect();
    for task in TASKS {
        assert!(
            stopped.iter().any(|s| s == task),
            "{task} logged that it stopped; stopped: {stopped:?}"
        );
    }
    assert!(
        p.lines("task did not stop within the grace period; aborted")
            .is_empty(),
        "no task was aborted"
    );
    let summary = p.lines("every task stopped");
    assert_eq!(summary.len(), 1, "the process says every task stopped");
    assert_eq!(summary[0]["left_running"], 0, "{}", summary[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_shutdown_stops_every_task_within_the_grace_period() {
    shutdown_stops_every_task(Mode::Embedded, "stop-embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shutdown_stops_every_task_within_the_grace_period() {
    let db = TestDb::create().await;
    shutdown_stops_every_task(
        Mode::Redis {
            database_url: &db.url,
        },
        "stop-redis",
    )
    .await;
}
