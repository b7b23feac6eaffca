//! [`keep_hot`]: proactive prefetch for [`CachedViews`]. The symbols read
//! most lately are followed on the server's stream, and their `view` events
//! go into the cache (stored even when not resident), so reads of hot
//! symbols never wait for the network.

use crate::sse::follow;
use crate::views::{CachedViews, ViewSource};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Symbol, View};

/// Follows the `k` hottest symbols of `views` on the stream of the server
/// at `base`, re-choosing them every `every`; runs until dropped.
pub async fn keep_hot<S: ViewSource + Send + Sync + 'static>(
    base: String,
    views: Arc<CachedViews<S>>,
    k: usize,
    every: Duration,
) {
    let base = base.trim_end_matches('/').to_owned();
    let hottest = |views: &CachedViews<S>| {
        let mut h = views.hottest(k);
        h.sort();
        h
    };
    loop {
        let hot = hottest(&views);
        if hot.is_empty() {
            tokio::time::sleep(every).await;
            continue;
        }
        let list: Vec<&str> = hot.iter().map(Symbol::as_str).collect();
        let url = format!("{base}/api/stream?symbols={}", list.join(","));
        let live = views.clone();
        let following = follow(&url, move |event| {
            if event.event == "view" {
                if let Ok(view) = serde_json::from_str::<View>(&event.data) {
                    live.apply(view);
                }
            }
            true
        });
        tokio::pin!(following);
        // Follow until the hot set changes.
        loop {
            tokio::select! {
                () = &mut following => break,
                () = tokio::time::sleep(every) => {
                    if hottest(&views) != hot {
                        break;
                    }
                }
            }
        }
    }
}
