//! The units of trading, each its own type so one cannot stand for
//! another: [`Shares`] (a whole number of shares), [`OrderNumber`] (the
//! house's number of an order) and [`ClientOrderId`] (the client's own key
//! of an order, the idempotency key of placing it). In JSON each is the
//! plain number or string it wraps.

use super::MAX_CLIENT_ORDER_ID_LEN;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// A whole number of shares: an order's quantity, a position, what the
/// house has available. Arithmetic panics on overflow or below zero like
/// `u64`'s; the ledger checks before it subtracts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Shares(u64);

impl Shares {
    pub const ZERO: Shares = Shares(0);

    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self - other`, or zero when `other` is more.
    pub const fn saturating_sub(self, other: Shares) -> Shares {
        Shares(self.0.saturating_sub(other.0))
    }
}

impl Add for Shares {
    type Output = Shares;

    fn add(self, other: Shares) -> Shares {
        Shares(self.0 + other.0)
    }
}

impl Sub for Shares {
    type Output = Shares;

    fn sub(self, other: Shares) -> Shares {
        Shares(self.0 - other.0)
    }
}

impl AddAssign for Shares {
    fn add_assign(&mut self, other: Shares) {
        self.0 += other.0;
    }
}

impl SubAssign for Shares {
    fn sub_assign(&mut self, other: Shares) {
        self.0 -= other.0;
    }
}

impl fmt::Display for Shares {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The house's number of an order: positive, increasing in the order
/// orders were placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderNumber(i64);

impl OrderNumber {
    pub const fn new(n: i64) -> Self {
        Self(n)
    }

    pub const fn get(self) -> i64 {
        self.0
    }

    /// An order number from text (a path segment, a query parameter).
    ///
    /// # Errors
    /// What is wrong with `text`, in words.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Self)
            .ok_or_else(|| format!("must be an order number (a whole number from 1), got {text:?}"))
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The client's key of an order: 1–64 of `A-Z a-z 0-9 . _ : -`. A second
/// order of the same user with the same key is the first one again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// # Errors
    /// Why the text is not a client order id.
    pub fn new_checked(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > MAX_CLIENT_ORDER_ID_LEN {
            return Err(format!(
                "must be 1 to {MAX_CLIENT_ORDER_ID_LEN} characters, got {}",
                text.len()
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(format!("contains {c:?}; allowed are A-Z a-z 0-9 . _ : -"));
        }
        Ok(Self(text.to_owned()))
    }

    /// A new id from 16 random bytes: their hex digits (32 characters,
    /// always a valid id).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientOrderId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::new_checked(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
