//! `GET /api/ws` with a WebSocket client nobody here wrote
//! (tokio-tungstenite), and conflation on both live doors: resume without a
//! gap or a repeat after a forced disconnect, subscriptions that change what
//! arrives without a reconnect, errors that name the field, and at most one
//! update per symbol per interval that always ends on the last price. Each
//! runs with Redis, embedded, and (resume) on the cluster.

use crate::common;

use crate::stream::resume_replays_exactly_what_was_missed;
use common::{embedded, tick, DataDir, Door, Events, Live, TestServer, WsReader};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A subscription answered: the `subscribed` event's data.
async fn subscribe(ws: &mut WsReader, message: Value) -> Value {
    ws.send(&message.to_string()).await;
    let (_, _, data) = ws.next_of("subscribed", WAIT).await.expect("subscribed");
    serde_json::from_str(&data).unwrap()
}

#[tokio::test]
async fn ws_resume_replays_exactly_what_was_missed_with_redis() {
    let s = TestServer::start().await;
    resume_replays_exactly_what_was_missed(&s, Door::Ws).await;
}

#[tokio::test]
async fn ws_resume_replays_exactly_what_was_missed_on_a_cluster() {
    let s = TestServer::on_cluster().await;
    resume_replays_exactly_what_was_missed(&s, Door::Ws).await;
}

#[tokio::test]
async fn ws_resume_replays_exactly_what_was_missed_embedded() {
    let dir = DataDir::new("ws");
    let s = embedded(&dir).await;
    resume_replays_exactly_what_was_missed(&s, Door::Ws).await;
    s.stop().await;
}

/// Subscribing and unsubscribing change what arrives on the same
/// connection; nothing arrives before the first subscription.
async fn subscriptions_change_without_a_reconnect(s: &TestServer) {
    s.accept("SUBA", "1", "a-old", 1).await;
    s.accept("SUBB", "1", "b-old", 1).await;
    let mut ws = WsReader::connect(&s.ws_url()).await;
    s.accept("SUBA", "2", "a-unseen", 1).await;
    let answer = subscribe(&mut ws, json!({"action": "subscribe", "symbols": ["suba"]})).await;
    assert_eq!(answer["symbols"], json!(["SUBA"]));
    s.accept("SUBB", "2", "b-unseen", 1).await;
    s.accept("SUBA", "3", "a-live", 1).await;
    let (_, _, data) = ws.next_of("tick", WAIT).await.expect("SUBA's tick");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["event_id"],
        "a-live-0"
    );

    // Gaining SUBB: a snapshot of it alone (no position), then its ticks.
    ws.send(&json!({"action": "subscribe", "symbols": ["SUBB"]}).to_string())
        .await;
    let (_, id, data) = ws.next_of("snapshot", WAIT).await.expect("SUBB's snapshot");
    assert_eq!(id, None, "a snapshot of some symbols carries no position");
    let snapshot: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot["ticks"][0]["event_id"], "b-unseen-0", "{snapshot}");
    let answer = ws.next_of("subscribed", WAIT).await.unwrap().2;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["symbols"], json!(["SUBA", "SUBB"]));

    // Dropping SUBA: only SUBB's ticks come.
    let answer = subscribe(
        &mut ws,
        json!({"action": "unsubscribe", "symbols": ["SUBA"]}),
    )
    .await;
    assert_eq!(answer["symbols"], json!(["SUBB"]));
    s.accept("SUBA", "4", "a-dropped", 1).await;
    s.accept("SUBB", "4", "b-live", 1).await;
    let (_, _, data) = ws.next_of("tick", WAIT).await.expect("SUBB's tick");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["event_id"],
        "b-live-0"
    );

    // Every symbol cannot be narrowed down "all but"; nothing at all stops
    // the ticks.
    subscribe(&mut ws, json!({"action": "subscribe"})).await;
    ws.send(&json!({"action": "unsubscribe", "symbols": ["SUBB"]}).to_string())
        .await;
    let (event, _, data) = ws.next_of("error", WAIT).await.expect("an error");
    assert_eq!(event, "error");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["details"][0]["field"],
        "symbols"
    );
    let answer = subscribe(&mut ws, json!({"action": "unsubscribe"})).await;
    assert_eq!(answer["symbols"], json!([]));
    s.accept("SUBB", "5", "b-after", 1).await;
    ws.send(&json!({"action": "ping", "data": "still there"}).to_string())
        .await;
    let (event, _, data) = loop {
        let e = ws.next(WAIT).await.expect("the pong");
        if e.0 != "tick" || !e.2.contains("b-live") {
            break e;
        }
    };
    assert_eq!(
        event, "pong",
        "no tick after unsubscribing from all: {data}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap()["data"],
        "still there"
    );
}

