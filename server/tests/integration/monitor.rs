//! Heartbeats and the monitor with real processes: three `tickpulse`
//! processes share Redis and Postgres. One is killed with SIGKILL: the
//! admin API shows it `down` within 12 s with an alert row, and
//! `recovered` once it is back. Then the active monitor is killed: another
//! process takes the lease over and still detects the next failure. A
//! stale feed raises an alert and clears it when ticks come again.

use crate::common;

use common::{eventually, TestDb};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const ADMIN_KEY: &str = "monitor-test-key";

struct Node {
    id: String,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

struct Cluster {
    nodes: Vec<Node>,
    prefix: String,
    db_url: String,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        common::delete_keys(&common::redis_url(), &self.prefix);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Cluster {
    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tickpulse"))
            .env("TICKPULSE_ADDR", format!("127.0.0.1:{}", n.port))
            .env("REDIS_URL", common::redis_url())
            .env("REDIS_KEY_PREFIX", &self.prefix)
            .env("DATABASE_URL", &self.db_url)
            .env("NODE_ID", &n.id)
            .env("ADMIN_API_KEY", ADMIN_KEY)
            .env("INGEST_USERNAME", common::USER)
            .env("INGEST_PASSWORD", common::PASSWORD)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tickpulse");
        n.child = Some(child);
    }

    fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().expect("running");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "--- {} ---\n{}",
                    n.id,
                    std::fs::read_to_string(&n.log).unwrap_or_default()
                )
            })
            .collect()
    }

    /// `GET path` on the first running node, as a script with the admin key.
    async fn admin_get(&self, path: &str) -> Option<Value> {
        let n = self.nodes.iter().find(|n| n.child.is_some())?;
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", n.port))
            .header("x-api-key", ADMIN_KEY)
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }

    async fn statuses(&self) -> HashMap<String, String> {
        let Some(v) = self.admin_get("/api/admin/nodes").await else {
            return HashMap::new();
        };
        v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                (
                    n["beat"]["node"].as_str().unwrap_or("").to_owned(),
                    n["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    /// Waits until `node` has `status`; how long it took.
    async fn wait_status(&self, node: &str, status: &str, limit: Duration) -> Duration {
        let started = Instant::now();
        let seen = eventually(limit, || async {
            (self.statuses().await.get(node).map(String::as_str) == Some(status)).then_some(())
        })
        .await;
        assert!(
            seen.is_some(),
            "{node} not {status} within {limit:?}: {:?}\n{}",
            self.statuses().await,
            self.logs()
        );
        started.elapsed()
    }

    /// Waits until the alert log holds `kind` for `subject`.
    async fn wait_event(&self, kind: &str, subject: &str, limit: Duration) -> Value {
        let path = format!("/api/admin/events?subject={subject}&limit=50");
        let found = eventually(limit, || async {
            let v = self.admin_get(&path).await?;
            v["events"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == kind)
                .cloned()
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no {kind} event for {subject} within {limit:?}\n{}",
                self.logs()
            )
        })
    }

    fn monitor(&self) -> String {
        let mut conn = redis::Client::open(common::redis_url())
            .unwrap()
            .get_connection()
            .unwrap();
        redis::cmd("GET")
            .arg(format!("{}lease:monitor", self.prefix))
            .query::<Option<String>>(&mut conn)
            .unwrap()
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_goes_down_and_recovers_and_the_monitor_fails_over() {
    let db = TestDb::create().await;
    let dir = std::env::temp_dir().join(format!("tickpulse-monitor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cluster = Cluster {
        nodes: ["mon-a", "mon-b", "mon-c"]
            .iter()
            .map(|id| Node {
                id: (*id).to_owned(),
                port: common::free_port(),
                child: None,
                log: dir.join(format!("{id}.log")),
            })
            .collect(),
        prefix: format!("test:monitor:{}:{}:", std::process::id(), common::now_ms()),
        db_url: db.url.clone(),
        dir,
    };
    for i in 0..3 {
        cluster.spawn(i);
    }
    for id in ["mon-a", "mon-b", "mon-c"] {
        cluster.wait_status(id, "up", Duration::from_secs(60)).await;
    }
    let monitor = eventually(Duration::from_secs(20), || async {
        Some(cluster.monitor()).filter(|m| !m.is_empty())
    })
    .await
    .expect("one process holds the monitor lease");
    let m = cluster.nodes.iter().position(|n| n.id == monitor).unwrap();
    let victim = (m + 1) % 3;
    let victim_id = cluster.nodes[victim].id.clone();

    // A node that is not the monitor dies.
    cluster.kill(victim);
    let took = cluster
        .wait_status(&victim_id, "down", Duration::from_secs(12))
        .await;
    println!("{victim_id} shown down {took:?} after SIGKILL");
    let down = cluster
        .wait_event("node.down", &victim_id, Duration::from_secs(5))
        .await;
    assert_eq!(down["severity"], "critical");

    // It comes back.
    cluster.spawn(victim);
    cluster
        .wait_status(&victim_id, "up", Duration::from_secs(30))
        .await;
    cluster
        .wait_event("node.recovered", &victim_id, Duration::from_secs(10))
        .await;

    // The active monitor dies: another process takes over within one lease
    // time, and detects that failure like any other.
    cluster.kill(m);
    let successor = eventually(Duration::from_secs(15), || async {
        Some(cluster.monitor()).filter(|h| !h.is_empty() && *h != monitor)
    })
    .await
    .unwrap_or_else(|| panic!("no process took the monitor over\n{}", cluster.logs()));
    println!("{successor} took the monitor over from {monitor}");
    cluster
        .wait_status(&monitor, "down", Duration::from_secs(15))
        .await;
    cluster
        .wait_event("node.down", &monitor, Duration::from_secs(15))
        .await;

    // And the next failure: the one node that is neither monitor.
    let last = (0..3)
        .find(|i| cluster.nodes[*i].child.is_some() && cluster.nodes[*i].id != successor)
        .unwrap();
    let last_id = cluster.nodes[last].id.clone();
    // It may be the node that died and came back above: count what it has.
    let downs_before = cluster
        .admin_get(&format!("/api/admin/events?subject={last_id}&scope=node"))
        .await
        .and_then(|v| {
            Some(
                v["events"]
                    .as_array()?
                    .iter()
                    .filter(|e| e["kind"] == "node.down")
                    .count(),
            )
        })
        .unwrap_or(0);
    cluster.kill(last);
    cluster
        .wait_status(&last_id, "down", Duration::from_secs(12))
        .await;
    let events = cluster
        .admin_get(&format!("/api/admin/events?subject={last_id}&scope=node"))
        .await
        .unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    let downs = eventually(Duration::from_secs(5), || async {
        let v = cluster
            .admin_get(&format!("/api/admin/events?subject={last_id}&scope=node"))
            .await?;
        let n = v["events"]
            .as_array()?
            .iter()
            .filter(|e| e["kind"] == "node.down")
            .count();
        (n == downs_before + 1).then_some(n - downs_before)
    })
    .await;
    assert_eq!(downs, Some(1), "one node.down for {last_id}: {kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_feed_raises_a_stale_alert_that_clears_when_ticks_resume() {
    // Embedded mode, one process: the monitor's lease and the heartbeats
    // live in the process's own bus, the alert log in SQLite.
    let dir = std::env::temp_dir().join(format!(
        "tickpulse-stale-{}-{}",
        std::process::id(),
        common::now_ms()
    ));
    let port = common::free_port();
    let log = dir.join("server.log");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tickpulse"))
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("DATA_DIR", dir.join("data"))
        .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("NODE_ID", "stale-node")
        .env("ADMIN_API_KEY", ADMIN_KEY)
        .env("FEED_STALE_SECS", "3")
        .env("HEARTBEAT_MS", "500")
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut cluster = Cluster {
        nodes: vec![Node {
            id: "stale-node".into(),
            port,
            child: Some(child),
            log,
        }],
        prefix: format!("test:stale-unused:{}:", std::process::id()),
        db_url: String::new(),
        dir,
    };
    cluster
        .wait_status("stale-node", "up", Duration::from_secs(30))
        .await;
    let base = format!("http://127.0.0.1:{port}");
    let post = |n: u32| {
        let base = base.clone();
        async move {
            let mut tick = common::tick("STALE", "10", &format!("stale-{n}-{}", common::now_ms()));
            tick["source"] = "feed-x".into();
            let r = reqwest::Client::new()
                .post(format!("{base}/ingest/tick"))
                .basic_auth(common::USER, Some(common::PASSWORD))
                .json(&tick)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 202);
        }
    };
    // Alerts are pushed to the admin stream as they are raised.
    let stream = reqwest::Client::new()
        .get(format!("{base}/api/admin/stream"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut sse = common::SseReader::new(stream);
    assert!(sse
        .next_of("health", Duration::from_secs(5))
        .await
        .is_some());

    post(1).await;
    let stale = cluster
        .wait_event("feed.stale", "feed-x", Duration::from_secs(15))
        .await;
    assert_eq!(stale["severity"], "warning");
    let (_, _, pushed) = sse
        .next_of("alert", Duration::from_secs(5))
        .await
        .expect("the alert was pushed to the admin stream");
    assert!(pushed.contains("feed.stale"), "{pushed}");
    let health = cluster.admin_get("/api/admin/health").await.unwrap();
    let feed = &health["feeds"][0];
    assert_eq!(
        (feed["source"].as_str(), feed["stale"].as_bool()),
        (Some("feed-x"), Some(true))
    );

    post(2).await;
    cluster
        .wait_event("feed.recovered", "feed-x", Duration::from_secs(10))
        .await;
    cluster.kill(0);
}
