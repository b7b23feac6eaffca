//! The client package against the real server: the cached views read what
//! `GET /api/symbols/{id}` serves, a symbol without a view is `None`, a
//! server that is gone is an error, and cached reads need no server.

mod common;

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
