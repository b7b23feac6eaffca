//! [`PgStore`]: the store on Postgres (`md_ticks`, see `migrations/`).

use super::{Store, StoreError};
use async_trait::async_trait;
use rust_decimal::Decimal;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;
use tickpulse_core::StreamTick;

/// The migrations of `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    url: String,
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
            pool,
            url: url.to_owned(),
        })
    }

    /// Creates the database when it does not exist, then applies the
    /// migrations not yet applied.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
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
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        // Constraint and data errors do not go away by retrying.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
        {
            StoreError::Rejected(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl Store for PgStore {
    async fn insert_ticks(&self, ticks: &[StreamTick]) -> Result<u64, StoreError> {
        if ticks.is_empty() {
            return Ok(0);
        }
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
