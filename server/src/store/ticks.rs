//! Ticks (`md_ticks`): the trait the persist stage and the reads use, and
//! what both databases share about a stored tick.

use super::sql::{sql, Db};
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

/// The newest stored ticks of a symbol before a time (decimals as text,
/// exact in both databases).
const SELECT_HISTORY: &str = "SELECT event_id, stream_id, CAST(price AS TEXT) AS price,
     CAST(volume AS TEXT) AS volume, source, ts, received_at FROM md_ticks
     WHERE symbol = $1 AND ts < $2 ORDER BY ts DESC, stream_id DESC LIMIT $3";

/// The body of `TickStore::history`, the same on both databases.
pub(crate) async fn history(
    db: &Db,
    symbol: &Symbol,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<StreamTick>, StoreError> {
    sql(SELECT_HISTORY)
        .bind(symbol.as_str())
        .bind(before.as_nanos())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(db)
        .await?
        .iter()
        .map(|row| {
            StoredRow {
                stream_id: row.get("stream_id")?,
                price: stored_decimal(&row.get::<String>("price")?)?,
                volume: stored_decimal(&row.get::<String>("volume")?)?,
                source: row.get("source")?,
                ts: row.get("ts")?,
                event_id: row.get("event_id")?,
                received_at: row.get("received_at")?,
            }
            .into_tick(symbol)
        })
        .collect()
}

/// A stored decimal's text.
pub(crate) fn stored_decimal(text: &str) -> Result<rust_decimal::Decimal, StoreError> {
    rust_decimal::Decimal::from_str_exact(text)
        .map_err(|e| StoreError::Corrupt(format!("stored decimal {text:?} unreadable: {e}")))
}

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
