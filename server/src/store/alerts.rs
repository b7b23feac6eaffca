//! The alert log (`node_event`): the trait, its query builder and its SQL,
//! written once for Postgres and SQLite and expanded into each store by
//! [`alert_store!`].

use super::StoreError;
use tickpulse_core::health::{Alert, Severity};

/// Which alerts to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// `node` or `feed`.
    pub scope: Option<String>,
    pub severity: Option<Severity>,
    pub subject: Option<String>,
    /// Only alerts with a smaller id (paging).
    pub before_id: Option<i64>,
    /// Only alerts raised at or after this time (ms).
    pub from_at: Option<i64>,
    /// Only alerts raised before this time (ms).
    pub to_at: Option<i64>,
    pub limit: usize,
}

/// A row of the query [`alert_query`] builds.
pub(crate) fn alert_from<R>(
    row: &R,
    failed: fn(sqlx::Error) -> StoreError,
) -> Result<Alert, StoreError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let severity: String = row.try_get("severity").map_err(failed)?;
    Ok(Alert {
        id: row.try_get("id").map_err(failed)?,
        at: row.try_get("at").map_err(failed)?,
        kind: row.try_get("kind").map_err(failed)?,
        subject: row.try_get("subject").map_err(failed)?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown severity {severity:?}")))?,
        message: row.try_get("message").map_err(failed)?,
    })
}

/// The `WHERE` clause and its text parameters for `filter`.
pub(crate) fn alert_query(filter: &AlertFilter) -> (String, Vec<String>) {
    let mut sql =
        String::from("SELECT id, at, kind, subject, severity, message FROM node_event WHERE 1 = 1");
    let mut args = Vec::new();
    let mut add = |sql: &mut String, clause: &str, arg: String| {
        args.push(arg);
        sql.push_str(&clause.replace('?', &format!("${}", args.len())));
    };
    if let Some(scope) = &filter.scope {
        add(&mut sql, " AND kind LIKE ?", format!("{scope}.%"));
    }
    if let Some(severity) = filter.severity {
        add(&mut sql, " AND severity = ?", severity.as_str().to_owned());
    }
    if let Some(subject) = &filter.subject {
        add(&mut sql, " AND subject = ?", subject.clone());
    }
    if let Some(before) = filter.before_id {
        sql.push_str(&format!(" AND id < {before}"));
    }
    if let Some(from) = filter.from_at {
        sql.push_str(&format!(" AND at >= {from}"));
    }
    if let Some(to) = filter.to_at {
        sql.push_str(&format!(" AND at < {to}"));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", filter.limit.max(1)));
    (sql, args)
}

/// The alert log (`node_event`).
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Appends alerts to the log, all or none.
    async fn add_alerts(&self, alerts: &[Alert]) -> Result<(), StoreError>;
    /// Alerts matching `filter`, newest first.
    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;
}

/// Implements [`AlertStore`] for a store type with a `pool` field, in a
/// module with an `unavailable(sqlx::Error) -> StoreError` in scope. The SQL
/// is the same on Postgres and SQLite (both read `$n` parameters).
macro_rules! alert_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AlertStore for $store {
            async fn add_alerts(
                &self,
                alerts: &[tickpulse_core::health::Alert],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                for a in alerts {
                    sqlx::query(
                        "INSERT INTO node_event (at, kind, subject, severity, message)
                     VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(a.at)
                    .bind(&a.kind)
                    .bind(&a.subject)
                    .bind(a.severity.as_str())
                    .bind(&a.message)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                }
                tx.commit().await.map_err(unavailable)
            }

            async fn alerts(
                &self,
                filter: &$crate::store::AlertFilter,
            ) -> Result<Vec<tickpulse_core::health::Alert>, StoreError> {
                let (sql, args) = $crate::store::alerts::alert_query(filter);
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = query.bind(arg);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::alerts::alert_from(row, unavailable))
                    .collect()
            }
        }
    };
}

pub(crate) use alert_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_filter_numbers_its_parameters() {
        let (sql, args) = alert_query(&AlertFilter {
            scope: Some("node".into()),
            subject: Some("a".into()),
            before_id: Some(10),
            limit: 5,
            ..AlertFilter::default()
        });
        assert!(
            sql.contains("kind LIKE $1 AND subject = $2 AND id < 10"),
            "{sql}"
        );
        assert!(sql.ends_with("ORDER BY id DESC LIMIT 5"));
        assert_eq!(args, ["node.%", "a"]);
    }
}