#[tokio::test]
async fn ws_subscriptions_change_without_a_reconnect_with_redis() {
    subscriptions_change_without_a_reconnect(&TestServer::start().await).await;
}

#[tokio::test]
async fn ws_subscriptions_change_without_a_reconnect_embedded() {
    let dir = DataDir::new("ws");
    let s = embedded(&dir).await;
    subscriptions_change_without_a_reconnect(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn bad_messages_get_an_error_naming_the_field_and_the_connection_stays() {
    let s = TestServer::start().await;
    let mut ws = WsReader::connect(&s.ws_url()).await;
    for (message, field) in [
        ("not json".to_owned(), "message"),
        (json!({"action": "dance"}).to_string(), "action"),
        (
            json!({"action": "subscribe", "symbols": ["A B"]}).to_string(),
            "symbols",
        ),
        (
            json!({"action": "subscribe", "conflate": "5ms"}).to_string(),
            "conflate",
        ),
        (
            json!({"action": "resume", "from": "yesterday"}).to_string(),
            "from",
        ),
        (
            json!({"action": "subscribe", "watchlist": 1}).to_string(),
            "",
        ),
        (
            format!(r#"{{"action":"ping","data":"{}"}}"#, "x".repeat(20_000)),
            "message",
        ),
    ] {
        ws.send(&message).await;
        let (event, _, data) = ws.next(WAIT).await.expect("an answer");
        assert_eq!(event, "error", "{message:.80}: {data}");
        let body: Value = serde_json::from_str(&data).unwrap();
        if field.is_empty() {
            // A watchlist needs a user: the API's 401 text.
            assert!(
                body["error"].as_str().unwrap().contains("sign in"),
                "{body}"
            );
        } else {
            assert_eq!(body["details"][0]["field"], field, "{message:.80}: {body}");
        }
    }
    ws.send(&json!({"action": "ping"}).to_string()).await;
    assert_eq!(ws.next(WAIT).await.expect("pong").0, "pong");

    // Past what the socket reads at all: an error, then a close (1009).
    ws.send(&format!(
        r#"{{"action":"ping","data":"{}"}}"#,
        "x".repeat(70_000)
    ))
    .await;
    let (event, _, data) = ws.next(WAIT).await.expect("an error");
    assert_eq!(event, "error");
    assert!(data.contains("65536"), "{data}");
    assert_eq!(ws.closed_with(WAIT).await, Some(1009));
}

#[tokio::test]
async fn a_handshake_from_another_site_or_without_upgrade_is_refused() {
    let s = TestServer::start().await;
    let client = reqwest::Client::new();
    let r = client
        .get(s.url("/api/ws"))
        .header("origin", "http://evil.test")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client.get(s.url("/api/ws")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["details"][0]["field"], "upgrade", "{body}");
}

/// What a conflating client received of one symbol: the ticks' event ids,
/// each with its `skipped`.
#[derive(Default, Debug)]
struct Received {
    events: Vec<(String, u64)>,
}

/// 20 symbols, 3,000 ticks in 100 batches over about 3 s: a client asking
/// for 250 ms gets at most one tick per symbol per interval, each standing
/// for the ticks it replaced (`skipped`), so the counts add up to every
/// tick of the symbol, and it ends on each symbol's last price.
async fn conflation_sends_the_latest_at_most_once_per_interval(s: &TestServer, door: Door) {
    const SYMBOLS: usize = 20;
    let name = format!("{door:?}").to_uppercase();
    let symbols: Vec<String> = (0..SYMBOLS).map(|i| format!("CF{name}{i:02}")).collect();
    let list = symbols.join(",");
    let conflate = Some("250ms");
    let mut reader = Live::open(s, door, &list, None, conflate).await;
    let (event, _, _) = reader.next_event(WAIT).await.expect("snapshot");
    assert_eq!(event, "snapshot");
    let started = Instant::now();
    let sending = {
        let (base, symbols, door) = (s.base.clone(), symbols.clone(), format!("{door:?}"));
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for batch in 0..100 {
                let ticks: Vec<Value> = (0..30)
                    .map(|i| {
                        let n = batch * 30 + i;
                        tick(
                            &symbols[n % SYMBOLS],
                            &format!("{}.{}", 10 + n / SYMBOLS, n % 7),
                            &format!("cf-{door}-{n}"),
                        )
                    })
                    .collect();
                let r = client
                    .post(format!("{base}/ingest/ticks"))
                    .basic_auth(common::USER, Some(common::PASSWORD))
                    .json(&ticks)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    let last: HashMap<String, String> = (0..SYMBOLS)
        .map(|k| {
            let n = 3_000 - SYMBOLS + k;
            (symbols[n % SYMBOLS].clone(), format!("cf-{door:?}-{n}"))
        })
        .collect();
    let mut received: HashMap<String, Received> = HashMap::new();
    let mut latest: HashMap<String, String> = HashMap::new();
    let mut views = 0;
    while latest != last {
        let Some((event, _, data)) = reader.next_event(WAIT).await else {
            panic!("conflated events stopped before every last price: {latest:?}");
        };
        let v: Value = serde_json::from_str(&data).unwrap();
        match event.as_str() {
            "tick" => {
                let symbol = v["symbol"].as_str().unwrap().to_owned();
                let skipped = v["skipped"]
                    .as_u64()
                    .expect("a conflated tick says what it replaced");
                latest.insert(symbol.clone(), v["event_id"].as_str().unwrap().to_owned());
                received
                    .entry(symbol)
                    .or_default()
                    .events
                    .push((v["event_id"].as_str().unwrap().to_owned(), skipped));
            }
            "view" => {
                assert!(v["skipped"].is_u64(), "{v}");
                views += 1;
            }
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    sending.await.unwrap();
    // Intervals that began while the run lasted, and one more that may
    // have been under way.
    let intervals = (elapsed.as_millis() / 250) as usize + 2;
    let mut total = 0;
    for symbol in &symbols {
        let r = &received[symbol];
        assert!(
            r.events.len() <= intervals,
            "{symbol}: {} ticks in {elapsed:?}, more than one per 250 ms",
            r.events.len()
        );
        let stood_for: u64 = r.events.iter().map(|(_, skipped)| skipped + 1).sum();
        // Each symbol had 150 ticks; the snapshot came before any.
        assert_eq!(stood_for, 150, "{symbol}: every tick is sent or counted");
        total += r.events.len();
    }
    println!(
        "{door:?}: {total} conflated ticks and {views} views for 3,000 ticks of {SYMBOLS} symbols in {elapsed:?}"
    );
    assert!(total < 3_000 / 2, "conflation sent {total} of 3,000 ticks");
}

#[tokio::test]
async fn conflation_on_both_doors_with_redis() {
    let s = TestServer::start().await;
    conflation_sends_the_latest_at_most_once_per_interval(&s, Door::Sse).await;
    conflation_sends_the_latest_at_most_once_per_interval(&s, Door::Ws).await;
}

#[tokio::test]
async fn conflation_on_both_doors_embedded() {
    let dir = DataDir::new("ws");
    let s = embedded(&dir).await;
    conflation_sends_the_latest_at_most_once_per_interval(&s, Door::Sse).await;
    conflation_sends_the_latest_at_most_once_per_interval(&s, Door::Ws).await;
    s.stop().await;
}

#[tokio::test]
async fn a_bad_conflation_is_refused_by_name() {
    let s = TestServer::start().await;
    for bad in ["5ms", "2m", "fast"] {
        let r = s.get(&format!("/api/stream?conflate={bad}")).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["details"][0]["field"], "conflate", "{body}");
    }
}
