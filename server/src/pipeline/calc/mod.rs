//! The calc consumer: turns the tick stream into one [`View`] per symbol.
//!
//! Consumer group `calc` on the tick stream. A window needs every tick of its
//! symbol, so exactly one calc consumer is active per partition at a time:
//! it holds the partition's lease (`calc`, or `calc:3` with partitions),
//! renewed every third of its TTL; the others stand by and one takes over
//! within a TTL when the active one stops. Per batch: apply the
//! ticks to their symbols' windows (calc-a), merge the touched windows into
//! views (calc-b), store and publish them (`symbol.updated`), and only then
//! acknowledge the entries.
//!
//! Every second the active consumer also trims its partition, below
//! what every consumer group has acknowledged (see `Bus::trim`).
//!
//! On start the windows are rebuilt: counts and session from the stored
//! views, the windows themselves from the last span of the stream (ticks the
//! stored view already includes are put back without counting them again),
//! so a restart does not reset the statistics.

use crate::bus::{Bus, BusError, Delivered, Group};
use crate::pipeline::leased::{run_partitions, LeaseSettings, Stage, Work};
use crate::platform::prometheus::Metrics;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{
    Applied, Partition, StreamId, Symbol, SymbolWindow, Timestamp, View, WindowSettings,
};
use tokio::sync::watch;
use tokio::time::Instant;

pub const GROUP: Group = Group::Calc;
/// Most views stored and published in one call.
const VIEWS_PER_WRITE: usize = 500;
/// How often the active consumer trims the tick stream.
const TRIM_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct CalcSettings {
    /// How the stage reads its group and holds the `calc` lease.
    pub lease: LeaseSettings,
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
    let lease = settings.lease.clone();
    run_partitions(bus.clone(), GROUP, lease, metrics, shutdown, |partition| {
        Calc {
            bus: bus.clone(),
            partition,
            settings: settings.clone(),
            windows: HashMap::new(),
            watermarks: HashMap::new(),
            trimmed: Instant::now(),
        }
    })
    .await;
}

/// The calc work of one partition.
struct Calc {
    bus: Arc<dyn Bus>,
    partition: Partition,
    settings: CalcSettings,
    windows: HashMap<Symbol, SymbolWindow>,
    /// Per symbol, the highest stream id the restored view already counted.
    watermarks: HashMap<Symbol, StreamId>,
    /// When the stream was last trimmed.
    trimmed: Instant,
}

#[async_trait::async_trait]
impl Work for Calc {
    async fn prepare(&mut self, _stage: &mut Stage) -> Result<(), BusError> {
        self.restore().await
    }

    /// The active calc consumer is unique, so it also keeps the stream
    /// short: only what every group acknowledged goes.
    async fn housekeep(&mut self, _stage: &mut Stage) {
        if self.trimmed.elapsed() < TRIM_EVERY {
            return;
        }
        self.trimmed = Instant::now();
        match self.bus.trim(self.partition).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "tick stream trimmed"),
            Err(e) => tracing::warn!(error = %e, "cannot trim the tick stream"),
        }
    }

    async fn process(&mut self, stage: &mut Stage, entries: Vec<Delivered>) -> bool {
        self.apply(stage, entries).await
    }
}

impl Calc {
    /// Restores the windows (the entries left pending come next, from the
    /// stage).
    async fn restore(&mut self) -> Result<(), BusError> {
        self.windows.clear();
        self.watermarks.clear();
        let count = self.bus.partitions();
        for view in self.bus.views().await? {
            if Partition::of(&view.symbol, count) != self.partition {
                continue;
            }
            self.watermarks.insert(view.symbol.clone(), view.stream_id);
            self.windows
                .insert(view.symbol.clone(), SymbolWindow::from_view(&view));
        }
        // Refill the windows from the last span of the stream.
        let span_ms = (self.settings.window.span_nanos / 1_000_000).max(0) as u64;
        let now_ms = Timestamp::now().as_millis().max(0) as u64;
        let mut from = StreamId::new(now_ms.saturating_sub(span_ms * 2), 0);
        loop {
            let page = self.bus.range(self.partition, from, 5_000).await?;
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
        tracing::info!(
            symbols = self.windows.len(),
            partition = self.partition.0,
            "calc windows restored"
        );
        Ok(())
    }

    /// Applies, writes views, acknowledges. Returns `false` on shutdown.
    async fn apply(&mut self, stage: &mut Stage, entries: Vec<Delivered>) -> bool {
        if let Some(fault) = &self.settings.panic_once {
            if fault.swap(false, std::sync::atomic::Ordering::Relaxed) {
                panic!("calc-panic injected by FAULT_INJECTION");
            }
        }
        let Some(ticks) = stage.reader.sift(&mut stage.shutdown, entries).await else {
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
        stage.reader.metrics.calc_late_ticks.inc_by(late);
        let now = Timestamp::now();
        let views: Vec<View> = touched
            .iter()
            .filter_map(|s| self.windows.get(s)?.view(now))
            .collect();
        // Bounded writes: a batch touching thousands of symbols must not turn
        // into one call so large that it outlasts the Redis timeout forever.
        for chunk in views.chunks(VIEWS_PER_WRITE) {
            let bus = &self.bus;
            if crate::platform::tasks::retry(&mut stage.shutdown, "write views", || {
                bus.write_views(chunk)
            })
            .await
            .is_none()
            {
                return false;
            }
        }
        stage
            .reader
            .metrics
            .views_written
            .inc_by(views.len() as u64);
        stage.reader.ack(&mut stage.shutdown, &ids).await
    }
}
