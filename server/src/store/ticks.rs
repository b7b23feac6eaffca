//! Ticks (`md_ticks`): the trait the persist stage and the reads use, and
//! what both databases share about a stored tick.

use super::StoreError;
use async_trait::async_trait;
use tickpulse_core::{Candle, Interval, StreamTick, Symbol, Timestamp};

/// The durable history of every accepted tick. A store owns durability and
/// idempotency (an `event_id` is stored once, whatever is written twice).
#[async_trait]
pub trait TickStore: Send + Sync + 'static {
    /// Writes the ticks in one transaction; ticks whose `event_id` is
    /// already stored are skipped. Returns how many rows were new.
    ///
    /// # Errors
    /// On any failure nothing of the batch is committed.
    async fn insert_ticks(&self, ticks: &[StreamTick]) -> Result<u64, StoreError>;

    /// Up to `limit` stored ticks of `symbol` with an event time before
    /// `before`, newest first.
    async fn history(
        &self,
        symbol: &Symbol,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<StreamTick>, StoreError>;

    /// Candles of `symbol` for event times in `[from, to)`, oldest first.
    async fn candles(
        &self,
        symbol: &Symbol,
        interval: Interval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Candle>, StoreError>;

    /// Which of `event_ids` are stored (committed).
    async fn committed(&self, event_ids: &[String]) -> Result<Vec<String>, StoreError>;
}

/// The newest stored ticks of a symbol before a time; the same statement on
/// Postgres and SQLite (both read `$n` parameters).
pub(crate) const SELECT_HISTORY: &str =
    "SELECT event_id, stream_id, price, volume, source, ts, received_at FROM md_ticks
     WHERE symbol = $1 AND ts < $2 ORDER BY ts DESC, stream_id DESC LIMIT $3";

/// Defines `select_history(pool, symbol, before, limit)`, the body of
/// `TickStore::history`, for a pool type, in a module with
/// `unavailable(sqlx::Error) -> StoreError` and `to_tick(&Symbol, &Row) ->
/// Result<StreamTick, StoreError>` in scope.
macro_rules! select_history {
    ($pool:ty) => {
        async fn select_history(
            pool: &$pool,
            symbol: &Symbol,
            before: Timestamp,
            limit: usize,
        ) -> Result<Vec<StreamTick>, StoreError> {
            let rows = sqlx::query($crate::store::ticks::SELECT_HISTORY)
                .bind(symbol.as_str())
                .bind(before.as_nanos())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(pool)
                .await
                .map_err(unavailable)?;
            rows.iter().map(|row| to_tick(symbol, row)).collect()
        }
    };
}

pub(crate) use select_history;

/// The columns of one stored tick, as both databases return them.
pub(crate) struct StoredRow {
    pub stream_id: String,
    pub price: rust_decimal::Decimal,
    pub volume: rust_decimal::Decimal,
    pub source: String,
    pub ts: i64,
    pub event_id: String,
    pub received_at: i64,
}

impl StoredRow {
    /// Back into a tick of `symbol`; decimals are normalised ("1.50" is
    /// "1.5"). The values were valid when written, so a failure means the
    /// row was changed behind tickpulse's back.
    pub(crate) fn into_tick(self, symbol: &Symbol) -> Result<StreamTick, StoreError> {
        use tickpulse_core::{EventId, Price, Source, Tick, Volume};
        let bad = |e: tickpulse_core::ValueError| {
            StoreError::Corrupt(format!("stored tick unreadable: {e}"))
        };
        Ok(StreamTick {
            id: self.stream_id.parse().map_err(bad)?,
            tick: Tick {
                symbol: symbol.clone(),
                price: Price::new_checked(self.price.normalize()).map_err(bad)?,
                volume: Volume::new_checked(self.volume.normalize()).map_err(bad)?,
                source: Source::new_checked(&self.source).map_err(bad)?,
                ts: Timestamp::from_nanos(self.ts),
                event_id: EventId::new_checked(&self.event_id).map_err(bad)?,
            },
            received_at: Timestamp::from_nanos(self.received_at),
        })
    }
}
