//! Who is asking, for every door: [`CurrentUser`] (a signed-in user or a
//! personal token), [`Admin`] (an admin session, an admin's token or the
//! admin key) as axum extractors, and the two guards built on the same
//! rules, [`api_key_guard`] (the public API with `API_KEY` set) and
//! [`page_guard`] (the pages). No handler repeats these checks.
//!
//! - `/api/admin/*` (nodes, events, health, live stream): an admin session,
//!   or `x-api-key: ADMIN_API_KEY` for scripts.
//! - Other `/api/*` routes: open, or, with `API_KEY` set, `x-api-key:
//!   API_KEY`, any signed-in user, or a personal token
//!   (`Authorization: Bearer`).
//! - Trading and watchlists (`/api/account`, `/api/orders*`,
//!   `/api/watchlists*`): a signed-in user or a personal token, always.
//! - Pages: each page's access is declared beside the routes, in
//!   `tickpulse_app::PAGES`. An admin page redirects a visitor to the login
//!   page and answers a signed-in viewer 403 (the app's `Forbidden` view);
//!   with `API_KEY` set every page but the login page needs a signed-in user.

use super::Accounts;
use crate::error::ApiError;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tickpulse_app::Access;
use tickpulse_core::account::{Role, SignedIn};
use tower_sessions::Session;

/// What deciding who may pass takes: the accounts (with a database), the
/// keys, and the stylesheet of the 403 page. Built once at start-up; the
/// extractors read it from the server's state.
pub struct Gate {
    pub accounts: Option<Arc<Accounts>>,
    /// `API_KEY`: with it set, the public API needs a key, a session or a
    /// token.
    pub api_key: Option<String>,
    /// `ADMIN_API_KEY`: scripts reach the admin API with it.
    pub admin_api_key: Option<String>,
    /// The site's stylesheet, for the 403 page.
    pub css: String,
}

/// The user a request acts for: the owner of the personal token in
/// `Authorization: Bearer …`, or the signed-in user of the session. A
/// handler that takes it runs only for such a request; others get a 401
/// that says how to sign in.
pub struct CurrentUser(pub SignedIn);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser
where
    Arc<Gate>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let gate = Arc::<Gate>::from_ref(state);
        let session = parts.extensions.get::<Session>();
        require_user(&gate, parts.headers.get(header::AUTHORIZATION), session)
            .await
            .map(Self)
    }
}

/// A request that may act for a user: checked only when the handler asks
/// ([`MaybeUser::user`]), so a request that needs none (a stream of
/// symbols rather than of a watchlist) costs no session lookup.
pub struct MaybeUser {
    gate: Arc<Gate>,
    /// `Authorization`, the only header the check reads.
    authorization: Option<HeaderValue>,
    session: Option<Session>,
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser
where
    Arc<Gate>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            gate: Arc::<Gate>::from_ref(state),
            authorization: parts.headers.get(header::AUTHORIZATION).cloned(),
            session: parts.extensions.get::<Session>().cloned(),
        })
    }
}

impl MaybeUser {
    /// The user, as [`CurrentUser`] finds it.
    ///
    /// # Errors
    /// As [`CurrentUser`]'s refusal.
    pub async fn user(&self) -> Result<SignedIn, ApiError> {
        require_user(
            &self.gate,
            self.authorization.as_ref(),
            self.session.as_ref(),
        )
        .await
    }

    /// The user when the request names one (a bearer token, or a session
    /// that is signed in); `None` for an anonymous request.
    ///
    /// # Errors
    /// A bearer token that is not valid (401), or the store's failure.
    pub async fn optional(&self) -> Result<Option<SignedIn>, ApiError> {
        if self.authorization.is_some() {
            return self.user().await.map(Some);
        }
        signed_in(&self.gate, self.session.as_ref()).await
    }
}

/// An admin request: the admin key, an admin's personal token, or an admin
/// session (a stream checks that session again while it lasts, see
/// [`Caller::still_admin`]). Others get a 401, a signed-in non-admin a 403.
pub struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Arc<Gate>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let gate = Arc::<Gate>::from_ref(state);
        let session = parts.extensions.get::<Session>().cloned();
        require_admin(&gate, &parts.headers, session)
            .await
            .map(Self)
    }
}

/// The request's session, when the session layer is on (there is a
/// database).
pub struct MaybeSession(Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Session>().cloned()))
    }
}

