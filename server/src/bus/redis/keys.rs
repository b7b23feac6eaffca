//! The keys and channels of each partition, under one hash tag per
//! partition, and how the tags are chosen so the partitions spread evenly
//! over a cluster's masters.

use tickpulse_core::Partition;

/// Slots of a Redis Cluster.
pub(super) const SLOTS_IN_CLUSTER: u16 = 16_384;

/// The slot of `key` in a Redis Cluster: CRC16 (XMODEM) of its hash tag
/// (the text between the first `{` and the next `}`, when not empty) or of
/// the whole key, modulo 16384.
pub(super) fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS_IN_CLUSTER
}

/// The hash tag of partition `p` of `count`: `{p.k}` with the smallest `k`
/// whose slot lies in the `p`-th of `count` equal slices of the slot space.
/// A cluster's masters hold contiguous, about equal slot ranges (as
/// `redis-cli --cluster create` assigns them), so the partitions spread over
/// the masters as evenly as `count` allows: naive tags (`{0}`, `{1}`, …)
/// hash to wherever CRC16 puts them and land unevenly.
pub(super) fn tag(p: Partition, count: u16) -> String {
    let count = u32::from(count.max(1));
    let slice = |slot: u16| u32::from(slot) * count / u32::from(SLOTS_IN_CLUSTER);
    (0u32..)
        .map(|k| format!("{{{}.{k}}}", p.0))
        .find(|tag| slice(slot(tag)) == u32::from(p.0))
        .unwrap_or_default()
}

/// Every key and channel of one partition.
#[derive(Debug, Clone)]
pub(super) struct PartKeys {
    /// Prefix and hash tag: every key of the partition starts with it.
    pub(super) base: String,
    pub(super) stream: String,
    pub(super) dead: String,
    pub(super) views: String,
    /// Channel of the appended ticks.
    pub(super) updates: String,
    /// Channel of the views the calc stage writes.
    pub(super) views_channel: String,
}

impl PartKeys {
    /// The keys of partition `p` of `count` behind `prefix`. With one
    /// partition on one instance there is no tag: the keys are those of a
    /// bus without partitions, so an existing deployment keeps its stream.
    pub(super) fn new(prefix: &str, p: Partition, count: u16, tagged: bool) -> Self {
        let base = if tagged {
            format!("{prefix}{}", tag(p, count))
        } else {
            prefix.to_owned()
        };
        let key = |name: &str| format!("{base}{name}");
        Self {
            stream: key("ticks.received"),
            dead: key("ticks.dead"),
            views: key("views"),
            updates: key("realtime:updates"),
            views_channel: key("realtime:views"),
            base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_redis() {
        // Values `CLUSTER KEYSLOT` gives (the Redis Cluster specification's
        // examples and the hash tag rule).
        assert_eq!(slot("123456789"), 12_739);
        assert_eq!(slot("foo"), 12_182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"));
    }

    #[test]
    fn tags_spread_evenly_over_three_masters() {
        // The slot ranges `redis-cli --cluster create` gives three masters.
        let master = |slot: u16| match slot {
            0..=5460 => 0,
            5461..=10922 => 1,
            _ => 2,
        };
        for count in [3u16, 6, 12] {
            let mut per_master = [0; 3];
            for p in Partition::all(count) {
                per_master[master(slot(&tag(p, count)))] += 1;
            }
            assert_eq!(per_master, [count / 3; 3], "{count} partitions");
        }
        let keys = PartKeys::new("tp:", Partition(2), 6, true);
        assert_eq!(slot(&keys.stream), slot(&keys.views_channel));
        assert_eq!(
            PartKeys::new("tp:", Partition(0), 1, false).stream,
            "tp:ticks.received"
        );
    }
}
