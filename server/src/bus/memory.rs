//! [`MemoryBus`]: the bus inside the process, for the embedded mode (no
//! Redis). It behaves like [`super::RedisBus`] — the same tick stream with
//! consumer groups, pending entries and acknowledgements, de-duplication
//! with a time limit, the latest-tick view, stored views, leases, the
//! dead-letter stream and one update channel — and both pass the same
//! conformance suite (`server/tests/conformance.rs`).
//!
//! All state sits behind one mutex; every operation is a few map lookups,
//! so it is never held across an await. Subscribers get updates through a
//! bounded broadcast channel: one that falls too far behind loses its
//! subscription (its stream ends) and resubscribes, as after a lost Redis
//! connection.

use super::{
    Accepted, Appended, Bus, BusError, DeadLetter, Delivered, GroupStats, Published, Read,
    StreamStats, Updates,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tickpulse_core::{LatestTick, Price, StreamId, StreamTick, Symbol, Tick, Timestamp, View};
use tokio::sync::{broadcast, Notify};

const BACKEND: &str = "memory";
/// Update messages a subscriber may fall behind before it loses its place.
const CHANNEL_CAPACITY: usize = 4_096;
/// About this many dead letters are kept; older ones are dropped.
pub const DEAD_LETTER_CAP: usize = 100_000;

/// Settings of a [`MemoryBus`].
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// How long an `event_id` is remembered for de-duplication.
    pub dedupe_ttl: Duration,
    /// Acknowledged entries younger than this stay in the stream.
    pub stream_retain: Duration,
}

pub struct MemoryBus {
    state: Mutex<State>,
    settings: MemorySettings,
    /// Woken on every append, for blocked group reads.
    appended: Notify,
    updates: broadcast::Sender<Published>,
}

#[derive(Default)]
struct State {
    stream: BTreeMap<StreamId, StreamTick>,
    last_id: StreamId,
    /// `event_id` → when it may be forgotten; `expiry` holds the same in
    /// time order, so forgetting is cheap.
    seen: HashMap<String, Instant>,
    expiry: VecDeque<(Instant, String)>,
    latest: BTreeMap<Symbol, (StreamTick, Price)>,
    views: HashMap<Symbol, View>,
    groups: HashMap<String, Group>,
    leases: HashMap<String, (String, Instant)>,
    dead: VecDeque<DeadEntry>,
}

#[derive(Default)]
struct Group {
    last_delivered: StreamId,
    pending: BTreeMap<StreamId, Pending>,
}

