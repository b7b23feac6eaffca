//! The client package against the real server: the cached views read what
//! `GET /api/symbols/{id}` serves, a symbol without a view is `None`, a
//! server that is gone is an error, and cached reads need no server.

use crate::common;

use common::TestServer;
use std::time::Duration;
use tickpulse_client::{CacheConfig, CachedViews, FetchError, HttpViews};
use tickpulse_core::Symbol;

fn clock() -> u64 {
    common::now_ms().unsigned_abs()
}

#[tokio::test]
async fn cached_views_read_the_server_and_then_the_cache() {
    let s = TestServer::start().await;
    s.accept("CLI", "12.5", "cli", 3).await;
    let served = s.view_when("CLI", |v| v["tick_count"] == 3).await;

    let views = CachedViews::new(
        HttpViews::new(&s.base),
        CacheConfig {
            capacity: 10,
            ttl_ms: 60_000,
            half_life_ms: 60_000,
            admission: true,
        },
        clock,
    );
    let symbol = Symbol::new("CLI");
    let view = views.get(&symbol).await.unwrap().expect("a view");
    assert_eq!(serde_json::to_value(&view).unwrap(), served);
    assert_eq!(views.get(&Symbol::new("NONE")).await.unwrap(), None);

    // With the server gone, the cached view is still there; a miss fails.
    s.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cached = views.get(&symbol).await.unwrap().expect("cached");
    assert_eq!(cached, view);
    let miss = views.get(&Symbol::new("OTHER")).await;
    assert!(matches!(miss, Err(FetchError::Unavailable(_))), "{miss:?}");
    let stats = views.stats();
    assert_eq!((stats.hits, stats.misses), (1, 3));
}

#[tokio::test]
async fn the_sse_follower_resumes_after_a_cut_without_a_gap_or_a_repeat() {
    the_follower_resumes_after_a_cut_without_a_gap_or_a_repeat(common::Door::Sse).await;
}

#[tokio::test]
async fn the_websocket_follower_resumes_after_a_cut_without_a_gap_or_a_repeat() {
    the_follower_resumes_after_a_cut_without_a_gap_or_a_repeat(common::Door::Ws).await;
}

/// The client package's follower of `door`, through a proxy that cuts the
/// connection while ticks go on.
async fn the_follower_resumes_after_a_cut_without_a_gap_or_a_repeat(door: common::Door) {
    let s = TestServer::start().await;
    s.accept("FOL", "1", "fol-before", 1).await;
    let addr: std::net::SocketAddr = s.base.trim_start_matches("http://").parse().unwrap();
    let proxy = common::TcpProxy::start(addr).await;
    let base = format!("http://127.0.0.1:{}", proxy.port);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let on_event = |event| tx.send(event).is_ok();
        match door {
            common::Door::Sse => {
                let url = format!("{base}/api/stream?symbols=FOL");
                tickpulse_client::sse::follow(&url, on_event).await;
            }
            common::Door::Ws => {
                let subscription = tickpulse_core::live::Subscription {
                    follow: tickpulse_core::live::Follow::Symbols(vec![Symbol::new("FOL")]),
                    conflate: None,
                };
                tickpulse_client::ws::follow(&base, None, subscription, on_event).await;
            }
        }
    });
    assert_eq!(next(&mut rx).await.event, "snapshot");
    s.accept("FOL", "2", "fol-live", 1).await;
    let live = next_tick(&mut rx).await;
    assert!(live.data.contains("fol-live-0"));

    // The connection drops; ticks go on meanwhile; it comes back.
    proxy.cut();
    s.accept("FOL", "3", "fol-missed", 5).await;
    proxy.restore();
    let mut got = Vec::new();
    while got.len() < 5 {
        let event = next_tick(&mut rx).await;
        let tick: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        got.push(tick["event_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        got,
        (0..5)
            .map(|i| format!("fol-missed-{i}"))
            .collect::<Vec<_>>()
    );
    s.accept("FOL", "4", "fol-after", 1).await;
    let after = next_tick(&mut rx).await;
    assert!(after.data.contains("fol-after-0"), "{}", after.data);
    follower.abort();
}

/// The next event the follower passed on, within 15 s.
async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<tickpulse_client::SseEvent>,
) -> tickpulse_client::SseEvent {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("an event within 15 s")
        .expect("the follower runs")
}

/// The next tick event, skipping view events; a snapshot fails the test
/// (after a cut the follower must resume, not start over).
async fn next_tick(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<tickpulse_client::SseEvent>,
) -> tickpulse_client::SseEvent {
    loop {
        let event = next(rx).await;
        assert_ne!(
            event.event, "snapshot",
            "a resume, not a snapshot: {}",
            event.data
        );
        if event.event == "tick" {
            return event;
        }
    }
}

#[tokio::test]
async fn the_hottest_symbols_stay_resident_and_fresh_without_fetches() {
    let s = TestServer::start().await;
    s.accept("HOTA", "1", "hota", 1).await;
    s.accept("COLD", "2", "cold", 1).await;
    s.view_when("HOTA", |v| v["tick_count"] == 1).await;
    s.view_when("COLD", |v| v["tick_count"] == 1).await;
    // Room for one view only.
    let views = std::sync::Arc::new(CachedViews::new(
        HttpViews::new(&s.base),
        CacheConfig {
            capacity: 1,
            ttl_ms: 600_000,
            half_life_ms: 600_000,
            // Plain LRU: the read of another symbol must push it out.
            admission: false,
        },
        clock,
    ));
    let hot = Symbol::new("HOTA");
    for _ in 0..5 {
        views.get(&hot).await.unwrap().expect("a view");
    }
    let prefetch = tokio::spawn(tickpulse_client::keep_hot(
        s.base.clone(),
        views.clone(),
        1,
        Duration::from_millis(100),
    ));
    // A read of another symbol takes the only slot...
    views
        .get(&Symbol::new("COLD"))
        .await
        .unwrap()
        .expect("a view");
    let misses = views.stats().misses;
    // ...and a new tick of the hot symbol brings it back by the stream.
    let fresh = common::eventually(Duration::from_secs(15), || async {
        s.accept("HOTA", "3", &format!("hota-{}", common::now_ms()), 1)
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        views
            .get(&hot)
            .await
            .ok()
            .flatten()
            .filter(|v| v.tick_count >= 2)
    })
    .await
    .expect("the hot symbol's new view arrives by the stream");
    assert!(fresh.tick_count >= 2);
    assert_eq!(views.stats().misses, misses, "no fetch for the hot symbol");
    prefetch.abort();
}
