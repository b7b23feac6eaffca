//! What pages and server functions answer when they cannot do what was
//! asked, in words a reader can act on.

use serde::{Deserialize, Serialize};

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
