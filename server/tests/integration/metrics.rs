//! `GET /metrics` and the dead-letter stream, against a real Redis and a
//! real Postgres: the page counts what really happened, and a poison entry
//! is set aside (and counted) while everything else still flows.

use crate::common;

use common::{eventually, tick, TestDb, TestServer};
use serde_json::Value;
use std::time::Duration;

/// The value of one sample (`name` with its labels, exactly as printed).
fn sample(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(s: &TestServer) -> String {
    let r = s.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    r.text().await.unwrap()
}

async fn stored(pool: &sqlx::PgPool, event_id: &str) -> bool {
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM md_ticks WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap_or(0)
        == 1
}

/// Dead letters as `(group, reason, original fields)`.
fn dead_letters(s: &TestServer) -> Vec<(String, String, Vec<(String, String)>)> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(s.key("ticks.dead"))
        .arg("-")
        .arg("+")
        .query::<Vec<(String, std::collections::HashMap<String, String>)>>(&mut s.redis())
        .unwrap()
        .into_iter()
        .map(|(id, f)| {
            let mut f: Vec<(String, String)> = f.into_iter().collect();
            f.sort();
            (id, f)
        })
        .collect();
    entries
        .into_iter()
        .map(|(_, fields)| {
            let get = |k: &str| {
                fields
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let original = fields
                .iter()
                .filter(|(n, _)| !["group", "reason", "source_id"].contains(&n.as_str()))
                .cloned()
                .collect();
            (get("group"), get("reason"), original)
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_ingest_outcomes_the_stream_and_persistence() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 50).await;
    let batch: Vec<Value> = (0..30)
        .map(|i| tick("MET", "10", &format!("met-{i}")))
        .collect();
    assert_eq!(
        s.post_json("/ingest/ticks", &Value::Array(batch.clone()))
            .await
            .status(),
        202
    );
    // Ten resent: duplicates.
    assert_eq!(
        s.post_json("/ingest/ticks", &Value::Array(batch[..10].to_vec()))
            .await
            .status(),
        202
    );
    // Two invalid requests and one without credentials.
    for bad in [
        tick("MET", "-1", "met-bad-1"),
        tick("met bad", "1", "met-bad-2"),
    ] {
        assert_eq!(s.post_json("/ingest/tick", &bad).await.status(), 400);
    }
    let anonymous = reqwest::Client::new()
        .post(s.url("/ingest/tick"))
        .json(&tick("MET", "1", "met-anon"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let pool = db.pool().await;
    TestDb::wait_count(&pool, 30, Duration::from_secs(20), "30 ticks persisted").await;
    // The counters of the persist stage follow the commit.
    let page = eventually(Duration::from_secs(10), || async {
        let page = metrics(&s).await;
        (sample(&page, "tickpulse_ticks_persisted_total") == Some(30.0)).then_some(page)
    })
    .await
    .expect("tickpulse_ticks_persisted_total reaches 30");

    assert_eq!(sample(&page, "tickpulse_ticks_ingested_total"), Some(30.0));
    assert_eq!(sample(&page, "tickpulse_ticks_duplicate_total"), Some(10.0));
    assert_eq!(
        sample(&page, "tickpulse_ingest_rejected_total{reason=\"invalid\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &page,
            "tickpulse_ingest_rejected_total{reason=\"unauthorized\"}"
        ),
        Some(1.0)
    );
    // One stream entry: the 30 new ticks of one request are one pack.
    assert_eq!(sample(&page, "tickpulse_stream_length"), Some(1.0));
    assert_eq!(sample(&page, "tickpulse_bus_up"), Some(1.0));
    assert_eq!(
        sample(&page, "tickpulse_stream_pending{group=\"persist\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&page, "tickpulse_stream_lag{group=\"persist\"}"),
        Some(0.0)
    );
    // Every persisted tick has a lag sample; the batch sizes add up.
    assert_eq!(
        sample(&page, "tickpulse_persist_lag_seconds_count"),
        Some(30.0)
    );
    assert_eq!(
        sample(&page, "tickpulse_persist_batch_size_sum"),
        Some(30.0)
    );
    let batches = sample(&page, "tickpulse_persist_batch_seconds_count").unwrap();
    assert!(batches >= 1.0, "{page}");
    assert_eq!(
        sample(&page, "tickpulse_dead_lettered_total{group=\"persist\"}"),
        Some(0.0)
    );
    s.stop().await;
}

#[tokio::test]
async fn a_poison_entry_is_dead_lettered_and_never_blocks_the_rest() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 50).await;
    assert_eq!(
        s.post_json("/ingest/tick", &tick("POI", "1", "poi-before"))
            .await
            .status(),
        202
    );
    // An entry no consumer can read, written behind the server's back.
    let _: String = redis::cmd("XADD")
        .arg(s.key("ticks.received"))
        .arg("*")
        .arg("symbol")
        .arg("POI")
        .arg("tick")
        .arg("{not json")
        .query(&mut s.redis())
        .unwrap();
    s.accept("POI", "2", "poi-after", 20).await;

    let pool = db.pool().await;
    TestDb::wait_count(
        &pool,
        21,
        Duration::from_secs(20),
        "the 21 good ticks are persisted",
    )
    .await;
    // The view went on too: it counts every good tick.
    let view = s.view_when("POI", |v| v["tick_count"] == 21).await;
    assert_eq!(view["last"]["event_id"], "poi-after-19");

    // Every group sets the entry aside, with its fields and the reason.
    let dead = eventually(Duration::from_secs(10), || async {
        let d = dead_letters(&s);
        (d.len() == 3).then_some(d)
    })
    .await
    .unwrap_or_else(|| panic!("three dead letters, found {:?}", dead_letters(&s)));
    let mut groups: Vec<&str> = dead.iter().map(|(g, _, _)| g.as_str()).collect();
    groups.sort_unstable();
    assert_eq!(groups, ["calc", "persist", "trade"]);
    for (_, reason, original) in &dead {
        assert!(reason.starts_with("unreadable entry"), "{reason}");
        assert_eq!(
            original,
            &[
                ("symbol".to_owned(), "POI".to_owned()),
                ("tick".to_owned(), "{not json".to_owned())
            ]
        );
    }
    let page = metrics(&s).await;
    assert_eq!(
        sample(&page, "tickpulse_dead_lettered_total{group=\"persist\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "tickpulse_dead_lettered_total{group=\"calc\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "tickpulse_dead_lettered_total{group=\"trade\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&page, "tickpulse_dead_letter_length"), Some(3.0));
    assert_eq!(
        sample(&page, "tickpulse_stream_pending{group=\"persist\"}"),
        Some(0.0)
    );
    s.stop().await;
}

#[tokio::test]
async fn an_entry_delivered_too_often_is_dead_lettered() {
    // Ingest only: the ticks wait in the stream.
    let s = TestServer::start().await;
    // Two requests: two stream entries (packs), of one tick and of four.
    s.accept("OFT", "3", "oft", 1).await;
    s.accept("OFT", "3", "oft-more", 4).await;
    // A consumer takes the first entry and fails on it again and again
    // (each re-read of its pending entries counts as a delivery).
    s.hold_entries("persist", "crashing-node", 1, 11);
    let mut redis = s.redis();
    let (_, _, _, deliveries): (String, String, u64, u64) = redis::cmd("XPENDING")
        .arg(s.key("ticks.received"))
        .arg("persist")
        .arg("-")
        .arg("+")
        .arg(1)
        .query::<Vec<(String, String, u64, u64)>>(&mut redis)
        .unwrap()
        .remove(0);
    assert_eq!(deliveries, 12, "the entry was delivered 12 times");

    // A persisting node takes it over and sets it aside; the rest is stored.
    let db = TestDb::create().await;
    let persister = s.persister(&db).await;
    let pool = db.pool().await;
    let dead = eventually(Duration::from_secs(30), || async {
        let d = dead_letters(&s);
        (!d.is_empty()).then_some(d)
    })
    .await
    .expect("the entry is dead-lettered");
    assert_eq!(dead.len(), 1);
    let (group, reason, original) = &dead[0];
    assert_eq!(group, "persist");
    assert!(
        reason.starts_with("delivered 13 times without being acknowledged"),
        "{reason}"
    );
    assert!(original
        .iter()
        .any(|(k, v)| k == "ticks" && v.contains("\"oft-0\"")));
    TestDb::wait_count(
        &pool,
        4,
        Duration::from_secs(20),
        "the other four are persisted",
    )
    .await;
    assert!(!stored(&pool, "oft-0").await);
    persister.stop().await;
}

#[tokio::test]
async fn a_tick_the_database_refuses_is_dead_lettered_and_the_batch_is_stored() {
    let db = TestDb::create().await;
    let s = TestServer::with_database(&db, 200).await;
    // A rule of this database that ingest does not know about.
    let pool = db.pool().await;
    sqlx::query("ALTER TABLE md_ticks ADD CONSTRAINT no_refused CHECK (event_id <> 'ref-7')")
        .execute(&pool)
        .await
        .unwrap();
    s.accept("REF", "4", "ref", 20).await;
    TestDb::wait_count(&pool, 19, Duration::from_secs(20), "19 of 20 stored").await;
    assert!(!stored(&pool, "ref-7").await);
    let dead = eventually(Duration::from_secs(10), || async {
        let d = dead_letters(&s);
        (!d.is_empty()).then_some(d)
    })
    .await
    .expect("the refused tick is dead-lettered");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "persist");
    assert!(
        dead[0].1.starts_with("refused by the database") && dead[0].1.contains("no_refused"),
        "{}",
        dead[0].1
    );
    // The copy is the whole pack holding it; the other 19 were committed.
    assert!(dead[0]
        .2
        .iter()
        .any(|(k, v)| k == "ticks" && v.contains("\"ref-7\"")));
    let page = eventually(Duration::from_secs(10), || async {
        let page = metrics(&s).await;
        (sample(&page, "tickpulse_stream_pending{group=\"persist\"}") == Some(0.0)).then_some(page)
    })
    .await
    .expect("nothing stays pending");
    assert_eq!(
        sample(&page, "tickpulse_dead_lettered_total{group=\"persist\"}"),
        Some(1.0)
    );
    s.stop().await;
}
