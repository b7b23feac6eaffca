//! The `trade` role: fills resting limit orders from the tick stream and
//! expires `day` orders when their UTC day ends.
//!
//! Consumer group `trade` on the tick stream; one process at a time is
//! active per partition, by the partition's lease (`trade`, or `trade:3`
//! with partitions; like calc). The stage of partition 0 also expires the
//! `day` orders. Per batch of ticks it reads the
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
use crate::pipeline::leased::{run_partitions, LeaseSettings, Stage, Work};
use crate::platform::prometheus::Metrics;
use crate::store::trading::Change;
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::trade::OrderStatus;
use tickpulse_core::{StreamTick, Symbol, Timestamp};
use tokio::sync::watch;
use tokio::time::Instant;

pub const GROUP: Group = Group::Trade;
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
    /// How the stage reads its group and holds the `trade` lease.
    pub lease: LeaseSettings,
    pub fault: Option<Fault>,
}

pub async fn run(
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: TradeSettings,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
) {
    let lease = settings.lease.clone();
    run_partitions(bus.clone(), GROUP, lease, metrics.clone(), shutdown, |_| {
        Trade {
            bus: bus.clone(),
            store: store.clone(),
            settings: settings.clone(),
            metrics: metrics.clone(),
            expired: Instant::now() - EXPIRE_EVERY,
        }
    })
    .await;
}

struct Trade {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    settings: TradeSettings,
    metrics: Arc<Metrics>,
    /// When open `day` orders were last checked.
    expired: Instant,
}

#[async_trait::async_trait]
impl Work for Trade {
    async fn housekeep(&mut self, stage: &mut Stage) {
        if stage.partition().0 == 0 && self.expired.elapsed() >= EXPIRE_EVERY {
            self.expired = Instant::now();
            self.expire().await;
        }
    }

    async fn process(&mut self, stage: &mut Stage, entries: Vec<Delivered>) -> bool {
        self.apply(stage, entries).await
    }
}

impl Trade {
    /// Fills what the ticks cross, publishes, acknowledges. `false` on
    /// shutdown (the entries stay pending).
    async fn apply(&mut self, stage: &mut Stage, entries: Vec<Delivered>) -> bool {
        let Some(ticks) = stage.reader.sift(&mut stage.shutdown, entries).await else {
            return false;
        };
        let ids: Vec<_> = ticks.iter().map(|t| t.id).collect();
        let mut symbols: Vec<Symbol> = ticks.iter().map(|t| t.tick.symbol.clone()).collect();
        symbols.sort();
        symbols.dedup();
        let store = self.store.clone();
        let Some(open) = crate::platform::tasks::retry(
            &mut stage.shutdown,
            "read the open limit orders",
            || store.open_limit_orders(&symbols),
        )
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
                match self.fill(&mut stage.shutdown, number, tick).await {
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
        stage.reader.ack(&mut stage.shutdown, &ids).await
    }

    async fn fill(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        number: tickpulse_core::trade::OrderNumber,
        tick: &StreamTick,
    ) -> Filled {
        if self.settings.fault == Some(Fault::ExitBeforeFill) {
            tracing::error!(
                order = number.get(),
                "exiting before the fill (FAULT_INJECTION)"
            );
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
                        tracing::info!(order = number.get(), user = %change.user, price = %tick.tick.price, stream_id = %tick.id, "limit order filled");
                    }
                    if self.settings.fault == Some(Fault::ExitAfterFill) {
                        tracing::error!(
                            order = number.get(),
                            "exiting after the fill (FAULT_INJECTION)"
                        );
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        std::process::exit(75);
                    }
                    return Filled::Done(change);
                }
                Err(e @ (StoreError::Corrupt(_) | StoreError::Rejected(_))) => {
                    tracing::error!(order = number.get(), error = %e, "order left unfilled: the database refused its fill");
                    return Filled::Skip;
                }
                Err(e) => {
                    tracing::warn!(order = number.get(), error = %e, "cannot fill the order yet; retrying");
                    if !crate::platform::tasks::pause(shutdown, backoff.next()).await {
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
                Err(e) => {
                    tracing::warn!(order = number.get(), error = %e, "cannot expire the order")
                }
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
