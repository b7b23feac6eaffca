//! Accounts (`app_user`) and the alert log (`node_event`): the same SQL on
//! Postgres and SQLite (both read `$n` parameters), written once in
//! [`ops_methods!`] and expanded into each store's `impl Store`.

use super::StoreError;
use tickpulse_core::account::Role;
use tickpulse_core::health::{Alert, Severity};

/// One row of `app_user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    /// The argon2id PHC string; never the password.
    pub password_hash: String,
    pub role: Role,
    /// ms since the epoch.
    pub created_at: i64,
}

/// Which alerts to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// `node` or `feed`.
    pub scope: Option<String>,
    pub severity: Option<Severity>,
    pub subject: Option<String>,
    /// Only alerts with a smaller id (paging).
    pub before_id: Option<i64>,
    pub limit: usize,
}

pub(crate) const SELECT_USER: &str =
    "SELECT username, password_hash, role, created_at FROM app_user";

/// A row of [`SELECT_USER`].
pub(crate) fn user_from<R>(
    row: &R,
    failed: fn(sqlx::Error) -> StoreError,
) -> Result<UserRecord, StoreError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role").map_err(failed)?;
    Ok(UserRecord {
        username: row.try_get("username").map_err(failed)?,
        password_hash: row.try_get("password_hash").map_err(failed)?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        created_at: row.try_get("created_at").map_err(failed)?,
    })
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
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", filter.limit.max(1)));
    (sql, args)
}

/// Accounts and the alert log, beside the ticks of [`super::Store`].
#[async_trait::async_trait]
pub trait OpsStore: Send + Sync + 'static {
    /// How many accounts exist.
    async fn user_count(&self) -> Result<u64, StoreError>;
    /// Adds the account; `false` (and nothing changed) when the name is taken.
    async fn add_user(&self, user: &UserRecord) -> Result<bool, StoreError>;
    /// Every account, by name.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Replaces the password hash; `false` when there is no such account.
    async fn set_password(&self, username: &str, hash: &str) -> Result<bool, StoreError>;
    /// `false` when there is no such account.
    async fn remove_user(&self, username: &str) -> Result<bool, StoreError>;
    /// Appends alerts to the log, all or none.
    async fn add_alerts(&self, alerts: &[Alert]) -> Result<(), StoreError>;
    /// Alerts matching `filter`, newest first.
    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError>;
}

/// Implements [`OpsStore`] for a store type with a `pool` field, in a
/// module with an `unavailable(sqlx::Error) -> StoreError` in scope.
macro_rules! ops_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::OpsStore for $store {
            async fn user_count(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM app_user")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn add_user(&self, user: &$crate::store::UserRecord) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO app_user (username, password_hash, role, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
                )
                .bind(&user.username)
                .bind(&user.password_hash)
                .bind(user.role.as_str())
                .bind(user.created_at)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn users(&self) -> Result<Vec<$crate::store::UserRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "{} ORDER BY username",
                    $crate::store::ops::SELECT_USER
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::ops::user_from(row, unavailable))
                    .collect()
            }

            async fn user(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::UserRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "{} WHERE username = $1",
                    $crate::store::ops::SELECT_USER
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                row.map(|row| $crate::store::ops::user_from(&row, unavailable))
                    .transpose()
            }

            async fn set_password(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
                let done =
                    sqlx::query("UPDATE app_user SET password_hash = $1 WHERE username = $2")
                        .bind(hash)
                        .bind(username)
                        .execute(&self.pool)
                        .await
                        .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM app_user WHERE username = $1")
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

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
                let (sql, args) = $crate::store::ops::alert_query(filter);
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = query.bind(arg);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::ops::alert_from(row, unavailable))
                    .collect()
            }
        }
    };
}

pub(crate) use ops_store;

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
