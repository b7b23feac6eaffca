//! tickpulse on a Redis Cluster with partitions, as real processes of the
//! binary on private clusters (`scripts/redis-cluster.sh`): the partitions
//! spread over the processes, a killed process's partitions move and a
//! killed master fails over, and in every case each acknowledged tick is
//! stored exactly once. A process with another number of partitions than
//! the bus holds refuses to start.

use crate::common;

use common::cluster::{self, Cluster, PARTITIONS};
use common::{eventually, TestDb};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Symbols of the load: enough for every partition to get some.
const SYMBOLS: usize = 60;

struct Process {
    child: Child,
    port: u16,
    node: String,
    /// Where its log goes (read by a test, and kept for a failing one).
    log: std::path::PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

fn spawn(url: &str, prefix: &str, db: Option<&str>, node: &str, partitions: u16) -> Process {
    let port = common::free_port();
    let log = std::env::temp_dir().join(format!("tickpulse-{node}-{}.log", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
    cmd.env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", url)
        .env("REDIS_KEY_PREFIX", prefix)
        .env("BUS_PARTITIONS", partitions.to_string())
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .env("NODE_ID", node)
        .env("HEARTBEAT_MS", "500")
        .env("CLAIM_IDLE_SECS", "2")
        .env("PERSIST_BATCH_WAIT_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(db) = db {
        cmd.env("DATABASE_URL", db);
    }
    Process {
        child: cmd.spawn().expect("start the tickpulse binary"),
        port,
        node: node.to_owned(),
        log,
    }
}

/// Who holds each partition's lease of `group` (`None`: nobody).
fn holders(url: &str, prefix: &str, group: &str) -> Vec<Option<String>> {
    let client = redis::cluster::ClusterClient::new(url.split(',').collect::<Vec<_>>()).unwrap();
    let Ok(mut conn) = client.get_connection() else {
        return vec![None; PARTITIONS.into()];
    };
    (0..PARTITIONS)
        .map(|p| {
            redis::cmd("GET")
                .arg(format!("{prefix}lease:{group}:{p}"))
                .query(&mut conn)
                .ok()
                .flatten()
        })
        .collect()
}

/// How many of `group`'s partitions each node holds, once every partition
/// has a holder.
fn spread(url: &str, prefix: &str, group: &str) -> Option<HashMap<String, usize>> {
    let mut per_node = HashMap::new();
    for holder in holders(url, prefix, group) {
        *per_node.entry(holder?).or_insert(0) += 1;
    }
    Some(per_node)
}

/// Waits (up to a minute) until `nodes` processes hold `each` of `group`'s
/// partitions; how many each holds, or `None` when they never did.
async fn wait_spread(
    url: &str,
    prefix: &str,
    group: &'static str,
    nodes: usize,
    each: usize,
) -> Option<HashMap<String, usize>> {
    eventually(Duration::from_secs(60), || async move {
        let per_node = spread(url, prefix, group)?;
        (per_node.len() == nodes && per_node.values().all(|n| *n == each)).then_some(per_node)
    })
    .await
}

/// What became of the ticks sent.
#[derive(Default)]
struct Outcomes {
    accepted: HashSet<String>,
    /// Sent, but the answer was lost: stored or not.
    unknown: HashSet<String>,
}

/// Sends `batches` batches of `size` ticks over [`SYMBOLS`] symbols, each to
/// the first live target in turn (`targets` can lose members as the test
/// kills them), resending a batch that met a 503 or a closed connection as
/// a feeder would, until it is acknowledged.
async fn load(
    targets: Arc<Mutex<Vec<u16>>>,
    durable: bool,
    batches: usize,
    size: usize,
    outcomes: Arc<Mutex<Outcomes>>,
    sent: Arc<AtomicUsize>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ts = common::now_ms();
    let mut senders = Vec::new();
    for sender in 0..3 {
        let (targets, outcomes, sent, client) = (
            targets.clone(),
            outcomes.clone(),
            sent.clone(),
            client.clone(),
        );
        senders.push(tokio::spawn(async move {
            for b in (sender..batches).step_by(3) {
                let ids: Vec<String> = (0..size).map(|i| format!("c-{b}-{i}")).collect();
                let body = Value::Array(
                    ids.iter()
                        .enumerate()
                        .map(|(i, id)| {
                            json!({"symbol": format!("C{}", (b + i) % SYMBOLS), "price": "10",
                                   "volume": "1", "ts": ts, "event_id": id})
                        })
                        .collect(),
                )
                .to_string();
                let mut lost_answer = false;
                for attempt in 0..600 {
                    let live = targets.lock().unwrap().clone();
                    let port = live[(b + attempt) % live.len()];
                    let url = format!(
                        "http://127.0.0.1:{port}/ingest/ticks{}",
                        if durable { "?ack=durable" } else { "" }
                    );
                    let answer = client
                        .post(&url)
                        .basic_auth(common::USER, Some(common::PASSWORD))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 202 => {
                            outcomes
                                .lock()
                                .unwrap()
                                .accepted
                                .extend(ids.iter().cloned());
                            lost_answer = false;
                            break;
                        }
                        Ok(r) => assert_eq!(r.status(), 503, "only an outage refuses a batch"),
                        Err(e) => lost_answer |= !e.is_connect(),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if lost_answer {
                    outcomes.lock().unwrap().unknown.extend(ids);
                }
                sent.fetch_add(1, Relaxed);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
}

/// Every acknowledged tick is in `md_ticks`, each event id once, and
/// nothing that was never sent.
async fn stored_exactly_once(db: &TestDb, o: &Outcomes) -> usize {
    let pool = db.pool().await;
    let want = o.accepted.clone();
    let stored = eventually(Duration::from_secs(120), || {
        let (pool, want) = (pool.clone(), want.clone());
        async move {
            let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM md_ticks")
                .fetch_all(&pool)
                .await
                .ok()?;
            let stored: HashSet<String> = stored.into_iter().collect();
            want.is_subset(&stored).then_some(stored)
        }
    })
    .await
    .expect("every acknowledged tick reaches md_ticks");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM md_ticks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, stored.len(), "each event_id once");
    let sent: HashSet<&String> = o.accepted.iter().chain(&o.unknown).collect();
    assert!(stored.iter().all(|id| sent.contains(id)), "nothing unsent");
    stored.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_partitions_and_a_killed_ones_move() {
    let url = cluster::shared().url.clone();
    let prefix = format!("test:share:{}:", std::process::id());
    let db = TestDb::create().await;
    let mut nodes: Vec<Process> = ["share-a", "share-b", "share-c"]
        .iter()
        .map(|n| spawn(&url, &prefix, Some(&db.url), n, PARTITIONS))
        .collect();
    for n in &nodes {
        common::wait_listening(n.port).await;
    }
    // Each process takes its share: 2 of the 6 partitions, for calc and
    // trade alike.
    for group in ["calc", "trade"] {
        let spread = wait_spread(&url, &prefix, group, 3, 2).await;
        assert!(spread.is_some(), "{group} leases spread 2, 2, 2");
    }

    let targets = Arc::new(Mutex::new(nodes.iter().map(|n| n.port).collect::<Vec<_>>()));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let sent = Arc::new(AtomicUsize::new(0));
    let batches = 240;
    let sending = tokio::spawn(load(
        targets.clone(),
        false,
        batches,
        200,
        outcomes.clone(),
        sent.clone(),
    ));
    while sent.load(Relaxed) < batches / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SIGKILL: the process hands nothing over.
    let killed = nodes.pop().unwrap();
    targets.lock().unwrap().retain(|p| *p != killed.port);
    let killed_node = killed.node.clone();
    drop(killed);
    sending.await.unwrap();

    // Its partitions move to the two left, 3 each, within the lease time.
    for group in ["calc", "trade"] {
        let moved = wait_spread(&url, &prefix, group, 2, 3).await;
        assert!(
            moved.is_some_and(|m| !m.contains_key(&killed_node)),
            "{group} partitions of the killed process move: {:?}",
            spread(&url, &prefix, group)
        );
    }
    let o = std::mem::take(&mut *outcomes.lock().unwrap());
    assert!(
        o.accepted.len() >= batches * 200 * 9 / 10,
        "{} acknowledged",
        o.accepted.len()
    );
    let stored = stored_exactly_once(&db, &o).await;
    // The views follow every partition: each symbol has one.
    let views: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{}/api/symbols", nodes[0].port))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(views.len(), SYMBOLS);
    eprintln!(
        "three processes, one killed: {} acknowledged, {} answers lost, {stored} stored",
        o.accepted.len(),
        o.unknown.len()
    );
    drop(nodes);
    cluster::shared().delete_keys(&prefix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_under_load_fails_over_and_durable_ticks_are_stored_once() {
    let cluster = Cluster::start(3);
    let prefix = "test:failover:";
    let db = TestDb::create().await;
    let node = spawn(
        &cluster.url,
        prefix,
        Some(&db.url),
        "failover-a",
        PARTITIONS,
    );
    common::wait_listening(node.port).await;
    let targets = Arc::new(Mutex::new(vec![node.port]));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let sent = Arc::new(AtomicUsize::new(0));
    let batches = 150;
    let sending = tokio::spawn(load(
        targets,
        true,
        batches,
        100,
        outcomes.clone(),
        sent.clone(),
    ));
    while sent.load(Relaxed) < batches / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let master = cluster.masters()[0];
    cluster.kill(master);
    sending.await.unwrap();
    // A replica took over: the killed master's slots are served again.
    let survivor = cluster.masters()[1];
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut cluster.node(survivor))
        .unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    let o = std::mem::take(&mut *outcomes.lock().unwrap());
    assert_eq!(
        o.accepted.len() + o.unknown.len(),
        batches * 100,
        "every batch was answered in the end"
    );
    let stored = stored_exactly_once(&db, &o).await;
    // And the process keeps serving.
    let r = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/ingest/tick?ack=durable",
            node.port
        ))
        .basic_auth(common::USER, Some(common::PASSWORD))
        .json(&common::tick("AFTER", "1", "after-failover"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eprintln!(
        "master killed: {} acknowledged durably, {} answers lost, {stored} stored",
        o.accepted.len(),
        o.unknown.len()
    );
}

#[tokio::test]
async fn another_number_of_partitions_is_refused_at_start() {
    let url = cluster::shared().url.clone();
    let prefix = format!("test:partitions:{}:", std::process::id());
    let first = spawn(&url, &prefix, None, "parts-a", PARTITIONS);
    common::wait_listening(first.port).await;
    let mut second = spawn(&url, &prefix, None, "parts-b", 3);
    let status = second.child.wait().expect("the second process ends");
    assert!(!status.success(), "refused to start");
    let stderr = second.log();
    assert!(
        stderr.contains(&format!("created with {PARTITIONS} partitions"))
            && stderr.contains("BUS_PARTITIONS=3"),
        "says why: {stderr}"
    );
    // The embedded bus has one partition.
    let mut embedded = Command::new(env!("CARGO_BIN_EXE_tickpulse"))
        .env(
            "TICKPULSE_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("BUS_PARTITIONS", "2")
        .env(
            "DATA_DIR",
            std::env::temp_dir().join(format!("tp-parts-{}", std::process::id())),
        )
        .env_remove("REDIS_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = embedded.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(embedded.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        !out.success() && stderr.contains("BUS_PARTITIONS=2 needs REDIS_URL"),
        "{stderr}"
    );
    drop(first);
    cluster::shared().delete_keys(&prefix);
}
