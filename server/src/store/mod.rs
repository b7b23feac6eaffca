//! The store: durable history of every accepted tick.
//!
//! Pipelines only see the [`Store`] trait (Postgres today). A store owns
//! durability and idempotency (an `event_id` is stored once, whatever is
//! written twice); it does not decide what is written when (that is the
//! persist consumer).

mod postgres;

pub use self::postgres::PgStore;

use async_trait::async_trait;
use tickpulse_core::StreamTick;

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

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
