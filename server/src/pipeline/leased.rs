//! One leased stage: a consumer of its own group that one process at a
//! time runs per partition, as the holder of the partition's lease (named
//! after the group: `calc`, or `calc:3` when the stream has partitions), so
//! K processes share the N partitions and a stopped one's partitions are
//! taken over within the lease's TTL. The stages of one group in one
//! process share a [`Share`]: a process takes no more than its fair share of
//! the partitions (the partitions divided by the live processes running the
//! group, rounded up) and hands the ones over its share back when more
//! processes join, so the partitions spread over the processes. [`Stage`] holds what every such stage needs (the group reader,
//! the lease, the batch, the shutdown signal) and runs the loop: take the
//! lease when it is free, stand by otherwise, renew it every third of its
//! TTL while active, hand it back on shutdown so a successor need not wait
//! for it to expire. What a stage does with the ticks is its [`Work`].

use super::consumer::GroupReader;
use crate::bus::{Bus, BusError, Delivered, Group, Read};
use crate::platform::config::Config;
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::pause;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::Partition;
use tokio::sync::watch;
use tokio::time::Instant;

/// How a leased stage reads its group and holds its lease.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// This consumer's name in the group and its lease holder id.
    pub consumer: String,
    /// Most ticks per read.
    pub batch_max: usize,
    /// Longest a read waits for new ticks (so the longest a tick waits
    /// before the stage sees it).
    pub batch_wait: Duration,
    /// Entries of another consumer pending this long are taken over.
    pub claim_idle: Duration,
    /// A holder that stops renewing loses the lease after this long.
    pub lease_ttl: Duration,
}

impl LeaseSettings {
    /// Most ticks per read of a leased stage.
    pub const BATCH_MAX: usize = 5_000;
    /// Longest a read waits for new ticks.
    pub const BATCH_WAIT: Duration = Duration::from_millis(50);
    /// How long a lease lasts without renewal: a stopped holder's stage is
    /// taken over within this time (and a third of it).
    pub const LEASE_TTL: Duration = Duration::from_secs(10);

    /// The settings of this process (its node id, `CLAIM_IDLE_SECS`),
    /// with the defaults above.
    pub fn of(config: &Config) -> Self {
        Self {
            consumer: config.node_id(),
            batch_max: Self::BATCH_MAX,
            batch_wait: Self::BATCH_WAIT,
            claim_idle: Duration::from_secs(config.claim_idle_secs),
            lease_ttl: Self::LEASE_TTL,
        }
    }
}

/// Runs a stage of `group` on every partition of `bus`'s stream, each
/// with its own work from `work` and its own lease, until shutdown.
pub(crate) async fn run_partitions<W: Work + 'static>(
    bus: Arc<dyn Bus>,
    group: Group,
    settings: LeaseSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    work: impl Fn(Partition) -> W,
) {
    let share = Share::new(bus.partitions());
    let stages = Partition::all(bus.partitions()).map(|p| {
        let stage = Stage::new(
            bus.clone(),
            p,
            group,
            settings.clone(),
            metrics.clone(),
            shutdown.clone(),
        )
        .sharing(share.clone());
        let mut work = work(p);
        async move { stage.run(&mut work).await }
    });
    futures::future::join_all(stages).await;
}

/// Why the active phase of a stage ended.
enum Ended {
    Shutdown,
    LeaseLost,
    /// Given back: this process held more than its share.
    HandedOver,
}

/// How often a process counts its peers running the same group.
const PEERS_EVERY: Duration = Duration::from_secs(1);

/// What the stages of one group in one process share: how many partitions
/// they hold, and how many they should.
pub(crate) struct Share {
    held: std::sync::atomic::AtomicUsize,
    partitions: usize,
    /// When the peers were last counted, and the fair share then.
    fair: std::sync::Mutex<Option<(Instant, usize)>>,
}

impl Share {
    pub fn new(partitions: u16) -> Arc<Self> {
        Arc::new(Self {
            held: std::sync::atomic::AtomicUsize::new(0),
            partitions: usize::from(partitions.max(1)),
            fair: std::sync::Mutex::new(None),
        })
    }

    fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The most partitions this process should hold: the partitions divided
    /// by the processes whose heartbeat says they run `group` (this one
    /// included), rounded up. A process counts while its last beat is
    /// younger than `fresh` (a lease's TTL: a process that stopped beating
    /// that long ago has lost its leases too). All of them when the
    /// heartbeats cannot be read.
    async fn fair(&self, bus: &dyn Bus, group: Group, me: &str, fresh: Duration) -> usize {
        if let Some((at, fair)) = *self.fair.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < PEERS_EVERY {
                return fair;
            }
        }
        let now = tickpulse_core::Timestamp::now().as_millis();
        let fresh = i64::try_from(fresh.as_millis()).unwrap_or(i64::MAX);
        let peers = match bus.heartbeats().await {
            Ok(beats) => beats
                .iter()
                .filter(|(node, _)| node != me)
                .filter_map(|(_, beat)| serde_json::from_str::<BeatRoles>(beat).ok())
                .filter(|b| !b.stopping && now - b.at < fresh)
                .filter(|b| b.roles.iter().any(|r| r == group.name()))
                .count(),
            Err(_) => 0,
        };
        let fair = self.partitions.div_ceil(peers + 1);
        *self.fair.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), fair));
        fair
    }

    /// Counts one partition less if this process holds more than `fair`;
    /// `true` when it did (the caller gives its partition back). Atomic, so
    /// stages checking at once give back no more than the excess.
    fn give_up_over(&self, fair: usize) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.held
            .fetch_update(SeqCst, SeqCst, |h| (h > fair).then(|| h - 1))
            .is_ok()
    }
}

/// What a stage reads of a heartbeat.
#[derive(serde::Deserialize)]
struct BeatRoles {
    roles: Vec<String>,
    /// When it was sent, ms since the epoch.
    at: i64,
    #[serde(default)]
    stopping: bool,
}

/// What a leased stage does; [`Stage`] calls it while the lease is held.
#[async_trait::async_trait]
pub(crate) trait Work: Send {
    /// Runs when the lease is taken, after the group is created and before
    /// any read (restoring state, say). An error stands the stage by; it
    /// tries again later.
    async fn prepare(&mut self, _stage: &mut Stage) -> Result<(), BusError> {
        Ok(())
    }

    /// Runs once per round while active, before the read (periodic work).
    async fn housekeep(&mut self, _stage: &mut Stage) {}

    /// Processes entries and acknowledges them; `false` on shutdown (they
    /// stay pending).
    async fn process(&mut self, stage: &mut Stage, entries: Vec<Delivered>) -> bool;
}

/// A consumer of `group` that runs only while it holds the group's lease.
pub(crate) struct Stage {
    pub reader: GroupReader,
    pub settings: LeaseSettings,
    pub shutdown: watch::Receiver<bool>,
    /// Shared with this process's other stages of the group.
    share: Arc<Share>,
}

