//! Exact decimal quantities: [`Price`] (> 0), [`Volume`] (>= 0) and
//! [`Money`] (any sign: cash, market values, profit and loss).
//!
//! Values are kept as `rust_decimal::Decimal` (28 significant digits) and
//! serialised as JSON strings so no consumer ever rounds them through `f64`.
//! Parsing accepts plain and scientific notation; it never accepts NaN or
//! infinities.

use crate::ValueError;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// Parses decimal text such as `101.25`, `-3`, `1e-4` or `2.5E3`.
///
/// # Errors
/// A human-readable reason when the text is not a finite decimal or is out of
/// the representable range.
pub fn parse_decimal(text: &str) -> Result<Decimal, ValueError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ValueError::EmptyNumber);
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.trim_start_matches(['+', '-']),
        "nan" | "inf" | "infinity"
    ) {
        return Err(ValueError::NotFinite(t.to_owned()));
    }
    let parsed = if lower.contains('e') {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t)
    };
    parsed.map_err(|e| match e {
        rust_decimal::Error::ExceedsMaximumPossibleValue
        | rust_decimal::Error::LessThanMinimumPossibleValue
        | rust_decimal::Error::Underflow
        | rust_decimal::Error::ScaleExceedsMaximumPrecision(_) => {
            ValueError::TooManyDigits(t.to_owned())
        }
        _ => ValueError::NotANumber(t.to_owned()),
    })
}

/// A price: finite, strictly positive, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Price(Decimal);

impl Price {
    /// # Errors
    /// When the value is not strictly positive.
    pub fn new_checked(value: Decimal) -> Result<Self, ValueError> {
        if value <= Decimal::ZERO {
            return Err(ValueError::NotPositive(value));
        }
        Ok(Self(value.normalize()))
    }

    /// # Errors
    /// When the text is not a decimal number greater than 0.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Self::new_checked(parse_decimal(text)?)
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// A traded quantity: finite, zero or positive, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(transparent)]
pub struct Volume(Decimal);

impl Volume {
    pub const ZERO: Volume = Volume(Decimal::ZERO);

    /// # Errors
    /// When the value is negative.
    pub fn new_checked(value: Decimal) -> Result<Self, ValueError> {
        if value < Decimal::ZERO {
            return Err(ValueError::Negative(value));
        }
        Ok(Self(value.normalize()))
    }

    /// # Errors
    /// When the text is not a decimal number of 0 or more.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Self::new_checked(parse_decimal(text)?)
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// An amount of money (cash, a market value, a profit or a loss): exact,
/// any sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(transparent)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Always succeeds; the signature matches the other amounts'.
    ///
    /// # Errors
    /// Never.
    pub fn new_checked(value: Decimal) -> Result<Self, ValueError> {
        Ok(Self(value.normalize()))
    }

    pub fn new(value: Decimal) -> Self {
        Self(value.normalize())
    }

    /// # Errors
    /// When the text is not a decimal number.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        Self::new_checked(parse_decimal(text)?)
    }

    pub fn value(self) -> Decimal {
        self.0
    }
}

/// Sums and differences of amounts (a balance, a reservation); exact.
impl std::ops::Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        Money::new(self.0 + other.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;

    fn sub(self, other: Money) -> Money {
        Money::new(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, other: Money) {
        *self = *self - other;
    }
}

macro_rules! decimal_newtype_impls {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $t {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                Self::parse(s)
            }
        }

        /// Accepts a JSON string or number and re-checks the value.
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <Decimal as Deserialize>::deserialize(d)?;
                Self::new_checked(v).map_err(serde::de::Error::custom)
            }
        }
    };
}
decimal_newtype_impls!(Price);
decimal_newtype_impls!(Volume);
decimal_newtype_impls!(Money);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_and_scientific() {
        assert_eq!(Price::parse("101.25").unwrap().to_string(), "101.25");
        assert_eq!(Price::parse("0.1").unwrap().to_string(), "0.1");
        assert_eq!(Price::parse("1e-4").unwrap().to_string(), "0.0001");
        assert_eq!(Price::parse("2.5E3").unwrap().to_string(), "2500");
        assert_eq!(Price::parse("100.000").unwrap().to_string(), "100");
    }

    #[test]
    fn rejects_bad_prices() {
        for bad in [
            "-1", "0", "abc", "NaN", "nan", "-inf", "Infinity", "", "1.2.3",
        ] {
            assert!(Price::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Price::parse("1".repeat(40).as_str()).is_err());
    }

    #[test]
    fn volume_allows_zero() {
        assert_eq!(Volume::parse("0").unwrap(), Volume::ZERO);
        assert!(Volume::parse("-0.5").is_err());
    }
}
