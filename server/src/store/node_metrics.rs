//! The metric history (`node_metric`): the trait and its SQL, written once
//! for Postgres and SQLite and expanded into each store by
//! [`metric_store!`].

use super::StoreError;
use tickpulse_core::health::NodeMetric;

/// Rows one round of [`MetricStore::compact_node_metrics`] averages at most,
/// so a long backlog is worked off in bounded transactions.
pub const COMPACT_ROWS: i64 = 50_000;

/// What a round of compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Rows replaced by coarser ones.
    pub averaged: u64,
    /// Rows older than the retention, deleted.
    pub deleted: u64,
}

/// When rows are averaged into coarser ones, and when they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows finer than a minute become 1-minute rows after this age (ms).
    pub minute_after_ms: i64,
    /// 1-minute rows become 1-hour rows after this age (ms).
    pub hour_after_ms: i64,
    /// Every row goes after this age (ms).
    pub delete_after_ms: i64,
}

impl Retention {
    pub const DAY_MS: i64 = 86_400_000;

    /// A day of samples, a week of minutes, hours until `retain_days`.
    pub fn days(retain_days: u64) -> Self {
        Self {
            minute_after_ms: Self::DAY_MS,
            hour_after_ms: 7 * Self::DAY_MS,
            delete_after_ms: retain_days.max(1) as i64 * Self::DAY_MS,
        }
    }
}

#[async_trait::async_trait]
pub trait MetricStore: Send + Sync + 'static {
    /// Appends rows, all or none; a row already there (same node, time and
    /// step: a retried write) is kept as it is.
    async fn add_node_metrics(&self, rows: &[NodeMetric]) -> Result<(), StoreError>;
    /// Rows with `from <= at < to`, of one node or all, by node then time.
    async fn node_metrics(
        &self,
        from: i64,
        to: i64,
        node: Option<&str>,
    ) -> Result<Vec<NodeMetric>, StoreError>;
    /// Averages aged rows into coarser ones and deletes the expired, each
    /// in a transaction of its own.
    async fn compact_node_metrics(
        &self,
        now: i64,
        retention: Retention,
    ) -> Result<Compacted, StoreError>;
}

const COLUMNS: &str = "node, at, step_secs, cpu_pct, rss_bytes, net_in_bps, net_out_bps, connections, sse_clients, tasks, sched_delay_ms, ingest_rate, persist_lag_p99_ms, stream_lag, dead_letters, sse_resets";

/// `INSERT` of one row with `$n` parameters, kept if already there.
pub(crate) fn insert_sql() -> String {
    let params: Vec<String> = (1..=16).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO node_metric ({COLUMNS}) VALUES ({}) ON CONFLICT (node, at, step_secs) DO NOTHING",
        params.join(", ")
    )
}

/// `SELECT` of the rows in `[$1, $2)`, of node `$3` when it is not null.
pub(crate) fn select_sql() -> String {
    format!("SELECT {COLUMNS} FROM node_metric WHERE at >= $1 AND at < $2 AND (CAST($3 AS TEXT) IS NULL OR node = CAST($3 AS TEXT)) ORDER BY node, at")
}

/// `SELECT` of up to [`COMPACT_ROWS`] rows older than `$1` with a step under
/// `$2` seconds, oldest first.
pub(crate) fn aged_sql() -> String {
    format!("SELECT {COLUMNS} FROM node_metric WHERE at < $1 AND step_secs < $2 ORDER BY at LIMIT {COMPACT_ROWS}")
}

pub(crate) fn metric_from<R>(
    row: &R,
    failed: fn(sqlx::Error) -> StoreError,
) -> Result<NodeMetric, StoreError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let f = |name: &str| row.try_get::<f64, _>(name).map_err(failed);
    Ok(NodeMetric {
        node: row.try_get("node").map_err(failed)?,
        at: row.try_get("at").map_err(failed)?,
        step_secs: i64::from(row.try_get::<i32, _>("step_secs").map_err(failed)?),
        cpu_pct: f("cpu_pct")?,
        rss_bytes: f("rss_bytes")?,
        net_in_bps: f("net_in_bps")?,
        net_out_bps: f("net_out_bps")?,
        connections: f("connections")?,
        sse_clients: f("sse_clients")?,
        tasks: f("tasks")?,
        sched_delay_ms: f("sched_delay_ms")?,
        ingest_rate: f("ingest_rate")?,
        persist_lag_p99_ms: row.try_get("persist_lag_p99_ms").map_err(failed)?,
        stream_lag: f("stream_lag")?,
        dead_letters: f("dead_letters")?,
        sse_resets: f("sse_resets")?,
    })
}

