//! The metric history (`node_metric`): the trait, and its SQL written once
//! for both databases.

use super::sql::{sql, Db, Row, SqlStore, Tx};
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
fn insert_sql() -> String {
    let params: Vec<String> = (1..=16).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO node_metric ({COLUMNS}) VALUES ({}) ON CONFLICT (node, at, step_secs) DO NOTHING",
        params.join(", ")
    )
}

/// `SELECT` of the rows in `[$1, $2)`, of node `$3` when it is not null.
fn select_sql() -> String {
    format!("SELECT {COLUMNS} FROM node_metric WHERE at >= $1 AND at < $2 AND (CAST($3 AS TEXT) IS NULL OR node = CAST($3 AS TEXT)) ORDER BY node, at")
}

/// `SELECT` of up to [`COMPACT_ROWS`] rows older than `$1` with a step under
/// `$2` seconds, oldest first.
fn aged_sql() -> String {
    format!("SELECT {COLUMNS} FROM node_metric WHERE at < $1 AND step_secs < $2 ORDER BY at LIMIT {COMPACT_ROWS}")
}

fn metric_from(row: &Row) -> Result<NodeMetric, StoreError> {
    let f = |name: &str| row.get::<f64>(name);
    Ok(NodeMetric {
        node: row.get("node")?,
        at: row.get("at")?,
        step_secs: i64::from(row.get::<i32>("step_secs")?),
        cpu_pct: f("cpu_pct")?,
        rss_bytes: f("rss_bytes")?,
        net_in_bps: f("net_in_bps")?,
        net_out_bps: f("net_out_bps")?,
        connections: f("connections")?,
        sse_clients: f("sse_clients")?,
        tasks: f("tasks")?,
        sched_delay_ms: f("sched_delay_ms")?,
        ingest_rate: f("ingest_rate")?,
        persist_lag_p99_ms: row.get("persist_lag_p99_ms")?,
        stream_lag: f("stream_lag")?,
        dead_letters: f("dead_letters")?,
        sse_resets: f("sse_resets")?,
    })
}

/// Inserts one row (kept if already there).
async fn insert_node_metric(tx: &mut Tx, row: &NodeMetric) -> Result<(), StoreError> {
    sql(insert_sql())
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
        .execute(tx)
        .await?;
    Ok(())
}

/// Replaces the rows older than `before` with a step under `step_secs` by
/// their averages over `step_secs`.
async fn average_aged(db: &Db, before: i64, step_secs: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin_write().await?;
    let rows = sql(aged_sql())
        .bind(before)
        .bind(step_secs as i32)
        .fetch_all(&mut tx)
        .await?
        .iter()
        .map(metric_from)
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Only whole steps: the last, maybe partial, step of a bounded read
    // waits for the next round.
    let step_ms = step_secs * 1_000;
    let last_step = rows
        .iter()
        .map(|r| r.at.div_euclid(step_ms))
        .max()
        .unwrap_or(0);
    let whole = rows.len() < COMPACT_ROWS as usize;
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| whole || r.at.div_euclid(step_ms) < last_step)
        .collect();
    for averaged in tickpulse_core::health::downsample(&rows, step_secs) {
        insert_node_metric(&mut tx, &averaged).await?;
    }
    for r in &rows {
        sql("DELETE FROM node_metric WHERE node = $1 AND at = $2 AND step_secs = $3")
            .bind(&r.node)
            .bind(r.at)
            .bind(r.step_secs as i32)
            .execute(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

#[async_trait::async_trait]
impl<S: SqlStore> MetricStore for S {
    async fn add_node_metrics(&self, rows: &[NodeMetric]) -> Result<(), StoreError> {
        let mut tx = self.db().begin_write().await?;
        for row in rows {
            insert_node_metric(&mut tx, row).await?;
        }
        tx.commit().await
    }

    async fn node_metrics(
        &self,
        from: i64,
        to: i64,
        node: Option<&str>,
    ) -> Result<Vec<NodeMetric>, StoreError> {
        sql(select_sql())
            .bind(from)
            .bind(to)
            .bind(node)
            .fetch_all(self.db())
            .await?
            .iter()
            .map(metric_from)
            .collect()
    }

    async fn compact_node_metrics(
        &self,
        now: i64,
        retention: Retention,
    ) -> Result<Compacted, StoreError> {
        // The expired go first: nothing is averaged only to go.
        let deleted = sql("DELETE FROM node_metric WHERE at < $1")
            .bind(now - retention.delete_after_ms)
            .execute(self.db())
            .await?;
        let mut averaged = average_aged(self.db(), now - retention.minute_after_ms, 60).await?;
        averaged += average_aged(self.db(), now - retention.hour_after_ms, 3_600).await?;
        Ok(Compacted { averaged, deleted })
    }
}

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
