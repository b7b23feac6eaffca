//! The ingest webhook against a real Redis: acceptance, de-duplication,
//! authentication, validation, batch atomicity, limits and outages.

use crate::common;

use common::{now_ms, tick, PrivateRedis, TestServer, PASSWORD, USER};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

#[tokio::test]
async fn posted_tick_is_readable_and_a_repeat_is_a_duplicate_stored_once() {
    let s = TestServer::start().await;
    let r = s
        .post_json("/ingest/tick", &tick("btc-usd", "64000.50", "dup-1"))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(body(r).await, json!({"accepted": 1, "duplicates": 0}));

    let latest = s.latest("BTC-USD").await.unwrap();
    assert_eq!(latest["price"], "64000.5");
    assert_eq!(latest["event_id"], "dup-1");
    assert_eq!(latest["first_price"], "64000.5");
    let view = s.view_when("BTC-USD", |v| v["tick_count"] == 1).await;
    assert_eq!(view["last"]["price"], "64000.5");

    let r = s
        .post_json("/ingest/tick", &tick("BTC-USD", "1", "dup-1"))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(body(r).await, json!({"accepted": 0, "duplicates": 1}));
    assert_eq!(s.stream_len(), 1, "the duplicate was not stored");
    assert_eq!(s.latest("BTC-USD").await.unwrap()["price"], "64000.5");
    let view = s.view_when("btc-usd", |v| v["tick_count"] == 1).await;
    assert_eq!(view["last"]["price"], "64000.5");

    let all = body(s.get("/api/symbols").await).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn duplicates_within_one_batch_count_once() {
    let s = TestServer::start().await;
    let batch = json!([
        tick("A", "1", "same"),
        tick("A", "2", "same"),
        tick("B", "3", "other")
    ]);
    let r = s.post_json("/ingest/ticks", &batch).await;
    assert_eq!(body(r).await, json!({"accepted": 2, "duplicates": 1}));
    assert_eq!(s.stream_len(), 2);
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_with_a_challenge() {
    let s = TestServer::start().await;
    let client = reqwest::Client::new();
    let attempts = [
        None,
        Some((USER, "wrong")),
        Some(("someone", PASSWORD)),
        Some((USER, "")),
    ];
    for creds in attempts {
        let mut req = client
            .post(s.url("/ingest/tick"))
            .header("content-type", "application/json");
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let r = req
            .body(tick("A", "1", "x").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{creds:?}");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
    }
    assert_eq!(s.stream_len(), 0);
}

#[tokio::test]
async fn bad_ticks_get_400_naming_the_field() {
    let s = TestServer::start().await;
    let ts = now_ms();
    let cases = [
        (
            format!(r#"{{"symbol":"A","price":-1,"ts":{ts},"event_id":"e"}}"#),
            "price",
        ),
        (
            format!(r#"{{"symbol":"A","price":"abc","ts":{ts},"event_id":"e"}}"#),
            "price",
        ),
        (
            format!(r#"{{"symbol":"A","price":"NaN","ts":{ts},"event_id":"e"}}"#),
            "price",
        ),
        (
            format!(r#"{{"symbol":"A","price":NaN,"ts":{ts},"event_id":"e"}}"#),
            "price",
        ),
        (
            format!(r#"{{"price":1,"ts":{ts},"event_id":"e"}}"#),
            "symbol",
        ),
        (
            format!(r#"{{"symbol":"A B","price":1,"ts":{ts},"event_id":"e"}}"#),
            "symbol",
        ),
        (
            format!(r#"{{"symbol":"A","price":1,"volume":-2,"ts":{ts},"event_id":"e"}}"#),
            "volume",
        ),
        (
            format!(r#"{{"symbol":"A","price":1,"ts":"tomorrow","event_id":"e"}}"#),
            "ts",
        ),
        (
            format!(
                r#"{{"symbol":"A","price":1,"ts":{},"event_id":"e"}}"#,
                ts + 3_600_000
            ),
            "ts",
        ),
        (
            format!(r#"{{"symbol":"A","price":1,"ts":{ts}}}"#),
            "event_id",
        ),
        (
            format!(r#"{{"symbol":"A","price":1,"ts":{ts},"event_id":"e","prize":2}}"#),
            "prize",
        ),
    ];
    for (payload, field) in cases {
        let r = s
            .post("/ingest/tick", "application/json", payload.clone())
            .await;
        assert_eq!(r.status(), 400, "{payload}");
        let b = body(r).await;
        let fields: Vec<&str> = b["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{payload} → {b}");
        assert!(!b["error"].as_str().unwrap().is_empty());
    }
    assert_eq!(s.stream_len(), 0);
}

#[tokio::test]
async fn a_batch_with_one_bad_tick_writes_nothing() {
    let s = TestServer::start().await;
    let mut bad = tick("C", "1", "c");
    bad["price"] = json!(-1);
    let batch = json!([tick("A", "1", "a"), bad, tick("B", "2", "b")]);
    let r = s.post_json("/ingest/ticks", &batch).await;
    assert_eq!(r.status(), 400);
    let b = body(r).await;
    assert_eq!(b["details"][0]["index"], 1);
    assert_eq!(b["details"][0]["field"], "price");
    assert_eq!(s.stream_len(), 0);
    assert_eq!(s.get("/api/symbols/A").await.status(), 404);

    // NDJSON: same rule, the bad line is named by its index.
    let nd = format!("{}\n{}\n", tick("A", "1", "a"), json!({"symbol": "B"}));
    let r = s.post("/ingest/ticks", "application/x-ndjson", nd).await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(r).await["details"][0]["index"], 1);
    assert_eq!(s.stream_len(), 0);
}

#[tokio::test]
async fn ndjson_and_array_batches_are_accepted() {
    let s = TestServer::start().await;
    let nd: String = (0..50)
        .map(|i| {
            format!(
                "{}\n",
                tick("ND", &format!("{}.5", 100 + i), &format!("nd-{i}"))
            )
        })
        .collect();
    let r = s.post("/ingest/ticks", "application/x-ndjson", nd).await;
    assert_eq!(body(r).await, json!({"accepted": 50, "duplicates": 0}));
    let arr: Vec<Value> = (0..50)
        .map(|i| tick("ARR", "7", &format!("arr-{i}")))
        .collect();
    let r = s.post_json("/ingest/ticks", &Value::Array(arr)).await;
    assert_eq!(body(r).await, json!({"accepted": 50, "duplicates": 0}));
    assert_eq!(s.stream_len(), 100);
}

#[tokio::test]
async fn limits_and_content_types() {
    let s = TestServer::start_with(common::redis_url(), |c| c.max_body_bytes = 64 * 1024).await;
    // 413: larger than the body limit.
    let big: String = (0..2_000)
        .map(|i| format!("{}\n", tick("BIG", "1", &format!("big-{i}"))))
        .collect();
    let r = s.post("/ingest/ticks", "application/x-ndjson", big).await;
    assert_eq!(r.status(), 413);
    assert!(body(r).await["error"]
        .as_str()
        .unwrap()
        .contains("larger than"));
    // 415: not JSON.
    let r = s
        .post(
            "/ingest/tick",
            "text/plain",
            tick("A", "1", "a").to_string(),
        )
        .await;
    assert_eq!(r.status(), 415);
    let r = s
        .post("/ingest/ticks", "application/x-www-form-urlencoded", "a=1")
        .await;
    assert_eq!(r.status(), 415);
    // 400: empty body, and more than 10,000 ticks.
    assert_eq!(
        s.post("/ingest/ticks", "application/json", "")
            .await
            .status(),
        400
    );
    let s2 = TestServer::start().await;
    let many: String = (0..10_001)
        .map(|i| format!("{{\"symbol\":\"M\",\"price\":1,\"ts\":1,\"event_id\":\"{i}\"}}\n"))
        .collect();
    let r = s2.post("/ingest/ticks", "application/x-ndjson", many).await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(r).await["details"][0]["code"], "too_many");
    assert_eq!(s.stream_len() + s2.stream_len(), 0);
}

#[tokio::test]
async fn an_older_tick_does_not_overwrite_the_latest() {
    let s = TestServer::start().await;
    let ts = now_ms();
    let newer = json!({"symbol": "OOO", "price": "10", "ts": ts, "event_id": "new"});
    let older = json!({"symbol": "OOO", "price": "9", "ts": ts - 1_000, "event_id": "old"});
    assert_eq!(s.post_json("/ingest/tick", &newer).await.status(), 202);
    assert_eq!(s.post_json("/ingest/tick", &older).await.status(), 202);
    let latest = s.latest("OOO").await.unwrap();
    assert_eq!(latest["price"], "10");
    assert_eq!(latest["event_id"], "new");
    assert_eq!(
        s.stream_len(),
        2,
        "the older tick is still a tick in the stream"
    );
    // The same event time from a later arrival does replace it.
    let same = json!({"symbol": "OOO", "price": "11", "ts": ts, "event_id": "same-time"});
    s.post_json("/ingest/tick", &same).await;
    assert_eq!(s.latest("OOO").await.unwrap()["price"], "11");
    let view = s.view_when("OOO", |v| v["tick_count"] == 3).await;
    assert_eq!(view["last"]["price"], "11");
}

#[tokio::test]
async fn read_api_errors() {
    let s = TestServer::start().await;
    let r = s.get("/api/symbols/NOPE").await;
    assert_eq!(r.status(), 404);
    assert!(body(r).await["error"].as_str().unwrap().contains("NOPE"));
    let r = s.get("/api/symbols/bad%20symbol").await;
    assert_eq!(r.status(), 400);
    assert_eq!(body(r).await["details"][0]["field"], "id");
    assert_eq!(s.get("/api/nothing-here").await.status(), 404);
    assert_eq!(s.get("/api/stream?symbols=A,B%20C").await.status(), 400);
}

#[tokio::test]
async fn health_endpoints() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/health/liveness").await.status(), 200);
    let r = s.get("/health/readiness").await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "ready");
}

#[tokio::test]
async fn ingest_is_refused_with_503_when_no_credentials_are_configured() {
    let s = TestServer::start_with(common::redis_url(), |c| {
        c.ingest_username = None;
        c.ingest_password = None;
    })
    .await;
    let r = s.post_json("/ingest/tick", &tick("A", "1", "a")).await;
    assert_eq!(r.status(), 503);
    assert!(body(r).await["error"]
        .as_str()
        .unwrap()
        .contains("INGEST_USERNAME"));
}

#[tokio::test]
async fn redis_outage_gives_503_writes_nothing_and_recovers_by_itself() {
    let mut redis = PrivateRedis::start();
    let s = TestServer::start_with(redis.url(), |c| c.redis_timeout_ms = 500).await;
    assert_eq!(
        s.post_json("/ingest/tick", &tick("OUT", "1", "before"))
            .await
            .status(),
        202
    );

    redis.kill();
    let r = s
        .post_json("/ingest/tick", &tick("OUT", "2", "during"))
        .await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(body(r).await["error"].as_str().unwrap().contains("redis"));
    assert_eq!(s.get("/health/readiness").await.status(), 503);
    assert_eq!(s.get("/api/symbols/OUT").await.status(), 503);

    redis.resume();
    // The restarted Redis is empty (nothing kept on disk); what matters is
    // that the server reconnects without help and that the tick refused
    // during the outage was never written.
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        let r = s
            .post_json("/ingest/tick", &tick("OUT", "3", "after"))
            .await;
        if r.status() == 202 || Instant::now() > deadline {
            break r.status();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, 202, "ingest recovers after Redis is back");
    assert_eq!(s.get("/health/readiness").await.status(), 200);
    let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(s.key("ticks.received"))
        .arg("-")
        .arg("+")
        .query(&mut s.redis())
        .unwrap();
    let all: String = format!("{ids:?}");
    assert!(all.contains("\\\"event_id\\\":\\\"after\\\""), "{all}");
    assert!(!all.contains("\\\"event_id\\\":\\\"during\\\""), "{all}");
}

#[tokio::test]
async fn a_full_batch_of_distinct_symbols_updates_every_latest_tick() {
    let s = TestServer::start().await;
    let nd: String = (0..10_000)
        .map(|i| format!("{}\n", tick(&format!("D{i}"), "1.25", &format!("d-{i}"))))
        .collect();
    let r = s.post("/ingest/ticks", "application/x-ndjson", nd).await;
    assert_eq!(body(r).await, json!({"accepted": 10_000, "duplicates": 0}));
    let all = body(s.get("/api/symbols").await).await;
    assert_eq!(all.as_array().map(Vec::len), Some(10_000));
    assert_eq!(s.latest("D9999").await.unwrap()["price"], "1.25");
    let view = s.view_when("D9999", |v| v["tick_count"] == 1).await;
    assert_eq!(view["last"]["price"], "1.25");
}

#[tokio::test]
async fn within_one_batch_the_newest_tick_per_symbol_wins_and_first_price_is_the_first() {
    let s = TestServer::start().await;
    let ts = now_ms();
    let batch = json!([
        {"symbol": "W", "price": "5", "ts": ts - 2_000, "event_id": "w1"},
        {"symbol": "W", "price": "7", "ts": ts, "event_id": "w2"},
        {"symbol": "W", "price": "6", "ts": ts - 1_000, "event_id": "w3"},
    ]);
    assert_eq!(
        body(s.post_json("/ingest/ticks", &batch).await).await["accepted"],
        3
    );
    let latest = s.latest("W").await.unwrap();
    assert_eq!(latest["price"], "7");
    assert_eq!(latest["event_id"], "w2");
    assert_eq!(latest["first_price"], "5");
}

#[tokio::test]
async fn the_symbol_endpoint_returns_the_view_with_window_statistics() {
    let s = TestServer::start().await;
    let ts = now_ms();
    let batch = json!([
        {"symbol": "VW", "price": "10", "volume": "1", "ts": ts - 3_000, "event_id": "v1"},
        {"symbol": "VW", "price": "12", "volume": "3", "ts": ts - 1_000, "event_id": "v2"},
        {"symbol": "VW", "price": "11", "volume": "1", "ts": ts - 2_000, "event_id": "v3"},
    ]);
    assert_eq!(s.post_json("/ingest/ticks", &batch).await.status(), 202);
    let view = s.view_when("VW", |v| v["tick_count"] == 3).await;
    assert_eq!(view["last"]["price"], "12");
    assert_eq!(view["sma"], "11");
    assert_eq!(view["vwap_1m"], "11.4"); // (10 + 36 + 11) / 5
    assert_eq!(view["volume_1m"], "5");
    assert_eq!(view["open"], "10");
    assert_eq!(view["change"], "2");
    assert_eq!(view["change_pct"], "20");
    assert_eq!(view["last_prices"], json!(["10", "11", "12"]));
}
