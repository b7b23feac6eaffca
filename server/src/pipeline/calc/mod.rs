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

use crate::bus::{Bus, Delivered, Group};
use crate::pipeline::consumer::{
    drain_own_pending, run_leased, step, Ended, GroupReader, Leased, Renewal,
};
use crate::platform::prometheus::Metrics;
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
    let mut stage = Calc {
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
    };
    run_leased(&mut stage).await;
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

#[async_trait::async_trait]
impl Leased for Calc {
    const LEASE: &'static str = LEASE;

    fn reader(&self) -> &GroupReader {
        &self.reader
    }

    fn lease_ttl(&self) -> Duration {
        self.settings.lease_ttl
    }

    fn batch(&self) -> (usize, Duration) {
        (self.settings.batch_max, self.settings.batch_wait)
    }

    fn shutdown(&mut self) -> &mut watch::Receiver<bool> {
        &mut self.shutdown
    }

    async fn active(&mut self) -> Ended {
        self.work().await
    }

    async fn process(&mut self, entries: Vec<Delivered>) -> bool {
        self.apply(entries).await
    }
}

impl Calc {
    async fn work(&mut self) -> Ended {
        if let Err(e) = self.prepare().await {
            tracing::warn!(error = %e, "cannot prepare calc; retrying");
            return Ended::LeaseLost;
        }
        let mut renewal = Renewal::new();
        let mut trimmed = Instant::now();
        loop {
            if *self.shutdown.borrow() {
                return Ended::Shutdown;
            }
            if !renewal.keep(&*self).await {
                return Ended::LeaseLost;
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
            if !step(self).await {
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
        drain_own_pending(self).await.map(|_| ())
    }

    /// Applies, writes views, acknowledges. Returns `false` on shutdown.
    async fn apply(&mut self, entries: Vec<Delivered>) -> bool {
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
            if crate::platform::tasks::retry(&mut self.shutdown, "write views", || {
                bus.write_views(chunk)
            })
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
