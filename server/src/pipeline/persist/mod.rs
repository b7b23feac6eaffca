//! The persist consumer: moves accepted ticks from the stream into the store
//! without losing or doubling one.
//!
//! Consumer group `persist` on the tick stream. Entries are batched by size
//! and time, written in one transaction, and acknowledged only after the
//! commit, so a crash at any point leaves them pending and they are written
//! again (the store skips an `event_id` it holds). On start the consumer
//! first re-reads its own pending entries; every few seconds it takes over
//! entries that a dead consumer left pending too long. While the store is
//! down the batch is retried with backoff and nothing is acknowledged;
//! ingest goes on into the stream meanwhile.
//! Poison entries (unreadable, refused by the database, or delivered too
//! often) go to the dead-letter stream, so they never block the rest.

use crate::bus::{Bus, DeadLetter, Delivered, Group, Read};
use crate::pipeline::consumer::GroupReader;
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::Backoff;
use crate::store::{Store, StoreError};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{Partition, StreamId, StreamTick, Timestamp};
use tokio::sync::watch;

pub const GROUP: Group = Group::Persist;

#[derive(Debug, Clone)]
pub struct PersistSettings {
    /// This consumer's name in the group; stable across restarts of a node.
    pub consumer: String,
    /// Largest batch written in one transaction.
    pub batch_max: usize,
    /// Longest a tick waits for its batch to fill.
    pub batch_wait: Duration,
    /// Entries of another consumer pending this long are taken over.
    pub claim_idle: Duration,
    /// Batches written at the same time, each in its own transaction.
    pub writers: usize,
    /// Test hook: a pause before each commit (`TEST_PERSIST_DELAY_MS`).
    pub test_delay: Duration,
}

/// Runs the consumer of every partition until `shutdown` turns true. Every
/// process with the persist role reads every partition: the group shares
/// each partition's entries among them, and takes over a stopped one's.
pub async fn run(
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: PersistSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    let consumers = Partition::all(bus.partitions()).map(|p| {
        let reader = Arc::new(GroupReader::new(
            bus.clone(),
            p,
            GROUP,
            settings.consumer.clone(),
            settings.claim_idle,
            metrics.clone(),
        ));
        Persist {
            writer: BatchWriter {
                store: store.clone(),
                reader: reader.clone(),
                shutdown: shutdown.clone(),
                test_delay: settings.test_delay,
            },
            reader,
            bus: bus.clone(),
            settings: settings.clone(),
            shutdown: shutdown.clone(),
        }
        .run()
    });
    futures::future::join_all(consumers).await;
}

struct Persist {
    bus: Arc<dyn Bus>,
    settings: PersistSettings,
    reader: Arc<GroupReader>,
    writer: BatchWriter,
    shutdown: watch::Receiver<bool>,
}

impl Persist {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps, or returns `false` at once when shutting down.
    async fn pause(&mut self, d: Duration) -> bool {
        crate::platform::tasks::pause(&mut self.shutdown, d).await
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new();
        while let Err(e) = self.bus.create_group(GROUP.name()).await {
            tracing::warn!(error = %e, "cannot create the persist group yet");
            if !self.pause(backoff.next()).await {
                return;
            }
        }
        // Entries this consumer held before a restart come first.
        if !self.write_own_pending().await {
            return;
        }
        // Up to `writers` batches are written while the next one is read.
        // Each is acknowledged after its own commit, so they may finish in
        // any order.
        let mut writing: VecDeque<tokio::task::JoinHandle<bool>> = VecDeque::new();
        let mut batch: Vec<Delivered> = Vec::new();
        let mut batch_started = Instant::now();
        while !self.stopping() {
            let claimed = self.reader.claim_if_due(self.settings.batch_max).await;
            if !claimed.is_empty() {
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                batch.extend(claimed);
            }
            let wait = self
                .settings
                .batch_wait
                .saturating_sub(batch_started.elapsed())
                .max(Duration::from_millis(1));
            let room = self.settings.batch_max.saturating_sub(batch.len()).max(1);
            let read = tokio::select! {
                r = self.bus.read_group(self.reader.partition, GROUP.name(), &self.settings.consumer, Read::New(wait), room) => r,
                _ = self.shutdown.wait_for(|s| *s) => break,
            };
            match read {
                Ok(entries) => {
                    if batch.is_empty() && !entries.is_empty() {
                        batch_started = Instant::now();
                    }
                    batch.extend(entries);
                    backoff = Backoff::new();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the tick stream");
                    if !self.pause(backoff.next()).await {
                        break;
                    }
                    // A read that timed out may still have handed entries
                    // to this consumer: they are pending for it and no new
                    // read returns them. Write them (and the batch, pending
                    // too) from the pending list once the write under way
                    // is done.
                    batch.clear();
                    if !all_finished(&mut writing).await {
                        return;
                    }
                    if !self.write_own_pending().await {
                        return;
                    }
                    continue;
                }
            }
            let full = batch.len() >= self.settings.batch_max;
            let due = !batch.is_empty() && batch_started.elapsed() >= self.settings.batch_wait;
            if full || due {
                while writing.len() >= self.settings.writers.max(1) {
                    let oldest = writing.pop_front().expect("a write is under way");
                    if !finished(oldest).await {
                        all_finished(&mut writing).await;
                        return;
                    }
                }
                let writer = self.writer.clone();
                let entries = std::mem::take(&mut batch);
                writing.push_back(tokio::spawn(writer.write(entries)));
            }
        }
        all_finished(&mut writing).await;
        // Whatever is still in `batch` stays pending and is written after
        // the restart: nothing is acknowledged that was not committed.
    }
}

