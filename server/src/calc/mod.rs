//! The calc consumer: turns the tick stream into one [`View`] per symbol.
//!
//! Consumer group `calc` on the tick stream. A window needs every tick of its
//! symbol, so exactly one calc consumer is active at a time: it holds the
//! lease `calc`, renewed every third of its TTL; the others stand by and one
//! takes over within a TTL when the active one stops. Per batch: apply the
//! ticks to their symbols' windows (calc-a), merge the touched windows into
//! views (calc-b), store and publish them (`symbol.updated`), and only then
//! acknowledge the entries.
//!
//! Every few seconds the active consumer also trims the tick stream, below
//! what every consumer group has acknowledged (see `Bus::trim`).
//!
//! On start the windows are rebuilt: counts and session from the stored
//! views, the windows themselves from the last span of the stream (ticks the
//! stored view already includes are put back without counting them again),
//! so a restart does not reset the statistics.

use crate::bus::{Bus, Delivered, Group, Read};
use crate::consumer::GroupReader;
use crate::metrics::Metrics;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::{Applied, StreamId, Symbol, SymbolWindow, Timestamp, View, WindowSettings};
use tokio::sync::watch;

pub const GROUP: Group = Group::Calc;
/// Most views stored and published in one call.
const VIEWS_PER_WRITE: usize = 500;
const LEASE: &str = "calc";

#[derive(Debug, Clone)]
pub struct CalcSettings {
    /// This consumer's name in the group and its lease holder id.
    pub consumer: String,
    pub batch_max: usize,
    /// Longest a tick waits before its view is computed.
    pub batch_wait: Duration,
    pub claim_idle: Duration,
    pub lease_ttl: Duration,
    pub window: WindowSettings,
    /// Fault injection for tests (`FAULT_INJECTION=calc-panic`): while set,
    /// the next batch makes the task panic, once per process.
    pub panic_once: Option<Arc<std::sync::atomic::AtomicBool>>,
}

pub async fn run(
    bus: Arc<dyn Bus>,
    settings: CalcSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    Calc {
        reader: GroupReader::new(
            bus.clone(),
            GROUP,
            settings.consumer.clone(),
            settings.claim_idle,
            metrics,
        ),
        bus,
        settings,
        shutdown,
        windows: HashMap::new(),
        watermarks: HashMap::new(),
    }
    .run()
    .await;
}

struct Calc {
    bus: Arc<dyn Bus>,
    settings: CalcSettings,
    reader: GroupReader,
    shutdown: watch::Receiver<bool>,
    windows: HashMap<Symbol, SymbolWindow>,
    /// Per symbol, the highest stream id the restored view already counted.
    watermarks: HashMap<Symbol, StreamId>,
}

/// Why the active phase ended.
enum Ended {
    Shutdown,
    LeaseLost,
}

impl Calc {
    async fn pause(&mut self, d: Duration) -> bool {
        crate::tasks::pause(&mut self.shutdown, d).await
    }

