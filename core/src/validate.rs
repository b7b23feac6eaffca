//! Turning untrusted JSON into a [`Tick`]: [`RawTick`] holds each field's raw
//! JSON text, and [`validate`] checks all of them, returning every problem
//! with the name of its field rather than stopping at the first.

use crate::decimal::parse_decimal;
use crate::{EventId, Price, Source, Symbol, Tick, Timestamp, ValueError, Volume};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// How far in the future an event time may lie (clock skew allowance): 5 min.
pub const MAX_FUTURE_SKEW_NANOS: i64 = 5 * 60 * 1_000_000_000;

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The JSON field name, exactly as the API documents it.
    pub field: String,
    /// A stable machine-readable reason: `required`, `invalid`, `type`,
    /// `unknown_field`, `duplicate_field`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A tick as received: every known field's raw JSON text, untouched, plus the
/// names of fields the API does not know (reported, not silently dropped, so
/// a typo such as `volumne` is caught).
#[derive(Debug, Default)]
pub struct RawTick<'a> {
    pub symbol: Option<&'a RawValue>,
    pub price: Option<&'a RawValue>,
    pub volume: Option<&'a RawValue>,
    pub source: Option<&'a RawValue>,
    pub ts: Option<&'a RawValue>,
    pub event_id: Option<&'a RawValue>,
    pub unknown_fields: Vec<String>,
    pub duplicate_fields: Vec<&'static str>,
}

/// Checks every field of `raw` and builds the tick.
///
/// `now` is the receive time; an event time more than
/// [`MAX_FUTURE_SKEW_NANOS`] after it is rejected.
///
/// # Errors
/// Every problem found, each naming its field.
pub fn validate(raw: &RawTick<'_>, now: Timestamp) -> Result<Tick, Vec<FieldError>> {
    let mut errors = Vec::new();
    for name in &raw.unknown_fields {
        errors.push(FieldError::new(
            name,
            "unknown_field",
            "is not a tick field (expected symbol, price, volume, source, ts, event_id)",
        ));
    }
    for name in &raw.duplicate_fields {
        errors.push(FieldError::new(
            name,
            "duplicate_field",
            "is given more than once",
        ));
    }

    let symbol = required(&mut errors, "symbol", raw.symbol, |v| {
        Symbol::new_checked(&as_str(v)?)
    });
    let price = required(&mut errors, "price", raw.price, |v| {
        Price::new_checked(as_decimal(v)?)
    });
    let volume = optional(&mut errors, "volume", raw.volume, |v| {
        Volume::new_checked(as_decimal(v)?)
    })
    .map(|v| v.unwrap_or(Volume::ZERO));
    let source = optional(&mut errors, "source", raw.source, |v| {
        Source::new_checked(&as_str(v)?)
    })
    .map(|s| s.unwrap_or_else(Source::unknown));
    let ts = required(&mut errors, "ts", raw.ts, |v| {
        let ts = as_timestamp(v)?;
        if ts.as_nanos() > now.as_nanos().saturating_add(MAX_FUTURE_SKEW_NANOS) {
            return Err(ValueError::InFuture {
                ts: ts.to_string(),
                now: now.to_string(),
            });
        }
        Ok(ts)
    });
    let event_id = required(&mut errors, "event_id", raw.event_id, |v| {
        EventId::new_checked(&as_str(v)?)
    });

    match (symbol, price, volume, source, ts, event_id) {
        (Some(symbol), Some(price), Some(volume), Some(source), Some(ts), Some(event_id))
            if errors.is_empty() =>
        {
            Ok(Tick {
                symbol,
                price,
                volume,
                source,
                ts,
                event_id,
            })
        }
        _ => Err(errors),
    }
}

/// JSON `null` counts as absent.
pub(crate) fn present(v: Option<&RawValue>) -> Option<&RawValue> {
    v.filter(|v| v.get() != "null")
}

pub(crate) fn required<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&RawValue>,
    check: impl FnOnce(&RawValue) -> Result<T, ValueError>,
) -> Option<T> {
    match present(value) {
        None => {
            errors.push(FieldError::new(field, "required", "is required"));
            None
        }
        Some(v) => check(v)
            .map_err(|m| errors.push(FieldError::new(field, "invalid", m.to_string())))
            .ok(),
    }
}

/// `Some(None)` when absent, `None` when present but invalid.
pub(crate) fn optional<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&RawValue>,
    check: impl FnOnce(&RawValue) -> Result<T, ValueError>,
) -> Option<Option<T>> {
    match present(value) {
        None => Some(None),
        Some(v) => match check(v) {
            Ok(t) => Some(Some(t)),
            Err(m) => {
                errors.push(FieldError::new(field, "invalid", m.to_string()));
                None
            }
        },
    }
}

pub(crate) fn kind(v: &RawValue) -> &'static str {
    match v.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

pub(crate) fn as_str(v: &RawValue) -> Result<Cow<'_, str>, ValueError> {
    if v.get().starts_with('"') {
        serde_json::from_str::<Cow<'_, str>>(v.get())
            .map_err(|e| ValueError::BadString(e.to_string()))
    } else {
        Err(ValueError::WrongType {
            expected: "a string",
            got: kind(v),
        })
    }
}