struct Pending {
    consumer: String,
    since: Instant,
    deliveries: u32,
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

impl MemoryBus {
    pub fn new(settings: MemorySettings) -> Self {
        Self {
            state: Mutex::new(State::default()),
            settings,
            appended: Notify::new(),
            updates: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // must not take the bus down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadEntry> {
        self.state().dead.iter().cloned().collect()
    }

    /// Entries after `last_delivered` for `group`, handed to `consumer`.
    fn deliver_new(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let mut state = self.state();
        let State { stream, groups, .. } = &mut *state;
        let g = groups.get_mut(group).ok_or_else(|| no_group(group))?;
        let after = StreamId::new(
            g.last_delivered.millis,
            g.last_delivered.seq.saturating_add(1),
        );
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, tick) in stream.range(after..).take(count) {
            g.pending.insert(
                *id,
                Pending {
                    consumer: consumer.to_owned(),
                    since: now,
                    deliveries: 1,
                },
            );
            g.last_delivered = *id;
            out.push(Delivered {
                id: *id,
                tick: Ok(tick.clone()),
                deliveries: 1,
            });
        }
        Ok(out)
    }
}

impl MemoryBus {
    /// Hands pending entries of `group` that `pick` chooses to `consumer`
    /// again, counting the delivery. Entries trimmed meanwhile have nothing
    /// left to deliver and leave the pending list.
    fn redeliver(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        pick: impl Fn(&Pending) -> bool,
    ) -> Result<Vec<Delivered>, BusError> {
        let mut state = self.state();
        let State { stream, groups, .. } = &mut *state;
        let g = groups.get_mut(group).ok_or_else(|| no_group(group))?;
        let now = Instant::now();
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (id, p) in g.pending.iter_mut().filter(|(_, p)| pick(p)) {
            if out.len() >= count.max(1) {
                break;
            }
            let Some(tick) = stream.get(id) else {
                gone.push(*id);
                continue;
            };
            consumer.clone_into(&mut p.consumer);
            p.since = now;
            p.deliveries += 1;
            out.push(Delivered {
                id: *id,
                tick: Ok(tick.clone()),
                deliveries: p.deliveries,
            });
        }
        for id in gone {
            g.pending.remove(&id);
        }
        Ok(out)
    }
}

fn no_group(group: &str) -> BusError {
    BusError {
        backend: BACKEND,
        reason: format!("no consumer group {group:?}"),
    }
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, BusError> {
    serde_json::to_string(value).map_err(|e| BusError {
        backend: BACKEND,
        reason: format!("cannot encode {what}: {e}"),
    })
}

impl State {
    fn next_id(&mut self, now_ms: u64) -> StreamId {
        let id = if now_ms > self.last_id.millis {
            StreamId::new(now_ms, 0)
        } else {
            StreamId::new(self.last_id.millis, self.last_id.seq + 1)
        };
        self.last_id = id;
        id
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((at, _)) = self.expiry.front() {
            if *at > now {
                break;
            }
            let (at, event_id) = self.expiry.pop_front().expect("front exists");
            // Only when it was not seen again later (then a newer expiry is queued).
            if self.seen.get(&event_id) == Some(&at) {
                self.seen.remove(&event_id);
            }
        }
    }

    /// The first entry `group` has not acknowledged.
    fn first_unacknowledged(group: &Group) -> StreamId {
        group
            .pending
            .keys()
            .next()
            .copied()
            .unwrap_or(StreamId::new(
                group.last_delivered.millis,
                group.last_delivered.seq.saturating_add(1),
            ))
    }

    fn ack(&mut self, group: &str, ids: &[StreamId]) {
        if let Some(g) = self.groups.get_mut(group) {
            for id in ids {
                g.pending.remove(id);
            }
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn append(&self, ticks: &[Tick], received_at: Timestamp) -> Result<Accepted, BusError> {
        let now = Instant::now();
        let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
        let mut accepted = Vec::with_capacity(ticks.len());
        let mut published = Vec::new();
        {
            let mut state = self.state();
            state.forget_expired(now);
            for tick in ticks {
                let key = tick.event_id.as_str();
                if state.seen.contains_key(key) {
                    accepted.push(false);
                    continue;
                }
                let expires = now + self.settings.dedupe_ttl;
                state.seen.insert(key.to_owned(), expires);
                state.expiry.push_back((expires, key.to_owned()));
                let id = state.next_id(now_ms);
                let stream_tick = StreamTick {
                    id,
                    tick: tick.clone(),
                    received_at,
                };
                published.push(Appended {
                    id,
                    symbol: tick.symbol.clone(),
                    json: json("tick", &stream_tick)?,
                });
                match state.latest.get_mut(&tick.symbol) {
                    Some((latest, _)) => {
                        if tick.supersedes(&latest.tick) {
                            *latest = stream_tick.clone();
                        }
                    }
                    None => {
                        state
                            .latest
                            .insert(tick.symbol.clone(), (stream_tick.clone(), tick.price));
                    }
                }
                state.stream.insert(id, stream_tick);
                accepted.push(true);
            }
        }
        if !published.is_empty() {
            self.appended.notify_waiters();
            let _ = self.updates.send(Published::Ticks(published));
        }
        Ok(accepted)
    }

    async fn latest_all(&self) -> Result<Vec<LatestTick>, BusError> {
        Ok(self
            .state()
            .latest
            .values()
            .map(|(tick, first)| LatestTick {
                tick: tick.clone(),
                first_price: *first,
            })
            .collect())
    }

    async fn subscribe(&self) -> Result<Updates, BusError> {
        let rx = self.updates.subscribe();
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(p) => Some((p, rx)),
                // Fell behind or the bus is gone: the subscription ends and
                // the subscriber resubscribes (and resynchronises).
                Err(_) => None,
            }
        });
        Ok(stream.boxed())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn create_group(&self, group: &str) -> Result<(), BusError> {
        self.state().groups.entry(group.to_owned()).or_default();
        Ok(())
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        read: Read,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let count = count.max(1);
        match read {
            Read::OwnPending => self.redeliver(group, consumer, count, |p| p.consumer == consumer),
            Read::New(wait) => {
                let deadline = tokio::time::Instant::now() + wait;
                loop {
                    // Register for the wake-up before looking, so an append
                    // between the look and the wait is not missed.
                    let woken = self.appended.notified();
                    let out = self.deliver_new(group, consumer, count)?;
                    if !out.is_empty() {
                        return Ok(out);
                    }
                    if tokio::time::timeout_at(deadline, woken).await.is_err() {
                        return Ok(Vec::new());
                    }
                }
            }
        }
    }

    async fn claim_idle(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let now = Instant::now();
        self.redeliver(group, consumer, count, |p| {
            now.duration_since(p.since) >= min_idle
        })
    }

    async fn ack(&self, group: &str, ids: &[StreamId]) -> Result<(), BusError> {
        self.state().ack(group, ids);
        Ok(())
    }

    async fn range(&self, from: StreamId, count: usize) -> Result<Vec<Delivered>, BusError> {
        Ok(self
            .state()
            .stream
            .range(from..)
            .take(count.max(1))
            .map(|(id, tick)| Delivered {
                id: *id,
                tick: Ok(tick.clone()),
                deliveries: 0,
            })
            .collect())
    }

    async fn write_views(&self, views: &[View]) -> Result<(), BusError> {
        if views.is_empty() {
            return Ok(());
        }
        let mut published = Vec::with_capacity(views.len());
        for view in views {
            published.push(Appended {
                id: view.stream_id,
                symbol: view.symbol.clone(),
                json: json("view", view)?,
            });
        }
        {
            let mut state = self.state();
            for view in views {
                state.views.insert(view.symbol.clone(), view.clone());
            }
        }
        let _ = self.updates.send(Published::Views(published));
        Ok(())
    }

    async fn view(&self, symbol: &Symbol) -> Result<Option<View>, BusError> {
        Ok(self.state().views.get(symbol).cloned())
    }

    async fn views(&self) -> Result<Vec<View>, BusError> {
        Ok(self.state().views.values().cloned().collect())
    }

    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, BusError> {
        let now = Instant::now();
        let mut state = self.state();
        match state.leases.get_mut(name) {
            Some((h, until)) if *until > now && h != holder => Ok(false),
            Some((h, until)) => {
                holder.clone_into(h);
                *until = now + ttl;
                Ok(true)
            }
            None => {
                state
                    .leases
                    .insert(name.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn unacknowledged(&self, group: &str, max: usize) -> Result<Vec<Delivered>, BusError> {
        let state = self.state();
        let from = state
            .groups
            .get(group)
            .map_or(StreamId::ZERO, State::first_unacknowledged);
        Ok(state
            .stream
            .range(from..)
            .take(max)
            .map(|(id, tick)| Delivered {
                id: *id,
                tick: Ok(tick.clone()),
                deliveries: 0,
            })
            .collect())
    }

    async fn trim(&self) -> Result<u64, BusError> {
        let retained = super::retained_from(self.settings.stream_retain);
        let mut state = self.state();
        if state.groups.is_empty() && state.stream.is_empty() {
            return Ok(0);
        }
        let keep_from = state
            .groups
            .values()
            .map(State::first_unacknowledged)
            .fold(retained, StreamId::min);
        let kept = state.stream.split_off(&keep_from);
        let removed = std::mem::replace(&mut state.stream, kept).len();
        Ok(removed as u64)
    }

    async fn dead_letter(&self, group: &str, entries: &[DeadLetter]) -> Result<(), BusError> {
        let mut state = self.state();
        for e in entries {
            let tick = state.stream.get(&e.id).cloned();
            state.dead.push_back(DeadEntry {
                source_id: e.id,
                group: group.to_owned(),
                reason: e.reason.clone(),
                tick,
            });
            if state.dead.len() > DEAD_LETTER_CAP {
                state.dead.pop_front();
            }
        }
        let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
        state.ack(group, &ids);
        Ok(())
    }

    async fn stream_stats(&self) -> Result<StreamStats, BusError> {
        let state = self.state();
        let mut groups: Vec<GroupStats> = state
            .groups
            .iter()
            .map(|(name, g)| {
                let after = StreamId::new(
                    g.last_delivered.millis,
                    g.last_delivered.seq.saturating_add(1),
                );
                GroupStats {
                    name: name.clone(),
                    pending: g.pending.len() as u64,
                    lag: Some(state.stream.range(after..).count() as u64),
                }
            })
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(StreamStats {
            length: state.stream.len() as u64,
            dead_letters: state.dead.len() as u64,
            groups,
        })
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), BusError> {
        let mut state = self.state();
        if state.leases.get(name).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }
}
