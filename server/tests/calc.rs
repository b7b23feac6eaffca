//! The calc stage across a restart: statistics continue, they do not reset.

mod common;

use common::{now_ms, TestServer};
use serde_json::json;

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
