//! The embedded bus's state in journal form: rebuilt from the records at
//! start, written out whole when the journal is rewritten.

use super::journal::Record;
use super::state::{DeadEntry, State};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{StreamId, StreamTick, Timestamp, View};

impl State {
    /// Rebuilds the state from journal records. Groups restart from their
    /// acknowledgements: an entry handed out but not acknowledged will be
    /// handed out again.
    pub(super) fn replay(&mut self, records: Vec<Record>, dedupe_ttl: Duration) {
        let now = Instant::now();
        let now_ms = Timestamp::now().as_millis();
        let ttl_ms = i64::try_from(dedupe_ttl.as_millis()).unwrap_or(i64::MAX);
        let until = |until_ms: i64| {
            let left = until_ms.saturating_sub(now_ms);
            (left > 0).then(|| now + Duration::from_millis(left.unsigned_abs()))
        };
        let mut acked: HashMap<String, HashSet<StreamId>> = HashMap::new();
        for record in records {
            match record {
                Record::Tick { tick } => {
                    let received_ms = tick.received_at.as_millis();
                    if let Some(at) = until(received_ms.saturating_add(ttl_ms)) {
                        self.remember(tick.tick.event_id.as_str(), at);
                    }
                    self.apply(tick);
                }
                Record::Group { group } => {
                    self.groups.entry(group.clone()).or_default();
                    acked.entry(group).or_default();
                }
                Record::Ack { group, ids } => acked.entry(group).or_default().extend(ids),
                Record::Views { views } => {
                    for v in views {
                        self.views.insert(v.symbol.clone(), v);
                    }
                }
                Record::Dead {
                    group,
                    id,
                    reason,
                    tick,
                } => {
                    acked.entry(group.clone()).or_default().insert(id);
                    self.add_dead(DeadEntry {
                        source_id: id,
                        group,
                        reason,
                        tick,
                    });
                }
                Record::Latest { tick, first } => {
                    self.last_id = self.last_id.max(tick.id);
                    self.latest.insert(tick.tick.symbol.clone(), (tick, first));
                }
                Record::Seen { event_id, until_ms } => {
                    if let Some(at) = until(until_ms) {
                        self.remember(&event_id, at);
                    }
                }
            }
        }
        // Each group resumes after the longest run of acknowledged entries
        // and skips those acknowledged further on.
        for (name, group) in &mut self.groups {
            let done = acked.get(name);
            let mut in_run = true;
            for id in self.stream.keys() {
                let is_done = done.is_some_and(|d| d.contains(id));
                if in_run && is_done {
                    group.last_delivered = *id;
                } else if is_done {
                    group.acked_ahead.insert(*id);
                } else {
                    in_run = false;
                }
            }
            if let Some(done) = done {
                if let Some(max) = done.iter().max() {
                    // Everything up to an acknowledged entry that was trimmed
                    // meanwhile is done too.
                    if self.stream.keys().next().is_none_or(|first| max < first) {
                        group.last_delivered = group.last_delivered.max(*max);
                    }
                }
            }
        }
    }

    /// The current state, for a rewrite. Taken under the bus's lock, so it
    /// copies as little as it can: the stream's ticks, and for the event ids
    /// only a reference each (they can be many more than the ticks: every
    /// id of the de-duplication window). The records are built as they are
    /// written ([`Snapshot::records`]), off the lock.
    pub(super) fn snapshot(&self, now: Instant) -> Snapshot {
        let mut other = Vec::with_capacity(self.latest.len() + 16);
        for (name, g) in &self.groups {
            other.push(Record::Group {
                group: name.clone(),
            });
            let ids: Vec<StreamId> = self
                .stream
                .range(..=g.last_delivered)
                .map(|(id, _)| *id)
                .filter(|id| !g.pending.contains_key(id))
                .chain(g.acked_ahead.iter().copied())
                .collect();
            for chunk in ids.chunks(10_000) {
                other.push(Record::Ack {
                    group: name.clone(),
                    ids: chunk.to_vec(),
                });
            }
            if g.last_delivered > StreamId::ZERO && !self.stream.contains_key(&g.last_delivered) {
                // Keeps the group's position when its last entry was trimmed.
                other.push(Record::Ack {
                    group: name.clone(),
                    ids: vec![g.last_delivered],
                });
            }
        }
        for (tick, first) in self.latest.values() {
            other.push(Record::Latest {
                tick: tick.clone(),
                first: *first,
            });
        }
        let views: Vec<View> = self.views.values().cloned().collect();
        for chunk in views.chunks(1_000) {
            other.push(Record::Views {
                views: chunk.to_vec(),
            });
        }
        for d in &self.dead {
            other.push(Record::Dead {
                group: d.group.clone(),
                id: d.source_id,
                reason: d.reason.clone(),
                tick: d.tick.clone(),
            });
        }
        let now_ms = Timestamp::now().as_millis();
        let seen = self
            .seen
            .iter()
            .map(|(event_id, until)| {
                let left = until.saturating_duration_since(now);
                let left_ms = i64::try_from(left.as_millis()).unwrap_or(0);
                (event_id.clone(), now_ms.saturating_add(left_ms))
            })
            .collect();
        Snapshot {
            ticks: self.stream.values().cloned().collect(),
            other,
            seen,
        }
    }
}

/// The state as taken for a journal rewrite (see [`State::snapshot`]).
pub(super) struct Snapshot {
    ticks: Vec<Arc<StreamTick>>,
    /// Groups, acknowledgements, latest ticks, views and dead letters, in
    /// the order they replay in.
    other: Vec<Record>,
    /// Remembered event ids and until when (epoch milliseconds).
    seen: Vec<(Arc<str>, i64)>,
}

impl Snapshot {
    /// How many records it makes.
    pub(super) fn len(&self) -> usize {
        self.ticks.len() + self.other.len() + self.seen.len()
    }

    /// Its journal records in replay order: ticks first (the latest-tick
    /// records after them override what replaying the ticks made).
    pub(super) fn records(self) -> impl Iterator<Item = Record> {
        let ticks = self.ticks.into_iter().map(|tick| Record::Tick {
            tick: Arc::unwrap_or_clone(tick),
        });
        let seen = self
            .seen
            .into_iter()
            .map(|(event_id, until_ms)| Record::Seen {
                event_id: String::from(&*event_id),
                until_ms,
            });
        ticks.chain(self.other).chain(seen)
    }
}
