//! [`Timestamp`]: nanoseconds since the Unix epoch, UTC.
//!
//! Event time (`ts`, when the market produced the tick) and receive time
//! (`received_at`, when tickpulse accepted it) are both timestamps but never
//! mixed up: they live in differently named fields everywhere.

use crate::ValueError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const NANOS_PER_MILLI: i64 = 1_000_000;

/// A point in time as nanoseconds since 1970-01-01T00:00:00Z.
///
/// Covers the years 1970 to 2262. Serialised as RFC 3339 with only as many
/// fractional digits as needed (`2026-11-22T10:00:00.125Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub const fn as_millis(self) -> i64 {
        self.0 / NANOS_PER_MILLI
    }

    /// # Errors
    /// When the value is negative or too large to represent in nanoseconds.
    pub fn from_epoch_millis(millis: i64) -> Result<Self, ValueError> {
        if millis < 0 {
            return Err(ValueError::NegativeEpoch(millis));
        }
        millis
            .checked_mul(NANOS_PER_MILLI)
            .map(Self)
            .ok_or(ValueError::EpochOutOfRange(millis))
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-22T10:00:00Z` or
    /// `2026-11-22T11:00:00.5+01:00`.
    ///
    /// # Errors
    /// When the text is not RFC 3339 or lies outside 1970–2262.
    pub fn parse_rfc3339(text: &str) -> Result<Self, ValueError> {
        let dt = DateTime::parse_from_rfc3339(text).map_err(|e| ValueError::NotATime {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        let nanos = dt
            .timestamp_nanos_opt()
            .ok_or_else(|| ValueError::TimeOutOfRange(text.to_owned()))?;
        if nanos < 0 {
            return Err(ValueError::BeforeEpoch(text.to_owned()));
        }
        Ok(Self(nanos))
    }

    /// Parses the text forms the API accepts: epoch milliseconds (digits
    /// only) or RFC 3339.
    ///
    /// # Errors
    /// When the text is neither, or out of range.
    pub fn parse_flexible(text: &str) -> Result<Self, ValueError> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let ms = text
                .parse()
                .map_err(|_| ValueError::NumberOutOfRange(text.to_owned()))?;
            Self::from_epoch_millis(ms)
        } else {
            Self::parse_rfc3339(text)
        }
    }

    /// A zero-padded decimal form whose byte order equals time order; used
    /// where a store can only compare strings.
    pub fn sortable_key(self) -> String {
        format!("{:020}", self.0)
    }

    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_nanos(self.0).to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Now, from the system clock. Kept out of validation (which takes `now`
    /// as an argument) so the rules stay pure and testable.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// Accepts an RFC 3339 string or an integer of epoch milliseconds.
/// Epoch milliseconds or an RFC 3339 string.
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time or epoch milliseconds")
            }

            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<Timestamp, E> {
                Timestamp::from_epoch_millis(ms).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<Timestamp, E> {
                let ms =
                    i64::try_from(ms).map_err(|_| E::custom("epoch milliseconds out of range"))?;
                self.visit_i64(ms)
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(text).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_millis_agree() {
        let a = Timestamp::parse_rfc3339("2026-11-22T10:00:00.125Z").unwrap();
        let b = Timestamp::from_epoch_millis(a.as_millis()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2026-11-22T10:00:00.125Z");
        let c = Timestamp::parse_rfc3339("2026-11-22T11:00:00.125+01:00").unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn sortable_key_orders_like_time() {
        let a = Timestamp::from_nanos(999);
        let b = Timestamp::from_nanos(1_000);
        assert!(a.sortable_key() < b.sortable_key());
        assert_eq!(a.sortable_key().len(), 20);
    }

    #[test]
    fn rejects_garbage_and_pre_epoch() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(Timestamp::from_epoch_millis(-1).is_err());
        assert!(Timestamp::from_epoch_millis(i64::MAX).is_err());
    }
}
