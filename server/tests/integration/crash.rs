//! Crash safety: 100,000 ticks are posted while the server process is killed
//! with SIGKILL and restarted twice. Afterwards every tick that got a 202 is
//! in `md_ticks` exactly once, and no tick whose request never reached the
//! server (connection refused) or got an HTTP error is. A request whose
//! answer was lost in the kill may or may not have been stored: its client
//! cannot know, which is why resending is always safe.

use crate::common;

use common::{eventually, TestDb};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TICKS: usize = 100_000;
const BATCH: usize = 500;

fn spawn(port: u16, prefix: &str, db: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tickpulse"))
        .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("REDIS_URL", common::redis_url())
        .env("REDIS_KEY_PREFIX", prefix)
        .env("DATABASE_URL", db)
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .env("NODE_ID", "crash-node")
        .env("PERSIST_BATCH_WAIT_MS", "50")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tickpulse binary")
}

/// Kills the server process and removes the test's Redis keys however the
/// test ends, so a failing run leaves nothing behind.
struct Guard {
    server: Arc<Mutex<Child>>,
    prefix: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut child) = self.server.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
        common::delete_keys(&common::redis_url(), &self.prefix);
    }
}

#[derive(Default)]
struct Outcomes {
    accepted: HashSet<String>,
    refused: HashSet<String>,
    unknown: HashSet<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twice_loses_no_acknowledged_tick() {
    let db = TestDb::create().await;
    let prefix = format!("test:crash:{}:", std::process::id());
    let port = common::free_port();
    let server = Arc::new(Mutex::new(spawn(port, &prefix, &db.url)));
    let _guard = Guard {
        server: server.clone(),
        prefix: prefix.clone(),
    };
    common::wait_listening(port).await;

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/ingest/ticks");
    let ts = common::now_ms();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (outcomes, next, client, url) =
            (outcomes.clone(), next.clone(), client.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b * BATCH >= TICKS {
                    return;
                }
                let ids: Vec<String> = (b * BATCH..(b + 1) * BATCH).map(|i| format!("crash-{i}")).collect();
                let mut body: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| json!({"symbol": format!("K{}", k % 20), "price": "10.5", "volume": "1", "ts": ts, "event_id": id}))
                    .collect();
                if b % 40 == 7 {
                    // An invalid tick: the whole batch must be refused with 400.
                    body[BATCH / 2]["price"] = json!(-1);
                }
                let body = Value::Array(body).to_string();
                let mut attempts = 0;
                let outcome = loop {
                    attempts += 1;
                    let sent = client
                        .post(&url)
                        .basic_auth(common::USER, Some(common::PASSWORD))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => break "accepted",
                        Ok(_) => break "refused",
                        // Never reached the server (it is restarting): resend, as a feeder would.
                        Err(e) if e.is_connect() && attempts < 400 => tokio::time::sleep(Duration::from_millis(25)).await,
                        Err(e) if e.is_connect() => break "refused",
                        Err(_) => break "unknown",
                    }
                };
                {
                    let mut o = outcomes.lock().unwrap();
                    match outcome {
                        "accepted" => o.accepted.extend(ids),
                        "refused" => o.refused.extend(ids),
                        _ => o.unknown.extend(ids),
                    }
                }
                if b % 10 == 0 {
                    // Spread the load so the kills land mid-stream.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    for _ in 0..2 {
        let target = next.load(std::sync::atomic::Ordering::Relaxed) + TICKS / BATCH / 3;
        while next.load(std::sync::atomic::Ordering::Relaxed) < target.min(TICKS / BATCH - 5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        {
            let mut child = server.lock().unwrap();
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        *server.lock().unwrap() = spawn(port, &prefix, &db.url);
        common::wait_listening(port).await;
    }
    for s in senders {
        s.await.unwrap();
    }

    let o = std::mem::take(&mut *outcomes.lock().unwrap());
    assert_eq!(o.accepted.len() + o.refused.len() + o.unknown.len(), TICKS);
    assert!(
        o.accepted.len() >= TICKS / 2,
        "most batches were acknowledged: {}",
        o.accepted.len()
    );
    assert!(
        o.refused.len() >= 5 * BATCH,
        "the invalid batches were refused: {}",
        o.refused.len()
    );
    let pool = db.pool().await;
    let persisted = eventually(Duration::from_secs(90), || {
        let pool = pool.clone();
        let want = o.accepted.clone();
        async move {
            let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM md_ticks")
                .fetch_all(&pool)
                .await
                .ok()?;
            let stored: HashSet<String> = stored.into_iter().collect();
            want.is_subset(&stored).then_some(stored)
        }
    })
    .await;
    let stored = persisted.expect("every acknowledged tick reaches md_ticks");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM md_ticks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, stored.len(), "each event_id once");
    assert!(stored.is_disjoint(&o.refused), "no refused tick was stored");
    eprintln!(
        "crash test: {} acknowledged, {} refused, {} unknown; {} stored",
        o.accepted.len(),
        o.refused.len(),
        o.unknown.len(),
        stored.len()
    );
}
