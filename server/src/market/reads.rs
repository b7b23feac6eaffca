//! History and candles: where unpersisted ticks come from, the default
//! range and the most candles one read may span.

use super::{MarketError, MarketReads};
use crate::bus::Group;
use std::collections::HashSet;
use tickpulse_core::{Candle, Interval, Partition, StreamTick, Symbol, Timestamp};

/// The most candles one request may span.
pub const MAX_CANDLES: i64 = 10_000;

impl MarketReads {
    /// Ticks of `symbol` with an event time before `before`, newest first, the
    /// persisted ones and those still on their way to the store.
    pub async fn history(
        &self,
        symbol: &Symbol,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<StreamTick>, MarketError> {
        let store = self.store("history")?;
        let mut ticks = store.history(symbol, before, limit).await?;
        let stored: HashSet<String> = ticks.iter().map(|t| t.tick.event_id.to_string()).collect();
        // Ticks accepted but not stored yet, from the symbol's partition.
        let p = Partition::of(symbol, self.bus.partitions());
        let unpersisted = self
            .bus
            .unacknowledged(p, Group::Persist.name(), 100_000)
            .await?;
        ticks.extend(
            unpersisted
                .into_iter()
                .filter_map(|d| d.tick.ok())
                .filter(|t| {
                    t.tick.symbol == *symbol
                        && t.tick.ts < before
                        && !stored.contains(t.tick.event_id.as_str())
                }),
        );
        ticks.sort_by(|a, b| (b.tick.ts, b.id).cmp(&(a.tick.ts, a.id)));
        ticks.truncate(limit);
        Ok(ticks)
    }

    /// Candles of `symbol` in `[from, to)`; `to` defaults to now, `from` to 500
    /// intervals before `to`.
    pub async fn candles(
        &self,
        symbol: &Symbol,
        interval: Interval,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Vec<Candle>, MarketError> {
        let to = to.unwrap_or_else(Timestamp::now);
        let from = from.unwrap_or_else(|| {
            Timestamp::from_nanos(to.as_nanos().saturating_sub(500 * interval.nanos()).max(0))
        });
        if from >= to {
            return Err(MarketError::BadParam {
                field: "from",
                message: format!("must be before to ({from} is not before {to})"),
            });
        }
        if (to.as_nanos() - from.as_nanos()) / interval.nanos() > MAX_CANDLES {
            return Err(MarketError::BadParam {
                field: "from",
                message: format!("the range spans more than {MAX_CANDLES} candles of {interval}; narrow it or use a longer interval"),
            });
        }
        let store = self.store("candles")?;
        Ok(store.candles(symbol, interval, from, to).await?)
    }
}
