//! Personal tokens: 32 random bytes, shown to the user once as
//! `tp_<base64url>`, and stored only as their SHA-256. A token carries 256
//! bits of randomness, so a fast hash is enough: nobody can search that
//! space, and a lookup costs one hash, not an argon2 run per request.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// What every token starts with, so a leaked one is easy to recognise.
pub const PREFIX: &str = "tp_";

/// A new token and the hash to store.
pub fn generate() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&token);
    (token, hash)
}

/// The stored form of `token`.
pub fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        assert_eq!(hash(&a), ha);
        assert_ne!(ha, hb);
        assert!(!ha.contains(&a[PREFIX.len()..]));
    }
}
