//! [`PgStore`]: the store on Postgres (`md_ticks`, see `migrations/`).

use super::sql::{pg_error as unavailable, Db, SqlStore};
use super::SessionBackend;
use super::{Store, StoreError, TickStore};
use async_trait::async_trait;
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Candle, Interval, Price, StreamTick, Symbol, Timestamp, Volume};

/// The migrations of `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool, for the SQL both databases share.
    db: Db,
    url: String,
    /// Set once the migrations are applied; until then the store is not ready.
    migrated: Arc<AtomicBool>,
}

impl PgStore {
    /// Prepares a pool without connecting, so the server starts (and reports
    /// "degraded") while Postgres is down.
    ///
    /// # Errors
    /// When the URL is malformed.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(timeout)
            .connect_lazy(url)
            .map_err(unavailable)?;
        Ok(Self {
            db: Db::Pg(pool.clone()),
            pool,
            url: url.to_owned(),
            migrated: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn create_and_migrate(&self) -> Result<(), StoreError> {
        use sqlx::migrate::MigrateDatabase;
        let failed = |e: sqlx::Error| StoreError::Unavailable(e.to_string());
        if !sqlx::Postgres::database_exists(&self.url)
            .await
            .map_err(failed)?
        {
            tracing::info!("creating the database");
            sqlx::Postgres::create_database(&self.url)
                .await
                .map_err(failed)?;
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.sessions().migrate().await.map_err(failed)?;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writes the ticks with one `COPY` in one transaction.
    async fn copy_ticks(&self, ticks: &[StreamTick]) -> Result<u64, CopyFailed> {
        let mut rows = String::with_capacity(ticks.len() * 160);
        for t in ticks {
            copy_row(&mut rows, t);
        }
        let mut tx = self.pool.begin().await.map_err(CopyFailed::from)?;
        let mut copy = tx
            .copy_in_raw(
                "COPY md_ticks (event_id, stream_id, symbol, price, volume, source, ts, received_at) FROM STDIN",
            )
            .await
            .map_err(CopyFailed::from)?;
        if let Err(e) = copy.send(rows.as_bytes()).await {
            let _ = copy.abort("send failed").await;
            return Err(e.into());
        }
        let n = copy.finish().await.map_err(CopyFailed::from)?;
        tx.commit().await.map_err(CopyFailed::from)?;
        Ok(n)
    }

    /// Writes the ticks whose `event_id` is not stored yet, in one statement.
    async fn insert_new_ticks(&self, ticks: &[StreamTick]) -> Result<u64, StoreError> {
        let mut event_id = Vec::with_capacity(ticks.len());
        let mut stream_id = Vec::with_capacity(ticks.len());
        let mut symbol = Vec::with_capacity(ticks.len());
        let mut price: Vec<Decimal> = Vec::with_capacity(ticks.len());
        let mut volume: Vec<Decimal> = Vec::with_capacity(ticks.len());
        let mut source = Vec::with_capacity(ticks.len());
        let mut ts = Vec::with_capacity(ticks.len());
        let mut received_at = Vec::with_capacity(ticks.len());
        for t in ticks {
            event_id.push(t.tick.event_id.as_str());
            stream_id.push(t.id.to_string());
            symbol.push(t.tick.symbol.as_str());
            price.push(t.tick.price.value());
            volume.push(t.tick.volume.value());
            source.push(t.tick.source.as_str());
            ts.push(t.tick.ts.as_nanos());
            received_at.push(t.received_at.as_nanos());
        }
        // One statement, one transaction: the batch is committed whole or not at all.
        let result = sqlx::query(
            "INSERT INTO md_ticks (event_id, stream_id, symbol, price, volume, source, ts, received_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::numeric[], $5::numeric[],
                                  $6::text[], $7::bigint[], $8::bigint[])
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event_id)
        .bind(&stream_id)
        .bind(&symbol)
        .bind(&price)
        .bind(&volume)
        .bind(&source)
        .bind(&ts)
        .bind(&received_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}

/// Why a `COPY` did not write a batch.
impl SqlStore for PgStore {
    fn db(&self) -> &Db {
        &self.db
    }
}

enum CopyFailed {
    /// Some `event_id` of the batch is stored already; nothing was written.
    AlreadyStored,
    Other(StoreError),
}

impl From<sqlx::Error> for CopyFailed {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                CopyFailed::AlreadyStored
            }
            _ => CopyFailed::Other(unavailable(e)),
        }
    }
}

/// Appends one tick as a row of `COPY … FROM STDIN` (text format).
fn copy_row(out: &mut String, t: &StreamTick) {
    use std::fmt::Write as _;
    copy_text(out, t.tick.event_id.as_str());
    let _ = write!(out, "\t{}\t", t.id);
    copy_text(out, t.tick.symbol.as_str());
    let _ = write!(out, "\t{}\t{}\t", t.tick.price, t.tick.volume);
    copy_text(out, t.tick.source.as_str());
    let _ = writeln!(
        out,
        "\t{}\t{}",
        t.tick.ts.as_nanos(),
        t.received_at.as_nanos()
    );
}

/// A text value for the `COPY` text format: backslash, tab, newline and
/// carriage return are escaped.
fn copy_text(out: &mut String, value: &str) {
    if !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[async_trait]
impl TickStore for PgStore {
    async fn insert_ticks(&self, ticks: &[StreamTick]) -> Result<u64, StoreError> {
        if ticks.is_empty() {
            return Ok(0);
        }
        // Usually none of the ticks is stored yet: one COPY is the fastest
        // way in. When one is (a batch written again after a crash), the
        // COPY fails on the unique event_id as a whole and the batch goes
        // through the statement that skips what is already there.
        match self.copy_ticks(ticks).await {
            Err(CopyFailed::AlreadyStored) => self.insert_new_ticks(ticks).await,
            Err(CopyFailed::Other(e)) => Err(e),
            Ok(n) => Ok(n),
        }
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
        let rows = sqlx::query(
            "SELECT ts - (ts % $2) AS bucket,
                    (array_agg(price ORDER BY ts, stream_id))[1] AS open,
                    max(price) AS high, min(price) AS low,
                    (array_agg(price ORDER BY ts DESC, stream_id DESC))[1] AS close,
                    sum(volume) AS volume, count(*) AS trades
             FROM md_ticks WHERE symbol = $1 AND ts >= $3 AND ts < $4
             GROUP BY bucket ORDER BY bucket",
        )
        .bind(symbol.as_str())
        .bind(interval.nanos())
        .bind(from.as_nanos())
        .bind(to.as_nanos())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let price = |name: &str| -> Result<Price, StoreError> {
                    let d: Decimal = row.try_get(name).map_err(unavailable)?;
                    Price::new_checked(d.normalize())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))
                };
                let volume: Decimal = row.try_get("volume").map_err(unavailable)?;
                let trades: i64 = row.try_get("trades").map_err(unavailable)?;
                Ok(Candle {
                    bucket: Timestamp::from_nanos(row.try_get("bucket").map_err(unavailable)?),
                    open: price("open")?,
                    high: price("high")?,
                    low: price("low")?,
                    close: price("close")?,
                    volume: Volume::new_checked(volume.normalize())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    trades: u64::try_from(trades).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn committed(&self, event_ids: &[String]) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT event_id FROM md_ticks WHERE event_id = ANY($1)")
            .bind(event_ids)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.create_and_migrate().await
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn sessions(&self) -> SessionBackend {
        SessionBackend::Postgres(tower_sessions_sqlx_store::PostgresStore::new(
            self.pool.clone(),
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if !self.migrated.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(
                "the database is not migrated yet".into(),
            ));
        }
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
