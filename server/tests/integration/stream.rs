//! The SSE stream against a real Redis: snapshot first, then live ticks with
//! stream ids, filtered by symbol.

use crate::common;

use common::{embedded, tick, DataDir, Door, Events, Live, SseReader, TestServer};
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
    // The snapshot stands at the stream's end (ZZZ's tick came after AAA's):
    // a resume from it replays only what came after.
    let at: tickpulse_core::StreamId = id.expect("the snapshot's id").parse().unwrap();
    let aaa: tickpulse_core::StreamId = snapshot["ticks"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(at > aaa, "{at} after AAA's {aaa}");

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
    // No id: resuming goes by ticks (a view's stream_id, in its data, can
    // be lower than ticks already sent).
    assert_eq!(id, None);
    assert!(view["stream_id"].is_string());
}

/// Connects to the stream of `symbols`, resuming after `last` when given.
async fn connect(s: &TestServer, symbols: &str, last: Option<&str>) -> SseReader {
    match Live::open(s, Door::Sse, symbols, last, None).await {
        Live::Sse(sse) => sse,
        Live::Ws(_) => unreachable!(),
    }
}

/// A client that missed 500 ticks of each of its two symbols gets exactly
/// those, each symbol's in order, on resume, then live ticks with no gap and
/// no repeat. With partitions the two symbols are in different ones (GAP and
/// ZZZ with 6), so the cursor carries both positions. Through either door
/// (a WebSocket answers each subscription with `subscribed` besides).
pub(crate) async fn resume_replays_exactly_what_was_missed(s: &TestServer, door: Door) {
    s.accept("GAP", "1", "gap-first", 1).await;
    s.accept("ZZZ", "1", "zzz-first", 1).await;
    let mut live = Live::open(s, door, "GAP,ZZZ", None, None).await;
    let (event, id, _) = live.next_event(WAIT).await.expect("snapshot");
    assert_eq!(event, "snapshot");
    assert!(
        id.is_some(),
        "a snapshot of everything followed has a position"
    );
    s.accept("GAP", "2", "gap-seen", 1).await;
    let (_, last, _) = live.next_of("tick", WAIT).await.expect("a live tick");
    let last = last.expect("tick events carry an id");
    drop(live); // the client goes away

    // 500 ticks of each while it is gone, among ticks of another symbol.
    for batch in 0..5 {
        let ticks: Vec<Value> = (0..100)
            .flat_map(|i| {
                [
                    tick("GAP", "3", &format!("gap-missed-{batch}-{i:02}")),
                    tick("OTHER", "4", &format!("other-{batch}-{i:02}")),
                    tick("ZZZ", "5", &format!("zzz-missed-{batch}-{i:02}")),
                ]
            })
            .collect();
        assert_eq!(
            s.post_json("/ingest/ticks", &Value::Array(ticks))
                .await
                .status(),
            202
        );
    }
    let mut live = Live::open(s, door, "GAP,ZZZ", Some(&last), None).await;
    let mut ids = Vec::new();
    let mut event_ids: std::collections::HashMap<String, Vec<String>> = Default::default();
    while ids.len() < 1_000 {
        let (event, id, data) = live.next_event(WAIT).await.expect("a replayed tick");
        if event == "subscribed" {
            continue;
        }
        assert_eq!(event, "tick", "no snapshot on resume: {data}");
        let t: Value = serde_json::from_str(&data).unwrap();
        ids.push(id.unwrap().parse::<tickpulse_core::Cursor>().unwrap());
        event_ids
            .entry(t["symbol"].as_str().unwrap().to_owned())
            .or_default()
            .push(t["event_id"].as_str().unwrap().to_owned());
    }
    for (symbol, name) in [("GAP", "gap"), ("ZZZ", "zzz")] {
        let expected: Vec<String> = (0..5)
            .flat_map(|b| (0..100).map(move |i| format!("{name}-missed-{b}-{i:02}")))
            .collect();
        assert_eq!(
            event_ids[symbol], expected,
            "exactly the missed ticks of {symbol}, in order"
        );
    }
    // Each event's cursor moves on, and never back anywhere.
    assert!(ids
        .windows(2)
        .all(|w| { w[0].iter().zip(w[1].iter()).all(|((_, a), (_, b))| a <= b) && w[0] != w[1] }));
    // Live ticks follow, without a repeat.
    s.accept("GAP", "5", "gap-live", 1).await;
    let (_, _, data) = live.next_of("tick", WAIT).await.expect("the live tick");
    let t: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(t["event_id"], "gap-live-0");

    // An id from before what the stream holds: a reset snapshot.
    let mut live = Live::open(s, door, "GAP", Some("1-0"), None).await;
    let (_, _, data) = live.next_of("snapshot", WAIT).await.expect("a snapshot");
    let snapshot: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot["reset"], true);
    assert_eq!(snapshot["ticks"][0]["event_id"], "gap-live-0");
}