    async fn run(mut self) {
        let mut announced = false;
        loop {
            match self
                .bus
                .lease(LEASE, &self.settings.consumer, self.settings.lease_ttl)
                .await
            {
                Ok(true) => {
                    tracing::info!(consumer = %self.settings.consumer, "calc consumer active");
                    announced = false;
                    match self.active().await {
                        Ended::Shutdown => {
                            let _ = self.bus.release(LEASE, &self.settings.consumer).await;
                            return;
                        }
                        Ended::LeaseLost => tracing::warn!("calc lease lost; standing by"),
                    }
                }
                Ok(false) if !announced => {
                    tracing::info!("another process runs calc; standing by");
                    announced = true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot reach the calc lease"),
            }
            if !self.pause(self.settings.lease_ttl / 3).await {
                return;
            }
        }
    }

    async fn active(&mut self) -> Ended {
        if let Err(e) = self.prepare().await {
            tracing::warn!(error = %e, "cannot prepare calc; retrying");
            return Ended::LeaseLost;
        }
        let mut renewed = Instant::now();
        let mut trimmed = Instant::now();
        loop {
            if *self.shutdown.borrow() {
                return Ended::Shutdown;
            }
            if renewed.elapsed() >= self.settings.lease_ttl / 3 {
                match self
                    .bus
                    .lease(LEASE, &self.settings.consumer, self.settings.lease_ttl)
                    .await
                {
                    Ok(true) => renewed = Instant::now(),
                    _ => return Ended::LeaseLost,
                }
            }
            // The active calc consumer is unique, so it also keeps the
            // stream short: only what every group acknowledged goes.
            if trimmed.elapsed() >= Duration::from_secs(5) {
                trimmed = Instant::now();
                match self.bus.trim().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(entries = n, "tick stream trimmed"),
                    Err(e) => tracing::warn!(error = %e, "cannot trim the tick stream"),
                }
            }
            let mut entries = self.reader.claim_if_due(self.settings.batch_max).await;
            let read = tokio::select! {
                r = self.bus.read_group(GROUP.name(), &self.settings.consumer, Read::New(self.settings.batch_wait), self.settings.batch_max) => r,
                _ = self.shutdown.wait_for(|s| *s) => return Ended::Shutdown,
            };
            match read {
                Ok(new) => entries.extend(new),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the tick stream");
                    if !self.pause(Duration::from_millis(500)).await {
                        return Ended::Shutdown;
                    }
                    // A read that timed out may still have handed entries
                    // to this consumer; only its pending list has them now.
                    match self.process_own_pending().await {
                        Ok(true) => {}
                        Ok(false) => return Ended::Shutdown,
                        Err(e) => tracing::warn!(error = %e, "cannot read own pending entries"),
                    }
                }
            }
            if !entries.is_empty() && !self.process(entries).await {
                return Ended::Shutdown;
            }
        }
    }

    /// Creates the group, restores windows and handles own pending entries.
    async fn prepare(&mut self) -> Result<(), crate::bus::BusError> {
        self.bus.create_group(GROUP.name()).await?;
        self.windows.clear();
        self.watermarks.clear();
        for view in self.bus.views().await? {
            self.watermarks.insert(view.symbol.clone(), view.stream_id);
            self.windows
                .insert(view.symbol.clone(), SymbolWindow::from_view(&view));
        }
        // Refill the windows from the last span of the stream.
        let span_ms = (self.settings.window.span_nanos / 1_000_000).max(0) as u64;
        let now_ms = Timestamp::now().as_millis().max(0) as u64;
        let mut from = StreamId::new(now_ms.saturating_sub(span_ms * 2), 0);
        loop {
            let page = self.bus.range(from, 5_000).await?;
            let Some(last) = page.last().map(|d| d.id) else {
                break;
            };
            for entry in &page {
                let Ok(tick) = &entry.tick else { continue };
                let counted = self
                    .watermarks
                    .get(&tick.tick.symbol)
                    .is_some_and(|w| tick.id <= *w);
                if counted {
                    if let Some(w) = self.windows.get_mut(&tick.tick.symbol) {
                        w.warm(tick, &self.settings.window);
                    }
                }
            }
            if page.len() < 5_000 {
                break;
            }
            from = last.next();
        }
        tracing::info!(symbols = self.windows.len(), "calc windows restored");
        self.process_own_pending().await.map(|_| ())
    }

    /// Processes every entry pending for this consumer until none is left;
    /// `Ok(false)` on shutdown.
    async fn process_own_pending(&mut self) -> Result<bool, crate::bus::BusError> {
        loop {
            let pending = self.reader.own_pending(self.settings.batch_max).await?;
            if pending.is_empty() {
                return Ok(true);
            }
            if !self.process(pending).await {
                return Ok(false);
            }
        }
    }

    /// Applies, writes views, acknowledges. Returns `false` on shutdown.
    async fn process(&mut self, entries: Vec<Delivered>) -> bool {
        if let Some(fault) = &self.settings.panic_once {
            if fault.swap(false, std::sync::atomic::Ordering::Relaxed) {
                panic!("calc-panic injected by FAULT_INJECTION");
            }
        }
        let Some(ticks) = self.reader.sift(&mut self.shutdown, entries).await else {
            return false;
        };
        let mut touched: HashSet<Symbol> = HashSet::new();
        let mut ids = Vec::with_capacity(ticks.len());
        let mut late = 0;
        for tick in ticks {
            ids.push(tick.id);
            let window = self.windows.entry(tick.tick.symbol.clone()).or_default();
            if window.apply(&tick, &self.settings.window) == Applied::Late {
                late += 1;
            }
            touched.insert(tick.tick.symbol);
        }
        self.reader.metrics.calc_late_ticks.inc_by(late);
        let now = Timestamp::now();
        let views: Vec<View> = touched
            .iter()
            .filter_map(|s| self.windows.get(s)?.view(now))
            .collect();
        // Bounded writes: a batch touching thousands of symbols must not turn
        // into one call so large that it outlasts the Redis timeout forever.
        for chunk in views.chunks(VIEWS_PER_WRITE) {
            let bus = &self.bus;
            if crate::tasks::retry(&mut self.shutdown, "write views", || bus.write_views(chunk))
                .await
                .is_none()
            {
                return false;
            }
        }
        self.reader.metrics.views_written.inc_by(views.len() as u64);
        self.reader.ack(&mut self.shutdown, &ids).await
    }
}
