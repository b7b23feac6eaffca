//! The monitor: one active process (the holder of the `monitor` lease)
//! reads every heartbeat each second, and turns node and feed state
//! changes into alerts: published on the bus at once, logged, and written
//! to `node_event` (retried while the database is down).
//!
//! When the active monitor dies, its lease expires and another process
//! with the role takes over; it starts from the alerts already logged, so
//! it does not raise them again.

use crate::bus::Bus;
use crate::store::{AlertFilter, Store};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::health::{Alert, Severity, Thresholds, Tracker};
use tickpulse_core::Timestamp;
use tokio::sync::watch;

pub const LEASE: &str = "monitor";

/// Rounds a new monitor waits for the alert log before going without it.
const SEED_TRIES: u32 = 10;

/// Alerts kept for the database while it is down; the oldest go first.
const MAX_UNSTORED: usize = 10_000;

#[derive(Clone)]
pub struct MonitorSettings {
    pub node: String,
    pub lease_ttl: Duration,
    pub thresholds: Thresholds,
    pub anomalies: tickpulse_core::health::AnomalySettings,
    pub metrics_retain_days: u64,
}

pub async fn run(
    bus: Arc<dyn Bus>,
    store: Option<Arc<dyn Store>>,
    settings: MonitorSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    // Renew well within the lease; look at least once a second.
    let every = (settings.lease_ttl / 3).min(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tracker: Option<Tracker> = None;
    let mut unstored: Vec<Alert> = Vec::new();
    let mut failing = false;
    let mut seed_failures = 0;
    let mut history =
        super::history::History::new(settings.anomalies, settings.metrics_retain_days);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        match bus.lease(LEASE, &settings.node, settings.lease_ttl).await {
            Ok(true) => {
                failing = false;
                if tracker.is_none() {
                    match seed(store.as_deref()).await {
                        Ok(t) => {
                            tracing::info!("this process is the active monitor");
                            tracker = Some(t);
                            seed_failures = 0;
                        }
                        // The database may be starting (not migrated
                        // yet): wait a little for the log before
                        // monitoring without it.
                        Err(e) if seed_failures < SEED_TRIES => {
                            seed_failures += 1;
                            tracing::debug!(error = %e, "alert log not readable yet");
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "alert log unreadable: monitoring without it; alerts already raised may be raised again");
                            tracker = Some(Tracker::default());
                        }
                    }
                }
                let Some(t) = tracker.as_mut() else { continue };
                let beats = match super::beats(bus.as_ref()).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "monitor cannot read heartbeats");
                        continue;
                    }
                };
                let now = Timestamp::now().as_millis();
                let mut alerts = t.observe(now, &beats, &settings.thresholds);
                let sampled = history.due();
                if sampled {
                    let stats = bus.stream_stats().await.ok();
                    if let Some(s) = &stats {
                        alerts.extend(t.observe_dedupe(now, &super::dedupe(&s.dedupe)));
                    }
                    alerts.extend(history.sample(
                        now,
                        &beats,
                        stats.as_ref(),
                        &settings.thresholds,
                    ));
                }
                if !alerts.is_empty() {
                    raise(bus.as_ref(), &alerts).await;
                    unstored.extend(alerts);
                    let extra = unstored.len().saturating_sub(MAX_UNSTORED);
                    unstored.drain(..extra);
                }
                store_alerts(store.as_deref(), &mut unstored).await;
                if sampled {
                    history.write(store.as_deref(), now).await;
                }
            }
            Ok(false) => {
                if tracker.take().is_some() {
                    tracing::warn!("monitor lease lost: another process monitors now");
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "monitor cannot reach the lease; retrying");
                    failing = true;
                }
            }
        }
    }
    if tracker.is_some() {
        store_alerts(store.as_deref(), &mut unstored).await;
        let _ = bus.release(LEASE, &settings.node).await;
    }
}

/// A tracker that knows what was already raised (the last 1,000 alerts).
async fn seed(store: Option<&dyn Store>) -> Result<Tracker, crate::store::StoreError> {
    let Some(store) = store else {
        return Ok(Tracker::default());
    };
    let filter = AlertFilter {
        limit: 1_000,
        ..AlertFilter::default()
    };
    let mut log = store.alerts(&filter).await?;
    log.reverse();
    Ok(Tracker::seeded(&log))
}

/// Logs and publishes alerts.
async fn raise(bus: &dyn Bus, alerts: &[Alert]) {
    for a in alerts {
        match a.severity {
            Severity::Critical => {
                tracing::error!(alert = %a.kind, subject = %a.subject, "{}", a.message);
            }
            Severity::Warning => {
                tracing::warn!(alert = %a.kind, subject = %a.subject, "{}", a.message);
            }
            Severity::Info => {
                tracing::info!(alert = %a.kind, subject = %a.subject, "{}", a.message);
            }
        }
    }
    let json = serde_json::to_string(alerts).unwrap_or_default();
    if let Err(e) = bus.publish_alerts(&json).await {
        tracing::warn!(error = %e, "alerts not published");
    }
}

async fn store_alerts(store: Option<&dyn Store>, unstored: &mut Vec<Alert>) {
    let Some(store) = store else {
        unstored.clear();
        return;
    };
    if unstored.is_empty() {
        return;
    }
    match store.add_alerts(unstored).await {
        Ok(()) => unstored.clear(),
        Err(e) => {
            tracing::warn!(error = %e, waiting = unstored.len(), "alerts not written yet; retrying");
        }
    }
}