/// Implements [`MetricStore`] for a store type with a `pool` field, in a
/// module with an `unavailable(sqlx::Error) -> StoreError` in scope. The SQL
/// is the same on Postgres and SQLite.
macro_rules! metric_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn insert_node_metrics<'e, E>(
                executor: E,
                row: &tickpulse_core::health::NodeMetric,
            ) -> Result<(), StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(&$crate::store::node_metrics::insert_sql())
                    .bind(&row.node)
                    .bind(row.at)
                    .bind(row.step_secs as i32)
                    .bind(row.cpu_pct)
                    .bind(row.rss_bytes)
                    .bind(row.net_in_bps)
                    .bind(row.net_out_bps)
                    .bind(row.connections)
                    .bind(row.sse_clients)
                    .bind(row.tasks)
                    .bind(row.sched_delay_ms)
                    .bind(row.ingest_rate)
                    .bind(row.persist_lag_p99_ms)
                    .bind(row.stream_lag)
                    .bind(row.dead_letters)
                    .bind(row.sse_resets)
                    .execute(executor)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            /// Replaces the rows older than `before` with a step under
            /// `step_secs` by their averages over `step_secs`.
            async fn average_aged(&self, before: i64, step_secs: i64) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                let rows = sqlx::query(&$crate::store::node_metrics::aged_sql())
                    .bind(before)
                    .bind(step_secs as i32)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?
                    .iter()
                    .map(|row| $crate::store::node_metrics::metric_from(row, unavailable))
                    .collect::<Result<Vec<_>, _>>()?;
                if rows.is_empty() {
                    return Ok(0);
                }
                // Only whole steps: the last, maybe partial, step of a
                // bounded read waits for the next round.
                let step_ms = step_secs * 1_000;
                let last_step = rows
                    .iter()
                    .map(|r| r.at.div_euclid(step_ms))
                    .max()
                    .unwrap_or(0);
                let whole = rows.len() < $crate::store::node_metrics::COMPACT_ROWS as usize;
                let rows: Vec<_> = rows
                    .into_iter()
                    .filter(|r| whole || r.at.div_euclid(step_ms) < last_step)
                    .collect();
                for averaged in tickpulse_core::health::downsample(&rows, step_secs) {
                    Self::insert_node_metrics(&mut *tx, &averaged).await?;
                }
                for r in &rows {
                    sqlx::query(
                        "DELETE FROM node_metric WHERE node = $1 AND at = $2 AND step_secs = $3",
                    )
                    .bind(&r.node)
                    .bind(r.at)
                    .bind(r.step_secs as i32)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(rows.len() as u64)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::MetricStore for $store {
            async fn add_node_metrics(
                &self,
                rows: &[tickpulse_core::health::NodeMetric],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                for row in rows {
                    Self::insert_node_metrics(&mut *tx, row).await?;
                }
                tx.commit().await.map_err(unavailable)
            }

            async fn node_metrics(
                &self,
                from: i64,
                to: i64,
                node: Option<&str>,
            ) -> Result<Vec<tickpulse_core::health::NodeMetric>, StoreError> {
                let rows = sqlx::query(&$crate::store::node_metrics::select_sql())
                    .bind(from)
                    .bind(to)
                    .bind(node)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::node_metrics::metric_from(row, unavailable))
                    .collect()
            }

            async fn compact_node_metrics(
                &self,
                now: i64,
                retention: $crate::store::node_metrics::Retention,
            ) -> Result<$crate::store::node_metrics::Compacted, StoreError> {
                // The expired go first: nothing is averaged only to go.
                let deleted = sqlx::query("DELETE FROM node_metric WHERE at < $1")
                    .bind(now - retention.delete_after_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .rows_affected();
                let mut averaged = self
                    .average_aged(now - retention.minute_after_ms, 60)
                    .await?;
                averaged += self
                    .average_aged(now - retention.hour_after_ms, 3_600)
                    .await?;
                Ok($crate::store::node_metrics::Compacted { averaged, deleted })
            }
        }
    };
}

pub(crate) use metric_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_number_their_parameters_in_column_order() {
        let insert = insert_sql();
        assert!(
            insert.contains("$16)") && !insert.contains("$17"),
            "{insert}"
        );
        assert_eq!(COLUMNS.split(", ").count(), 16);
        assert!(select_sql().contains("node = CAST($3 AS TEXT)"));
    }
}
