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
//! Entries that cannot be read are logged and acknowledged so they never
//! block the rest. (Moving them to a dead-letter stream comes with metrics.)

use super::Backoff;
use crate::bus::{Bus, Delivered, Read};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{StreamId, StreamTick};
use tokio::sync::watch;

pub const GROUP: &str = "persist";

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
}

/// Starts the consumer; it stops when `shutdown` turns true.
pub fn start(
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: PersistSettings,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        Persist {
            bus,
            store,
            settings,
            shutdown,
        }
        .run()
        .await;
        tracing::info!("persist consumer stopped");
    })
}

struct Persist {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: PersistSettings,
    shutdown: watch::Receiver<bool>,
}

impl Persist {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps, or returns `false` at once when shutting down.
    async fn pause(&mut self, d: Duration) -> bool {
        super::pause(&mut self.shutdown, d).await
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new();
        while let Err(e) = self.bus.create_group(GROUP).await {
            tracing::warn!(error = %e, "cannot create the persist group yet");
            if !self.pause(backoff.next()).await {
                return;
            }
        }
        // Entries this consumer held before a restart come first.
        loop {
            match self
                .bus
                .read_group(
                    GROUP,
                    &self.settings.consumer,
                    Read::OwnPending,
                    self.settings.batch_max,
                )
                .await
            {
                Ok(entries) if entries.is_empty() => break,
                Ok(entries) => {
                    if !self.write(entries).await {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read own pending entries");
                    if !self.pause(backoff.next()).await {
                        return;
                    }
                }
            }
        }
        let mut last_claim = Instant::now();
        let mut batch: Vec<Delivered> = Vec::new();
        let mut batch_started = Instant::now();
        while !self.stopping() {
            if last_claim.elapsed() >= Duration::from_secs(5) {
                last_claim = Instant::now();
                match self
                    .bus
                    .claim_idle(
                        GROUP,
                        &self.settings.consumer,
                        self.settings.claim_idle,
                        self.settings.batch_max,
                    )
                    .await
                {
                    Ok(claimed) if !claimed.is_empty() => {
                        tracing::info!(
                            entries = claimed.len(),
                            "took over entries of a stopped consumer"
                        );
                        if batch.is_empty() {
                            batch_started = Instant::now();
                        }
                        batch.extend(claimed);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot claim idle entries"),
                }
            }
            let wait = self
                .settings
                .batch_wait
                .saturating_sub(batch_started.elapsed())
                .max(Duration::from_millis(1));
            let room = self.settings.batch_max.saturating_sub(batch.len()).max(1);
            let read = tokio::select! {
                r = self.bus.read_group(GROUP, &self.settings.consumer, Read::New(wait), room) => r,
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
                }
            }
            let full = batch.len() >= self.settings.batch_max;
            let due = !batch.is_empty() && batch_started.elapsed() >= self.settings.batch_wait;
            if full || due {
                if !self.write(std::mem::take(&mut batch)).await {
                    return;
                }
            }
        }
        // Whatever is still in `batch` stays pending and is written after
        // the restart: nothing is acknowledged that was not committed.
    }

    /// Writes and acknowledges one batch, retrying until it is done or the
    /// consumer stops (then it stays pending). Returns `false` on stop.
    async fn write(&mut self, entries: Vec<Delivered>) -> bool {
        let mut ids: Vec<StreamId> = Vec::with_capacity(entries.len());
        let mut ticks: Vec<StreamTick> = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.tick {
                Ok(t) => ticks.push(t),
                Err(reason) => {
                    tracing::error!(stream_id = %entry.id, %reason, "unreadable stream entry skipped")
                }
            }
            ids.push(entry.id);
        }
        let mut backoff = Backoff::new();
        loop {
            let started = Instant::now();
            match self.store.insert_ticks(&ticks).await {
                Ok(new) => {
                    tracing::debug!(ticks = ticks.len(), new, took = ?started.elapsed(), "batch committed");
                    break;
                }
                Err(StoreError::Rejected(reason)) if ticks.len() > 1 => {
                    // Find the row the database refuses by halving; the rest is written.
                    tracing::warn!(%reason, ticks = ticks.len(), "batch refused; writing it in halves");
                    let half = ticks.len() / 2;
                    let (a, b) = ticks.split_at(half);
                    for part in [a, b] {
                        if !self.write_part(part).await {
                            return false;
                        }
                    }
                    break;
                }
                Err(StoreError::Rejected(reason)) => {
                    tracing::error!(%reason, event_id = ticks.first().map(|t| t.tick.event_id.as_str()), "tick refused by the database; skipped");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, ticks = ticks.len(), "cannot write batch; retrying");
                    if !self.pause(backoff.next()).await {
                        return false;
                    }
                }
            }
        }
        // The rows are committed: acknowledging may be retried as often as needed.
        let bus = &self.bus;
        super::retry(&mut self.shutdown, "acknowledge a committed batch", || {
            bus.ack(GROUP, &ids)
        })
        .await
        .is_some()
    }

    async fn write_part(&mut self, part: &[StreamTick]) -> bool {
        let entries = part
            .iter()
            .map(|t| Delivered {
                id: t.id,
                tick: Ok(t.clone()),
            })
            .collect();
        // Acknowledging here is harmless: the caller acknowledges the same ids.
        Box::pin(self.write(entries)).await
    }
}
