//! [`MemoryBus`]: the bus inside the process, for the embedded mode (no
//! Redis). It behaves like [`super::RedisBus`] — the same tick stream with
//! consumer groups, pending entries and acknowledgements, de-duplication
//! with a time limit, the latest-tick view, stored views, leases, the
//! dead-letter stream and one update channel — and both pass the same
//! conformance suite (`server/tests/integration/bus_conformance.rs`).
//!
//! All state sits behind one mutex; every operation is a few map lookups,
//! so it is never held across an await. With a journal
//! ([`MemoryBus::with_journal`]) every confirmed change is written to it
//! first, and a restarted process picks up where the last one stopped (see
//! [`journal`]). Subscribers get updates through a
//! bounded broadcast channel: one that falls too far behind loses its
//! subscription (its stream ends) and resubscribes, as after a lost Redis
//! connection.

mod journal;
mod snapshot;
mod state;
mod views;

use self::journal::{Journal, Record};
pub use self::state::DeadEntry;
use self::state::{Group, Pending, State};
use super::{
    Accepted, Appended, BusError, DeadLetter, DedupeStats, Delivered, Failure, GroupStats,
    Published, Read, StreamStats, TickStream,
};
use async_trait::async_trait;
use std::collections::HashSet;
#[cfg(test)]
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tickpulse_core::{Partition, StreamId, StreamTick, Tick, Timestamp};
use tokio::sync::{broadcast, Notify};

const BACKEND: &str = "memory";
/// Update messages a subscriber may fall behind before it loses its place.
const CHANNEL_CAPACITY: usize = 4_096;

/// Settings of a [`MemoryBus`].
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// How long an `event_id` is remembered for de-duplication.
    pub dedupe_ttl: Duration,
    /// Most bytes the remembered ids may count (0: no bound); past it the
    /// oldest are forgotten before their time.
    pub dedupe_max_bytes: u64,
    /// Acknowledged entries younger than this stay in the stream.
    pub stream_retain: Duration,
    /// Most bytes the stream's entries may count (0: no bound); past it the
    /// oldest acknowledged entries go before `stream_retain`, at every
    /// append.
    pub stream_max_bytes: u64,
}

pub struct MemoryBus {
    /// Shared with the journal rewrite, which runs on a blocking thread.
    state: Arc<Mutex<State>>,
    settings: MemorySettings,
    /// Woken on every append, for blocked group reads.
    appended: Notify,
    updates: broadcast::Sender<Published>,
}