impl Stage {
    pub fn new(
        bus: Arc<dyn Bus>,
        partition: Partition,
        group: Group,
        settings: LeaseSettings,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            reader: GroupReader::new(
                bus,
                partition,
                group,
                settings.consumer.clone(),
                settings.claim_idle,
                metrics,
            ),
            settings,
            shutdown,
            share: Share::new(1),
        }
    }

    /// The stage as one of the group's stages sharing `share`.
    pub fn sharing(mut self, share: Arc<Share>) -> Self {
        self.share = share;
        self
    }

    /// The lease's name, which is also the stage's name in the logs: the
    /// group's, and the partition's number when there are several.
    fn lease(&self) -> String {
        let (group, p) = (self.reader.group.name(), self.reader.partition);
        if self.reader.bus.partitions() == 1 {
            group.to_owned()
        } else {
            format!("{group}:{p}")
        }
    }

    /// The partition this stage works on.
    pub fn partition(&self) -> Partition {
        self.reader.partition
    }

    /// Takes the lease when it is free and runs `work` while it is held;
    /// stands by otherwise, until shutdown.
    pub async fn run(mut self, work: &mut impl Work) {
        let name = self.lease();
        let mut announced = false;
        loop {
            let (bus, holder) = (self.reader.bus.clone(), self.settings.consumer.clone());
            let ttl = self.settings.lease_ttl;
            let (group, fresh) = (self.reader.group, self.settings.lease_ttl);
            let fair = self.share.fair(bus.as_ref(), group, &holder, fresh).await;
            // A process at its share leaves free partitions to the others.
            let taken = if self.share.held() >= fair {
                Ok(false)
            } else {
                bus.lease(&name, &holder, ttl).await
            };
            match taken {
                Ok(true) => {
                    tracing::info!(consumer = %holder, "{name} consumer active");
                    announced = false;
                    self.share
                        .held
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let ended = self.active(work).await;
                    if !matches!(ended, Ended::HandedOver) {
                        self.share
                            .held
                            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    match ended {
                        Ended::Shutdown => {
                            let _ = bus.release(&name, &holder).await;
                            return;
                        }
                        Ended::LeaseLost => tracing::warn!("{name} lease lost; standing by"),
                        Ended::HandedOver => {
                            let _ = bus.release(&name, &holder).await;
                            tracing::info!(
                                "{name} handed over: this process held more than its share"
                            );
                        }
                    }
                }
                Ok(false) if !announced => {
                    tracing::info!("another process runs {name}; standing by");
                    announced = true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reach the {name} lease"),
            }
            if !pause(&mut self.shutdown, ttl / 3).await {
                return;
            }
        }
    }

    /// The active phase: the group, `work`'s preparation, the entries left
    /// pending for this consumer, then rounds of reading until the lease is
    /// lost or shutdown comes.
    async fn active(&mut self, work: &mut impl Work) -> Ended {
        let name = self.lease();
        let prepared = match self.reader.bus.create_group(self.reader.group.name()).await {
            Ok(()) => work.prepare(self).await,
            Err(e) => Err(e),
        };
        if let Err(e) = prepared {
            tracing::warn!(error = %e, "cannot prepare {name}; retrying");
            return Ended::LeaseLost;
        }
        match self.drain_own_pending(work).await {
            Ok(true) => {}
            Ok(false) => return Ended::Shutdown,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read own pending entries; retrying");
                return Ended::LeaseLost;
            }
        }
        let mut renewed = Instant::now();
        loop {
            if *self.shutdown.borrow() {
                return Ended::Shutdown;
            }
            if renewed.elapsed() >= self.settings.lease_ttl / 3 {
                let (r, ttl) = (&self.reader, self.settings.lease_ttl);
                let fair = self
                    .share
                    .fair(r.bus.as_ref(), r.group, &self.settings.consumer, ttl);
                if self.share.give_up_over(fair.await) {
                    return Ended::HandedOver;
                }
                match r.bus.lease(&name, &self.settings.consumer, ttl).await {
                    Ok(true) => renewed = Instant::now(),
                    _ => return Ended::LeaseLost,
                }
            }
            work.housekeep(self).await;
            if !self.step(work).await {
                return Ended::Shutdown;
            }
        }
    }

    /// Processes every entry pending for this consumer until none is left
    /// (after a restart, or a read whose answer was lost); `Ok(false)` on
    /// shutdown.
    async fn drain_own_pending(&mut self, work: &mut impl Work) -> Result<bool, BusError> {
        loop {
            let pending = self.reader.own_pending(self.settings.batch_max).await?;
            if pending.is_empty() {
                return Ok(true);
            }
            if !work.process(self, pending).await {
                return Ok(false);
            }
        }
    }

    /// One round: the entries of stopped consumers (every few seconds) and
    /// new ones, processed. `false` on shutdown.
    async fn step(&mut self, work: &mut impl Work) -> bool {
        let (count, wait) = (self.settings.batch_max, self.settings.batch_wait);
        let mut entries = self.reader.claim_if_due(count).await;
        let (bus, group, p) = (
            self.reader.bus.clone(),
            self.reader.group,
            self.reader.partition,
        );
        let read = tokio::select! {
            r = bus.read_group(p, group.name(), &self.settings.consumer, Read::New(wait), count) => r,
            _ = self.shutdown.wait_for(|s| *s) => return false,
        };
        match read {
            Ok(new) => entries.extend(new),
            Err(e) => {
                tracing::warn!(error = %e, group = group.name(), "cannot read the tick stream");
                if !pause(&mut self.shutdown, Duration::from_millis(500)).await {
                    return false;
                }
                // A read that timed out may still have handed entries to
                // this consumer; only its pending list has them now.
                match self.drain_own_pending(work).await {
                    Ok(true) => {}
                    Ok(false) => return false,
                    Err(e) => tracing::warn!(error = %e, "cannot read own pending entries"),
                }
            }
        }
        entries.is_empty() || work.process(self, entries).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{MemoryBus, MemorySettings};
    use std::sync::Mutex;

    /// Records who took the lease, and when.
    struct Taken {
        holder: &'static str,
        log: Arc<Mutex<Vec<(&'static str, Instant)>>>,
    }

    #[async_trait::async_trait]
    impl Work for Taken {
        async fn prepare(&mut self, _stage: &mut Stage) -> Result<(), BusError> {
            self.log.lock().unwrap().push((self.holder, Instant::now()));
            Ok(())
        }

        async fn process(&mut self, _stage: &mut Stage, _entries: Vec<Delivered>) -> bool {
            true
        }
    }

    /// Starts `holder`'s stage of the `calc` group on `bus`.
    fn start(
        bus: &Arc<dyn Bus>,
        holder: &'static str,
        log: &Arc<Mutex<Vec<(&'static str, Instant)>>>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let mut settings = LeaseSettings::of(&Config::defaults());
        settings.consumer = holder.to_owned();
        let stage = Stage::new(
            bus.clone(),
            Partition(0),
            Group::Calc,
            settings,
            Arc::new(Metrics::default()),
            shutdown,
        );
        let mut work = Taken {
            holder,
            log: log.clone(),
        };
        tokio::spawn(async move { stage.run(&mut work).await })
    }

    fn memory_bus() -> Arc<dyn Bus> {
        Arc::new(MemoryBus::new(MemorySettings {
            dedupe_ttl: Duration::from_secs(60),
            dedupe_max_bytes: 0,
            stream_retain: Duration::from_secs(60),
            stream_max_bytes: 0,
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_that_stops_renewing_is_taken_over_once_its_lease_expires() {
        let (bus, log) = (memory_bus(), Arc::new(Mutex::new(Vec::new())));
        let (_stop, shutdown) = watch::channel(false);
        let a = start(&bus, "a", &log, shutdown.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _b = start(&bus, "b", &log, shutdown);
        // Both run for a while: only `a` holds the lease, renewing it.
        tokio::time::sleep(LeaseSettings::LEASE_TTL * 3).await;
        assert_eq!(
            log.lock()
                .unwrap()
                .iter()
                .map(|(h, _)| *h)
                .collect::<Vec<_>>(),
            ["a"]
        );
        // `a` dies without handing the lease back.
        a.abort();
        let died = Instant::now();
        tokio::time::sleep(LeaseSettings::LEASE_TTL * 2).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 2, "{log:?}");
        let (holder, at) = log[1];
        assert_eq!(holder, "b");
        let ttl = LeaseSettings::LEASE_TTL;
        // Not before the lease could have expired (it was renewed at most a
        // third of its TTL before `a` died), and within a TTL and the
        // stand-by's poll after.
        assert!(at - died >= ttl * 2 / 3, "taken over {:?} after", at - died);
        assert!(
            at - died <= ttl + ttl / 3,
            "taken over {:?} after",
            at - died
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_that_shuts_down_hands_the_lease_over_at_once() {
        let (bus, log) = (memory_bus(), Arc::new(Mutex::new(Vec::new())));
        let (stop_a, shutdown_a) = watch::channel(false);
        let (_stop_b, shutdown_b) = watch::channel(false);
        let a = start(&bus, "a", &log, shutdown_a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _b = start(&bus, "b", &log, shutdown_b);
        tokio::time::sleep(LeaseSettings::LEASE_TTL).await;
        stop_a.send(true).unwrap();
        a.await.unwrap();
        let stopped = Instant::now();
        tokio::time::sleep(LeaseSettings::LEASE_TTL).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(log.iter().map(|(h, _)| *h).collect::<Vec<_>>(), ["a", "b"]);
        // The next poll of the stand-by, not the lease's expiry.
        assert!(log[1].1 - stopped <= LeaseSettings::LEASE_TTL / 3);
    }
}
