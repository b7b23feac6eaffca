//! The persist consumer against a real Redis and a real Postgres: every
//! accepted tick reaches `md_ticks` exactly once, exact, also when a
//! consumer died holding entries.

use crate::common;

use common::{eventually, tick, TestDb, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn accepted_ticks_reach_postgres_exactly_once_and_exact() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 50).await;
    let mut accepted = 0;
    for b in 0..4 {
        let batch: Vec<Value> = (0..50)
            .map(|i| {
                tick(
                    "PG",
                    &format!("64000.{b}{i:02}123456789"),
                    &format!("pg-{b}-{i:02}"),
                )
            })
            .collect();
        let r: Value = s
            .post_json("/ingest/ticks", &Value::Array(batch))
            .await
            .json()
            .await
            .unwrap();
        accepted += r["accepted"].as_i64().unwrap();
    }
    // Resent ticks are duplicates and must not be stored again.
    let again: Vec<Value> = (0..10)
        .map(|i| tick("PG", "1", &format!("pg-0-{i:02}")))
        .collect();
    let r: Value = s
        .post_json("/ingest/ticks", &Value::Array(again))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r, json!({"accepted": 0, "duplicates": 10}));
    assert_eq!(accepted, 200);

    let pool = db.pool().await;
    TestDb::wait_count(
        &pool,
        200,
        Duration::from_secs(20),
        "all 200 ticks persisted",
    )
    .await;
    let price: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT price FROM md_ticks WHERE event_id = 'pg-3-07'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(price.to_string(), "64000.307123456789");
    let (symbol, stream_id): (String, String) =
        sqlx::query_as("SELECT symbol, stream_id FROM md_ticks WHERE event_id = 'pg-0-00'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(symbol, "PG");
    assert!(stream_id.parse::<tickpulse_core::StreamId>().is_ok());

    // Everything was acknowledged once committed.
    let pending: (
        u64,
        Option<String>,
        Option<String>,
        Option<Vec<(String, String)>>,
    ) = redis::cmd("XPENDING")
        .arg(s.key("ticks.received"))
        .arg("persist")
        .query(&mut s.redis())
        .unwrap();
    assert_eq!(pending.0, 0);

    let ready: Value = s.get("/health/readiness").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"], "postgres");
    assert_eq!(ready["database"], "ok");
}

#[tokio::test]
async fn text_that_needs_escaping_is_stored_exactly() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 20).await;
    let awkward = [r"back\slash", r"\N", r"C:\feeds\t1", "ünïcødé 日本"];
    // Only the event id may hold a backslash; symbol and source may not.
    let batch: Vec<Value> = awkward.iter().map(|id| tick("ESC", "1", id)).collect();
    let r = s.post_json("/ingest/ticks", &Value::Array(batch)).await;
    assert_eq!(r.status(), 202);
    let pool = db.pool().await;
    TestDb::wait_count(&pool, 4, Duration::from_secs(20), "four ticks persisted").await;
    let rows: Vec<String> = sqlx::query_scalar("SELECT event_id FROM md_ticks ORDER BY stream_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows, awkward);
}

#[tokio::test]
async fn entries_held_by_a_dead_consumer_are_taken_over() {
    // Ingest only (no database): ticks wait in the stream.
    let s = TestServer::start().await;
    s.accept("DEAD", "2", "dead", 50).await;

    // A consumer takes 20 entries and dies without acknowledging them.
    s.hold_entries("persist", "dead-node", 20, 0);

    // A persisting node on the same Redis takes them over once idle.
    let db = TestDb::create().await;
    let persister = s.persister(&db).await;
    let pool = db.pool().await;
    TestDb::wait_count(&pool, 50, Duration::from_secs(30), "50 ticks persisted").await;
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT event_id) FROM md_ticks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(distinct, 50);
    persister.stop().await;
}

