//! The store: durable history of every accepted tick.
//!
//! Pipelines only see the [`Store`] trait (Postgres today). A store owns
//! durability and idempotency (an `event_id` is stored once, whatever is
//! written twice); it does not decide what is written when (that is the
//! persist consumer).

mod postgres;

pub use self::postgres::PgStore;

use async_trait::async_trait;
use tickpulse_core::{Candle, Interval, StreamTick, Symbol, Timestamp};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed mid-way: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the data itself: retrying the same rows fails again.
    #[error("database refused the rows: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
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

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
