//! The stock catalog (`catalog`): what can be traded and how many shares
//! the house can still sell. The trait, and its SQL written once for both
//! databases.

use super::sql::{sql, Row, SqlStore};
use super::StoreError;

/// One row of `catalog`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// A checked symbol (`tickpulse_core::Symbol`), upper case.
    pub symbol: String,
    /// What people call it (`Bitcoin`); the symbol when none was given.
    pub name: String,
    /// Shares the house can still sell; never negative.
    pub available: i64,
    /// ms since the epoch.
    pub created_at: i64,
}

const SELECT_ENTRY: &str = "SELECT symbol, name, available, created_at FROM catalog";

/// A row of [`SELECT_ENTRY`].
fn entry_from(row: &Row) -> Result<CatalogEntry, StoreError> {
    Ok(CatalogEntry {
        symbol: row.get("symbol")?,
        name: row.get("name")?,
        available: row.get("available")?,
        created_at: row.get("created_at")?,
    })
}

/// The stock catalog.
#[async_trait::async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Adds the entry; `false` (and nothing changed) when the symbol is
    /// already in the catalog.
    async fn add_stock(&self, entry: &CatalogEntry) -> Result<bool, StoreError>;
    /// Adds the entry, or sets the name and quantity of the one there
    /// (keeping its `created_at`); `true` when it was added.
    async fn put_stock(&self, entry: &CatalogEntry) -> Result<bool, StoreError>;
    /// Sets the available quantity; `false` when the symbol is not in the
    /// catalog.
    async fn set_available(&self, symbol: &str, available: i64) -> Result<bool, StoreError>;
    async fn stock(&self, symbol: &str) -> Result<Option<CatalogEntry>, StoreError>;
    /// The whole catalog, by symbol.
    async fn stocks(&self) -> Result<Vec<CatalogEntry>, StoreError>;
}

#[async_trait::async_trait]
impl<S: SqlStore> CatalogStore for S {
    async fn add_stock(&self, entry: &CatalogEntry) -> Result<bool, StoreError> {
        let added = sql("INSERT INTO catalog (symbol, name, available, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (symbol) DO NOTHING")
        .bind(&entry.symbol)
        .bind(&entry.name)
        .bind(entry.available)
        .bind(entry.created_at)
        .execute(self.db())
        .await?;
        Ok(added == 1)
    }

    async fn put_stock(&self, entry: &CatalogEntry) -> Result<bool, StoreError> {
        if self.add_stock(entry).await? {
            return Ok(true);
        }
        sql("UPDATE catalog SET name = $1, available = $2 WHERE symbol = $3")
            .bind(&entry.name)
            .bind(entry.available)
            .bind(&entry.symbol)
            .execute(self.db())
            .await?;
        Ok(false)
    }

    async fn set_available(&self, symbol: &str, available: i64) -> Result<bool, StoreError> {
        let changed = sql("UPDATE catalog SET available = $1 WHERE symbol = $2")
            .bind(available)
            .bind(symbol)
            .execute(self.db())
            .await?;
        Ok(changed == 1)
    }

    async fn stock(&self, symbol: &str) -> Result<Option<CatalogEntry>, StoreError> {
        sql(format!("{SELECT_ENTRY} WHERE symbol = $1"))
            .bind(symbol)
            .fetch_optional(self.db())
            .await?
            .map(|row| entry_from(&row))
            .transpose()
    }

    async fn stocks(&self) -> Result<Vec<CatalogEntry>, StoreError> {
        sql(format!("{SELECT_ENTRY} ORDER BY symbol"))
            .fetch_all(self.db())
            .await?
            .iter()
            .map(entry_from)
            .collect()
    }
}