/// Whether `headers` carry `x-api-key` equal to `expected`.
fn key_matches(headers: &HeaderMap, expected: Option<&str>) -> bool {
    match (expected, headers.get("x-api-key")) {
        (Some(expected), Some(given)) if !expected.is_empty() => {
            bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

/// The signed-in user of a request, if any.
async fn signed_in(gate: &Gate, session: Option<&Session>) -> Result<Option<SignedIn>, ApiError> {
    match (&gate.accounts, session) {
        (Some(accounts), Some(session)) => accounts
            .current(session)
            .await
            .map_err(ApiError::SessionUnavailable),
        _ => Ok(None),
    }
}

/// The user a trading request acts for: the owner of the personal token
/// in `Authorization: Bearer …`, or the signed-in user of the session.
///
/// # Errors
/// `SignInRequired` without either (or with a token that is not valid),
/// `NoStore` without a database, or the check's failure.
async fn require_user(
    gate: &Gate,
    authorization: Option<&HeaderValue>,
    session: Option<&Session>,
) -> Result<SignedIn, ApiError> {
    let accounts = gate.accounts.as_ref().ok_or(ApiError::NoStore("trading"))?;
    if let Some(value) = authorization {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::SignInRequired(
                "Authorization must be `Bearer <personal token>`",
            ))?;
        return accounts
            .token_user(token)
            .await?
            .ok_or(ApiError::SignInRequired(
                "the personal token is not valid (make one with `tickpulse user token NAME`)",
            ));
    }
    signed_in(gate, session).await?.ok_or(ApiError::SignInRequired(
        "sign in, or send Authorization: Bearer <personal token> (`tickpulse user token NAME` makes one)",
    ))
}

/// Who called an admin endpoint.
pub enum Caller {
    /// A script with the admin API key, or an admin's personal token.
    Key,
    /// An admin, by session; checked again while a stream lasts.
    Admin(Session),
}

impl Caller {
    /// Whether the caller is still an admin: a session is read again (the
    /// session object keeps the record it loaded when the request came, so
    /// a logout elsewhere would go unseen); a failed read (the database is
    /// down) ends nothing.
    pub async fn still_admin(&self, gate: &Gate) -> bool {
        let Caller::Admin(session) = self else {
            return true;
        };
        match session.load().await {
            Ok(()) => match signed_in(gate, Some(session)).await {
                Ok(user) => user.is_some_and(|u| u.role == Role::Admin),
                Err(_) => true,
            },
            Err(_) => true,
        }
    }
}

async fn require_admin(
    gate: &Gate,
    headers: &HeaderMap,
    session: Option<Session>,
) -> Result<Caller, ApiError> {
    if key_matches(headers, gate.admin_api_key.as_deref()) {
        return Ok(Caller::Key);
    }
    if headers.contains_key(header::AUTHORIZATION) {
        let user = require_user(gate, headers.get(header::AUTHORIZATION), None).await?;
        return match user.role {
            Role::Admin => Ok(Caller::Key),
            _ => Err(ApiError::Forbidden("admins only")),
        };
    }
    let sign_in =
        ApiError::SignInRequired("sign in as an admin, or send x-api-key with ADMIN_API_KEY");
    let Some(session) = session else {
        return Err(sign_in);
    };
    match signed_in(gate, Some(&session)).await? {
        Some(user) if user.role == Role::Admin => Ok(Caller::Admin(session)),
        Some(_) => Err(ApiError::Forbidden("admins only")),
        None => Err(sign_in),
    }
}

/// Guards the public `/api/*` routes when `API_KEY` is set.
pub async fn api_key_guard(
    State(gate): State<Arc<Gate>>,
    MaybeSession(session): MaybeSession,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = gate.api_key.as_deref() else {
        return next.run(request).await;
    };
    if key_matches(request.headers(), Some(key)) {
        return next.run(request).await;
    }
    // A program with a personal token counts as its user.
    if request.headers().contains_key(header::AUTHORIZATION) {
        return match require_user(&gate, request.headers().get(header::AUTHORIZATION), None).await {
            Ok(_) => next.run(request).await,
            Err(e) => e.into_response(),
        };
    }
    match signed_in(&gate, session.as_ref()).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => ApiError::SignInRequired("send x-api-key, or sign in").into_response(),
        Err(e) => e.into_response(),
    }
}

/// Guards the pages (see the module docs).
pub async fn page_guard(
    State(gate): State<Arc<Gate>>,
    MaybeSession(session): MaybeSession,
    request: Request,
    next: Next,
) -> Response {
    // Only pages are guarded here: the API, the webhook, static files and
    // the server functions have guards of their own.
    let Some(page) = tickpulse_app::page(request.uri().path()) else {
        return next.run(request).await;
    };
    let admin_page = page.access == Access::Admin;
    let needs_user = match page.access {
        Access::Open => false,
        Access::Viewer => gate.api_key.is_some(),
        Access::User | Access::Admin => true,
    };
    if !needs_user {
        return next.run(request).await;
    }
    let back_to = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let login = || {
        Redirect::to(&format!(
            "/login?next={}",
            tickpulse_app::account::encode(&back_to)
        ))
        .into_response()
    };
    match signed_in(&gate, session.as_ref()).await {
        Ok(Some(user)) if !admin_page || user.role == Role::Admin => next.run(request).await,
        Ok(Some(user)) => (
            StatusCode::FORBIDDEN,
            // No inline script, so no nonce.
            [(
                axum::http::header::CONTENT_SECURITY_POLICY,
                tickpulse_app::security::policy(None),
            )],
            Html(forbidden_page(&user, &gate.css)),
        )
            .into_response(),
        Ok(None) => login(),
        Err(e) => e.into_response(),
    }
}

/// The 403 page: the app's [`tickpulse_app::Forbidden`] view in a small
/// document of its own (no router, no hydration).
fn forbidden_page(user: &SignedIn, css: &str) -> String {
    use leptos::prelude::*;
    let (username, role) = (user.username.clone(), user.role.to_string());
    let main = view! { <tickpulse_app::Forbidden username role/> }.to_html();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden · tickpulse</title>\
         <link rel=\"stylesheet\" href=\"{css}\"></head><body>{main}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole_and_never_match_an_unset_key() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "secret".parse().unwrap());
        assert!(key_matches(&h, Some("secret")));
        assert!(!key_matches(&h, Some("secret2")));
        assert!(!key_matches(&h, None));
        assert!(!key_matches(&h, Some("")));
        assert!(!key_matches(&HeaderMap::new(), Some("secret")));
    }
}
