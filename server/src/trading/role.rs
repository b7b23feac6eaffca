//! The `trade` role: fills resting limit orders from the tick stream and
//! expires `day` orders when their UTC day ends.
//!
//! Consumer group `trade` on the tick stream; one process at a time is
//! active, by the lease `trade` (like calc). Per batch of ticks it reads the
//! open limit orders on the batch's symbols from the store (one query),
//! then, tick by tick in stream order, fills each order the tick crosses
//! (a buy at or under its limit, a sell at or over it) at the tick's price,
//! and only then acknowledges the entries. A tick received before an order
//! was placed never fills it.
//!
//! Exactly once: the fill and the order's new state are one transaction
//! that first checks the order is still open (and the `fill` table holds at
//! most one row per order and tick). A process that dies before the
//! commit leaves its entries pending; the next active one (after a restart,
//! or another process once the lease expires) reads them again and fills
//! the order then. One that dies after the commit but before the
//! acknowledgement hands the tick out again, and the order is no longer
//! open.

use crate::bus::{Bus, Delivered, Group};
use crate::pipeline::consumer::{
    drain_own_pending, run_leased, step, Ended, GroupReader, Leased, Renewal,
};
use crate::platform::prometheus::Metrics;
use crate::store::trading::Change;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::trade::OrderStatus;
use tickpulse_core::{StreamTick, Symbol, Timestamp};
use tokio::sync::watch;

pub const GROUP: Group = Group::Trade;
const LEASE: &str = "trade";
/// How often open `day` orders are checked for the end of their day.
const EXPIRE_EVERY: Duration = Duration::from_secs(5);

/// Where a test stops the process abruptly (`FAULT_INJECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `trade-exit-before-fill`: exits instead of committing a fill (a
    /// second after finding it, so the tick's own request is answered).
    ExitBeforeFill,
    /// `trade-exit-after-fill`: exits a second after committing a fill,
    /// before the tick is acknowledged.
    ExitAfterFill,
}

