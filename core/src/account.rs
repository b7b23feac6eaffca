//! Accounts: user names, roles and the password rules, shared by the CLI,
//! the login form and the server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest user name, in characters.
pub const MAX_USERNAME: usize = 64;
/// Shortest password a new account or a password change may set.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted (argon2 work grows with it).
pub const MAX_PASSWORD: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user name as stored: trimmed and lower-cased, 1–64 characters of
/// `a-z 0-9 . _ - @`.
///
/// # Errors
/// A sentence naming what is wrong.
pub fn username(raw: &str) -> Result<String, String> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() {
        return Err("username is empty".into());
    }
    if name.chars().count() > MAX_USERNAME {
        return Err(format!("username is longer than {MAX_USERNAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(format!(
            "username may only hold letters, digits and . _ - @ (found {c:?})"
        ));
    }
    Ok(name)
}

/// Checks a new password.
///
/// # Errors
/// A sentence naming what is wrong.
pub fn new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(format!(
            "password is shorter than {MIN_PASSWORD} characters"
        ));
    }
    if n > MAX_PASSWORD {
        return Err(format!("password is longer than {MAX_PASSWORD} characters"));
    }
    Ok(())
}

/// Who is signed in, as pages and APIs see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub username: String,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(username("  Alice.B@Desk ").unwrap(), "alice.b@desk");
        assert!(username("").unwrap_err().contains("empty"));
        assert!(username("a b").unwrap_err().contains("' '"));
        assert!(username(&"x".repeat(65)).unwrap_err().contains("64"));
        assert!(username(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn passwords_have_a_length_range() {
        assert!(new_password("1234567").unwrap_err().contains("shorter"));
        assert!(new_password("12345678").is_ok());
        assert!(new_password(&"x".repeat(1_025))
            .unwrap_err()
            .contains("longer"));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }
}
