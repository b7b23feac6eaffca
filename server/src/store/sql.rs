//! The SQL both databases share, run on either. [`Db`] is a Postgres or a
//! SQLite pool, [`Tx`] a transaction on one, [`sql`] a statement with its
//! values and [`Row`] a row read back; each query both dialects accept is
//! written once, as a plain function over these (in the store's file of its
//! feature), and `grep` finds its text.
//!
//! What differs between the two is said here, once:
//! - money is bound as Postgres's exact `NUMERIC` and as SQLite's text
//!   (both read it back with `CAST(… AS TEXT)`);
//! - a read that will write locks its rows with `FOR UPDATE` on Postgres;
//!   SQLite's transaction took the one write lock at `BEGIN IMMEDIATE`
//!   ([`Tx::lock`]);
//! - which driver errors mean the database refused the data, and which that
//!   it is unavailable ([`pg_error`], [`lite_error`]).

use super::StoreError;
use rust_decimal::Decimal;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{PgPool, Postgres, Row as _, Sqlite, SqlitePool};

/// A store's pool: what its queries run on.
#[derive(Clone)]
pub(crate) enum Db {
    Pg(PgPool),
    Lite(SqlitePool),
}

/// A transaction that may write.
pub(crate) enum Tx {
    Pg(sqlx::Transaction<'static, Postgres>),
    Lite(sqlx::Transaction<'static, Sqlite>),
}

/// A row read back.
pub(crate) enum Row {
    Pg(PgRow),
    Lite(SqliteRow),
}

/// A value bound to a statement.
pub(crate) enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Int32(i32),
    Float(f64),
    OptFloat(Option<f64>),
    /// An exact amount: `NUMERIC` on Postgres, text on SQLite.
    Money(Decimal),
    OptMoney(Option<Decimal>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::OptText(v.map(str::to_owned))
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}

impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Arg::Int32(v)
    }
}

impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Self {
        Arg::OptFloat(v)
    }
}

impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Float(v)
    }
}

/// A statement and its values, in `$1, $2, …` order.
pub(crate) struct Sql {
    text: String,
    args: Vec<Arg>,
}

/// The statement `text` (placeholders `$1, $2, …` in both dialects).
pub(crate) fn sql(text: impl Into<String>) -> Sql {
    Sql {
        text: text.into(),
        args: Vec::new(),
    }
}

/// Where a statement runs: the pool (a statement of its own) or a
/// transaction.
pub(crate) enum On<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl On<'_> {
    /// The same place again, for the next statement.
    pub fn again(&mut self) -> On<'_> {
        match self {
            On::Db(db) => On::Db(db),
            On::Tx(tx) => On::Tx(tx),
        }
    }
}

