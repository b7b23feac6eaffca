//! Accounts (`app_user`): the trait, and its SQL written once for both
//! databases.

use super::sql::{sql, Row, SqlStore};
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

const SELECT_USER: &str = "SELECT username, password_hash, role, created_at FROM app_user";

/// A row of [`SELECT_USER`].
fn user_from(row: &Row) -> Result<UserRecord, StoreError> {
    let role: String = row.get("role")?;
    Ok(UserRecord {
        username: row.get("username")?,
        password_hash: row.get("password_hash")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        created_at: row.get("created_at")?,
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

#[async_trait::async_trait]
impl<S: SqlStore> AccountStore for S {
    async fn user_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sql("SELECT count(*) FROM app_user")
            .fetch_one(self.db())
            .await?
            .first()?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn add_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let done = sql(
            "INSERT INTO app_user (username, password_hash, role, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .execute(self.db())
        .await?;
        Ok(done == 1)
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows = sql(format!("{} ORDER BY username", SELECT_USER))
            .fetch_all(self.db())
            .await?;
        rows.iter().map(|row| user_from(row)).collect()
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sql(format!("{} WHERE username = $1", SELECT_USER))
            .bind(username)
            .fetch_optional(self.db())
            .await?;
        row.map(|row| user_from(&row)).transpose()
    }

    async fn set_password(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        let done = sql("UPDATE app_user SET password_hash = $1 WHERE username = $2")
            .bind(hash)
            .bind(username)
            .execute(self.db())
            .await?;
        Ok(done == 1)
    }

    async fn remove_user(&self, username: &str) -> Result<bool, StoreError> {
        let done = sql("DELETE FROM app_user WHERE username = $1")
            .bind(username)
            .execute(self.db())
            .await?;
        Ok(done == 1)
    }
}