pub(crate) fn as_decimal(v: &RawValue) -> Result<rust_decimal::Decimal, ValueError> {
    match kind(v) {
        "a string" => parse_decimal(&as_str(v)?),
        "a number" => parse_decimal(v.get()),
        other => Err(ValueError::WrongType {
            expected: "a number or a decimal string",
            got: other,
        }),
    }
}

fn as_timestamp(v: &RawValue) -> Result<Timestamp, ValueError> {
    match kind(v) {
        "a number" => {
            let ms: i64 = v
                .get()
                .parse()
                .map_err(|_| ValueError::NotWholeMillis(v.get().to_owned()))?;
            Timestamp::from_epoch_millis(ms)
        }
        "a string" => Timestamp::parse_flexible(&as_str(v)?),
        other => Err(ValueError::WrongType {
            expected: "an RFC 3339 string or epoch milliseconds",
            got: other,
        }),
    }
}

/// The field names, so the map visitor allocates only for unknown fields.
enum Field {
    Symbol,
    Price,
    Volume,
    Source,
    Ts,
    EventId,
    Unknown(String),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "symbol" => Field::Symbol,
                    "price" => Field::Price,
                    "volume" => Field::Volume,
                    "source" => Field::Source,
                    "ts" => Field::Ts,
                    "event_id" => Field::EventId,
                    other => Field::Unknown(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTick<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for RawVisitor<'a> {
            type Value = RawTick<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tick object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawTick<'a>, M::Error> {
                let mut raw = RawTick::default();
                while let Some(key) = map.next_key::<Field>()? {
                    let value: &'a RawValue = map.next_value()?;
                    let (slot, name) = match key {
                        Field::Symbol => (&mut raw.symbol, "symbol"),
                        Field::Price => (&mut raw.price, "price"),
                        Field::Volume => (&mut raw.volume, "volume"),
                        Field::Source => (&mut raw.source, "source"),
                        Field::Ts => (&mut raw.ts, "ts"),
                        Field::EventId => (&mut raw.event_id, "event_id"),
                        Field::Unknown(name) => {
                            raw.unknown_fields.push(name);
                            continue;
                        }
                    };
                    if slot.replace(value).is_some() {
                        raw.duplicate_fields.push(name);
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(RawVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap()
    }

    fn check(json: &str) -> Result<Tick, Vec<FieldError>> {
        let raw: RawTick<'_> = serde_json::from_str(json).unwrap();
        validate(&raw, now())
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn accepts_a_full_tick() {
        let t = check(
            r#"{"symbol":"btc-usd","price":"64000.50","volume":0.25,"source":"sim",
                "ts":"2026-11-22T09:59:59.5Z","event_id":"e1"}"#,
        )
        .unwrap();
        assert_eq!(t.symbol.as_str(), "BTC-USD");
        assert_eq!(t.price.to_string(), "64000.5");
        assert_eq!(t.volume.to_string(), "0.25");
        assert_eq!(t.source.as_str(), "sim");
    }

    #[test]
    fn defaults_volume_and_source_and_takes_epoch_millis() {
        let t = check(r#"{"symbol":"X","price":1,"ts":1795341600000,"event_id":"e"}"#).unwrap();
        assert_eq!(t.volume, Volume::ZERO);
        assert_eq!(t.source.as_str(), Source::DEFAULT);
        assert_eq!(t.ts.as_millis(), 1_795_341_600_000);
    }

    #[test]
    fn names_every_bad_field() {
        let e = check(r#"{"price":-1,"volume":"x","ts":"soon","event_id":"","volumne":3}"#)
            .unwrap_err();
        assert_eq!(
            fields(&e),
            ["volumne", "symbol", "price", "volume", "ts", "event_id"]
        );
        assert_eq!(e[1].code, "required");
    }

    #[test]
    fn rejects_the_classic_bad_prices() {
        for price in [r#"-1"#, r#""abc""#, r#""NaN""#, r#"0"#, r#"true"#, r#"[1]"#] {
            let json = format!(r#"{{"symbol":"X","price":{price},"ts":1,"event_id":"e"}}"#);
            let e = check(&json).unwrap_err();
            assert_eq!(fields(&e), ["price"], "price {price}");
        }
    }

    #[test]
    fn rejects_far_future_but_allows_small_skew() {
        let ok = now().as_millis() + 60_000;
        let bad = now().as_millis() + 6 * 60_000;
        assert!(check(&format!(
            r#"{{"symbol":"X","price":1,"ts":{ok},"event_id":"e"}}"#
        ))
        .is_ok());
        let e = check(&format!(
            r#"{{"symbol":"X","price":1,"ts":{bad},"event_id":"e"}}"#
        ))
        .unwrap_err();
        assert_eq!(fields(&e), ["ts"]);
    }

    #[test]
    fn duplicate_keys_and_null_required_fields_are_errors() {
        let e =
            check(r#"{"symbol":"X","symbol":"Y","price":null,"ts":1,"event_id":"e"}"#).unwrap_err();
        assert_eq!(fields(&e), ["symbol", "price"]);
        assert_eq!(e[0].code, "duplicate_field");
    }
}
