//! The login sessions' store: tower-sessions records kept in the database
//! of the store, Postgres (`tower_sessions.session`) or SQLite
//! (`tower_sessions`). The cookie and its rules are the accounts' (see
//! `accounts::cookie`).

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// A session store on either database.
#[derive(Debug, Clone)]
pub enum SessionBackend {
    Postgres(PostgresStore),
    Sqlite(SqliteStore),
}

impl SessionBackend {
    /// Creates the session table when missing.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(s) => s.migrate().await,
            Self::Sqlite(s) => s.migrate().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Postgres(s) => s.create(record).await,
            Self::Sqlite(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Postgres(s) => s.save(record).await,
            Self::Sqlite(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Postgres(s) => s.load(id).await,
            Self::Sqlite(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Postgres(s) => s.delete(id).await,
            Self::Sqlite(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for SessionBackend {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Self::Postgres(s) => s.delete_expired().await,
            Self::Sqlite(s) => s.delete_expired().await,
        }
    }
}
