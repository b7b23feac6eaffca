//! The embedded bus's state machine: the stream, the groups, the views,
//! leases and beats, changed only under the bus's lock and never across an
//! await. Its journal form (replay, snapshot) is in `snapshot.rs`.

use super::journal::{Journal, Record};
use crate::bus::BusError;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tickpulse_core::{Price, StreamId, StreamTick, Symbol, View};

#[derive(Default)]
pub(super) struct State {
    /// Shared, so a journal rewrite copies references, not ticks.
    pub(super) stream: BTreeMap<StreamId, Arc<StreamTick>>,
    pub(super) last_id: StreamId,
    /// `event_id` → when it may be forgotten; `expiry` holds the same in
    /// time order, so forgetting is cheap. Both share one copy of each id,
    /// which a journal rewrite shares too. Hashed with foldhash (seeded per
    /// process): every tick looks its id up, and SipHash cost more than the
    /// rest of the lookup.
    pub(super) seen: HashMap<Arc<str>, Instant, foldhash::fast::RandomState>,
    pub(super) expiry: VecDeque<(Instant, Arc<str>)>,
    pub(super) latest: BTreeMap<Symbol, (StreamTick, Price)>,
    pub(super) views: HashMap<Symbol, View>,
    pub(super) groups: HashMap<String, Group>,
    pub(super) leases: HashMap<String, (String, tokio::time::Instant)>,
    /// node → (last beat, until when it counts).
    pub(super) beats: BTreeMap<String, (String, Instant)>,
    pub(super) dead: VecDeque<DeadEntry>,
    pub(super) journal: Option<Journal>,
}

#[derive(Default)]
pub(super) struct Group {
    pub(super) last_delivered: StreamId,
    pub(super) pending: BTreeMap<StreamId, Pending>,
    /// Entries after `last_delivered` already acknowledged (known after a
    /// restart, when acknowledgements came out of order): never handed out.
    pub(super) acked_ahead: HashSet<StreamId>,
}

pub(super) struct Pending {
    pub(super) consumer: String,
    pub(super) since: Instant,
    pub(super) deliveries: u32,
}

/// A dead letter as kept: where it came from and why.
#[derive(Debug, Clone)]
pub struct DeadEntry {
    pub source_id: StreamId,
    pub group: String,
    pub reason: String,
    /// The entry's tick, when it was still in the stream.
    pub tick: Option<StreamTick>,
}

impl State {
    /// Puts an appended tick in the stream and the latest-tick view.
    pub(super) fn apply(&mut self, stream_tick: StreamTick) {
        self.last_id = self.last_id.max(stream_tick.id);
        match self.latest.get_mut(&stream_tick.tick.symbol) {
            Some((latest, _)) => {
                if stream_tick.tick.supersedes(&latest.tick) {
                    *latest = stream_tick.clone();
                }
            }
            None => {
                let first = stream_tick.tick.price;
                self.latest.insert(
                    stream_tick.tick.symbol.clone(),
                    (stream_tick.clone(), first),
                );
            }
        }
        self.stream.insert(stream_tick.id, Arc::new(stream_tick));
    }

    pub(super) fn remember(&mut self, event_id: &str, until: Instant) {
        let event_id: Arc<str> = Arc::from(event_id);
        self.seen.insert(event_id.clone(), until);
        self.expiry.push_back((until, event_id));
    }

    pub(super) fn add_dead(&mut self, entry: DeadEntry) {
        self.dead.push_back(entry);
        if self.dead.len() > crate::bus::policy::DEAD_LETTER_CAP {
            self.dead.pop_front();
        }
    }

    /// Writes records to the journal, if there is one.
    pub(super) fn journal(&mut self, records: &[Record]) -> Result<(), BusError> {
        match &mut self.journal {
            Some(j) => j.write(records),
            None => Ok(()),
        }
    }

    pub(super) fn forget_expired(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            let (at, event_id) = self.expiry.pop_front().expect("front exists");
            // Only when it was not seen again later (then a newer expiry is queued).
            if self.seen.get(&*event_id) == Some(&at) {
                self.seen.remove(&*event_id);
            }
        }
    }

    /// The first entry `group` has not acknowledged.
    pub(super) fn first_unacknowledged(group: &Group) -> StreamId {
        crate::bus::policy::first_unacknowledged(
            group.pending.keys().next().copied(),
            group.last_delivered,
        )
    }

    pub(super) fn ack(&mut self, group: &str, ids: &[StreamId]) {
        if let Some(g) = self.groups.get_mut(group) {
            for id in ids {
                g.pending.remove(id);
            }
        }
    }
}
