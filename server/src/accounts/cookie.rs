//! The session cookie: its name and its rules, around the store's session
//! records.

use crate::store::SessionBackend;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The name of the session cookie.
pub const COOKIE: &str = "tickpulse_session";

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
