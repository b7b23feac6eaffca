//! The server's moving parts between HTTP, the bus and the store: the
//! coalescing tick [`writer`], the realtime [`gateway`] and the [`persist`]
//! consumer.

pub mod calc;
pub mod durable;
pub mod gateway;
pub mod persist;
pub mod writer;

use std::time::Duration;
use tokio::sync::watch;

/// Waits `d`, or less when shutdown comes first; `false` means shutting down.
pub(crate) async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

/// Exponential backoff for retrying an unavailable backend: 100 ms,
/// doubling, at most 5 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    /// The delay to wait now; the next one is twice as long.
    pub(crate) fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

/// Runs `op` until it succeeds, backing off between attempts and logging
/// each failure as "cannot `what`"; `None` when shutdown comes first.
pub(crate) async fn retry<
    T,
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
>(
    shutdown: &mut watch::Receiver<bool>,
    what: &str,
    mut op: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = Backoff::new();
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "cannot {what}; retrying");
                if !pause(shutdown, backoff.next()).await {
                    return None;
                }
            }
        }
    }
}