impl MemoryBus {
    /// A bus that keeps everything in memory only.
    pub fn new(settings: MemorySettings) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            settings,
            appended: Notify::new(),
            updates: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }

    /// A bus that keeps a journal at `path` and starts from what it holds.
    ///
    /// # Errors
    /// When the journal cannot be read or written.
    pub fn with_journal(settings: MemorySettings, path: &Path) -> Result<Self, BusError> {
        let (journal, records) = Journal::open(path)?;
        let bus = Self::new(settings);
        {
            let mut state = bus.state();
            let replayed = records.len();
            state.replay(records, bus.settings.dedupe_ttl);
            state.forget_over(bus.settings.dedupe_max_bytes);
            tracing::info!(
                journal = %path.display(),
                records = replayed,
                entries = state.stream.len(),
                symbols = state.latest.len(),
                "in-process bus restored"
            );
            state.journal = Some(journal);
        }
        Ok(bus)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements; a panic elsewhere
        // must not take the bus down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rewrites the journal from the current state now (it happens by
    /// itself after the journal has grown by `COMPACT_AFTER`).
    ///
    /// Every file operation runs on a blocking thread, never on a runtime
    /// worker: the snapshot and the lines written meanwhile are written and
    /// synced without the bus's lock; only the last step (the lines of the
    /// last moments, a short write, and the rename) takes it.
    ///
    /// # Errors
    /// When the journal cannot be written; the old one stays.
    pub async fn compact(&self) -> Result<(), BusError> {
        let started = Instant::now();
        let (records, tmp) = {
            let mut state = self.state();
            // Both under the lock: the snapshot holds exactly what was
            // journaled before the lines copied after it.
            let Some(tmp) = state.journal.as_mut().and_then(Journal::begin_rewrite) else {
                return Ok(());
            };
            (state.snapshot(Instant::now()), tmp)
        };
        let count = records.len();
        let locked = started.elapsed();
        let shared = self.state.clone();
        let rewrite = tokio::task::spawn_blocking(move || -> Result<(), BusError> {
            let lock = || shared.lock().unwrap_or_else(PoisonError::into_inner);
            let give_up = |e: BusError| {
                if let Some(journal) = lock().journal.as_mut() {
                    journal.abort_rewrite(&tmp);
                }
                Err(e)
            };
            if let Err(e) = journal::write_snapshot(&tmp, records.records()) {
                return give_up(e);
            }
            // The lines appended meanwhile, from the old file: most of them
            // without the lock, the last few under it.
            let Some((source, from, to)) = lock()
                .journal
                .as_ref()
                .and_then(Journal::written_since_snapshot)
            else {
                return Ok(());
            };
            if let Err(e) = journal::copy_lines(&source, from, to, &tmp, true) {
                return give_up(e);
            }
            match lock().journal.as_mut() {
                Some(journal) => journal.finish_rewrite_after(&tmp, to),
                None => Ok(()),
            }
        });
        rewrite.await.unwrap_or_else(|e| {
            Err(BusError::new(
                BACKEND,
                Failure::Unavailable,
                format!("journal rewrite stopped: {e}"),
            ))
        })?;
        tracing::info!(
            records = count,
            snapshot_ms = locked.as_millis(),
            total_ms = started.elapsed().as_millis(),
            "bus journal rewritten"
        );
        Ok(())
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
        let after = g.last_delivered.next();
        let now = Instant::now();
        let mut out = Vec::new();
        for (id, tick) in stream.range(after..) {
            if out.len() >= count {
                break;
            }
            g.last_delivered = *id;
            if g.acked_ahead.remove(id) {
                continue;
            }
            g.pending.insert(
                *id,
                Pending {
                    consumer: consumer.to_owned(),
                    since: now,
                    deliveries: 1,
                },
            );
            out.push(Delivered {
                id: *id,
                tick: Ok(StreamTick::clone(tick)),
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
                tick: Ok(StreamTick::clone(tick)),
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
    BusError::new(
        BACKEND,
        Failure::Refused,
        format!("no consumer group {group:?}"),
    )
}

fn json<T: serde::Serialize>(what: &str, value: &T) -> Result<String, BusError> {
    serde_json::to_string(value).map_err(|e| {
        BusError::new(
            BACKEND,
            Failure::Refused,
            format!("cannot encode {what}: {e}"),
        )
    })
}

/// The id after `last` at `now_ms`: the time, or one more in the same
/// millisecond (ids never go back, even when the clock does).
fn next_id(last: StreamId, now_ms: u64) -> StreamId {
    if now_ms > last.millis {
        StreamId::new(now_ms, 0)
    } else {
        last.next()
    }
}

impl MemoryBus {
    /// What de-duplication remembers: with the budget (nearly) full, the
    /// oldest remembered id tells how far back memory reaches.
    fn dedupe_stats(&self, state: &State) -> DedupeStats {
        let (ttl, budget) = (self.settings.dedupe_ttl, self.settings.dedupe_max_bytes);
        let full = budget > 0 && state.seen_bytes >= budget - budget / 10;
        let window = match state.expiry.front() {
            Some((until, _)) if full => {
                let since = until.checked_sub(ttl).unwrap_or(*until);
                since.elapsed().min(ttl)
            }
            _ => ttl,
        };
        DedupeStats {
            ids: state.seen.len() as u64,
            bytes: state.seen_bytes,
            budget: (budget > 0).then_some(budget),
            window,
            ttl,
        }
    }
}

/// The embedded bus has one partition, 0.
fn only(p: Partition) -> Result<(), BusError> {
    if p == Partition(0) {
        return Ok(());
    }
    Err(BusError::new(
        BACKEND,
        Failure::Refused,
        format!("the embedded bus has one partition, not {}", p.0 + 1),
    ))
}

#[async_trait]
impl TickStream for MemoryBus {
    fn partitions(&self) -> u16 {
        1
    }

    async fn append(&self, ticks: &[Tick], received_at: Timestamp) -> Result<Accepted, BusError> {
        let now = Instant::now();
        let now_ms = u64::try_from(Timestamp::now().as_millis()).unwrap_or(0);
        let mut accepted = Vec::with_capacity(ticks.len());
        let mut published = Vec::new();
        {
            let mut state = self.state();
            state.forget_expired(now);
            // Decide first, journal, and only then change the state: a
            // failed journal write leaves nothing half done.
            let mut batch_ids: HashSet<&str> = HashSet::new();
            let mut new_ticks = Vec::new();
            let mut next = state.last_id;
            for tick in ticks {
                let key = tick.event_id.as_str();
                if state.seen.contains_key(key) || !batch_ids.insert(key) {
                    accepted.push(false);
                    continue;
                }
                next = next_id(next, now_ms);
                new_ticks.push(StreamTick {
                    id: next,
                    tick: tick.clone(),
                    received_at,
                });
                accepted.push(true);
            }
            // Each tick is encoded once, for subscribers and the journal.
            let encoded = new_ticks
                .iter()
                .map(|t| json("tick", t))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(journal) = &mut state.journal {
                journal.write_ticks(&encoded)?;
            }
            for (stream_tick, json) in new_ticks.into_iter().zip(encoded) {
                published.push(Appended {
                    id: stream_tick.id,
                    symbol: stream_tick.tick.symbol.clone(),
                    json,
                });
                state.remember(
                    stream_tick.tick.event_id.as_str(),
                    now + self.settings.dedupe_ttl,
                );
                state.forget_over(self.settings.dedupe_max_bytes);
                state.apply(stream_tick);
            }
            let budget = self.settings.stream_max_bytes;
            if budget > 0 && state.stream_bytes > budget {
                state.trim(self.settings.stream_retain, budget);
            }
        }
        if !published.is_empty() {
            self.appended.notify_waiters();
            let _ = self.updates.send(Published::Ticks(published));
        }
        Ok(accepted)
    }

    async fn range(
        &self,
        p: Partition,
        from: StreamId,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        only(p)?;
        Ok(self
            .state()
            .stream
            .range(from..)
            .take(count.max(1))
            .map(|(id, tick)| Delivered {
                id: *id,
                tick: Ok(StreamTick::clone(tick)),
                deliveries: 0,
            })
            .collect())
    }

    async fn last_id(&self, p: Partition) -> Result<StreamId, BusError> {
        only(p)?;
        Ok(self.state().last_id)
    }

    async fn create_group(&self, group: &str) -> Result<(), BusError> {
        let mut state = self.state();
        if !state.groups.contains_key(group) {
            state.journal(&[Record::Group {
                group: group.to_owned(),
            }])?;
            state.groups.insert(group.to_owned(), Group::default());
        }
        Ok(())
    }

    async fn read_group(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        read: Read,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        only(p)?;
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
        p: Partition,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        only(p)?;
        let now = Instant::now();
        self.redeliver(group, consumer, count, |p| {
            now.duration_since(p.since) >= min_idle
        })
    }

    async fn ack(&self, p: Partition, group: &str, ids: &[StreamId]) -> Result<(), BusError> {
        only(p)?;
        if ids.is_empty() {
            return Ok(());
        }
        let mut state = self.state();
        state.journal(&[Record::Ack {
            group: group.to_owned(),
            ids: ids.to_vec(),
        }])?;
        state.ack(group, ids);
        Ok(())
    }

    async fn unacknowledged(
        &self,
        p: Partition,
        group: &str,
        max: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        only(p)?;
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
                tick: Ok(StreamTick::clone(tick)),
                deliveries: 0,
            })
            .collect())
    }

    async fn trim(&self, p: Partition) -> Result<u64, BusError> {
        only(p)?;
        let (removed, rewrite) = {
            let mut state = self.state();
            if state.groups.is_empty() && state.stream.is_empty() {
                return Ok(0);
            }
            let removed = state.trim(self.settings.stream_retain, self.settings.stream_max_bytes);
            let rewrite = state.journal.as_ref().is_some_and(Journal::wants_rewrite);
            (removed, rewrite)
        };
        if rewrite {
            self.compact().await?;
        }
        Ok(removed as u64)
    }

    async fn dead_letter(
        &self,
        p: Partition,
        group: &str,
        entries: &[DeadLetter],
    ) -> Result<(), BusError> {
        only(p)?;
        let mut state = self.state();
        let dead: Vec<DeadEntry> = entries
            .iter()
            .map(|e| DeadEntry {
                source_id: e.id,
                group: group.to_owned(),
                reason: e.reason.clone(),
                tick: state.stream.get(&e.id).map(|t| StreamTick::clone(t)),
            })
            .collect();
        let records: Vec<Record> = dead
            .iter()
            .map(|d| Record::Dead {
                group: d.group.clone(),
                id: d.source_id,
                reason: d.reason.clone(),
                tick: d.tick.clone(),
            })
            .collect();
        state.journal(&records)?;
        for d in dead {
            state.add_dead(d);
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
                let after = g.last_delivered.next();
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
            dedupe: self.dedupe_stats(&state),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const P0: Partition = Partition(0);
    use crate::bus::Views;
    use tickpulse_core::{LatestTick, View};

    fn settings() -> MemorySettings {
        MemorySettings {
            dedupe_ttl: Duration::from_secs(60),
            dedupe_max_bytes: 0,
            stream_retain: Duration::ZERO,
            stream_max_bytes: 0,
        }
    }

    fn journal_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tickpulse-journal-{}-{}-{name}",
            std::process::id(),
            Timestamp::now().as_nanos()
        ));
        dir.join("bus.journal")
    }

    /// The event ids of the bus's stream, in stream order.
    async fn event_ids(bus: &MemoryBus) -> Vec<String> {
        bus.range(P0, StreamId::ZERO, 100)
            .await
            .unwrap()
            .iter()
            .map(|d| d.tick.as_ref().unwrap().tick.event_id.to_string())
            .collect()
    }

    fn ticks(prefix: &str, n: usize) -> Vec<Tick> {
        (0..n)
            .map(|i| {
                serde_json::from_value(serde_json::json!({
                    "symbol": if i % 2 == 0 { "JA" } else { "JB" },
                    "price": format!("{}.5", 10 + i), "volume": "1", "source": "test",
                    "ts": Timestamp::now().as_millis() + i as i64,
                    "event_id": format!("{prefix}-{i}"),
                }))
                .unwrap()
            })
            .collect()
    }

    fn ids(d: &[Delivered]) -> Vec<StreamId> {
        d.iter().map(|d| d.id).collect()
    }

    /// What a restarted bus must show the same as before.
    async fn fingerprint(bus: &MemoryBus) -> (Vec<StreamId>, Vec<LatestTick>, Vec<View>, usize) {
        let stream = ids(&bus.range(P0, StreamId::ZERO, 1_000).await.unwrap());
        let mut views = bus.views().await.unwrap();
        views.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        (
            stream,
            bus.latest_all().await.unwrap(),
            views,
            bus.dead_letters().len(),
        )
    }

    /// Fills a bus: 10 ticks, a group that acknowledged the first 4 and holds
    /// 2 more, a view, a dead letter.
    async fn fill(bus: &MemoryBus) -> Vec<StreamId> {
        bus.append(&ticks("j", 10), Timestamp::now()).await.unwrap();
        bus.create_group("persist").await.unwrap();
        let read = bus
            .read_group(P0, "persist", "p", Read::New(Duration::ZERO), 6)
            .await
            .unwrap();
        bus.ack(P0, "persist", &ids(&read)[..4]).await.unwrap();
        bus.dead_letter(
            P0,
            "persist",
            &[super::super::DeadLetter {
                id: read[5].id,
                reason: "test".into(),
            }],
        )
        .await
        .unwrap();
        let mut w = tickpulse_core::SymbolWindow::default();
        w.apply(read[0].tick.as_ref().unwrap(), &Default::default());
        bus.write_views(&[w.view(Timestamp::now()).unwrap()])
            .await
            .unwrap();
        ids(&read)
    }

    async fn check_restored(bus: &MemoryBus, read: &[StreamId]) {
        // Every event id is remembered.
        let again = bus.append(&ticks("j", 10), Timestamp::now()).await.unwrap();
        assert_eq!(again, vec![false; 10]);
        // The group resumes after its acknowledged entries: the one it held
        // unacknowledged comes again, the dead letter does not come back...
        let next = bus
            .read_group(P0, "persist", "p", Read::New(Duration::ZERO), 100)
            .await
            .unwrap();
        let mut expected = vec![read[4]];
        expected.extend(&read[6..]);
        let got = ids(&next);
        assert_eq!(&got[..expected.len()], expected, "{got:?}");
        assert_eq!(got.len(), 5, "4 never delivered and 1 held: {got:?}");
        assert!(
            !got.contains(&read[5]),
            "the dead letter is not handed out again"
        );
        // ...and new ticks get ids after the old ones.
        bus.append(&ticks("k", 1), Timestamp::now()).await.unwrap();
        let all = bus.range(P0, StreamId::ZERO, 1_000).await.unwrap();
        assert!(all.last().unwrap().id > read[5]);
    }

    /// Fills a journaled bus, optionally rewrites its journal, restarts it
    /// and checks it has the same state.
    async fn restart(name: &str, rewrite_first: bool) {
        let path = journal_path(name);
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        let read = fill(&bus).await;
        let before = fingerprint(&bus).await;
        if rewrite_first {
            bus.compact().await.unwrap();
        }
        drop(bus);
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        assert_eq!(fingerprint(&bus).await, before);
        check_restored(&bus, &read).await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_restarted_bus_has_what_it_confirmed() {
        restart("restart", false).await;
    }

    #[tokio::test]
    async fn a_rewritten_journal_holds_the_same_state() {
        restart("rewrite", true).await;
    }

    #[tokio::test]
    async fn ticks_appended_while_the_journal_is_rewritten_are_kept() {
        let path = journal_path("during");
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        bus.append(&ticks("a", 3), Timestamp::now()).await.unwrap();
        // The steps of `compact`, with appends between them.
        let (records, tmp) = {
            let mut state = bus.state();
            let records = state.snapshot(Instant::now());
            let tmp = state.journal.as_mut().unwrap().begin_rewrite().unwrap();
            (records, tmp)
        };
        assert!(
            bus.state()
                .journal
                .as_mut()
                .unwrap()
                .begin_rewrite()
                .is_none(),
            "one at a time"
        );
        bus.append(&ticks("b", 2), Timestamp::now()).await.unwrap();
        super::journal::write_snapshot(&tmp, records.records()).unwrap();
        // The lines so far are copied without the lock...
        let (source, from, to) = bus
            .state()
            .journal
            .as_ref()
            .unwrap()
            .written_since_snapshot()
            .unwrap();
        super::journal::copy_lines(&source, from, to, &tmp, true).unwrap();
        // ...and those of the last moments with it.
        bus.append(&ticks("c", 2), Timestamp::now()).await.unwrap();
        bus.state()
            .journal
            .as_mut()
            .unwrap()
            .finish_rewrite_after(&tmp, to)
            .unwrap();
        bus.append(&ticks("d", 1), Timestamp::now()).await.unwrap();
        drop(bus);
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        assert_eq!(
            event_ids(&bus).await,
            ["a-0", "a-1", "a-2", "b-0", "b-1", "c-0", "c-1", "d-0"]
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_line_cut_off_by_a_crash_is_dropped() {
        let path = journal_path("cut");
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        bus.append(&ticks("c", 3), Timestamp::now()).await.unwrap();
        drop(bus);
        {
            use std::io::Write as _;
            let mut f = OpenOptions::new().append(true).open(&path).unwrap();
            f.write_all(b"{\"k\":\"tick\",\"tick\":{\"id\":").unwrap();
        }
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        assert_eq!(bus.range(P0, StreamId::ZERO, 10).await.unwrap().len(), 3);
        bus.append(&ticks("d", 2), Timestamp::now()).await.unwrap();
        drop(bus);
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        assert_eq!(bus.range(P0, StreamId::ZERO, 10).await.unwrap().len(), 5);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_write_cut_short_is_cut_off_and_confirms_nothing() {
        let path = journal_path("short");
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        bus.append(&ticks("a", 2), Timestamp::now()).await.unwrap();
        let whole = std::fs::metadata(&path).unwrap().len();
        bus.state().journal.as_mut().unwrap().short_write = true;
        assert!(bus.append(&ticks("b", 2), Timestamp::now()).await.is_err());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            whole,
            "the part written is cut off"
        );
        // The refused ticks are not taken as seen: a retry goes in.
        bus.append(&ticks("b", 2), Timestamp::now()).await.unwrap();
        bus.append(&ticks("c", 1), Timestamp::now()).await.unwrap();
        drop(bus);
        let bus = MemoryBus::with_journal(settings(), &path).unwrap();
        assert_eq!(event_ids(&bus).await, ["a-0", "a-1", "b-0", "b-1", "c-0"]);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_journal_has_one_process_at_a_time() {
        let path = journal_path("lock");
        let first = MemoryBus::with_journal(settings(), &path).unwrap();
        let second = MemoryBus::with_journal(settings(), &path).err().unwrap();
        assert!(
            second.reason.contains("another tickpulse process"),
            "{second}"
        );
        drop(first);
        assert!(
            MemoryBus::with_journal(settings(), &path).is_ok(),
            "free again"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_journal_is_refused_not_overwritten() {
        let path = journal_path("corrupt");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not a journal\n{}\n").unwrap();
        let err = MemoryBus::with_journal(settings(), &path).err().unwrap();
        assert!(err.reason.contains("corrupt"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "not a journal\n{}\n"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