#[tokio::test]
async fn readiness_is_degraded_while_postgres_is_unreachable_and_ingest_goes_on() {
    // A port where nothing listens stands for a Postgres that is down.
    let port = common::free_port();
    let s = TestServer::start_with(common::redis_url(), |c| {
        c.database_url = Some(format!("postgres://postgres@127.0.0.1:{port}/none"));
    })
    .await;
    let ready = s.get("/health/readiness").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(
        s.post_json("/ingest/tick", &tick("DOWN", "1", "down-1"))
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn durable_acks_answer_only_after_the_commit() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 100).await;
    let pool = db.pool().await;
    let batch: Vec<Value> = (0..25)
        .map(|i| tick("DUR", "3.5", &format!("dur-{i}")))
        .collect();
    let r = s
        .post(
            "/ingest/ticks?ack=durable",
            "application/json",
            Value::Array(batch.clone()).to_string(),
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 25, "duplicates": 0, "durable": true})
    );
    // No waiting here: a durable 202 means committed.
    assert_eq!(TestDb::count(&pool).await, 25);

    // A resend is all duplicates, and still durable.
    let r = s
        .post(
            "/ingest/ticks?ack=durable",
            "application/json",
            Value::Array(batch).to_string(),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"accepted": 0, "duplicates": 25, "durable": true})
    );

    let r = s
        .post(
            "/ingest/tick?ack=sometimes",
            "application/json",
            tick("DUR", "1", "x").to_string(),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["details"][0]["field"],
        "ack"
    );
}

#[tokio::test]
async fn durable_acks_answer_503_while_postgres_is_down_and_keep_the_ticks() {
    let port = common::free_port();
    let s = TestServer::start_with(common::redis_url(), |c| {
        c.database_url = Some(format!("postgres://postgres@127.0.0.1:{port}/none"));
        c.durable_timeout_ms = 300;
    })
    .await;
    let r = s
        .post(
            "/ingest/tick?ack=durable",
            "application/json",
            tick("DOWN", "1", "down-d").to_string(),
        )
        .await;
    assert_eq!(r.status(), 503);
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"].as_str().unwrap().contains("not yet committed"),
        "{b}"
    );
    assert_eq!(
        s.stream_len(),
        1,
        "the tick stays accepted and will be persisted"
    );

    let plain = TestServer::start().await;
    let r = plain
        .post(
            "/ingest/tick?ack=durable",
            "application/json",
            tick("X", "1", "x").to_string(),
        )
        .await;
    assert_eq!(r.status(), 503);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("DATABASE_URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_postgres_outage_under_load_loses_nothing() {
    let db = TestDb::create().await;
    let proxy = common::TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let url = db.url_via(proxy.port);
    let s = std::sync::Arc::new(
        TestServer::start_with(common::redis_url(), |c| {
            c.database_url = Some(url);
            c.persist_batch_wait_ms = 50;
        })
        .await,
    );
    s.wait_ready().await;

    // Load: batches of 100 ticks for 16 s.
    let sender = {
        let s = s.clone();
        tokio::spawn(async move {
            let (mut acknowledged, mut failed) = (Vec::new(), 0usize);
            let start = std::time::Instant::now();
            let mut b = 0;
            while start.elapsed() < Duration::from_secs(16) {
                let ids: Vec<String> = (0..100).map(|i| format!("out-{b}-{i}")).collect();
                let body: Vec<Value> = ids.iter().map(|id| tick("OUTAGE", "7.25", id)).collect();
                let r = s
                    .post(
                        "/ingest/ticks",
                        "application/json",
                        Value::Array(body).to_string(),
                    )
                    .await;
                if r.status() == 202 {
                    acknowledged.extend(ids);
                } else {
                    failed += 1;
                }
                b += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (acknowledged, failed)
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready: Value = s.get("/health/readiness").await.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    proxy.restore();

    let (acknowledged, failed) = sender.await.unwrap();
    assert_eq!(failed, 0, "ingest kept answering 202 through the outage");
    assert!(
        acknowledged.len() > 10_000,
        "load was sustained: {}",
        acknowledged.len()
    );
    let pool = db.pool().await;
    let all = eventually(Duration::from_secs(60), || {
        let pool = pool.clone();
        let n = acknowledged.len() as i64;
        async move { (TestDb::count(&pool).await == n).then_some(()) }
    })
    .await;
    assert!(
        all.is_some(),
        "every acknowledged tick persisted: {} of {}",
        TestDb::count(&pool).await,
        acknowledged.len()
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT event_id FROM md_ticks")
        .fetch_all(&pool)
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    assert!(acknowledged.iter().all(|id| stored.contains(id)));
    s.wait_ready().await;
}