impl Persist {
    /// Writes every entry pending for this consumer, oldest first, until
    /// none is left; `false` on stop.
    async fn write_own_pending(&mut self) -> bool {
        let mut backoff = Backoff::new();
        loop {
            match self.reader.own_pending(self.settings.batch_max).await {
                Ok(entries) if entries.is_empty() => return true,
                Ok(entries) => {
                    if !self.writer.clone().write(entries).await {
                        return false;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read own pending entries");
                    if !self.pause(backoff.next()).await {
                        return false;
                    }
                }
            }
        }
    }
}

/// Waits for every batch being written; `false` when one writer stopped.
async fn all_finished(writing: &mut VecDeque<tokio::task::JoinHandle<bool>>) -> bool {
    let mut done = true;
    while let Some(w) = writing.pop_front() {
        done &= finished(w).await;
    }
    done
}

/// Waits for a batch being written; `false` when the writer stopped.
async fn finished(writing: tokio::task::JoinHandle<bool>) -> bool {
    match writing.await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "persist writer failed; its batch stays pending");
            false
        }
    }
}

/// Writes batches to the store and acknowledges them.
#[derive(Clone)]
struct BatchWriter {
    store: Arc<dyn Store>,
    reader: Arc<GroupReader>,
    shutdown: watch::Receiver<bool>,
    test_delay: Duration,
}

impl BatchWriter {
    /// Writes and acknowledges one batch, retrying until it is done or the
    /// consumer stops (then it stays pending). Returns `false` on stop.
    async fn write(mut self, entries: Vec<Delivered>) -> bool {
        let Some(ticks) = self.reader.sift(&mut self.shutdown, entries).await else {
            return false;
        };
        let mut refused = Vec::new();
        if !ticks.is_empty() && !self.insert(&ticks, &mut refused).await {
            return false;
        }
        let ids: Vec<StreamId> = ticks
            .iter()
            .map(|t| t.id)
            .filter(|id| !refused.iter().any(|r: &DeadLetter| r.id == *id))
            .collect();
        // The rows are committed: moving the refused ones aside and
        // acknowledging the rest may be retried as often as needed.
        self.reader.give_up(&mut self.shutdown, refused).await
            && self.reader.ack(&mut self.shutdown, &ids).await
    }

    /// Inserts `ticks` in one transaction, retrying while the store is
    /// unavailable. When the store refuses the batch, it is written in
    /// halves until the refused ticks are isolated; those are added to
    /// `refused`. Returns `false` on stop.
    async fn insert(&mut self, ticks: &[StreamTick], refused: &mut Vec<DeadLetter>) -> bool {
        let mut backoff = Backoff::new();
        if !self.test_delay.is_zero() {
            tokio::time::sleep(self.test_delay).await;
        }
        loop {
            let started = Instant::now();
            match self.store.insert_ticks(ticks).await {
                Ok(new) => {
                    let took = started.elapsed();
                    tracing::debug!(ticks = ticks.len(), new, ?took, "batch committed");
                    self.record(ticks, new, took);
                    return true;
                }
                Err(StoreError::Rejected(reason)) if ticks.len() > 1 => {
                    tracing::warn!(%reason, ticks = ticks.len(), "batch refused; writing it in halves");
                    let (a, b) = ticks.split_at(ticks.len() / 2);
                    for part in [a, b] {
                        if !Box::pin(self.insert(part, refused)).await {
                            return false;
                        }
                    }
                    return true;
                }
                Err(StoreError::Rejected(reason)) => {
                    tracing::error!(
                        event_id = %ticks[0].tick.event_id,
                        stream_id = %ticks[0].id,
                        %reason,
                        "tick refused by the database"
                    );
                    refused.push(DeadLetter {
                        id: ticks[0].id,
                        reason: format!("refused by the database: {reason}"),
                    });
                    return true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, ticks = ticks.len(), "cannot write batch; retrying");
                    if !crate::platform::tasks::pause(&mut self.shutdown, backoff.next()).await {
                        return false;
                    }
                }
            }
        }
    }

    fn record(&self, ticks: &[StreamTick], new: u64, took: Duration) {
        let m = &self.reader.metrics;
        m.persisted.inc_by(new);
        m.persist_batch_size.observe(ticks.len() as f64);
        m.persist_batch_seconds.observe(took.as_secs_f64());
        let now = Timestamp::now().as_nanos();
        if let Some(oldest) = ticks.iter().map(|t| t.received_at.as_nanos()).min() {
            let micros = (now - oldest).max(0) / 1_000;
            m.persist_lag_last_micros
                .store(micros.max(1) as u64, Relaxed);
            m.persist_lags.record(micros as f64 / 1_000.0);
        }
        for t in ticks {
            m.persist_lag_seconds
                .observe((now - t.received_at.as_nanos()).max(0) as f64 / 1e9);
        }
    }
}
