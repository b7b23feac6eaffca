//! The stock catalog (`catalog`): what can be traded and how many shares
//! the house can still sell. The trait and its SQL are written once for
//! Postgres and SQLite and expanded into each store by [`catalog_store!`].

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

pub(crate) const SELECT_ENTRY: &str = "SELECT symbol, name, available, created_at FROM catalog";

/// A row of [`SELECT_ENTRY`].
pub(crate) fn entry_from<R>(
    row: &R,
    failed: fn(sqlx::Error) -> StoreError,
) -> Result<CatalogEntry, StoreError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CatalogEntry {
        symbol: row.try_get("symbol").map_err(failed)?,
        name: row.try_get("name").map_err(failed)?,
        available: row.try_get("available").map_err(failed)?,
        created_at: row.try_get("created_at").map_err(failed)?,
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

/// Implements [`CatalogStore`] for a store type with a `pool` field, in a
/// module with an `unavailable(sqlx::Error) -> StoreError` in scope. The SQL
/// is the same on Postgres and SQLite.
macro_rules! catalog_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::CatalogStore for $store {
            async fn add_stock(
                &self,
                entry: &$crate::store::CatalogEntry,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO catalog (symbol, name, available, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (symbol) DO NOTHING",
                )
                .bind(&entry.symbol)
                .bind(&entry.name)
                .bind(entry.available)
                .bind(entry.created_at)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn put_stock(
                &self,
                entry: &$crate::store::CatalogEntry,
            ) -> Result<bool, StoreError> {
                if self.add_stock(entry).await? {
                    return Ok(true);
                }
                sqlx::query("UPDATE catalog SET name = $1, available = $2 WHERE symbol = $3")
                    .bind(&entry.name)
                    .bind(entry.available)
                    .bind(&entry.symbol)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(false)
            }

            async fn set_available(
                &self,
                symbol: &str,
                available: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE catalog SET available = $1 WHERE symbol = $2")
                    .bind(available)
                    .bind(symbol)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn stock(
                &self,
                symbol: &str,
            ) -> Result<Option<$crate::store::CatalogEntry>, StoreError> {
                let row = sqlx::query(&format!(
                    "{} WHERE symbol = $1",
                    $crate::store::catalog::SELECT_ENTRY
                ))
                .bind(symbol)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                row.map(|row| $crate::store::catalog::entry_from(&row, unavailable))
                    .transpose()
            }

            async fn stocks(&self) -> Result<Vec<$crate::store::CatalogEntry>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{} ORDER BY symbol",
                    $crate::store::catalog::SELECT_ENTRY
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::catalog::entry_from(row, unavailable))
                    .collect()
            }
        }
    };
}

pub(crate) use catalog_store;
