//! Accounts and sign-in: users in the store's `app_user` table (argon2id
//! hashes only), sessions in the same database, throttled logins.
//!
//! The login page, the CLI and the admin endpoints all go through
//! [`Accounts`], so each rule is written once.

pub mod cli;
mod cookie;
pub mod extract;
pub mod limiter;
pub mod password;
pub mod token;

pub use self::cookie::{layer, COOKIE};
pub use self::extract::{Admin, Caller, CurrentUser, Gate, MaybeUser};

use crate::store::{Store, StoreError, UserRecord};
use limiter::{Limiter, Limits};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tickpulse_core::account::{self, Role, SignedIn};
use tickpulse_core::Timestamp;
use tower_sessions::Session;

/// The session entry of a signed-in user.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SessionUser {
    username: String,
    /// [`password::tag`] of the hash at sign-in.
    tag: String,
}

const SESSION_KEY: &str = "user";

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The one answer for a wrong user name or a wrong password.
    #[error("wrong user name or password")]
    Invalid,
    #[error("too many sign-in attempts; try again in {} s", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input: which field and why.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

pub struct Accounts {
    store: Arc<dyn Store>,
    limiter: Mutex<Limiter>,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_limits(store, Limits::default())
    }

    pub fn with_limits(store: Arc<dyn Store>, limits: Limits) -> Self {
        Self {
            store,
            limiter: Mutex::new(Limiter::new(limits)),
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a user name and password from `ip`; on success the session
    /// gets a new id (no fixation) and holds the user.
    ///
    /// # Errors
    /// [`LoginError::Invalid`] whatever was wrong, `Throttled` after too
    /// many failures, `Unavailable` when the database or session store fails.
    pub async fn login(
        &self,
        session: &Session,
        username: &str,
        password: &str,
        ip: &str,
    ) -> Result<SignedIn, LoginError> {
        let name = account::username(username).unwrap_or_else(|_| username.to_owned());
        let throttled = {
            let mut limiter = self.limiter();
            let now = Instant::now();
            let wait = limiter.throttled(&name, ip, now);
            if wait.is_some() {
                limiter.refused(ip, now);
            }
            wait
        };
        if let Some(wait) = throttled {
            tracing::warn!(user = %name, ip, "sign-in refused: throttled");
            return Err(LoginError::Throttled(wait));
        }
        let user = self
            .store
            .user(&name)
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        // An unknown name costs the same hashing time as a wrong password.
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let verified = password::verify(password, hash).await;
        let Some(user) = user.filter(|_| verified) else {
            return Err(self.failed(&name, ip));
        };
        self.limiter().succeeded(&name);
        let unavailable =
            |e: tower_sessions::session::Error| LoginError::Unavailable(e.to_string());
        session.cycle_id().await.map_err(unavailable)?;
        session
            .insert(
                SESSION_KEY,
                SessionUser {
                    username: user.username.clone(),
                    tag: password::tag(&user.password_hash),
                },
            )
            .await
            .map_err(unavailable)?;
        tracing::info!(user = %user.username, ip, "signed in");
        Ok(SignedIn {
            username: user.username,
            role: user.role,
        })
    }

    fn failed(&self, name: &str, ip: &str) -> LoginError {
        self.limiter().failed(name, ip, Instant::now());
        tracing::warn!(user = %name, ip, "sign-in refused: wrong user name or password");
        LoginError::Invalid
    }

    /// Ends the session: its record is deleted, so its cookie is worth
    /// nothing from now on, even if someone kept a copy.
    ///
    /// # Errors
    /// When the session store fails.
    pub async fn logout(&self, session: &Session) -> Result<(), String> {
        if let Ok(Some(user)) = session.get::<SessionUser>(SESSION_KEY).await {
            tracing::info!(user = %user.username, "signed out");
        }
        session.flush().await.map_err(|e| e.to_string())
    }

    /// Who the session belongs to, if anyone: the account must still exist
    /// and its password must not have changed since sign-in.
    ///
    /// # Errors
    /// When the database or the session store fails.
    pub async fn current(&self, session: &Session) -> Result<Option<SignedIn>, String> {
        let Some(entry) = session
            .get::<SessionUser>(SESSION_KEY)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let user = self
            .store
            .user(&entry.username)
            .await
            .map_err(|e| e.to_string())?;
        Ok(user
            .filter(|u| password::tag(&u.password_hash) == entry.tag)
            .map(|u| SignedIn {
                username: u.username,
                role: u.role,
            }))
    }

    /// Adds an account.
    ///
    /// # Errors
    /// Bad name or password, a taken name, or a database failure.
    pub async fn add(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<UserRecord, AccountError> {
        let username = account::username(username).map_err(|message| AccountError::Invalid {
            field: "username",
            message,
        })?;
        check_password(password)?;
        let record = UserRecord {
            password_hash: password::hash(password).await.map_err(AccountError::Hash)?,
            username,
            role,
            created_at: Timestamp::now().as_millis(),
        };
        if !self.store.add_user(&record).await? {
            return Err(AccountError::Exists(record.username));
        }
        Ok(record)
    }

    /// Sets a new password; the user's sessions end with it.
    ///
    /// # Errors
    /// Bad password, no such user, or a database failure.
    pub async fn passwd(&self, username: &str, password: &str) -> Result<(), AccountError> {
        let username = normalised(username)?;
        check_password(password)?;
        let hash = password::hash(password).await.map_err(AccountError::Hash)?;
        if self.store.set_password(&username, &hash).await? {
            Ok(())
        } else {
            Err(AccountError::NotFound(username))
        }
    }

    /// # Errors
    /// No such user, or a database failure.
    pub async fn remove(&self, username: &str) -> Result<(), AccountError> {
        let username = normalised(username)?;
        if self.store.remove_user(&username).await? {
            Ok(())
        } else {
            Err(AccountError::NotFound(username))
        }
    }

    /// Makes a new personal token for `username` and returns it; only its
    /// hash is stored.
    ///
    /// # Errors
    /// No such user, or a database failure.
    pub async fn new_token(&self, username: &str) -> Result<String, AccountError> {
        let username = normalised(username)?;
        let (token, hash) = token::generate();
        if self
            .store
            .add_token(&username, &hash, Timestamp::now())
            .await?
        {
            tracing::info!(user = %username, "personal token created");
            Ok(token)
        } else {
            Err(AccountError::NotFound(username))
        }
    }

    /// Whose personal token `token` is, if anyone's.
    ///
    /// # Errors
    /// A database failure.
    pub async fn token_user(&self, token: &str) -> Result<Option<SignedIn>, StoreError> {
        let Some(username) = self.store.token_user(&token::hash(token)).await? else {
            return Ok(None);
        };
        Ok(self.store.user(&username).await?.map(|u| SignedIn {
            username: u.username,
            role: u.role,
        }))
    }

    /// # Errors
    /// A database failure.
    pub async fn list(&self) -> Result<Vec<UserRecord>, AccountError> {
        Ok(self.store.users().await?)
    }

    /// On a database without accounts, creates the admin `username` with
    /// `password` (from `ADMIN_USERNAME` / `ADMIN_PASSWORD`). Never invents
    /// a password. Returns whether an account was created.
    ///
    /// # Errors
    /// Bad name or password, or a database failure.
    pub async fn bootstrap(
        &self,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<bool, AccountError> {
        if self.store.user_count().await? > 0 {
            return Ok(false);
        }
        match (username, password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => {
                match self.add(u, p, Role::Admin).await {
                    Ok(user) => {
                        tracing::info!(user = %user.username, "created the first admin from ADMIN_USERNAME");
                        Ok(true)
                    }
                    // Another process created it at the same moment.
                    Err(AccountError::Exists(_)) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            _ => {
                tracing::info!(
                    "no accounts yet: set ADMIN_USERNAME and ADMIN_PASSWORD, or run `tickpulse user add NAME --admin`"
                );
                Ok(false)
            }
        }
    }
}

fn normalised(username: &str) -> Result<String, AccountError> {
    account::username(username).map_err(|message| AccountError::Invalid {
        field: "username",
        message,
    })
}

fn check_password(password: &str) -> Result<(), AccountError> {
    account::new_password(password).map_err(|message| AccountError::Invalid {
        field: "password",
        message,
    })
}
