//! Password hashing: argon2id with the crate's default (OWASP) parameters,
//! run on the blocking pool so a login never stalls the async workers.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// Hashes `password` into a PHC string (`$argon2id$v=19$...`).
///
/// # Errors
/// When the blocking pool is gone or hashing fails (never for valid input).
pub async fn hash(password: &str) -> Result<String, String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| e.to_string())?
}

fn hash_now(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `stored`. With `None` (no such
/// user) a fixed hash is checked instead, so both cases take the same time.
pub async fn verify(password: &str, stored: Option<String>) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let (stored, real) = match stored {
            Some(s) => (s, true),
            None => (decoy().to_owned(), false),
        };
        let ok = PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        ok && real
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, made once per process.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random = SaltString::generate(&mut OsRng);
        hash_now(random.as_str()).unwrap_or_default()
    })
}

/// A short tag of a stored hash, kept in the session: a session whose tag
/// no longer matches (the password changed) is no longer valid.
pub fn tag(stored: &str) -> String {
    stored.chars().rev().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse", Some(h.clone())).await);
        assert!(!verify("correct hors", Some(h.clone())).await);
        assert!(!verify("correct horse", None).await);
        assert!(!verify("x", Some("not a hash".into())).await);
        // Two hashes of one password differ (random salt), and so do tags.
        let h2 = hash("correct horse").await.unwrap();
        assert_ne!(h, h2);
        assert_ne!(tag(&h), tag(&h2));
    }
}
