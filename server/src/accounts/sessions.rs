//! Login sessions with tower-sessions, kept in the database of the store:
//! Postgres (`tower_sessions.session`) or SQLite (`tower_sessions`).

use async_trait::async_trait;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The name of the session cookie.
pub const COOKIE: &str = "tickpulse_session";

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

/// The session layer: an `HttpOnly`, `SameSite=Strict` cookie, `Secure`
/// when `secure` (served over TLS), expiring after `idle_hours` without use.
pub fn layer(
    backend: SessionBackend,
    secure: bool,
    idle_hours: i64,
) -> SessionManagerLayer<SessionBackend> {
    SessionManagerLayer::new(backend)
        .with_name(COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(CookieDuration::hours(idle_hours)))
}
