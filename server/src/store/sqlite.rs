//! [`SqliteStore`]: the store on SQLite, for the embedded mode (a file under
//! `DATA_DIR`, WAL journal; migrations in `migrations/sqlite/`, kept in step
//! with the Postgres ones).
//!
//! Prices and volumes are stored as exact decimal strings; candles are
//! aggregated in Rust ([`tickpulse_core::CandleBuilder`]) from the rows in
//! event-time order, since SQLite cannot compare decimal strings.

use super::sql::{lite_error as unavailable, Db, SqlStore};
use super::ticks::StoredRow;
use super::SessionBackend;
use super::{Store, StoreError, TickStore};
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tickpulse_core::{Candle, CandleBuilder, Interval, StreamTick, Symbol, Timestamp};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Rows per INSERT statement (8 values each, well below SQLite's limit).
const ROWS_PER_STATEMENT: usize = 500;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The same pool, for the SQL both databases share.
    db: Db,
}

impl SqliteStore {
    /// Opens (creating when missing) the database file at `path`.
    ///
    /// # Errors
    /// When the folder or file cannot be created or opened.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Self::connect(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await
    }

    /// Opens a `sqlite:` URL (e.g. `sqlite://data/ticks.db`).
    ///
    /// # Errors
    /// When the URL is malformed or the file cannot be opened.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad DATABASE_URL: {e}")))?
            .create_if_missing(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // WAL with NORMAL sync: a commit survives the process being killed;
        // the last commits before a power cut may not.
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            db: Db::Lite(pool.clone()),
            pool,
        })
    }
}

impl SqlStore for SqliteStore {
    fn db(&self) -> &Db {
        &self.db
    }
}

#[async_trait]
impl TickStore for SqliteStore {
    async fn insert_ticks(&self, ticks: &[StreamTick]) -> Result<u64, StoreError> {
        if ticks.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut new = 0;
        for chunk in ticks.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT OR IGNORE INTO md_ticks (event_id, stream_id, symbol, price, volume, source, ts, received_at) VALUES ",
            );
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 {
                    "(?,?,?,?,?,?,?,?)"
                } else {
                    ",(?,?,?,?,?,?,?,?)"
                });
            }
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(t.tick.event_id.as_str())
                    .bind(t.id.to_string())
                    .bind(t.tick.symbol.as_str())
                    .bind(t.tick.price.to_string())
                    .bind(t.tick.volume.to_string())
                    .bind(t.tick.source.as_str())
                    .bind(t.tick.ts.as_nanos())
                    .bind(t.received_at.as_nanos());
            }
            new += query
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(new)
    }

    async fn history(
        &self,
        symbol: &Symbol,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<StreamTick>, StoreError> {
        super::ticks::history(&self.db, symbol, before, limit).await
    }

    async fn candles(
        &self,
        symbol: &Symbol,
        interval: Interval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Candle>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT event_id, stream_id, price, volume, source, ts, received_at FROM md_ticks
             WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
        )
        .bind(symbol.as_str())
        .bind(from.as_nanos())
        .bind(to.as_nanos())
        .fetch(&self.pool);
        let mut builder = CandleBuilder::new(interval);
        // Rows of one event time are put in stream order before they go in.
        let mut same_ts: Vec<StreamTick> = Vec::new();
        while let Some(row) = rows.try_next().await.map_err(unavailable)? {
            let tick = to_tick(symbol, &row)?;
            if same_ts.first().is_some_and(|t| t.tick.ts != tick.tick.ts) {
                flush(&mut builder, &mut same_ts);
            }
            same_ts.push(tick);
        }
        flush(&mut builder, &mut same_ts);
        Ok(builder.finish())
    }

    async fn committed(&self, event_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for chunk in event_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT event_id FROM md_ticks WHERE event_id IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            found.extend(query.fetch_all(&self.pool).await.map_err(unavailable)?);
        }
        Ok(found)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.sessions().migrate().await.map_err(unavailable)
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn sessions(&self) -> SessionBackend {
        SessionBackend::Sqlite(tower_sessions_sqlx_store::SqliteStore::new(
            self.pool.clone(),
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM md_ticks LIMIT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

fn flush(builder: &mut CandleBuilder, same_ts: &mut Vec<StreamTick>) {
    same_ts.sort_by_key(|t| t.id);
    for t in same_ts.drain(..) {
        builder.push(&t);
    }
}

/// A stored row back into a tick.
fn to_tick(symbol: &Symbol, row: &SqliteRow) -> Result<StreamTick, StoreError> {
    let text =
        |name: &str| -> Result<String, StoreError> { row.try_get(name).map_err(unavailable) };
    StoredRow {
        stream_id: text("stream_id")?,
        price: super::ticks::stored_decimal(&text("price")?)?,
        volume: super::ticks::stored_decimal(&text("volume")?)?,
        source: text("source")?,
        ts: row.try_get("ts").map_err(unavailable)?,
        event_id: text("event_id")?,
        received_at: row.try_get("received_at").map_err(unavailable)?,
    }
    .into_tick(symbol)
}
