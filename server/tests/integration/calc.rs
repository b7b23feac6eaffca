//! The calc stage across a restart: statistics continue, they do not reset.

use crate::common;

use common::{now_ms, TestServer};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_restart_keeps_counts_and_windows() {
    let first =
        TestServer::start_with(common::redis_url(), |c| c.node_id = Some("calc-a".into())).await;
    let prefix = first.prefix.clone();
    let ts = now_ms();
    let batch = json!([
        {"symbol": "RS", "price": "10", "volume": "1", "ts": ts - 3_000, "event_id": "r1"},
        {"symbol": "RS", "price": "20", "volume": "1", "ts": ts - 2_000, "event_id": "r2"},
    ]);
    assert_eq!(first.post_json("/ingest/ticks", &batch).await.status(), 202);
    first.view_when("RS", |v| v["tick_count"] == 2).await;
    first.stop_keeping_data().await;

    // Another process on the same Redis takes over the calc stage: the first
    // released the lease when it stopped.
    let second = TestServer::start_with(common::redis_url(), |c| {
        c.redis_key_prefix = prefix;
        c.node_id = Some("calc-b".into());
    })
    .await;
    let more =
        json!({"symbol": "RS", "price": "30", "volume": "2", "ts": ts - 1_000, "event_id": "r3"});
    assert_eq!(second.post_json("/ingest/tick", &more).await.status(), 202);
    let view = second.view_when("RS", |v| v["tick_count"] == 3).await;
    assert_eq!(
        view["sma"], "20",
        "SMA over all three ticks: the window was rebuilt"
    );
    assert_eq!(view["vwap_1m"], "22.5"); // (10 + 20 + 60) / 4
    assert_eq!(view["open"], "10");
    assert_eq!(view["change"], "20");
}

/// A read whose answer was lost (Redis handed the entries over, the reply
/// never arrived) leaves them pending for this consumer, where no new read
/// finds them: after a failed read the consumer takes them from its
/// pending list, long before they could be claimed as idle.
#[tokio::test]
async fn entries_of_a_read_whose_answer_was_lost_are_still_processed() {
    let redis = common::PrivateRedis::start();
    let s = TestServer::start_with(redis.url(), |c| {
        c.node_id = Some("lost-reply".into());
        c.redis_timeout_ms = 300;
        c.claim_idle_secs = 3_600;
    })
    .await;
    s.wait_ready().await;
    s.accept("LOST", "1", "lost-a", 1).await;
    s.view_when("LOST", |v| v["tick_count"] == 1).await;

    // Freeze Redis so the calc consumer's next read fails, and hand two new
    // entries to that consumer behind its back, as a lost reply would.
    redis.freeze(true);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    redis.freeze(false);
    let mut conn = s.redis();
    let _: () = redis::cmd("XADD")
        .arg(s.key("ticks.received"))
        .arg("*")
        .arg("symbol")
        .arg("LOST")
        .arg("tick")
        .arg(
            serde_json::json!({
                "symbol": "LOST", "price": "2", "volume": "1", "source": "test",
                "ts": common::now_ms(), "event_id": "lost-b", "received_at": common::now_ms()
            })
            .to_string(),
        )
        .query(&mut conn)
        .map(|_: String| ())
        .unwrap();
    let taken: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("calc")
        .arg("lost-reply")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(s.key("ticks.received"))
        .arg(">")
        .query(&mut conn)
        .unwrap();
    assert!(
        !matches!(taken, redis::Value::Nil),
        "the entry was handed over"
    );
    // The next failed read makes the consumer look at its pending list.
    redis.freeze(true);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    redis.freeze(false);
    let view = s.view_when("LOST", |v| v["tick_count"] == 2).await;
    assert_eq!(view["last"]["event_id"], "lost-b");
}
