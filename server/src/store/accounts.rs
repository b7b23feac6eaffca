//! Accounts (`app_user`): the trait and its SQL, written once for Postgres
//! and SQLite and expanded into each store by [`account_store!`].

use super::StoreError;
use tickpulse_core::account::Role;

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

/// Accounts (`app_user`).
#[async_trait::async_trait]
pub trait AccountStore: Send + Sync + 'static {
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
}

/// Implements [`AccountStore`] for a store type with a `pool` field, in a
/// module with an `unavailable(sqlx::Error) -> StoreError` in scope. The SQL
/// is the same on Postgres and SQLite (both read `$n` parameters).
macro_rules! account_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AccountStore for $store {
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
                    $crate::store::accounts::SELECT_USER
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| $crate::store::accounts::user_from(row, unavailable))
                    .collect()
            }

            async fn user(
                &self,
                username: &str,
            ) -> Result<Option<$crate::store::UserRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "{} WHERE username = $1",
                    $crate::store::accounts::SELECT_USER
                ))
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                row.map(|row| $crate::store::accounts::user_from(&row, unavailable))
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
        }
    };
}

pub(crate) use account_store;
