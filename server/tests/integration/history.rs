//! History and candles against a real Redis and Postgres.

use crate::common;

use common::{now_ms, TestDb, TestServer};
use serde_json::{json, Value};
use std::time::Duration;
use tickpulse_core::{candles, Interval, StreamTick};
use tickpulse_server::platform::config::Role;

fn ticks(symbol: &str, n: usize, start_ms: i64, step_ms: i64) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!({"symbol": symbol, "price": format!("{}.{}", 100 + (i * 7) % 13, i % 10), "volume": format!("{}", 1 + i % 4),
                       "ts": start_ms + i as i64 * step_ms, "event_id": format!("{symbol}-{i}")})
            })
            .collect(),
    )
}

/// GET a history, waiting out a busy moment (a 503 under a loaded test run);
/// the body of the last failed answer is shown if it never succeeds.
async fn get_history(s: &TestServer, query: &str) -> Value {
    let path = format!("/api/symbols/H/history{query}");
    let mut last = String::new();
    for _ in 0..100 {
        let r = s.get(&path).await;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status == 200 {
            return serde_json::from_str(&body).expect("history JSON");
        }
        last = format!("{status}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("history {path} kept failing: {last}");
}

fn event_ids(history: &Value) -> Vec<String> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn history_is_newest_first_and_has_no_hole_before_persistence() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    // Not persisting yet: history comes from the stream alone.
    let api = TestServer::start_with(common::redis_url(), |c| {
        c.database_url = Some(url.clone());
        c.roles = vec![Role::Api, Role::Calc];
    })
    .await;
    api.wait_ready().await;
    let start = now_ms() - 60_000;
    assert_eq!(
        api.post_json("/ingest/ticks", &ticks("H", 30, start, 1_000))
            .await
            .status(),
        202
    );
    let h = get_history(&api, "?limit=10").await;
    let expected: Vec<String> = (20..30).rev().map(|i| format!("H-{i}")).collect();
    assert_eq!(event_ids(&h), expected);

    // Now persisting: the same history, from the database.
    let prefix = api.prefix.clone();
    let persister = TestServer::start_with(common::redis_url(), |c| {
        c.redis_key_prefix = prefix;
        c.database_url = Some(url);
        c.roles = vec![Role::Persist];
        c.persist_batch_wait_ms = 20;
    })
    .await;
    let pool = db.pool().await;
    TestDb::wait_count(&pool, 30, Duration::from_secs(60), "30 ticks persisted").await;
    let h = get_history(&api, "?limit=10").await;
    assert_eq!(event_ids(&h), expected);

    // `before` pages back in event time.
    let before = start + 20_000;
    let h = get_history(&api, &format!("?limit=5&before={before}")).await;
    assert_eq!(event_ids(&h), ["H-19", "H-18", "H-17", "H-16", "H-15"]);
    let h = get_history(&api, "").await;
    assert_eq!(h.as_array().unwrap().len(), 30);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=x", "limit"),
        ("before=soon", "before"),
    ] {
        let r = api.get(&format!("/api/symbols/H/history?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["details"][0]["field"], field, "{query}");
    }
    persister.stop().await;
}

#[tokio::test]
async fn candles_match_the_same_computation_in_rust() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 20).await;
    // 240 ticks over four minutes of event time, 1 s apart.
    let start = (now_ms() / 60_000 - 5) * 60_000 + 250;
    assert_eq!(
        s.post_json("/ingest/ticks", &ticks("CDL", 240, start, 1_000))
            .await
            .status(),
        202
    );
    let pool = db.pool().await;
    TestDb::wait_count(&pool, 240, Duration::from_secs(60), "240 ticks persisted").await;

    let history: Vec<StreamTick> = s
        .get("/api/symbols/CDL/history?limit=5000")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history.len(), 240);
    for interval in [Interval::S1, Interval::M1, Interval::M5] {
        let url = format!(
            "/api/symbols/CDL/candles?interval={interval}&from={}&to={}",
            start - 300_000,
            start + 300_000
        );
        let r = s.get(&url).await;
        assert_eq!(r.status(), 200, "{interval}");
        let from_db: Value = r.json().await.unwrap();
        let in_rust = serde_json::to_value(candles(&history, interval)).unwrap();
        assert_eq!(from_db, in_rust, "{interval}");
    }
    let one_minute: Value = s
        .get(&format!(
            "/api/symbols/CDL/candles?interval=1m&from={}&to={}",
            start - 250,
            start + 240_000
        ))
        .await
        .json()
        .await
        .unwrap();
    // Ticks at 0.25 s … 239.25 s into the first minute: four full buckets.
    assert_eq!(one_minute.as_array().unwrap().len(), 4);
    assert!(one_minute
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["trades"] == 60));

    for (query, field) in [
        ("interval=2m", "interval"),
        ("from=10&to=5", "from"),
        ("interval=1s&from=0&to=100000000", "from"),
        ("to=later", "to"),
    ] {
        let r = s.get(&format!("/api/symbols/CDL/candles?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["details"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn without_a_database_history_and_candles_say_what_is_missing() {
    let s = TestServer::start().await;
    for path in ["/api/symbols/X/history", "/api/symbols/X/candles"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), 503, "{path}");
        let b: Value = r.json().await.unwrap();
        assert!(b["error"].as_str().unwrap().contains("DATABASE_URL"), "{b}");
    }
}
