//! The store: durable history of every accepted tick.
//!
//! Pipelines only see the [`Store`] trait: Postgres ([`PgStore`]) or, in
//! the embedded mode, SQLite ([`SqliteStore`]); both pass the same
//! conformance suite. A store owns
//! durability and idempotency (an `event_id` is stored once, whatever is
//! written twice); it does not decide what is written when (that is the
//! persist consumer).

pub(crate) mod accounts;
pub(crate) mod alerts;
pub(crate) mod catalog;
pub mod node_metrics;
mod postgres;
mod sessions;
mod sql;
mod sqlite;
pub(crate) mod ticks;
pub mod trading;
pub mod watchlists;

pub use self::accounts::{AccountStore, UserRecord};
pub use self::alerts::{AlertFilter, AlertStore};
pub use self::catalog::{CatalogEntry, CatalogStore};
pub use self::node_metrics::MetricStore;
pub use self::postgres::PgStore;
pub use self::sessions::SessionBackend;
pub use self::sqlite::SqliteStore;
pub use self::ticks::TickStore;
pub use self::trading::TradeStore;
pub use self::watchlists::WatchlistStore;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

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

/// One database holding the ticks ([`TickStore`]), the accounts
/// ([`AccountStore`]), the alert log ([`AlertStore`]), the stock catalog
/// ([`CatalogStore`]), paper trading ([`TradeStore`]), the watchlists
/// ([`WatchlistStore`]), the metric history ([`MetricStore`]) and the login
/// sessions; a backend implements them all and these.
#[async_trait]
pub trait Store:
    TickStore + AccountStore + AlertStore + CatalogStore + TradeStore + WatchlistStore + MetricStore
{
    /// Creates the database when missing and applies the migrations not
    /// yet applied; until then the store is not ready.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// `postgres` or `sqlite`, for readiness and logs.
    fn backend(&self) -> &'static str;

    /// The login sessions, kept in the same database.
    fn sessions(&self) -> SessionBackend;
}

/// Which database to open (from `DATABASE_URL`, `REDIS_URL` and
/// `DATA_DIR`; see `Config::store_settings`).
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    /// `DATABASE_URL`: Postgres, or `sqlite:` and a path.
    pub database_url: Option<String>,
    /// The embedded SQLite file, used when there is no `database_url`
    /// (the embedded mode keeps its ticks next to its bus journal); `None`
    /// for no store at all.
    pub embedded_path: Option<std::path::PathBuf>,
    /// How long a Postgres connection or query may take.
    pub timeout: Duration,
}

/// The store `settings` name: `DATABASE_URL` (Postgres or `sqlite:`), the
/// embedded SQLite file, or none.
///
/// # Errors
/// When the URL is malformed or the SQLite file cannot be opened.
pub async fn open(settings: &StoreSettings) -> anyhow::Result<Option<Arc<dyn Store>>> {
    Ok(match (&settings.database_url, &settings.embedded_path) {
        (Some(url), _) if url.starts_with("sqlite:") => {
            Some(Arc::new(SqliteStore::open_url(url).await?))
        }
        (Some(url), _) => Some(Arc::new(PgStore::new(
            url,
            settings.timeout.max(Duration::from_millis(1)),
        )?)),
        (None, Some(path)) => Some(Arc::new(SqliteStore::open(path).await?)),
        (None, None) => None,
    })
}
