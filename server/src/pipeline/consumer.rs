//! The consumer-group reader that the calc, persist and trade stages share:
//! reading new and own pending entries, taking over the entries of stopped
//! consumers, setting poison entries aside, acknowledging; and the lease
//! loop of the stages only one process runs at a time (calc, trade). It
//! does not know what a stage does with the ticks.

use crate::bus::{Bus, BusError, DeadLetter, Delivered, Group, Read};
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::retry;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{StreamId, StreamTick};
use tokio::sync::watch;

/// An entry handed out this many times without being acknowledged stopped
/// or stalled every consumer that took it: it goes to the dead-letter stream
/// instead of being tried again.
pub const MAX_DELIVERIES: u32 = 10;

/// How often a consumer looks for entries a stopped consumer left pending.
const CLAIM_EVERY: Duration = Duration::from_secs(5);

/// Why the active phase of a [`Leased`] stage ended.
pub(crate) enum Ended {
    Shutdown,
    LeaseLost,
}

/// A consumer of its own group that one process at a time runs, as the
/// holder of its lease (calc, trade).
#[async_trait::async_trait]
pub(crate) trait Leased: Send {
    /// The lease's name, which is also the stage's name in the logs.
    const LEASE: &'static str;
    fn reader(&self) -> &GroupReader;
    fn lease_ttl(&self) -> Duration;
    /// Most ticks per read, and how long a read waits for new ones.
    fn batch(&self) -> (usize, Duration);
    fn shutdown(&mut self) -> &mut watch::Receiver<bool>;
    /// Works while the lease is held: renews it with a [`Renewal`] and
    /// reads with [`step`].
    async fn active(&mut self) -> Ended;
    /// Processes entries and acknowledges them; `false` on shutdown (they
    /// stay pending).
    async fn process(&mut self, entries: Vec<Delivered>) -> bool;
}

/// Takes the stage's lease when it is free and runs the stage while it is
/// held; stands by otherwise, and hands the lease back on shutdown, so a
/// successor need not wait for it to expire.
pub(crate) async fn run_leased<S: Leased>(stage: &mut S) {
    let name = S::LEASE;
    let mut announced = false;
    loop {
        let (bus, holder) = (stage.reader().bus.clone(), stage.reader().consumer.clone());
        let ttl = stage.lease_ttl();
        match bus.lease(name, &holder, ttl).await {
            Ok(true) => {
                tracing::info!(consumer = %holder, "{name} consumer active");
                announced = false;
                match stage.active().await {
                    Ended::Shutdown => {
                        let _ = bus.release(name, &holder).await;
                        return;
                    }
                    Ended::LeaseLost => tracing::warn!("{name} lease lost; standing by"),
                }
            }
            Ok(false) if !announced => {
                tracing::info!("another process runs {name}; standing by");
                announced = true;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reach the {name} lease"),
        }
        if !crate::platform::tasks::pause(stage.shutdown(), ttl / 3).await {
            return;
        }
    }
}

/// Processes every entry pending for this consumer until none is left (after
/// a restart, or a read whose answer was lost); `Ok(false)` on shutdown.
pub(crate) async fn drain_own_pending<S: Leased>(stage: &mut S) -> Result<bool, BusError> {
    loop {
        let pending = stage.reader().own_pending(stage.batch().0).await?;
        if pending.is_empty() {
            return Ok(true);
        }
        if !stage.process(pending).await {
            return Ok(false);
        }
    }
}

/// One round of an active stage: the entries of stopped consumers (every
/// few seconds) and new ones, processed. `false` on shutdown.
pub(crate) async fn step<S: Leased>(stage: &mut S) -> bool {
    let (count, wait) = stage.batch();
    let mut entries = stage.reader().claim_if_due(count).await;
    let (bus, group, consumer) = {
        let r = stage.reader();
        (r.bus.clone(), r.group, r.consumer.clone())
    };
    let read = {
        let shutdown = stage.shutdown();
        tokio::select! {
            r = bus.read_group(group.name(), &consumer, Read::New(wait), count) => r,
            _ = shutdown.wait_for(|s| *s) => return false,
        }
    };
    match read {
        Ok(new) => entries.extend(new),
        Err(e) => {
            tracing::warn!(error = %e, group = group.name(), "cannot read the tick stream");
            if !crate::platform::tasks::pause(stage.shutdown(), Duration::from_millis(500)).await {
                return false;
            }
            // A read that timed out may still have handed entries to this
            // consumer; only its pending list has them now.
            match drain_own_pending(stage).await {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) => tracing::warn!(error = %e, "cannot read own pending entries"),
            }
        }
    }
    entries.is_empty() || stage.process(entries).await
}

/// Renews a lease every third of its TTL, from an active stage's loop.
pub(crate) struct Renewal(Instant);

impl Renewal {
    pub fn new() -> Self {
        Self(Instant::now())
    }

    /// Renews the stage's lease when a third of its TTL has passed; `false`
    /// when it is lost (or cannot be renewed).
    pub async fn keep<S: Leased>(&mut self, stage: &S) -> bool {
        let ttl = stage.lease_ttl();
        if self.0.elapsed() < ttl / 3 {
            return true;
        }
        let r = stage.reader();
        match r.bus.lease(S::LEASE, &r.consumer, ttl).await {
            Ok(true) => {
                self.0 = Instant::now();
                true
            }
            _ => false,
        }
    }
}

/// What the calc, persist and trade consumers share about reading their group:
/// taking over the entries of stopped consumers, and setting poison entries
/// aside so they never block the rest.
pub(crate) struct GroupReader {
    pub bus: Arc<dyn Bus>,
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
        group: Group,
        consumer: String,
        claim_idle: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            bus,
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
            .read_group(self.group.name(), &self.consumer, Read::OwnPending, count)
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
            .claim_idle(self.group.name(), &self.consumer, self.claim_idle, count)
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
            bus.dead_letter(self.group.name(), &entries)
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
            bus.ack(self.group.name(), ids)
        })
        .await
        .is_some()
    }
}
