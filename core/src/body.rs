//! Request bodies: one tick, a JSON array of ticks or NDJSON (one tick per
//! line). The whole body is checked before anything is accepted, so a batch
//! is taken entirely or not at all.

use crate::validate::{validate, FieldError, RawTick};
use crate::{Tick, Timestamp};
use serde::Serialize;

/// The most ticks one request may carry.
pub const MAX_BATCH_TICKS: usize = 10_000;

/// How a batch body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `[{...}, {...}]`
    JsonArray,
    /// `{...}\n{...}\n`; blank lines are skipped.
    Ndjson,
    /// A JSON array when the first non-blank byte is `[`, NDJSON otherwise.
    Detect,
}

/// The problems of one tick of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemError {
    /// Position of the tick in the batch (0-based); absent for a single tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(flatten)]
    pub error: FieldError,
}

/// Why a body was refused. Every variant maps to a 400 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is empty")]
    Empty,
    #[error("request body is not valid UTF-8")]
    NotUtf8,
    /// The body is not well-formed JSON; `field` is the field being read
    /// when parsing failed, when it can be told.
    #[error("request body is not valid JSON: {message}")]
    Syntax {
        message: String,
        index: Option<usize>,
        field: Option<String>,
    },
    #[error("a batch holds at most {max} ticks, this one holds {count}")]
    TooMany { count: usize, max: usize },
    #[error("{} field error(s) in the request", .0.len())]
    Invalid(Vec<ItemError>),
}

impl BodyError {
    /// Every problem as a flat list for the `details` of an error response.
    pub fn details(&self) -> Vec<ItemError> {
        match self {
            BodyError::Invalid(items) => items.clone(),
            BodyError::Syntax {
                message,
                index,
                field,
            } => vec![ItemError {
                index: *index,
                error: FieldError::new(
                    field.as_deref().unwrap_or("body"),
                    "syntax",
                    message.clone(),
                ),
            }],
            BodyError::TooMany { .. } => {
                vec![ItemError {
                    index: None,
                    error: FieldError::new("body", "too_many", self.to_string()),
                }]
            }
            BodyError::Empty | BodyError::NotUtf8 => {
                vec![ItemError {
                    index: None,
                    error: FieldError::new("body", "invalid", self.to_string()),
                }]
            }
        }
    }
}

/// Parses and validates a body holding exactly one tick object.
///
/// # Errors
/// See [`BodyError`].
pub fn parse_one(body: &[u8], now: Timestamp) -> Result<Tick, BodyError> {
    let text = as_text(body)?;
    let raw: RawTick<'_> = serde_json::from_str(text).map_err(|e| syntax(text, &e, None))?;
    validate(&raw, now).map_err(|errors| {
        BodyError::Invalid(
            errors
                .into_iter()
                .map(|error| ItemError { index: None, error })
                .collect(),
        )
    })
}

/// Parses and validates a batch; all ticks are valid or none is returned.
///
/// # Errors
/// See [`BodyError`]; `Invalid` lists the problems of every bad tick.
pub fn parse_batch(
    body: &[u8],
    format: BodyFormat,
    now: Timestamp,
) -> Result<Vec<Tick>, BodyError> {
    let text = as_text(body)?;
    let is_array = match format {
        BodyFormat::JsonArray => true,
        BodyFormat::Ndjson => false,
        BodyFormat::Detect => text.trim_start().starts_with('['),
    };
    let raws: Vec<RawTick<'_>> = if is_array {
        serde_json::from_str(text).map_err(|e| syntax(text, &e, None))?
    } else {
        let mut raws = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if raws.len() == MAX_BATCH_TICKS {
                return Err(BodyError::TooMany {
                    count: text.lines().filter(|l| !l.trim().is_empty()).count(),
                    max: MAX_BATCH_TICKS,
                });
            }
            let raw = serde_json::from_str(line).map_err(|e| syntax(line, &e, Some(raws.len())))?;
            raws.push(raw);
        }
        raws
    };
    if raws.is_empty() {
        return Err(BodyError::Empty);
    }
    if raws.len() > MAX_BATCH_TICKS {
        return Err(BodyError::TooMany {
            count: raws.len(),
            max: MAX_BATCH_TICKS,
        });
    }
    let mut ticks = Vec::with_capacity(raws.len());
    let mut problems = Vec::new();
    for (index, raw) in raws.iter().enumerate() {
        match validate(raw, now) {
            Ok(t) => ticks.push(t),
            Err(errors) => problems.extend(errors.into_iter().map(|error| ItemError {
                index: Some(index),
                error,
            })),
        }
    }
    if problems.is_empty() {
        Ok(ticks)
    } else {
        Err(BodyError::Invalid(problems))
    }
}