#[tokio::test]
async fn resume_replays_exactly_what_was_missed_with_redis() {
    let s = TestServer::start().await;
    resume_replays_exactly_what_was_missed(&s, Door::Sse).await;
}

#[tokio::test]
async fn resume_replays_exactly_what_was_missed_on_a_cluster() {
    let s = TestServer::on_cluster().await;
    resume_replays_exactly_what_was_missed(&s, Door::Sse).await;
}

#[tokio::test]
async fn resume_replays_exactly_what_was_missed_embedded() {
    let dir = DataDir::new("resume");
    let s = embedded(&dir).await;
    resume_replays_exactly_what_was_missed(&s, Door::Sse).await;
    s.stop().await;
}

#[tokio::test]
async fn a_malformed_last_event_id_is_refused_by_name() {
    let s = TestServer::start().await;
    let r = reqwest::Client::new()
        .get(s.url("/api/stream"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["details"][0]["field"], "Last-Event-ID", "{body}");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One client never reads while 50,000 ticks flow: the others get every
/// tick, the stalled one is skipped ahead (a reset snapshot: the latest tick
/// per symbol) instead of queueing, and memory stays bounded.
#[tokio::test]
async fn a_client_that_never_reads_is_skipped_ahead_not_queued() {
    a_client_that_never_reads_is_skipped_ahead(TestServer::start().await).await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_skipped_ahead_on_a_cluster() {
    a_client_that_never_reads_is_skipped_ahead(TestServer::on_cluster().await).await;
}

async fn a_client_that_never_reads_is_skipped_ahead(s: TestServer) {
    let mut stalled = connect(&s, "SLOW", None).await;
    let (event, _, _) = stalled.next(WAIT).await.expect("snapshot");
    assert_eq!(event, "snapshot");
    let reader = connect(&s, "SLOW", None).await;
    let counting = tokio::spawn(async move {
        let mut reader = reader;
        let mut ticks = 0;
        while ticks < 50_000 {
            match reader.next(Duration::from_secs(30)).await {
                Some((event, _, _)) if event == "tick" => ticks += 1,
                Some(_) => {}
                None => break,
            }
        }
        ticks
    });
    let before = rss_kib();
    // 2,000 appends of 25 ticks: more update messages than the ring holds.
    for batch in 0..2_000 {
        let ticks: Vec<Value> = (0..25)
            .map(|i| tick("SLOW", "1", &format!("slow-{batch}-{i}")))
            .collect();
        let r = s.post_json("/ingest/ticks", &Value::Array(ticks)).await;
        assert_eq!(r.status(), 202);
    }
    let received = counting.await.unwrap();
    assert_eq!(received, 50_000, "a reading client gets every tick");
    let grown_mib = rss_kib().saturating_sub(before) / 1_024;
    println!("resident memory grew by {grown_mib} MiB while 50,000 ticks passed a stalled client");
    assert!(grown_mib < 200, "memory grew by {grown_mib} MiB");

    // When the stalled client reads at last, after what its socket held it
    // is told to start over from the latest prices.
    let mut reset = None;
    while let Some((event, _, data)) = stalled.next(Duration::from_secs(10)).await {
        if event == "snapshot" {
            reset = Some(data);
            break;
        }
    }
    let reset: Value = serde_json::from_str(&reset.expect("a reset snapshot")).unwrap();
    assert_eq!(reset["reset"], true);
    assert_eq!(reset["ticks"][0]["event_id"], "slow-1999-24");
    let page = s.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0)
    };
    assert!(value("tickpulse_sse_resets_total") >= 1, "{page}");
    assert!(value("tickpulse_sse_skipped_total") > 0, "{page}");
}
