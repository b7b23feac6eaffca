//! The alert log (`node_event`): the trait, its query builder, and its SQL
//! written once for both databases.

use super::sql::{sql, Row, Sql, SqlStore};
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
fn alert_from(row: &Row) -> Result<Alert, StoreError> {
    let severity: String = row.get("severity")?;
    Ok(Alert {
        id: row.get("id")?,
        at: row.get("at")?,
        kind: row.get("kind")?,
        subject: row.get("subject")?,
        severity: Severity::parse(&severity)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown severity {severity:?}")))?,
        message: row.get("message")?,
    })
}

/// The `WHERE` clause and its text parameters for `filter`.
fn alert_query(filter: &AlertFilter) -> (String, Vec<String>) {
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

#[async_trait::async_trait]
impl<S: SqlStore> AlertStore for S {
    async fn add_alerts(&self, alerts: &[Alert]) -> Result<(), StoreError> {
        let mut tx = self.db().begin_write().await?;
        for a in alerts {
            sql(
                "INSERT INTO node_event (at, kind, subject, severity, message)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(a.at)
            .bind(&a.kind)
            .bind(&a.subject)
            .bind(a.severity.as_str())
            .bind(&a.message)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let (text, args) = alert_query(filter);
        args.into_iter()
            .fold(sql(text), Sql::bind)
            .fetch_all(self.db())
            .await?
            .iter()
            .map(alert_from)
            .collect()
    }
}

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