fn as_text(body: &[u8]) -> Result<&str, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(text)
}

fn syntax(text: &str, e: &serde_json::Error, index: Option<usize>) -> BodyError {
    let offset = byte_offset(text, e.line(), e.column());
    BodyError::Syntax {
        message: e.to_string(),
        index,
        field: field_at(&text[..offset]),
    }
}

/// The byte offset of a 1-based line and column as serde_json reports them,
/// moved back to the start of a character when it falls inside one (the
/// column can point into a multi-byte character it stopped reading at).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The name of the field whose value starts nearest before the end of
/// `prefix`: in `{"symbol":"X","price":NaN` that is `price`. Only used to make
/// syntax errors name a field, so a wrong guess costs nothing but a hint.
fn field_at(prefix: &str) -> Option<String> {
    let colon = prefix.rfind(':')?;
    let before = prefix[..colon].trim_end().strip_suffix('"')?;
    let open = before.rfind('"')?;
    let name = &before[open + 1..];
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap()
    }

    const A: &str = r#"{"symbol":"A","price":1,"ts":1,"event_id":"a"}"#;
    const B: &str = r#"{"symbol":"B","price":2,"ts":1,"event_id":"b"}"#;

    /// Found by the `tick_json` and `batch_body` fuzz targets: a syntax
    /// error right after a multi-byte character.
    #[test]
    fn a_syntax_error_inside_a_multibyte_character_is_a_400_not_a_panic() {
        let bodies: [&[u8]; 2] = [
            b"{\"symbol\":\"BTC-U?\xc8\xa9\t\"syD\",\"pricembol\":\"1\":",
            b"                                                       \"pr2c                     \xef\xa2\xbf",
        ];
        for body in bodies {
            assert!(matches!(
                parse_one(body, now()),
                Err(BodyError::Syntax { .. } | BodyError::NotUtf8)
            ));
            assert!(parse_batch(body, BodyFormat::Detect, now()).is_err());
        }
    }

    #[test]
    fn array_and_ndjson_give_the_same_ticks() {
        let arr = parse_batch(format!("[{A},{B}]").as_bytes(), BodyFormat::Detect, now()).unwrap();
        let nd = parse_batch(
            format!("{A}\n\n{B}\n").as_bytes(),
            BodyFormat::Detect,
            now(),
        )
        .unwrap();
        assert_eq!(arr, nd);
        assert_eq!(arr.len(), 2);
    }

    #[test]
    fn one_bad_tick_fails_the_batch_with_its_index() {
        let bad = r#"{"symbol":"C","price":-1,"ts":1,"event_id":"c"}"#;
        let err = parse_batch(
            format!("[{A},{bad},{B}]").as_bytes(),
            BodyFormat::Detect,
            now(),
        )
        .unwrap_err();
        let d = err.details();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].index, Some(1));
        assert_eq!(d[0].error.field, "price");
    }

    #[test]
    fn bare_nan_is_a_syntax_error_naming_price() {
        let err = parse_one(
            br#"{"symbol":"X","price":NaN,"ts":1,"event_id":"e"}"#,
            now(),
        )
        .unwrap_err();
        assert!(matches!(err, BodyError::Syntax { .. }));
        assert_eq!(err.details()[0].error.field, "price");
    }

    #[test]
    fn ndjson_syntax_error_names_the_line_index() {
        let err = parse_batch(
            format!("{A}\n{{\"symbol\":\"X\",\"price\":1x}}\n").as_bytes(),
            BodyFormat::Ndjson,
            now(),
        )
        .unwrap_err();
        let d = err.details();
        assert_eq!(d[0].index, Some(1));
        assert_eq!(d[0].error.field, "price");
    }

    #[test]
    fn limits_and_empty_bodies() {
        assert_eq!(
            parse_batch(b"  \n", BodyFormat::Detect, now()).unwrap_err(),
            BodyError::Empty
        );
        assert_eq!(
            parse_batch(b"[]", BodyFormat::Detect, now()).unwrap_err(),
            BodyError::Empty
        );
        let many = std::iter::repeat_n(A, MAX_BATCH_TICKS + 1)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(matches!(
            parse_batch(many.as_bytes(), BodyFormat::Ndjson, now()).unwrap_err(),
            BodyError::TooMany { count, .. } if count == MAX_BATCH_TICKS + 1
        ));
        assert_eq!(
            parse_one(&[0xff, 0xfe], now()).unwrap_err(),
            BodyError::NotUtf8
        );
    }
}
