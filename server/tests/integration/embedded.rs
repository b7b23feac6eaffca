//! The embedded mode: no `REDIS_URL`, the bus lives in the process and is
//! journaled under `DATA_DIR`. It serves the same product, and a SIGKILL
//! during ingest loses no acknowledged tick.

use crate::common;

use common::{embedded, eventually, tick, DataDir};
use serde_json::Value;
use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn the_embedded_mode_serves_ingest_views_and_the_stream_without_redis() {
    let dir = DataDir::new("serve");
    let s = embedded(&dir).await;
    let ready: Value = s.get("/health/readiness").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["bus"], "embedded");

    let sse = reqwest::Client::new()
        .get(s.url("/api/stream?symbols=EMB"))
        .send()
        .await
        .unwrap();
    let mut events = common::SseReader::new(sse);
    let (kind, _, _) = events.next(Duration::from_secs(5)).await.expect("snapshot");
    assert_eq!(kind, "snapshot");

    s.accept("EMB", "7.25", "emb", 3).await;
    let r: Value = s
        .post_json("/ingest/tick", &tick("EMB", "1", "emb-0"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["duplicates"], 1, "{r}");
    let latest = s.latest("EMB").await.expect("latest tick");
    assert_eq!(latest["price"], "7.25");
    let view = s.view_when("EMB", |v| v["tick_count"] == 3).await;
    assert_eq!(view["last"]["symbol"], "EMB");
    let (kind, id, data) = events
        .next_of("tick", Duration::from_secs(5))
        .await
        .expect("a tick event");
    assert_eq!(kind, "tick");
    assert!(id.is_some());
    assert!(data.contains("\"EMB\""), "{data}");
    // The embedded store (SQLite) has them too.
    let history = eventually(Duration::from_secs(20), || async {
        let h: Value = s.get("/api/symbols/EMB/history").await.json().await.ok()?;
        (h.as_array()?.len() == 3).then_some(h)
    })
    .await
    .expect("three ticks in the history");
    assert_eq!(history[0]["event_id"], "emb-2");
    // Candles come from the store alone: once the ticks are persisted.
    let trades = eventually(Duration::from_secs(20), || async {
        let candles: Value = s
            .get("/api/symbols/EMB/candles?interval=1m")
            .await
            .json()
            .await
            .ok()?;
        let trades: u64 = candles
            .as_array()?
            .iter()
            .filter_map(|c| c["trades"].as_u64())
            .sum();
        (trades == 3).then_some(trades)
    })
    .await;
    assert_eq!(trades, Some(3), "candles of the three ticks");
    assert_eq!(ready["store"], "sqlite");
    // A durable acknowledgement waits for the SQLite commit.
    let durable = s
        .post_json(
            "/ingest/tick?ack=durable",
            &tick("EMB2", "3", "emb-durable"),
        )
        .await;
    assert_eq!(durable.status(), 202);
    let body: Value = durable.json().await.unwrap();
    assert_eq!(body["durable"], true, "{body}");
    let store = tickpulse_server::store::SqliteStore::open(&dir.0.join("ticks.db"))
        .await
        .unwrap();
    {
        use tickpulse_server::store::TickStore;
        let found = store.committed(&["emb-durable".to_owned()]).await.unwrap();
        assert_eq!(found, ["emb-durable"], "committed before the answer");
    }
    let page = s.get("/metrics").await.text().await.unwrap();
    assert!(page.contains("tickpulse_stream_length 4\n"), "{page}");
    assert!(
        page.contains("tickpulse_ticks_ingested_total 4\n"),
        "{page}"
    );
    s.stop().await;

    // A second start on the same folder has the state of the first.
    let s = embedded(&dir).await;
    let latest = s.latest("EMB").await.expect("latest tick after a restart");
    assert_eq!(latest["event_id"], "emb-2");
    let view = s.view_when("EMB", |v| v["tick_count"] == 3).await;
    assert_eq!(view["last"]["event_id"], "emb-2");
    s.stop().await;
}

fn spawn(port: u16, dir: &DataDir) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tickpulse"))
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("TICKPULSE_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", &dir.0)
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the tickpulse binary")
}

async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    let up = eventually(Duration::from_secs(30), || {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("{base}/health/readiness"))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    assert!(up.is_some(), "server at {base} not ready");
}

fn batch(worker: usize, n: usize) -> Vec<Value> {
    (0..100)
        .map(|i| tick("KILL", "5", &format!("kill-{worker}-{n}-{i}")))
        .collect()
}

#[tokio::test]
async fn a_sigkill_during_ingest_loses_no_acknowledged_tick() {
    let dir = DataDir::new("kill");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Arc::new(Mutex::new(spawn(port, &dir)));
    wait_ready(&base).await;

    // Four feeders post batches of 100 until the server dies under them.
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let client = reqwest::Client::new();
    let mut feeders = Vec::new();
    for worker in 0..4 {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        feeders.push(tokio::spawn(async move {
            for n in 0.. {
                let body = Value::Array(batch(worker, n));
                let Ok(r) = client
                    .post(format!("{base}/ingest/ticks"))
                    .basic_auth(common::USER, Some(common::PASSWORD))
                    .json(&body)
                    .send()
                    .await
                else {
                    return;
                };
                if r.status() != 202 {
                    return;
                }
                let ids = body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["event_id"].as_str().unwrap().to_owned());
                acked.lock().unwrap().extend(ids);
            }
        }));
    }
    let enough = eventually(Duration::from_secs(60), || {
        let acked = acked.clone();
        async move { (acked.lock().unwrap().len() >= 20_000).then_some(()) }
    })
    .await;
    assert!(
        enough.is_some(),
        "20,000 ticks acknowledged before the kill"
    );
    server.lock().unwrap().kill().expect("SIGKILL");
    let _ = server.lock().unwrap().wait();
    for f in feeders {
        let _ = f.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().iter().cloned().collect();

    // The restarted server knows every acknowledged tick: sent again, each
    // one is a duplicate, and the stream holds at least as many entries.
    let _restarted = Guard(spawn(port, &dir));
    wait_ready(&base).await;
    let mut duplicates = 0;
    for chunk in acked.chunks(1_000) {
        let body: Vec<Value> = chunk.iter().map(|id| tick("KILL", "5", id)).collect();
        let r: Value = client
            .post(format!("{base}/ingest/ticks"))
            .basic_auth(common::USER, Some(common::PASSWORD))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        duplicates += r["duplicates"].as_u64().unwrap();
    }
    assert_eq!(
        duplicates,
        acked.len() as u64,
        "every acknowledged tick survived the kill"
    );
    let page = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let length: u64 = page
        .lines()
        .find_map(|l| l.strip_prefix("tickpulse_stream_length "))
        .and_then(|v| v.parse().ok())
        .expect("stream length");
    assert!(
        length >= acked.len() as u64,
        "{length} entries for {} acknowledged ticks",
        acked.len()
    );
    // And every one of them reaches the embedded store, once.
    let store = tickpulse_server::store::SqliteStore::open(&dir.0.join("ticks.db"))
        .await
        .unwrap();
    let all_stored = eventually(Duration::from_secs(60), || {
        let (store, acked) = (&store, &acked);
        async move {
            use tickpulse_server::store::TickStore;
            let mut n = 0;
            for chunk in acked.chunks(1_000) {
                n += store.committed(chunk).await.ok()?.len();
            }
            (n == acked.len()).then_some(())
        }
    })
    .await;
    assert!(
        all_stored.is_some(),
        "every acknowledged tick is in ticks.db"
    );
}

/// Kills the server however the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