impl Fault {
    pub fn of(setting: Option<&str>) -> Option<Self> {
        let setting = setting?;
        setting.split(',').find_map(|f| match f.trim() {
            "trade-exit-before-fill" => Some(Self::ExitBeforeFill),
            "trade-exit-after-fill" => Some(Self::ExitAfterFill),
            _ => None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct TradeSettings {
    /// This consumer's name in the group and its lease holder id.
    pub consumer: String,
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub claim_idle: Duration,
    pub lease_ttl: Duration,
    pub fault: Option<Fault>,
}

pub async fn run(
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: TradeSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    let mut stage = Trade {
        reader: GroupReader::new(
            bus.clone(),
            GROUP,
            settings.consumer.clone(),
            settings.claim_idle,
            metrics.clone(),
        ),
        bus,
        store,
        settings,
        metrics,
        shutdown,
    };
    run_leased(&mut stage).await;
}

struct Trade {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: TradeSettings,
    reader: GroupReader,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

#[async_trait::async_trait]
impl Leased for Trade {
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

impl Trade {
    async fn pause(&mut self, d: Duration) -> bool {
        crate::platform::tasks::pause(&mut self.shutdown, d).await
    }

    async fn work(&mut self) -> Ended {
        if let Err(e) = self.bus.create_group(GROUP.name()).await {
            tracing::warn!(error = %e, "cannot create the trade group; retrying");
            return Ended::LeaseLost;
        }
        match drain_own_pending(self).await {
            Ok(true) => {}
            Ok(false) => return Ended::Shutdown,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read own pending entries; retrying");
                return Ended::LeaseLost;
            }
        }
        let mut renewal = Renewal::new();
        let mut expired = Instant::now() - EXPIRE_EVERY;
        loop {
            if *self.shutdown.borrow() {
                return Ended::Shutdown;
            }
            if !renewal.keep(&*self).await {
                return Ended::LeaseLost;
            }
            if expired.elapsed() >= EXPIRE_EVERY {
                expired = Instant::now();
                self.expire().await;
            }
            if !step(self).await {
                return Ended::Shutdown;
            }
        }
    }

    /// Fills what the ticks cross, publishes, acknowledges. `false` on
    /// shutdown (the entries stay pending).
    async fn apply(&mut self, entries: Vec<Delivered>) -> bool {
        let Some(ticks) = self.reader.sift(&mut self.shutdown, entries).await else {
            return false;
        };
        let ids: Vec<_> = ticks.iter().map(|t| t.id).collect();
        let mut symbols: Vec<Symbol> = ticks.iter().map(|t| t.tick.symbol.clone()).collect();
        symbols.sort();
        symbols.dedup();
        let store = self.store.clone();
        let Some(open) =
            crate::platform::tasks::retry(&mut self.shutdown, "read the open limit orders", || {
                store.open_limit_orders(&symbols)
            })
            .await
        else {
            return false;
        };
        let mut book: HashMap<Symbol, Vec<tickpulse_core::trade::Order>> = HashMap::new();
        for o in open {
            book.entry(o.order.symbol.clone())
                .or_default()
                .push(o.order);
        }
        let mut changes = Vec::new();
        for tick in &ticks {
            let Some(orders) = book.get_mut(&tick.tick.symbol) else {
                continue;
            };
            let mut i = 0;
            while i < orders.len() {
                if !fills(&orders[i], tick) {
                    i += 1;
                    continue;
                }
                let number = orders[i].number;
                match self.fill(number, tick).await {
                    Filled::Done(change) => {
                        changes.extend(change);
                        orders.remove(i);
                    }
                    Filled::Skip => i += 1,
                    Filled::Shutdown => return false,
                }
            }
        }
        if !changes.is_empty() {
            self.metrics.fills.inc_by(changes.len() as u64);
            crate::trading::orders::publish(self.bus.as_ref(), &changes).await;
        }
        self.reader.ack(&mut self.shutdown, &ids).await
    }

    async fn fill(&mut self, number: i64, tick: &StreamTick) -> Filled {
        if self.settings.fault == Some(Fault::ExitBeforeFill) {
            tracing::error!(order = number, "exiting before the fill (FAULT_INJECTION)");
            tokio::time::sleep(Duration::from_secs(1)).await;
            std::process::exit(75);
        }
        let mut backoff = crate::platform::tasks::Backoff::new();
        loop {
            match self
                .store
                .fill_order(number, tick.tick.price, tick.id, tick.tick.ts)
                .await
            {
                Ok(change) => {
                    if let Some(change) = &change {
                        tracing::info!(order = number, user = %change.user, price = %tick.tick.price, stream_id = %tick.id, "limit order filled");
                    }
                    if self.settings.fault == Some(Fault::ExitAfterFill) {
                        tracing::error!(order = number, "exiting after the fill (FAULT_INJECTION)");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        std::process::exit(75);
                    }
                    return Filled::Done(change);
                }
                Err(e @ (StoreError::Corrupt(_) | StoreError::Rejected(_))) => {
                    tracing::error!(order = number, error = %e, "order left unfilled: the database refused its fill");
                    return Filled::Skip;
                }
                Err(e) => {
                    tracing::warn!(order = number, error = %e, "cannot fill the order yet; retrying");
                    if !self.pause(backoff.next()).await {
                        return Filled::Shutdown;
                    }
                }
            }
        }
    }

    /// Expires the open `day` orders whose day has ended.
    async fn expire(&mut self) {
        let now = Timestamp::now();
        let numbers = match self.store.expiring_orders(now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for expired orders");
                return;
            }
        };
        let mut changes: Vec<Change> = Vec::new();
        for number in numbers {
            match self
                .store
                .end_order(number, None, OrderStatus::Expired, now)
                .await
            {
                Ok(crate::store::trading::Ended::Done(change)) => changes.push(change),
                Ok(_) => {}
                Err(e) => tracing::warn!(order = number, error = %e, "cannot expire the order"),
            }
        }
        if !changes.is_empty() {
            tracing::info!(orders = changes.len(), "day orders expired");
            crate::trading::orders::publish(self.bus.as_ref(), &changes).await;
        }
    }
}

enum Filled {
    /// Filled now (`Some`), or no longer open (`None`).
    Done(Option<Change>),
    Skip,
    Shutdown,
}

/// Whether `tick` fills `order`: the order was placed before the tick
/// arrived, and the tick's price crosses its limit.
fn fills(order: &tickpulse_core::trade::Order, tick: &StreamTick) -> bool {
    order.limit_price.is_some_and(|limit| {
        tick.received_at.as_millis() >= order.created_at.as_millis()
            && tickpulse_core::trade::crosses(order.side, limit, tick.tick.price)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_named_in_the_setting() {
        assert_eq!(Fault::of(None), None);
        assert_eq!(
            Fault::of(Some("calc-panic, trade-exit-before-fill")),
            Some(Fault::ExitBeforeFill)
        );
        assert_eq!(
            Fault::of(Some("trade-exit-after-fill")),
            Some(Fault::ExitAfterFill)
        );
    }
}
