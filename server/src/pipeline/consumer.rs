//! The consumer-group reader that the calc, persist and trade stages share:
//! reading new and own pending entries, taking over the entries of stopped
//! consumers, setting poison entries aside, acknowledging. The lease loop
//! of the stages one process at a time runs (calc, trade) is
//! [`super::leased`]. It does not know what a stage does with the ticks.

use crate::bus::{Bus, BusError, DeadLetter, Delivered, Group, Read};
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::retry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{Partition, StreamId, StreamTick};
use tokio::sync::watch;

/// An entry handed out this many times without being acknowledged stopped
/// or stalled every consumer that took it: it goes to the dead-letter stream
/// instead of being tried again.
pub const MAX_DELIVERIES: u32 = 10;

/// How often a consumer looks for entries a stopped consumer left pending.
const CLAIM_EVERY: Duration = Duration::from_secs(5);

/// What the calc, persist and trade consumers share about reading their group:
/// taking over the entries of stopped consumers, and setting poison entries
/// aside so they never block the rest.
pub(crate) struct GroupReader {
    pub bus: Arc<dyn Bus>,
    /// The partition of the stream this reader reads.
    pub partition: Partition,
    pub group: Group,
    pub consumer: String,
    /// Entries of another consumer pending this long are taken over.
    pub claim_idle: Duration,
    pub metrics: Arc<Metrics>,
    last_claim: std::sync::Mutex<Instant>,
}

impl GroupReader {
    pub fn new(
        bus: Arc<dyn Bus>,
        partition: Partition,
        group: Group,
        consumer: String,
        claim_idle: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            bus,
            partition,
            group,
            consumer,
            claim_idle,
            metrics,
            last_claim: std::sync::Mutex::new(Instant::now()),
        }
    }

    /// Up to `count` entries handed to this consumer before and not
    /// acknowledged (after a restart, or a read whose answer was lost),
    /// oldest first.
    pub async fn own_pending(&self, count: usize) -> Result<Vec<Delivered>, BusError> {
        self.bus
            .read_group(
                self.partition,
                self.group.name(),
                &self.consumer,
                Read::OwnPending,
                count,
            )
            .await
    }

    /// Every few seconds, the entries of stopped consumers (up to `count`);
    /// otherwise nothing.
    pub async fn claim_if_due(&self, count: usize) -> Vec<Delivered> {
        {
            let mut last = self
                .last_claim
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.elapsed() < CLAIM_EVERY {
                return Vec::new();
            }
            *last = Instant::now();
        }
        match self
            .bus
            .claim_idle(
                self.partition,
                self.group.name(),
                &self.consumer,
                self.claim_idle,
                count,
            )
            .await
        {
            Ok(claimed) => {
                if !claimed.is_empty() {
                    tracing::info!(
                        group = self.group.name(),
                        entries = claimed.len(),
                        "took over entries of a stopped consumer"
                    );
                }
                claimed
            }
            Err(e) => {
                tracing::warn!(group = self.group.name(), error = %e, "cannot claim idle entries");
                Vec::new()
            }
        }
    }

    /// The ticks to process; entries that cannot be read, or that were
    /// delivered more than [`MAX_DELIVERIES`] times, are moved to the
    /// dead-letter stream (which acknowledges them). `None` on shutdown.
    pub async fn sift(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        entries: Vec<Delivered>,
    ) -> Option<Vec<StreamTick>> {
        let mut ticks = Vec::with_capacity(entries.len());
        let mut poison = Vec::new();
        for entry in entries {
            match entry.tick {
                Err(reason) => poison.push(DeadLetter {
                    id: entry.id,
                    reason: format!("unreadable entry: {reason}"),
                }),
                Ok(_) if entry.deliveries > MAX_DELIVERIES => poison.push(DeadLetter {
                    id: entry.id,
                    reason: format!(
                        "delivered {} times without being acknowledged",
                        entry.deliveries
                    ),
                }),
                Ok(tick) => ticks.push(tick),
            }
        }
        self.give_up(shutdown, poison).await.then_some(ticks)
    }

    /// Moves entries to the dead-letter stream, retrying until it is done;
    /// `false` on shutdown (they stay pending).
    pub async fn give_up(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        entries: Vec<DeadLetter>,
    ) -> bool {
        if entries.is_empty() {
            return true;
        }
        for e in &entries {
            tracing::error!(group = self.group.name(), stream_id = %e.id, reason = %e.reason, "entry moved to the dead-letter stream");
        }
        let bus = &self.bus;
        let moved = retry(shutdown, "move entries to the dead-letter stream", || {
            bus.dead_letter(self.partition, self.group.name(), &entries)
        })
        .await
        .is_some();
        if moved {
            self.metrics.dead_lettered(self.group, entries.len());
        }
        moved
    }

    /// Acknowledges processed entries, retrying; `false` on shutdown.
    pub async fn ack(&self, shutdown: &mut watch::Receiver<bool>, ids: &[StreamId]) -> bool {
        let bus = &self.bus;
        retry(shutdown, "acknowledge processed entries", || {
            bus.ack(self.partition, self.group.name(), ids)
        })
        .await
        .is_some()
    }
}
