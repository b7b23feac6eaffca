//! The rules both bus backends follow, written once: how many dead letters
//! are kept, which entry a group has not acknowledged yet, and how far the
//! tick stream may be trimmed. The latest-tick rule is `Tick::supersedes`
//! in core (the Redis append script applies the same rule).

use std::time::Duration;
use tickpulse_core::{StreamId, Timestamp};

/// About this many dead letters are kept; older ones are trimmed.
pub const DEAD_LETTER_CAP: usize = 100_000;

/// The first entry a group has not acknowledged: its oldest pending entry,
/// or the one after the last it was handed.
pub fn first_unacknowledged(
    oldest_pending: Option<StreamId>,
    last_delivered: StreamId,
) -> StreamId {
    oldest_pending.unwrap_or(last_delivered.next())
}

/// Where the tick stream may be trimmed to: below the first entry some
/// group has not acknowledged and below the retention period, whichever is
/// older.
pub fn trim_floor(
    first_unacknowledged: impl IntoIterator<Item = StreamId>,
    retain: Duration,
) -> StreamId {
    first_unacknowledged
        .into_iter()
        .fold(retained_from(retain), StreamId::min)
}

/// The first stream id younger than `retain`: entries from here on are kept
/// by a trim even when every group acknowledged them.
fn retained_from(retain: Duration) -> StreamId {
    let retain_ms = u64::try_from(retain.as_millis()).unwrap_or(u64::MAX);
    let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
    StreamId::new((now_ms + 1).saturating_sub(retain_ms), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_oldest_unacknowledged_entry_or_the_retention() {
        let old = StreamId::new(1, 0);
        let hour = Duration::from_secs(3_600);
        assert_eq!(trim_floor([StreamId::new(5, 0), old], hour), old);
        let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap();
        let floor = trim_floor([], hour);
        assert!(
            floor.millis <= now_ms + 1 - 3_600_000 && floor.millis + 60_000 > now_ms - 3_600_000
        );
        assert_eq!(first_unacknowledged(Some(old), StreamId::new(9, 0)), old);
        assert_eq!(
            first_unacknowledged(None, StreamId::new(9, 0)),
            StreamId::new(9, 1)
        );
    }
}
