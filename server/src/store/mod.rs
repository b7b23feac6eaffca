//! The store: durable history of every accepted tick.
//!
//! Pipelines only see the [`Store`] trait: Postgres ([`PgStore`]) or, in
//! the embedded mode, SQLite ([`SqliteStore`]); both pass the same
//! conformance suite. A store owns
//! durability and idempotency (an `event_id` is stored once, whatever is
//! written twice); it does not decide what is written when (that is the
//! persist consumer).

pub(crate) mod ops;
mod postgres;
mod sessions;
mod sqlite;

pub use self::ops::{AlertFilter, OpsStore, UserRecord};
pub use self::postgres::PgStore;
pub use self::sessions::SessionBackend;
pub use self::sqlite::SqliteStore;

use crate::config::Config;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Candle, Interval, StreamTick, Symbol, Timestamp};

/// A store failure, by what the caller can do about it. The text is the
/// cause for the log; it is never sent to a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or failed mid-way: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// No connection or answer in time: retry later (a commit may or may not
    /// have happened; writes are idempotent).
    #[error("database timed out: {0}")]
    Timeout(String),
    /// The database refused the data itself: retrying the same rows fails again.
    #[error("database refused the rows: {0}")]
    Rejected(String),
    /// A stored row cannot be read back (changed behind tickpulse's back).
    #[error("database holds an unreadable row: {0}")]
    Corrupt(String),
}

/// Ticks ([`Store`]'s own methods), accounts and alerts ([`OpsStore`]), and
/// the session store, all in one database.
#[async_trait]
pub trait Store: OpsStore {
    /// Creates the database when missing and applies the migrations not
    /// yet applied; until then the store is not ready.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    async fn migrate(&self) -> Result<(), StoreError>;

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

    /// `postgres` or `sqlite`, for readiness and logs.
    fn backend(&self) -> &'static str;

    /// The login sessions, kept in the same database.
    fn sessions(&self) -> SessionBackend;
}

/// The store the configuration names: `DATABASE_URL` (Postgres or
/// `sqlite:`), the embedded SQLite under `DATA_DIR` when neither it nor
/// `REDIS_URL` is set, or none.
///
/// # Errors
/// When the URL is malformed or the SQLite file cannot be opened.
pub async fn open(config: &Config) -> anyhow::Result<Option<Arc<dyn Store>>> {
    Ok(match (&config.database_url, &config.redis_url) {
        (Some(url), _) if url.starts_with("sqlite:") => {
            Some(Arc::new(SqliteStore::open_url(url).await?))
        }
        (Some(url), _) => Some(Arc::new(PgStore::new(
            url,
            Duration::from_millis(config.database_timeout_ms.max(1)),
        )?)),
        // The embedded mode keeps its ticks next to its bus journal.
        (None, None) => Some(Arc::new(
            SqliteStore::open(&config.data_dir.join("ticks.db")).await?,
        )),
        (None, Some(_)) => None,
    })
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
        let bad = |e: String| StoreError::Corrupt(format!("stored tick unreadable: {e}"));
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
