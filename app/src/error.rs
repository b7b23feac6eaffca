//! What pages and server functions answer when they cannot do what was
//! asked, in words a reader can act on: [`AppError`], the error of every
//! server function, which carries its HTTP status (set on the response
//! during server rendering), and [`Refusal`], why a sign-in was refused.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Why a server function or a page could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The sign-in was refused (401, or 503 when the database is down).
    #[error("{}", .0.message())]
    SignIn(Refusal),
    /// Nobody is signed in, and the page needs a user (401).
    #[error("Sign in to see this page.")]
    SignInRequired,
    /// Signed in, but the role is not enough (403).
    #[error("This page is for admins.")]
    Forbidden,
    /// A parameter is not valid (400); `field` names it.
    #[error("{message}")]
    BadParam { field: String, message: String },
    /// What was asked for does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// An order the trading rules refused (422): the refusal's code
    /// (`tickpulse_core::trade::Refusal::code`).
    #[error("{0}")]
    Refused(String),
    /// The request conflicts with what it acts on (an order already
    /// terminal; 409).
    #[error("{0}")]
    Conflict(String),
    /// A backend does not answer (503); the message says which.
    #[error("{0}")]
    Unavailable(String),
    /// The call itself failed (the network, an encoding; 500).
    #[error("{0}")]
    Call(String),
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::SignIn(Refusal::Unavailable | Refusal::NoAccounts) | Self::Unavailable(_) => 503,
            Self::SignIn(_) | Self::SignInRequired => 401,
            Self::Forbidden => 403,
            Self::BadParam { .. } => 400,
            Self::NotFound(_) => 404,
            Self::Refused(_) => 422,
            Self::Conflict(_) => 409,
            Self::Call(_) => 500,
        }
    }

    /// Sets this error's status on the response being rendered (during
    /// server rendering or a server function call) and returns it, for
    /// `map_err` and `Err(...)`.
    #[cfg(feature = "ssr")]
    pub fn respond(self) -> Self {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = axum::http::StatusCode::from_u16(self.status()) {
                response.set_status(status);
            }
        }
        self
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Call(value.to_string())
    }
}

/// Why a sign-in was refused. The page says the same for an unknown user
/// and a wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    Invalid,
    /// Too many failures; free again in this many seconds.
    Throttled(u64),
    Unavailable,
    /// There is no database, hence no accounts.
    NoAccounts,
}

impl Refusal {
    /// As query parameters of the login page.
    pub fn query(self) -> String {
        match self {
            Self::Invalid => "error=invalid".into(),
            Self::Throttled(wait) => format!("error=throttled&wait={wait}"),
            Self::Unavailable => "error=unavailable".into(),
            Self::NoAccounts => "error=no_accounts".into(),
        }
    }

    /// From the login page's query; unknown codes read as `Invalid`.
    pub fn from_query(error: &str, wait: Option<&str>) -> Self {
        match error {
            "throttled" => Self::Throttled(wait.and_then(|w| w.parse().ok()).unwrap_or(60)),
            "unavailable" => Self::Unavailable,
            "no_accounts" => Self::NoAccounts,
            _ => Self::Invalid,
        }
    }

    pub fn message(self) -> String {
        match self {
            Self::Invalid => "Wrong user name or password.".into(),
            Self::Throttled(wait) => format!(
                "Too many failed sign-ins. Try again in {}.",
                if wait >= 120 {
                    format!("{} minutes", wait.div_ceil(60))
                } else {
                    format!("{wait} seconds")
                }
            ),
            Self::Unavailable => {
                "Signing in is not possible right now (the database does not answer). Try again shortly.".into()
            }
            Self::NoAccounts => "This server has no database, so no accounts.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_answers_with_its_status() {
        let cases = [
            (AppError::SignIn(Refusal::Invalid), 401),
            (AppError::SignIn(Refusal::Throttled(5)), 401),
            (AppError::SignIn(Refusal::Unavailable), 503),
            (AppError::SignInRequired, 401),
            (AppError::Forbidden, 403),
            (
                AppError::BadParam {
                    field: "id".into(),
                    message: "bad".into(),
                },
                400,
            ),
            (AppError::NotFound("x".into()), 404),
            (AppError::Unavailable("down".into()), 503),
            (AppError::Call("lost".into()), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error:?}");
        }
        assert_eq!(
            AppError::SignIn(Refusal::Invalid).to_string(),
            "Wrong user name or password."
        );
        let from_call =
            AppError::from_server_fn_error(ServerFnErrorErr::Request("no network".into()));
        assert!(matches!(from_call, AppError::Call(m) if m.contains("no network")));
    }
}