impl<'a> From<&'a Db> for On<'a> {
    fn from(db: &'a Db) -> Self {
        On::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

fn pg_query(text: &str, args: Vec<Arg>) -> Query<'_, Postgres, PgArguments> {
    args.into_iter()
        .fold(sqlx::query(text), |q, arg| match arg {
            Arg::Text(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Int32(v) => q.bind(v),
            Arg::Float(v) => q.bind(v),
            Arg::OptFloat(v) => q.bind(v),
            Arg::Money(v) => q.bind(v),
            Arg::OptMoney(v) => q.bind(v),
        })
}

fn lite_query(text: &str, args: Vec<Arg>) -> Query<'_, Sqlite, SqliteArguments<'_>> {
    let money = |v: Decimal| v.normalize().to_string();
    args.into_iter()
        .fold(sqlx::query(text), |q, arg| match arg {
            Arg::Text(v) => q.bind(v),
            Arg::OptText(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::OptInt(v) => q.bind(v),
            Arg::Int32(v) => q.bind(v),
            Arg::Float(v) => q.bind(v),
            Arg::OptFloat(v) => q.bind(v),
            Arg::Money(v) => q.bind(money(v)),
            Arg::OptMoney(v) => q.bind(v.map(money)),
        })
}

impl Sql {
    /// Binds the next value.
    pub fn bind(mut self, v: impl Into<Arg>) -> Self {
        self.args.push(v.into());
        self
    }

    /// Binds an exact amount as the database's exact type.
    pub fn money(mut self, v: Decimal) -> Self {
        self.args.push(Arg::Money(v));
        self
    }

    /// Binds an amount that may be absent.
    pub fn opt_money(mut self, v: Option<Decimal>) -> Self {
        self.args.push(Arg::OptMoney(v));
        self
    }

    /// Runs it; how many rows it changed.
    pub async fn execute<'a>(self, on: impl Into<On<'a>>) -> Result<u64, StoreError> {
        let (text, args) = (self.text.as_str(), self.args);
        match on.into() {
            On::Db(Db::Pg(pool)) => pg_query(text, args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(pg_error),
            On::Db(Db::Lite(pool)) => lite_query(text, args)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(lite_error),
            On::Tx(Tx::Pg(tx)) => pg_query(text, args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected())
                .map_err(pg_error),
            On::Tx(Tx::Lite(tx)) => lite_query(text, args)
                .execute(&mut **tx)
                .await
                .map(|r| r.rows_affected())
                .map_err(lite_error),
        }
    }

    /// The one row it reads.
    pub async fn fetch_one<'a>(self, on: impl Into<On<'a>>) -> Result<Row, StoreError> {
        let (text, args) = (self.text.as_str(), self.args);
        match on.into() {
            On::Db(Db::Pg(pool)) => pg_query(text, args)
                .fetch_one(pool)
                .await
                .map(Row::Pg)
                .map_err(pg_error),
            On::Db(Db::Lite(pool)) => lite_query(text, args)
                .fetch_one(pool)
                .await
                .map(Row::Lite)
                .map_err(lite_error),
            On::Tx(Tx::Pg(tx)) => pg_query(text, args)
                .fetch_one(&mut **tx)
                .await
                .map(Row::Pg)
                .map_err(pg_error),
            On::Tx(Tx::Lite(tx)) => lite_query(text, args)
                .fetch_one(&mut **tx)
                .await
                .map(Row::Lite)
                .map_err(lite_error),
        }
    }

    /// The row it reads, if any.
    pub async fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a>>,
    ) -> Result<Option<Row>, StoreError> {
        let (text, args) = (self.text.as_str(), self.args);
        match on.into() {
            On::Db(Db::Pg(pool)) => pg_query(text, args)
                .fetch_optional(pool)
                .await
                .map(|r| r.map(Row::Pg))
                .map_err(pg_error),
            On::Db(Db::Lite(pool)) => lite_query(text, args)
                .fetch_optional(pool)
                .await
                .map(|r| r.map(Row::Lite))
                .map_err(lite_error),
            On::Tx(Tx::Pg(tx)) => pg_query(text, args)
                .fetch_optional(&mut **tx)
                .await
                .map(|r| r.map(Row::Pg))
                .map_err(pg_error),
            On::Tx(Tx::Lite(tx)) => lite_query(text, args)
                .fetch_optional(&mut **tx)
                .await
                .map(|r| r.map(Row::Lite))
                .map_err(lite_error),
        }
    }

    /// Every row it reads.
    pub async fn fetch_all<'a>(self, on: impl Into<On<'a>>) -> Result<Vec<Row>, StoreError> {
        let (text, args) = (self.text.as_str(), self.args);
        match on.into() {
            On::Db(Db::Pg(pool)) => pg_query(text, args)
                .fetch_all(pool)
                .await
                .map(|r| r.into_iter().map(Row::Pg).collect())
                .map_err(pg_error),
            On::Db(Db::Lite(pool)) => lite_query(text, args)
                .fetch_all(pool)
                .await
                .map(|r| r.into_iter().map(Row::Lite).collect())
                .map_err(lite_error),
            On::Tx(Tx::Pg(tx)) => pg_query(text, args)
                .fetch_all(&mut **tx)
                .await
                .map(|r| r.into_iter().map(Row::Pg).collect())
                .map_err(pg_error),
            On::Tx(Tx::Lite(tx)) => lite_query(text, args)
                .fetch_all(&mut **tx)
                .await
                .map(|r| r.into_iter().map(Row::Lite).collect())
                .map_err(lite_error),
        }
    }
}

impl Row {
    /// The column `name`.
    ///
    /// # Errors
    /// `Unavailable` when the column is missing or of another type.
    pub fn get<T>(&self, name: &str) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    {
        match self {
            Row::Pg(r) => r.try_get(name).map_err(pg_error),
            Row::Lite(r) => r.try_get(name).map_err(lite_error),
        }
    }

    /// The first column (of a `SELECT` of one value).
    ///
    /// # Errors
    /// As [`Row::get`].
    pub fn first<T>(&self) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        T: for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
    {
        match self {
            Row::Pg(r) => r.try_get(0).map_err(pg_error),
            Row::Lite(r) => r.try_get(0).map_err(lite_error),
        }
    }
}

impl Db {
    /// A transaction that may write: on SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so two of them never both read and then
    /// both try to write (which fails one).
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self {
            Db::Pg(pool) => pool.begin().await.map(Tx::Pg).map_err(pg_error),
            Db::Lite(pool) => pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(Tx::Lite)
                .map_err(lite_error),
        }
    }
}

impl Tx {
    /// What a read that will write appends to lock its rows to the end of
    /// the transaction.
    pub fn lock(&self) -> &'static str {
        match self {
            Tx::Pg(_) => " FOR UPDATE",
            Tx::Lite(_) => "",
        }
    }

    /// # Errors
    /// When the commit fails (nothing was written then).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Pg(tx) => tx.commit().await.map_err(pg_error),
            Tx::Lite(tx) => tx.commit().await.map_err(lite_error),
        }
    }
}

/// A store on one of the two databases: the features' SQL (accounts, the
/// alert log, the catalog, trading, watchlists, the metric history) is
/// implemented once for every such store.
pub(crate) trait SqlStore: Send + Sync + 'static {
    fn db(&self) -> &Db;
}

/// A Postgres failure, by what the caller can do about it: bad data (a
/// check, a constraint: SQLSTATE classes 22 and 23) is refused, a full
/// pool timed out, anything else is unavailable.
pub(crate) fn pg_error(e: sqlx::Error) -> StoreError {
    match &e {
        // Constraint and data errors do not go away by retrying.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
        {
            StoreError::Rejected(e.to_string())
        }
        sqlx::Error::PoolTimedOut => StoreError::Timeout(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// A SQLite failure, by what the caller can do about it.
pub(crate) fn lite_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_check_violation() || db.is_foreign_key_violation() => {
            StoreError::Rejected(e.to_string())
        }
        sqlx::Error::PoolTimedOut => StoreError::Timeout(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}
