//! Watchlists (`watchlist`, `watchlist_symbol`): each user's named lists of
//! symbols. The trait, and its SQL written once for both databases.
//!
//! Every change is one transaction that first locks the user's row
//! (`FOR UPDATE` on Postgres; SQLite's `BEGIN IMMEDIATE` locks the
//! database), so the limits hold under concurrent requests and a refused
//! change writes nothing.

use super::sql::{sql, On, SqlStore, Tx};
use super::StoreError;
use tickpulse_core::watchlist::{name_key, Watchlist};
use tickpulse_core::Symbol;

/// Why a change was not made (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchlistRefusal {
    /// No such list of this user.
    NotFound,
    /// The user has a list of this name (whatever its case).
    NameTaken(String),
    /// The user has this many lists already, the most allowed.
    TooManyLists(usize),
    /// The list would hold more than this many symbols.
    TooManySymbols(usize),
    /// The symbol to remove is not in the list.
    NotInList(Symbol),
}

/// A change's outcome: the list after it, or why it was not made.
pub type Changed = Result<Watchlist, WatchlistRefusal>;

/// What a store's change needs besides the list: its limits and the time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_lists: usize,
    pub max_symbols: usize,
}

#[async_trait::async_trait]
pub trait WatchlistStore: Send + Sync + 'static {
    /// The user's lists, oldest first.
    async fn watchlists(&self, user: &str) -> Result<Vec<Watchlist>, StoreError>;
    /// One list of the user's.
    async fn watchlist(&self, user: &str, id: i64) -> Result<Option<Watchlist>, StoreError>;
    /// A new list named `name` (checked) holding `symbols` (checked, no
    /// repeats).
    async fn create_watchlist(
        &self,
        user: &str,
        name: &str,
        symbols: &[Symbol],
        limits: Limits,
        now_ms: i64,
    ) -> Result<Changed, StoreError>;
    /// Renames the list and/or replaces its symbols.
    async fn update_watchlist(
        &self,
        user: &str,
        id: i64,
        name: Option<&str>,
        symbols: Option<&[Symbol]>,
        limits: Limits,
    ) -> Result<Changed, StoreError>;
    /// `false` when the user has no such list.
    async fn delete_watchlist(&self, user: &str, id: i64) -> Result<bool, StoreError>;
    /// Adds `symbol` at the end; a symbol already there stays where it is.
    async fn add_watchlist_symbol(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
        limits: Limits,
    ) -> Result<Changed, StoreError>;
    async fn remove_watchlist_symbol(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
    ) -> Result<Changed, StoreError>;
}

/// Implements [`WatchlistStore`] for a store type with a `pool` field and a
/// `begin_write()`, in a module with `unavailable(sqlx::Error) ->
/// StoreError` in scope. `lock` is appended to the statements that lock
/// the user's row (`" FOR UPDATE"` on Postgres, `""` on SQLite).
/// The list's symbols, in order.
async fn list_symbols(on: On<'_>, id: i64) -> Result<Vec<Symbol>, StoreError> {
    sql("SELECT symbol FROM watchlist_symbol WHERE watchlist_id = $1 ORDER BY position")
        .bind(id)
        .fetch_all(on)
        .await?
        .iter()
        .map(|row| {
            let s: String = row.first()?;
            Symbol::new_checked(&s)
                .map_err(|e| StoreError::Corrupt(format!("watchlist {id} holds {s:?}: {e}")))
        })
        .collect()
}

