//! Alerts and their severity, and the [`Tracker`] that turns changes of a
//! node's or a feed's state into alerts, each raised once.

use super::{feeds, node_status, Beat, NodeStatus, Thresholds};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// One entry of the alert log (a `node_event` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    /// Row id once stored; 0 before.
    #[serde(default)]
    pub id: i64,
    /// ms since the epoch.
    pub at: i64,
    /// `node.suspect`, `node.down`, `node.recovered`, `node.stopped`,
    /// `feed.stale` or `feed.recovered`.
    pub kind: String,
    /// The node id or the feed source.
    pub subject: String,
    pub severity: Severity,
    pub message: String,
}

impl Alert {
    pub(super) fn new(
        at: i64,
        kind: &str,
        subject: &str,
        severity: Severity,
        message: String,
    ) -> Self {
        Self {
            id: 0,
            at,
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            severity,
            message,
        }
    }

    /// `node` or `feed`.
    pub fn scope(&self) -> &str {
        self.kind.split('.').next().unwrap_or("")
    }
}

/// Remembers the last known state of every node and feed, and turns the
/// next observation into the alerts its changes raise.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    nodes: BTreeMap<String, NodeStatus>,
    /// Source → stale.
    feeds: BTreeMap<String, bool>,
    /// Whether the de-dupe budget shortened the window, as last alerted.
    dedupe_shortened: bool,
}

impl Tracker {
    /// Starts from the alerts already logged (oldest first), so a monitor
    /// taking over does not raise them again.
    pub fn seeded<'a>(log: impl IntoIterator<Item = &'a Alert>) -> Self {
        let mut t = Self::default();
        for alert in log {
            match alert.kind.as_str() {
                "node.suspect" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Suspect);
                }
                "node.down" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Down);
                }
                "node.recovered" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Up);
                }
                "node.stopped" => {
                    t.nodes.insert(alert.subject.clone(), NodeStatus::Stopped);
                }
                "feed.stale" => {
                    t.feeds.insert(alert.subject.clone(), true);
                }
                "feed.recovered" => {
                    t.feeds.insert(alert.subject.clone(), false);
                }
                "bus.dedupe_shortened" => t.dedupe_shortened = true,
                "bus.dedupe_restored" => t.dedupe_shortened = false,
                _ => {}
            }
        }
        t
    }

    /// The alert a change of de-duplication's window raises: when the
    /// budget starts keeping ids for less than the TTL, and when it no
    /// longer does.
    pub fn observe_dedupe(&mut self, now: i64, d: &super::Dedupe) -> Option<Alert> {
        let shortened = d.shortened();
        if shortened == self.dedupe_shortened {
            return None;
        }
        self.dedupe_shortened = shortened;
        Some(if shortened {
            Alert::new(
                now,
                "bus.dedupe_shortened",
                "dedupe",
                Severity::Warning,
                format!(
                    "event ids are remembered for {} s, not DEDUPE_TTL_SECS ({} s): {} ids fill DEDUPE_MAX_BYTES at the current rate; a feeder resending later than that is not refused as a duplicate",
                    d.window_secs, d.ttl_secs, d.ids
                ),
            )
        } else {
            Alert::new(
                now,
                "bus.dedupe_restored",
                "dedupe",
                Severity::Info,
                format!(
                    "event ids are remembered for DEDUPE_TTL_SECS ({} s) again",
                    d.ttl_secs
                ),
            )
        })
    }

    /// The alerts raised by the beats read at `now`. A node seen for the
    /// first time is taken as it is without an alert unless it is already
    /// down or suspect; a node whose beat expired is forgotten.
    pub fn observe(&mut self, now: i64, beats: &[Beat], th: &Thresholds) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for beat in beats {
            let status = node_status(now, beat, th);
            let before = self.nodes.insert(beat.node.clone(), status);
            let secs = |ms: i64| ms as f64 / 1000.0;
            let silent = secs(now - beat.at);
            let alert = match (before, status) {
                (Some(b), s) if b == s => None,
                (_, NodeStatus::Suspect) => Some((
                    "node.suspect",
                    Severity::Warning,
                    format!("no heartbeat for {silent:.1} s"),
                )),
                (_, NodeStatus::Down) => Some((
                    "node.down",
                    Severity::Critical,
                    format!("no heartbeat for {silent:.1} s"),
                )),
                (Some(NodeStatus::Suspect | NodeStatus::Down), NodeStatus::Up) => Some((
                    "node.recovered",
                    Severity::Info,
                    "heartbeats again".to_owned(),
                )),
                (
                    Some(NodeStatus::Up | NodeStatus::Suspect | NodeStatus::Down),
                    NodeStatus::Stopped,
                ) => Some((
                    "node.stopped",
                    Severity::Info,
                    "stopped on purpose".to_owned(),
                )),
                _ => None,
            };
            if let Some((kind, severity, message)) = alert {
                alerts.push(Alert::new(now, kind, &beat.node, severity, message));
            }
        }
        self.nodes
            .retain(|node, _| beats.iter().any(|b| &b.node == node));
        for feed in feeds(now, beats, th) {
            let before = self.feeds.insert(feed.source.clone(), feed.stale);
            let silent = (now - feed.last_tick) as f64 / 1000.0;
            match (before.unwrap_or(false), feed.stale) {
                (false, true) => alerts.push(Alert::new(
                    now,
                    "feed.stale",
                    &feed.source,
                    Severity::Warning,
                    format!("no tick for {silent:.1} s"),
                )),
                (true, false) => alerts.push(Alert::new(
                    now,
                    "feed.recovered",
                    &feed.source,
                    Severity::Info,
                    "ticks again".to_owned(),
                )),
                _ => {}
            }
        }
        alerts
    }
}
