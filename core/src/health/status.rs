//! How old a beat may be before a node is `suspect` or `down`, when a feed
//! is stale, and the thresholds every rule of health reads.

use super::Beat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Up,
    /// Missed several beats.
    Suspect,
    /// No beat for the down threshold.
    Down,
    /// Said goodbye (graceful stop).
    Stopped,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Suspect => "suspect",
            Self::Down => "down",
            Self::Stopped => "stopped",
        }
    }
}

/// When a node or a feed changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thresholds {
    /// How often each process beats.
    pub beat_ms: i64,
    /// Missed beats before a node is `suspect`.
    pub suspect_after_missed: i64,
    /// Silence before a node is `down`.
    pub down_after_ms: i64,
    /// Silence of a feed source before it is stale.
    pub feed_stale_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            beat_ms: 2_000,
            suspect_after_missed: 3,
            down_after_ms: 10_000,
            feed_stale_ms: 30_000,
        }
    }
}

/// The status of a node whose last beat is `beat`.
pub fn node_status(now: i64, beat: &Beat, th: &Thresholds) -> NodeStatus {
    let age = now - beat.at;
    if beat.stopping {
        NodeStatus::Stopped
    } else if age >= th.down_after_ms {
        NodeStatus::Down
    } else if age >= th.beat_ms * th.suspect_after_missed {
        NodeStatus::Suspect
    } else {
        NodeStatus::Up
    }
}

/// One feed source over every node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeedHealth {
    pub source: String,
    pub last_tick: i64,
    pub ticks: u64,
    pub rate: f64,
    pub stale: bool,
}

/// The feeds of all nodes: the latest tick any node saw, summed counts and
/// rates, ordered by source.
pub fn feeds(now: i64, beats: &[Beat], th: &Thresholds) -> Vec<FeedHealth> {
    let mut all: BTreeMap<&str, FeedHealth> = BTreeMap::new();
    for feed in beats.iter().flat_map(|b| &b.feeds) {
        let entry = all.entry(&feed.source).or_insert_with(|| FeedHealth {
            source: feed.source.clone(),
            last_tick: feed.last_tick,
            ticks: 0,
            rate: 0.0,
            stale: false,
        });
        entry.last_tick = entry.last_tick.max(feed.last_tick);
        entry.ticks += feed.ticks;
        entry.rate += feed.rate;
    }
    all.into_values()
        .map(|mut f| {
            f.stale = now - f.last_tick >= th.feed_stale_ms;
            if f.stale {
                f.rate = 0.0;
            }
            f
        })
        .collect()
}
