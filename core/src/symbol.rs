//! Identifier newtypes: [`Symbol`], [`Source`] and [`EventId`].
//!
//! Each one can only be built through a checked constructor, so a value of
//! these types is always valid; the rules live here and nowhere else.

use crate::ValueError;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// The longest symbol accepted; long enough for `BINANCE:BTC/USDT-PERP`.
pub const MAX_SYMBOL_LEN: usize = 32;
/// The longest source name accepted.
pub const MAX_SOURCE_LEN: usize = 64;
/// The longest event id accepted; fits a UUID, a ULID or `exchange:seqno`.
pub const MAX_EVENT_ID_LEN: usize = 128;

/// A market symbol: 1–32 characters of `A-Z 0-9 . _ : / -`.
///
/// Input is upper-cased, so `btc-usd` and `BTC-USD` are the same symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Symbol(String);

impl Symbol {
    /// Checks and normalises a symbol.
    ///
    /// # Errors
    /// A [`ValueError`] when the input is empty, too long or holds a
    /// character outside the allowed set.
    pub fn new_checked(input: &str) -> Result<Self, ValueError> {
        check_length(input, MAX_SYMBOL_LEN)?;
        let upper = input.to_ascii_uppercase();
        if let Some(bad) = upper.chars().find(|c| !is_symbol_char(*c)) {
            return Err(ValueError::Character {
                found: bad,
                allowed: "A-Z, 0-9 and . _ : / -",
            });
        }
        Ok(Self(upper))
    }

    /// Builds a symbol from a literal known to be valid.
    ///
    /// # Panics
    /// When `input` is not a valid symbol; use [`Symbol::new_checked`] for input.
    pub fn new(input: &str) -> Self {
        Self::new_checked(input).unwrap_or_else(|e| panic!("invalid symbol {input:?}: {e}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1 to `max` characters (not bytes).
fn check_length(input: &str, max: usize) -> Result<(), ValueError> {
    if input.is_empty() {
        return Err(ValueError::Empty);
    }
    if input.chars().count() > max {
        return Err(ValueError::TooLong { max });
    }
    Ok(())
}

fn is_symbol_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '/' | '-')
}

/// Who sent a tick (an exchange, a simulator, a script): 1–64 characters of
/// `A-Z a-z 0-9 . _ : / -`. Kept as given (case matters for display).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Source(String);

impl Source {
    /// The source recorded when a tick names none.
    pub const DEFAULT: &'static str = "unknown";

    /// # Errors
    /// A [`ValueError`] when the input is empty, too long or holds a
    /// character outside the allowed set.
    pub fn new_checked(input: &str) -> Result<Self, ValueError> {
        check_length(input, MAX_SOURCE_LEN)?;
        if let Some(bad) = input
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-')))
        {
            return Err(ValueError::Character {
                found: bad,
                allowed: "letters, digits and . _ : / -",
            });
        }
        Ok(Self(input.to_owned()))
    }

    pub fn unknown() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The idempotency key of a tick: 1–128 printable characters, no control
/// characters. Two ticks with the same event id are the same tick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// # Errors
    /// A [`ValueError`] when the input is empty, too long or holds a
    /// control character.
    pub fn new_checked(input: &str) -> Result<Self, ValueError> {
        check_length(input, MAX_EVENT_ID_LEN)?;
        if input.chars().any(char::is_control) {
            return Err(ValueError::ControlCharacter);
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Deserialising re-checks the value, so a stored or received value
        /// can never bypass the rules.
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::new_checked(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_newtype_impls!(Symbol);
string_newtype_impls!(Source);
string_newtype_impls!(EventId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_is_uppercased_and_checked() {
        assert_eq!(Symbol::new_checked("btc-usd").unwrap().as_str(), "BTC-USD");
        assert_eq!(
            Symbol::new_checked("NYSE:IBM").unwrap().as_str(),
            "NYSE:IBM"
        );
        assert!(Symbol::new_checked("").is_err());
        assert!(Symbol::new_checked("A B").is_err());
        assert!(Symbol::new_checked(&"A".repeat(33)).is_err());
        assert!(Symbol::new_checked(&"A".repeat(32)).is_ok());
        assert!(Symbol::new_checked("ÄPFEL").is_err());
    }

    #[test]
    fn event_id_rejects_control_characters() {
        assert!(EventId::new_checked("abc-123 x").is_ok());
        assert!(EventId::new_checked("a\nb").is_err());
        assert!(EventId::new_checked(&"x".repeat(129)).is_err());
    }

    #[test]
    fn source_rules() {
        assert!(Source::new_checked("sim-1").is_ok());
        assert!(Source::new_checked("has space").is_err());
    }
}
