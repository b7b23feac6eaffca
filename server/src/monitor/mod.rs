//! Heartbeats, the monitor, and the health snapshot the admin view and
//! API show.
//!
//! Every process beats ([`beat`]). The process holding the `monitor` lease
//! ([`watch`]) turns changes of node and feed state into alerts: rows of
//! `node_event` and messages on the bus. [`health`] reads the same beats
//! and applies the same pure rules (`tickpulse_core::health`), so every API
//! process shows the same statuses the monitor acts on. The monitor also
//! keeps the metric history and runs the anomaly rules ([`history`]).

pub mod beat;
pub mod history;
pub mod watch;

use crate::bus::{Bus, BusError};
use crate::state::AppState;
use crate::store::AlertFilter;
use tickpulse_core::health::{self, Beat, GroupBacklog, Health};
use tickpulse_core::Timestamp;

/// Alerts the health snapshot carries.
pub const RECENT_ALERTS: usize = 200;

/// Every node's last beat; unreadable beats are skipped with a warning.
///
/// # Errors
/// When the bus cannot be reached.
pub async fn beats(bus: &dyn Bus) -> Result<Vec<Beat>, BusError> {
    Ok(bus
        .heartbeats()
        .await?
        .into_iter()
        .filter_map(|(node, json)| match serde_json::from_str::<Beat>(&json) {
            Ok(beat) => Some(beat),
            Err(e) => {
                tracing::warn!(node, error = %e, "unreadable heartbeat skipped");
                None
            }
        })
        .collect())
}

/// The bus's de-duplication figures as the health view shows them.
pub fn dedupe(d: &crate::bus::DedupeStats) -> tickpulse_core::health::Dedupe {
    tickpulse_core::health::Dedupe {
        ids: d.ids,
        bytes: d.bytes,
        budget_bytes: d.budget,
        window_secs: d.window.as_secs(),
        ttl_secs: d.ttl.as_secs(),
    }
}

/// The whole health view: nodes, feeds, pipeline, series, recent alerts.
///
/// # Errors
/// When the bus cannot be reached (nothing of the view can be read then).
pub async fn health(state: &AppState) -> Result<Health, BusError> {
    let now = Timestamp::now().as_millis();
    let beats = beats(state.bus.as_ref()).await?;
    let mut health = health::summarize(now, &beats, &state.config.thresholds());
    if let Ok(stats) = state.bus.stream_stats().await {
        health.pipeline.stream_length = Some(stats.length);
        health.pipeline.dead_letters = Some(stats.dead_letters);
        health.pipeline.dedupe = Some(dedupe(&stats.dedupe));
        health.pipeline.groups = stats
            .groups
            .into_iter()
            .map(|g| GroupBacklog {
                group: g.name,
                pending: g.pending,
                lag: g.lag,
            })
            .collect();
    }
    match &state.store {
        Some(store) => {
            let filter = AlertFilter {
                limit: RECENT_ALERTS,
                ..AlertFilter::default()
            };
            match store.alerts(&filter).await {
                Ok(alerts) => health.alerts = alerts,
                Err(e) => health.alerts_error = Some(e.to_string()),
            }
        }
        None => {
            health.alerts_error =
                Some("no database (DATABASE_URL): the alert log is not kept".into());
        }
    }
    Ok(health)
}
