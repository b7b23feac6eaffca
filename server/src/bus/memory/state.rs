//! The embedded bus's state machine: the stream, the groups, the views,
//! leases and beats, changed only under the bus's lock and never across an
//! await. Its journal form (replay, snapshot) is in `snapshot.rs`.

use super::journal::{Journal, Record};
use crate::bus::BusError;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tickpulse_core::{Price, StreamId, StreamTick, Symbol, View};

/// Bytes a remembered event id takes here besides its own length: its
/// entry in `seen` and in `expiry`, the shared string's header and the
/// allocator's rounding (measured: see the `remembered_ids_cost_…` test).
pub const BYTES_PER_ID: u64 = 112;
/// Bytes a stream entry holds here besides its strings (symbol, source and
/// event id): its shared tick and its place in the stream's tree (measured:
/// see the `stream_entries_cost_…` test).
pub const BYTES_PER_ENTRY: u64 = 224;

/// What a stream entry counts against `STREAM_RETAIN_BYTES`.
fn entry_bytes(t: &StreamTick) -> u64 {
    let strings = t.tick.symbol.as_str().len()
        + t.tick.source.as_str().len()
        + t.tick.event_id.as_str().len();
    BYTES_PER_ENTRY + strings as u64
}

#[derive(Default)]
pub(super) struct State {
    /// Shared, so a journal rewrite copies references, not ticks.
    pub(super) stream: BTreeMap<StreamId, Arc<StreamTick>>,
    /// What the stream's entries count, in bytes (see [`entry_bytes`]).
    pub(super) stream_bytes: u64,
    pub(super) last_id: StreamId,
    /// `event_id` → when it may be forgotten; `expiry` holds the same in
    /// time order, so forgetting is cheap. Both share one copy of each id,
    /// which a journal rewrite shares too. Hashed with foldhash (seeded per
    /// process): every tick looks its id up, and SipHash cost more than the
    /// rest of the lookup.
    pub(super) seen: HashMap<Arc<str>, Instant, foldhash::fast::RandomState>,
    pub(super) expiry: VecDeque<(Instant, Arc<str>)>,
    /// What the remembered ids count, in bytes (their lengths plus
    /// [`BYTES_PER_ID`] each).
    pub(super) seen_bytes: u64,
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
        self.stream_bytes += entry_bytes(&stream_tick);
        self.stream.insert(stream_tick.id, Arc::new(stream_tick));
    }

    /// Drops the entries below the trim floor: acknowledged by every group
    /// and older than `retain`, or, while the stream counts more than
    /// `budget` bytes (0: no budget), acknowledged and among the oldest.
    /// Returns how many went.
    pub(super) fn trim(&mut self, retain: std::time::Duration, budget: u64) -> usize {
        let unacknowledged = self.groups.values().map(Self::first_unacknowledged).min();
        let floor = crate::bus::policy::trim_floor(
            unacknowledged,
            retain,
            self.byte_floor(budget, unacknowledged),
        );
        let mut removed = 0;
        while let Some(entry) = self.stream.first_entry() {
            if *entry.key() >= floor {
                break;
            }
            let tick = entry.remove();
            self.stream_bytes = self.stream_bytes.saturating_sub(entry_bytes(&tick));
            removed += 1;
        }
        removed
    }

    /// The first entry to keep for the stream to count at most `budget`
    /// bytes, looking no further than `stop` (the first unacknowledged
    /// entry, which stays anyway): so while a consumer stalls with the
    /// budget spent, each append walks only what it could still trim.
    fn byte_floor(&self, budget: u64, stop: Option<StreamId>) -> StreamId {
        if budget == 0 || self.stream_bytes <= budget {
            return StreamId::ZERO;
        }
        let mut over = self.stream_bytes - budget;
        for (id, tick) in &self.stream {
            if over == 0 || stop.is_some_and(|s| *id >= s) {
                return *id;
            }
            over = over.saturating_sub(entry_bytes(tick));
        }
        self.last_id.next()
    }

    pub(super) fn remember(&mut self, event_id: &str, until: Instant) {
        let event_id: Arc<str> = Arc::from(event_id);
        self.seen_bytes += event_id.len() as u64 + BYTES_PER_ID;
        self.seen.insert(event_id.clone(), until);
        self.expiry.push_back((until, event_id));
    }

    /// Forgets the oldest remembered ids until they count at most `budget`
    /// bytes (0: no budget).
    pub(super) fn forget_over(&mut self, budget: u64) {
        while budget > 0 && self.seen_bytes > budget {
            let Some((at, event_id)) = self.expiry.pop_front() else {
                break;
            };
            self.forget(at, &event_id);
        }
    }

    /// Forgets `event_id` remembered until `at`, unless it was remembered
    /// again later (then a newer expiry is queued).
    fn forget(&mut self, at: Instant, event_id: &Arc<str>) {
        if self.seen.get(&**event_id) == Some(&at) {
            self.seen.remove(&**event_id);
            self.seen_bytes = self
                .seen_bytes
                .saturating_sub(event_id.len() as u64 + BYTES_PER_ID);
        }
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
            self.forget(at, &event_id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Counts the bytes the current thread holds while `COUNTING` is on, so
    /// a measurement is not disturbed by the tests on other threads.
    struct Counting;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static HELD: Cell<i64> = const { Cell::new(0) };
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                HELD.with(|h| h.set(h.get() + layout.size() as i64));
            }
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if COUNTING.with(Cell::get) {
                HELD.with(|h| h.set(h.get() - layout.size() as i64));
            }
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// What `BYTES_PER_ID` stands for: the bytes a remembered id holds
    /// besides its characters, measured on 200,000 ids of 21 characters
    /// (the requested sizes; the allocator's own rounding comes on top, so
    /// the constant is rounded up).
    #[test]
    fn remembered_ids_cost_what_the_budget_counts() {
        let mut state = State::default();
        let n = 200_000u64;
        let ids: Vec<String> = (0..n).map(|i| format!("feeder-7:{i:012}")).collect();
        let until = Instant::now() + std::time::Duration::from_secs(60);
        COUNTING.with(|c| c.set(true));
        for id in &ids {
            state.remember(id, until);
        }
        COUNTING.with(|c| c.set(false));
        let held = HELD.with(Cell::get) as u64;
        let per_id = held / n - 21;
        println!(
            "a remembered id of 21 characters holds {} bytes (+{per_id})",
            held / n
        );
        assert!(
            per_id <= BYTES_PER_ID,
            "{per_id} bytes per id over its length"
        );
        assert!(
            per_id >= BYTES_PER_ID / 2,
            "{per_id}: the constant is far too high"
        );
        assert_eq!(state.seen_bytes, n * (21 + BYTES_PER_ID));
        HELD.with(|h| h.set(0));
        state.forget_over(n * (21 + BYTES_PER_ID) / 4);
        assert_eq!(state.seen.len() as u64, n / 4);
        assert_eq!(
            state.expiry.front().map(|(_, id)| id.to_string()),
            Some(format!("feeder-7:{:012}", n * 3 / 4)),
            "the oldest are forgotten first"
        );
    }

    /// What `BYTES_PER_ENTRY` stands for: the bytes a stream entry holds
    /// besides its strings, measured on 100,000 ticks of 10 symbols (the
    /// latest-tick view holds one per symbol on top, not per tick).
    #[test]
    fn stream_entries_cost_what_the_budget_counts() {
        let mut state = State::default();
        let n = 100_000u64;
        let template: StreamTick = serde_json::from_value(serde_json::json!({
            "id": "1-0", "symbol": "SYM0", "price": "64000.5", "volume": "0.25",
            "source": "feeder-7", "ts": 1_795_000_000_000i64,
            "event_id": "feeder-7:000000000000", "received_at": 1_795_000_000_000i64
        }))
        .unwrap();
        // Young entries: the retention period would keep them all.
        let ms = u64::try_from(tickpulse_core::Timestamp::now().as_millis()).unwrap();
        let ticks: Vec<StreamTick> = (0..n)
            .map(|i| {
                let mut t = template.clone();
                t.id = StreamId::new(ms, i);
                t.tick.symbol = Symbol::new(&format!("SYM{}", i % 10));
                t
            })
            .collect();
        let strings = entry_bytes(&ticks[0]) - BYTES_PER_ENTRY;
        HELD.with(|h| h.set(0));
        COUNTING.with(|c| c.set(true));
        for t in &ticks {
            // The copy stands for the tick the append decodes.
            state.apply(t.clone());
        }
        COUNTING.with(|c| c.set(false));
        let held = HELD.with(Cell::get) as u64;
        let per_entry = held / n - strings;
        println!(
            "a stream entry with {strings} bytes of strings holds {} bytes (+{per_entry})",
            held / n
        );
        assert!(per_entry <= BYTES_PER_ENTRY, "{per_entry} bytes per entry");
        assert!(
            per_entry >= BYTES_PER_ENTRY / 2,
            "{per_entry}: the constant is far too high"
        );
        assert_eq!(state.stream_bytes, n * (strings + BYTES_PER_ENTRY));
        // A budget of a quarter, nothing pending: three quarters go, the
        // oldest first.
        let budget = n * (strings + BYTES_PER_ENTRY) / 4;
        let removed = state.trim(std::time::Duration::from_secs(3_600), budget);
        assert_eq!(removed as u64, n * 3 / 4);
        assert!(state.stream_bytes <= budget);
        assert_eq!(
            state.stream.keys().next(),
            Some(&StreamId::new(ms, n * 3 / 4))
        );
        // An entry a group has not acknowledged stops the trim there.
        state.groups.insert(
            "calc".to_owned(),
            Group {
                last_delivered: StreamId::new(ms, n * 3 / 4),
                ..Group::default()
            },
        );
        let removed = state.trim(std::time::Duration::from_secs(3_600), 1);
        assert_eq!(
            removed, 1,
            "only the entry calc was handed and acknowledged"
        );
    }
}
