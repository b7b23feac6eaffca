//! What the Redis bus reads about its consumer groups (`XINFO GROUPS`,
//! `XPENDING`): the first unacknowledged entry per group, pending and lag,
//! delivery counts, and the read sizes that follow from packs.

use super::*;

impl RedisBus {
    /// The wanted ticks of `entries`, in order; learns their average size.
    pub(super) fn unpack(
        &self,
        entries: Vec<StreamEntry>,
        deliveries: u32,
        wanted: Wanted,
    ) -> Vec<Delivered> {
        let mut out = Vec::new();
        let n = entries.len();
        let mut held = 0;
        for entry in entries {
            held += unpack_entry(entry, deliveries, wanted, &mut out);
        }
        if n > 0 {
            self.ticks_per_entry
                .store((held / n).max(1), std::sync::atomic::Ordering::Relaxed);
        }
        out
    }

    /// How many entries to ask for to get about `ticks` ticks, after the
    /// size of the entries read last: at least one, at most `ticks` and
    /// [`ENTRIES_PER_READ`], so a read after small entries cannot hand out
    /// `ticks` full packs.
    pub(super) fn entries_for(&self, ticks: usize) -> usize {
        let per_entry = self
            .ticks_per_entry
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        (ticks / per_entry).clamp(1, ticks.clamp(1, ENTRIES_PER_READ))
    }

    /// The first tick of partition `p` that `group` has not acknowledged
    /// (the first of its stream, when the group or the stream does not
    /// exist yet).
    pub(super) async fn first_unacknowledged_tick(
        &self,
        p: Partition,
        group: &str,
    ) -> Result<StreamId, BusError> {
        Ok(self
            .first_unacknowledged(p, Some(group))
            .await?
            .and_then(|g| g.get(group).copied())
            .map_or(StreamId::ZERO, |entry| tick_id(entry, 0)))
    }

    /// Per consumer group (or only `only`), the first entry it has not
    /// acknowledged: its oldest pending entry, or the one after the last
    /// delivered. `None` when the stream does not exist yet.
    pub(super) async fn first_unacknowledged(
        &self,
        p: Partition,
        only: Option<&str>,
    ) -> Result<Option<HashMap<String, StreamId>>, BusError> {
        let Some(mut groups) = self.groups(p).await? else {
            return Ok(None);
        };
        groups.retain(|g| only.is_none_or(|name| g.name == name));
        let key = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let mut first = HashMap::new();
        for group in groups {
            let oldest_pending = if group.pending > 0 {
                let (_, oldest, _, _): (u64, Option<String>, Option<String>, redis::Value) = self
                    .bounded(
                        redis::cmd("XPENDING")
                            .arg(key)
                            .arg(&group.name)
                            .query_async(&mut conn),
                    )
                    .await?;
                // None: the group acknowledged them all since `XINFO`; the
                // position after its last delivered entry then is still a
                // true (if early) first unacknowledged entry.
                oldest
                    .map(|id| id.parse().map_err(|e| corrupt("stream id", e)))
                    .transpose()?
            } else {
                None
            };
            let id = crate::bus::policy::first_unacknowledged(oldest_pending, group.last_delivered);
            first.insert(group.name, id);
        }
        Ok(Some(first))
    }

    /// The consumer groups of the tick stream (`XINFO GROUPS`); `None`
    /// when the stream does not exist yet.
    pub(super) async fn groups(&self, p: Partition) -> Result<Option<Vec<GroupInfo>>, BusError> {
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = self
            .bounded_raw(
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(stream)
                    .query_async(&mut conn),
            )
            .await?;
        let groups = match groups {
            Ok(groups) => groups,
            Err(e) if e.to_string().contains("no such key") => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        groups
            .into_iter()
            .map(|group| {
                let field = |name: &str| {
                    group
                        .get(name)
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                };
                let (Some(name), Some(pending), Some(last)) =
                    (field("name"), field("pending"), field("last-delivered-id"))
                else {
                    return Err(corrupt(
                        "XINFO GROUPS reply",
                        "missing name, pending or last-delivered-id",
                    ));
                };
                Ok(GroupInfo {
                    name,
                    pending: pending.parse().map_err(|e| corrupt("pending count", e))?,
                    last_delivered: last.parse().map_err(|e| corrupt("stream id", e))?,
                    // Redis 7 reports the lag; it is nil when it cannot tell.
                    lag: field("lag").and_then(|l| l.parse().ok()),
                })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// Fills in how often each entry was delivered to `group`, from
    /// `XPENDING` over the entries' range for `consumer` (who holds them now).
    pub(super) async fn count_deliveries(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        entries: &mut [Delivered],
    ) -> Result<(), BusError> {
        let (Some(first), Some(last)) = (
            entries.iter().map(|e| entry_of(e.id)).min(),
            entries.iter().map(|e| entry_of(e.id)).max(),
        ) else {
            return Ok(());
        };
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let pending: Vec<(String, String, u64, u64)> = self
            .bounded(
                redis::cmd("XPENDING")
                    .arg(stream)
                    .arg(group)
                    .arg(first.to_string())
                    .arg(last.to_string())
                    .arg(entries.len() * 2 + 1_000)
                    .arg(consumer)
                    .query_async(&mut conn),
            )
            .await?;
        let counts: HashMap<String, u64> = pending
            .into_iter()
            .map(|(id, _, _, count)| (id, count))
            .collect();
        for delivered in entries {
            if let Some(n) = counts.get(&entry_of(delivered.id).to_string()) {
                delivered.deliveries = u32::try_from(*n).unwrap_or(u32::MAX);
            }
        }
        Ok(())
    }
}

pub(super) struct GroupInfo {
    pub(super) name: String,
    pub(super) pending: u64,
    pub(super) last_delivered: StreamId,
    pub(super) lag: Option<u64>,
}
