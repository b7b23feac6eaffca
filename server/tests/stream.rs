//! The SSE stream against a real Redis: snapshot first, then live ticks with
//! stream ids, filtered by symbol.

mod common;

use common::{tick, SseReader, TestServer};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn snapshot_then_live_ticks_for_the_chosen_symbols() {
    let s = TestServer::start().await;
    assert_eq!(
        s.post_json("/ingest/tick", &tick("AAA", "10", "a1"))
            .await
            .status(),
        202
    );
    assert_eq!(
        s.post_json("/ingest/tick", &tick("ZZZ", "20", "z1"))
            .await
            .status(),
        202
    );

    let response = reqwest::get(s.url("/api/stream?symbols=aaa,BBB"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut sse = SseReader::new(response);

    let (event, id, data) = sse.next(WAIT).await.expect("snapshot");
    assert_eq!(event, "snapshot");
    let snapshot: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot["reset"], false);
    let symbols: Vec<&str> = snapshot["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(symbols, ["AAA"], "only the chosen symbols");
    assert_eq!(id.as_deref(), snapshot["ticks"][0]["id"].as_str());

    s.post_json("/ingest/tick", &tick("ZZZ", "21", "z2")).await;
    s.post_json("/ingest/tick", &tick("BBB", "30", "b1")).await;
    s.post_json("/ingest/tick", &tick("AAA", "11", "a2")).await;

    let (event, id, data) = sse.next_of("tick", WAIT).await.expect("first tick");
    let first: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(event, "tick");
    assert_eq!(first["symbol"], "BBB");
    assert_eq!(id.as_deref(), first["id"].as_str());
    let (_, _, data) = sse.next_of("tick", WAIT).await.expect("second tick");
    let second: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(second["symbol"], "AAA");
    assert_eq!(second["price"], "11");
    assert_eq!(second["event_id"], "a2");
}

#[tokio::test]
async fn every_client_gets_every_tick_in_stream_order() {
    let s = TestServer::start().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut sse = SseReader::new(reqwest::get(s.url("/api/stream")).await.unwrap());
        assert_eq!(sse.next(WAIT).await.unwrap().0, "snapshot");
        clients.push(sse);
    }
    let batch: Vec<Value> = (0..200)
        .map(|i| tick(&format!("S{}", i % 7), "5", &format!("e{i}")))
        .collect();
    assert_eq!(
        s.post_json("/ingest/ticks", &Value::Array(batch))
            .await
            .status(),
        202
    );
    for sse in &mut clients {
        let mut ids = Vec::new();
        while ids.len() < 200 {
            let (event, id, data) = sse.next_of("tick", WAIT).await.expect("tick");
            assert_eq!(event, "tick");
            let t: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(t["event_id"], format!("e{}", ids.len()));
            ids.push(id.unwrap().parse::<tickpulse_core::StreamId>().unwrap());
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    }
}

#[tokio::test]
async fn view_events_follow_ticks_for_the_chosen_symbols() {
    let s = TestServer::start().await;
    let mut sse = SseReader::new(reqwest::get(s.url("/api/stream?symbols=VV")).await.unwrap());
    assert_eq!(sse.next(WAIT).await.unwrap().0, "snapshot");
    s.post_json("/ingest/tick", &tick("OTHER", "1", "o1")).await;
    s.post_json("/ingest/tick", &tick("VV", "3", "v1")).await;
    let (_, id, data) = sse.next_of("view", WAIT).await.expect("view event");
    let view: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(view["symbol"], "VV");
    assert_eq!(view["last"]["price"], "3");
    assert_eq!(view["tick_count"], 1);
    assert_eq!(id.as_deref(), view["stream_id"].as_str());
}