/// The list of `user` with this id, with its symbols.
async fn read_list(mut on: On<'_>, user: &str, id: i64) -> Result<Option<Watchlist>, StoreError> {
    let Some(row) = sql("SELECT name FROM watchlist WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .fetch_optional(on.again())
        .await?
    else {
        return Ok(None);
    };
    let name: String = row.first()?;
    let symbols = list_symbols(on, id).await?;
    Ok(Some(Watchlist { id, name, symbols }))
}

/// Locks the user's row; `false` when there is no such user.
async fn lock_user(tx: &mut Tx, user: &str) -> Result<bool, StoreError> {
    let lock = tx.lock();
    let found = sql(format!(
        "SELECT username FROM app_user WHERE username = $1{lock}"
    ))
    .bind(user)
    .fetch_optional(tx)
    .await?;
    Ok(found.is_some())
}

/// Whether another list of the user's has this name.
async fn name_taken(tx: &mut Tx, user: &str, name: &str, except: i64) -> Result<bool, StoreError> {
    let found = sql("SELECT id FROM watchlist WHERE user_id = $1 AND name_key = $2 AND id <> $3")
        .bind(user)
        .bind(name_key(name))
        .bind(except)
        .fetch_optional(tx)
        .await?;
    Ok(found.is_some())
}

async fn write_symbols(tx: &mut Tx, id: i64, symbols: &[Symbol]) -> Result<(), StoreError> {
    sql("DELETE FROM watchlist_symbol WHERE watchlist_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (position, symbol) in symbols.iter().enumerate() {
        sql("INSERT INTO watchlist_symbol (watchlist_id, symbol, position) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(symbol.as_str())
            .bind(i32::try_from(position).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl<S: SqlStore> WatchlistStore for S {
    async fn watchlists(&self, user: &str) -> Result<Vec<Watchlist>, StoreError> {
        let lists = sql("SELECT id, name FROM watchlist WHERE user_id = $1 ORDER BY id")
            .bind(user)
            .fetch_all(self.db())
            .await?;
        let mut out = Vec::with_capacity(lists.len());
        for row in lists {
            let (id, name): (i64, String) = (row.get("id")?, row.get("name")?);
            let symbols = list_symbols(self.db().into(), id).await?;
            out.push(Watchlist { id, name, symbols });
        }
        Ok(out)
    }

    async fn watchlist(&self, user: &str, id: i64) -> Result<Option<Watchlist>, StoreError> {
        read_list(self.db().into(), user, id).await
    }

    async fn create_watchlist(
        &self,
        user: &str,
        name: &str,
        symbols: &[Symbol],
        limits: Limits,
        now_ms: i64,
    ) -> Result<Changed, StoreError> {
        use WatchlistRefusal as No;
        if symbols.len() > limits.max_symbols {
            return Ok(Err(No::TooManySymbols(limits.max_symbols)));
        }
        let mut tx = self.db().begin_write().await?;
        if !lock_user(&mut tx, user).await? {
            return Err(StoreError::Rejected(format!("no user {user:?}")));
        }
        let lists: i64 = sql("SELECT COUNT(*) FROM watchlist WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut tx)
            .await?
            .first()?;
        if usize::try_from(lists).unwrap_or(usize::MAX) >= limits.max_lists {
            return Ok(Err(No::TooManyLists(limits.max_lists)));
        }
        if name_taken(&mut tx, user, name, -1).await? {
            return Ok(Err(No::NameTaken(name.to_owned())));
        }
        let id: i64 = sql("INSERT INTO watchlist (user_id, name, name_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(user)
            .bind(name)
            .bind(name_key(name))
            .bind(now_ms)
            .fetch_one(&mut tx)
            .await?
            .first()?;
        write_symbols(&mut tx, id, symbols).await?;
        tx.commit().await?;
        Ok(Ok(Watchlist {
            id,
            name: name.to_owned(),
            symbols: symbols.to_vec(),
        }))
    }

    async fn update_watchlist(
        &self,
        user: &str,
        id: i64,
        name: Option<&str>,
        symbols: Option<&[Symbol]>,
        limits: Limits,
    ) -> Result<Changed, StoreError> {
        use WatchlistRefusal as No;
        let mut tx = self.db().begin_write().await?;
        lock_user(&mut tx, user).await?;
        if read_list((&mut tx).into(), user, id).await?.is_none() {
            return Ok(Err(No::NotFound));
        }
        if let Some(name) = name {
            if name_taken(&mut tx, user, name, id).await? {
                return Ok(Err(No::NameTaken(name.to_owned())));
            }
            sql("UPDATE watchlist SET name = $1, name_key = $2 WHERE id = $3")
                .bind(name)
                .bind(name_key(name))
                .bind(id)
                .execute(&mut tx)
                .await?;
        }
        if let Some(symbols) = symbols {
            if symbols.len() > limits.max_symbols {
                return Ok(Err(No::TooManySymbols(limits.max_symbols)));
            }
            write_symbols(&mut tx, id, symbols).await?;
        }
        let after = read_list((&mut tx).into(), user, id).await?;
        tx.commit().await?;
        Ok(after.ok_or(No::NotFound))
    }

    async fn delete_watchlist(&self, user: &str, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.db().begin_write().await?;
        lock_user(&mut tx, user).await?;
        sql("DELETE FROM watchlist_symbol WHERE watchlist_id IN (SELECT id FROM watchlist WHERE id = $1 AND user_id = $2)")
            .bind(id)
            .bind(user)
            .execute(&mut tx)
            .await?;
        let deleted = sql("DELETE FROM watchlist WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    }

    async fn add_watchlist_symbol(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
        limits: Limits,
    ) -> Result<Changed, StoreError> {
        use WatchlistRefusal as No;
        let mut tx = self.db().begin_write().await?;
        lock_user(&mut tx, user).await?;
        let Some(mut list) = read_list((&mut tx).into(), user, id).await? else {
            return Ok(Err(No::NotFound));
        };
        if list.symbols.contains(symbol) {
            return Ok(Ok(list));
        }
        if list.symbols.len() >= limits.max_symbols {
            return Ok(Err(No::TooManySymbols(limits.max_symbols)));
        }
        sql("INSERT INTO watchlist_symbol (watchlist_id, symbol, position)
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), -1) + 1 FROM watchlist_symbol WHERE watchlist_id = $1))")
        .bind(id)
        .bind(symbol.as_str())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        list.symbols.push(symbol.clone());
        Ok(Ok(list))
    }

    async fn remove_watchlist_symbol(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
    ) -> Result<Changed, StoreError> {
        use WatchlistRefusal as No;
        let mut tx = self.db().begin_write().await?;
        lock_user(&mut tx, user).await?;
        let Some(mut list) = read_list((&mut tx).into(), user, id).await? else {
            return Ok(Err(No::NotFound));
        };
        if !list.symbols.contains(symbol) {
            return Ok(Err(No::NotInList(symbol.clone())));
        }
        sql("DELETE FROM watchlist_symbol WHERE watchlist_id = $1 AND symbol = $2")
            .bind(id)
            .bind(symbol.as_str())
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        list.symbols.retain(|s| s != symbol);
        Ok(Ok(list))
    }
}
