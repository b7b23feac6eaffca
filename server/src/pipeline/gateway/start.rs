//! Where a feed starts: a snapshot of the latest ticks, or the check that
//! the stream still holds everything after a position (see
//! [`super::feed`]).

use crate::bus::Bus;
use crate::error::ApiError;
use std::collections::{HashMap, HashSet};
use tickpulse_core::{Cursor, LatestTick, Partition, StreamId, Symbol};

/// Whether partition `p` of `count` holds symbols of `filter` (all do
/// without one).
pub(super) fn holds_some(p: Partition, count: u16, filter: Option<&HashSet<Symbol>>) -> bool {
    filter.is_none_or(|f| f.iter().any(|s| Partition::of(s, count) == p))
}

/// Whether every partition holding `filter`'s symbols still holds every
/// tick after the cursor's position there: its oldest entry is not after it
/// (or, with an empty stream, none of its latest ticks is after it: nothing
/// was trimmed that the client has not seen). A cursor of another number
/// of partitions cannot be resumed.
pub(super) async fn replayable(
    bus: &dyn Bus,
    cursor: &Cursor,
    filter: Option<&HashSet<Symbol>>,
) -> Result<bool, ApiError> {
    let count = bus.partitions();
    if cursor.partitions() != count {
        return Ok(false);
    }
    let mut latest: Option<Vec<LatestTick>> = None;
    for (p, id) in cursor.iter() {
        if !holds_some(p, count, filter) {
            continue;
        }
        let kept = match bus.range(p, StreamId::ZERO, 1).await?.first() {
            Some(oldest) => oldest.id <= id,
            None => {
                if latest.is_none() {
                    latest = Some(bus.latest_all().await?);
                }
                latest
                    .iter()
                    .flatten()
                    .filter(|t| Partition::of(t.symbol(), count) == p)
                    .all(|t| t.tick.id <= id)
            }
        };
        if !kept {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The snapshot's JSON (`{"reset", "ticks"}`), per symbol the stream id it
/// reflects, and the cursor it stands at: with `with_position`, each
/// partition's last id, read before the latest ticks (a tick after it
/// comes live, as the client subscribed first).
pub(super) async fn snapshot(
    bus: &dyn Bus,
    filter: Option<&HashSet<Symbol>>,
    reset: bool,
    with_position: bool,
) -> Result<(Vec<u8>, HashMap<Symbol, StreamId>, Cursor), ApiError> {
    let mut cursor = Cursor::start(bus.partitions());
    if with_position {
        for p in Partition::all(bus.partitions()) {
            cursor.advance(p, bus.last_id(p).await?);
        }
    }
    let ticks: Vec<LatestTick> = match filter {
        Some(f) if f.is_empty() => Vec::new(),
        _ => bus
            .latest_all()
            .await?
            .into_iter()
            .filter(|t| filter.is_none_or(|f| f.contains(t.symbol())))
            .collect(),
    };
    let after = ticks
        .iter()
        .map(|t| (t.symbol().clone(), t.tick.id))
        .collect();
    #[derive(serde::Serialize)]
    struct Snapshot<'a> {
        reset: bool,
        ticks: &'a [LatestTick],
    }
    let json = serde_json::to_vec(&Snapshot {
        reset,
        ticks: &ticks,
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((json, after, cursor))
}
