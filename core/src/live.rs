//! What the live doors share: the conflation a client may ask for
//! (`?conflate=` on the SSE stream, `conflate` in a WebSocket
//! subscription), and the messages a WebSocket client sends to `/api/ws`
//! ([`request`] checks them, naming the field of every problem, as the
//! webhook and the order endpoint do).
//!
//! # The WebSocket protocol
//! The client sends JSON objects with an `action`:
//! - `{"action": "subscribe", "symbols": ["BTC-USD"], "conflate": "250ms"}`
//!   adds symbols (a `snapshot` of them follows); without `symbols`, every
//!   symbol. `{"action": "subscribe", "watchlist": 3}` follows one of the
//!   signed-in user's lists instead, as it changes.
//! - `{"action": "unsubscribe", "symbols": [...]}` drops symbols; without
//!   `symbols`, everything.
//! - `{"action": "resume", "from": "<position>", "symbols": [...]}` takes
//!   up a subscription where an earlier connection left it: the ticks after
//!   the position are replayed (or a fresh `snapshot` comes, with `"reset":
//!   true`, when they are no longer kept).
//! - `{"action": "ping"}` is answered with `pong` (`data`, a string, is
//!   sent back).
//!
//! The server sends `{"event": …, "id": <position>, "data": …}`: the
//! events of the SSE stream (`snapshot`, `tick`, `view`, `stock`,
//! `watchlist`, and `order` for a signed-in client), `subscribed` (what
//! the connection follows now), `error` (an error body as the REST API's,
//! naming the field) and `pong`.

use crate::validate::{as_str, kind, optional, present};
use crate::{Cursor, FieldError, Symbol, ValueError};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::Duration;

/// The shortest conflation interval a client may ask for.
pub const MIN_CONFLATE: Duration = Duration::from_millis(10);
/// The longest one.
pub const MAX_CONFLATE: Duration = Duration::from_secs(60);
/// The largest message a WebSocket client may send, in bytes.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// The most symbols one `subscribe` may name.
pub const MAX_SUBSCRIBE_SYMBOLS: usize = 1_000;

/// Reads a conflation interval: a whole number with `ms`, `s` or `m`
/// (`250ms`, `2s`, `1m`), from [`MIN_CONFLATE`] to [`MAX_CONFLATE`]; `0`
/// (with a unit or without) means none: every update is sent.
///
/// # Errors
/// When the text is not such an interval.
pub fn conflation(text: &str) -> Result<Option<Duration>, ValueError> {
    let text = text.trim();
    let bad = || ValueError::NotAConflation(text.to_owned());
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    if number == 0 && matches!(unit, "" | "ms" | "s" | "m") {
        return Ok(None);
    }
    let interval = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number.min(u64::MAX / 60)),
        "m" => Duration::from_secs(number.min(u64::MAX / 60) * 60),
        _ => return Err(bad()),
    };
    if (MIN_CONFLATE..=MAX_CONFLATE).contains(&interval) {
        Ok(Some(interval))
    } else {
        Err(bad())
    }
}

/// A conflation interval as [`conflation`] reads it (`250ms`).
pub fn conflation_text(interval: Duration) -> String {
    format!("{}ms", interval.as_millis())
}

/// Which symbols a subscription follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follow {
    /// Every symbol.
    All,
    Symbols(Vec<Symbol>),
    /// One of the signed-in user's watchlists, as it changes.
    Watchlist(i64),
}

/// What a `subscribe` or a `resume` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub follow: Follow,
    /// At most one update per symbol per interval; `None`: every update.
    pub conflate: Option<Duration>,
}

/// A message of a WebSocket client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Subscribe(Subscription),
    /// Take up `subscription` after `from`.
    Resume {
        from: Cursor,
        subscription: Subscription,
    },
    /// `None`: everything.
    Unsubscribe(Option<Vec<Symbol>>),
    Ping(Option<String>),
}

const ACTIONS: &str = "subscribe, unsubscribe, resume or ping";

impl Request {
    /// The message as JSON text, as [`request`] reads it.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            map.insert(k.to_owned(), v);
        };
        let symbols = |s: &[Symbol]| {
            serde_json::Value::Array(
                s.iter()
                    .map(|s| serde_json::Value::String(s.as_str().to_owned()))
                    .collect(),
            )
        };
        let subscription = |s: &Subscription, put: &mut dyn FnMut(&str, serde_json::Value)| {
            match &s.follow {
                Follow::All => {}
                Follow::Symbols(list) => put("symbols", symbols(list)),
                Follow::Watchlist(id) => put("watchlist", (*id).into()),
            }
            if let Some(c) = s.conflate {
                put("conflate", conflation_text(c).into());
            }
        };
        match self {
            Request::Subscribe(s) => {
                put("action", "subscribe".into());
                subscription(s, &mut put);
            }
            Request::Resume {
                from,
                subscription: s,
            } => {
                put("action", "resume".into());
                put("from", from.to_string().into());
                subscription(s, &mut put);
            }
            Request::Unsubscribe(list) => {
                put("action", "unsubscribe".into());
                if let Some(list) = list {
                    put("symbols", symbols(list));
                }
            }
            Request::Ping(data) => {
                put("action", "ping".into());
                if let Some(data) = data {
                    put("data", data.clone().into());
                }
            }
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// Checks a WebSocket client's message, returning every problem with the
/// name of its field.
///
/// # Errors
/// Every problem found; an unreadable message is reported on `message`,
/// one over [`MAX_REQUEST_BYTES`] too.
pub fn request(message: &[u8]) -> Result<Request, Vec<FieldError>> {
    if message.len() > MAX_REQUEST_BYTES {
        return Err(vec![FieldError::new(
            "message",
            "too_large",
            format!(
                "is {} bytes; a message may have at most {MAX_REQUEST_BYTES}",
                message.len()
            ),
        )]);
    }
    let fields: BTreeMap<String, &RawValue> = match serde_json::from_slice(message) {
        Ok(fields) => fields,
        Err(e) => {
            return Err(vec![FieldError::new(
                "message",
                "invalid",
                format!("must be a JSON object with an action ({ACTIONS}): {e}"),
            )])
        }
    };
    let mut errors = Vec::new();
    let get = |name: &str| fields.get(name).copied();
    let action = match present(get("action")) {
        None => {
            errors.push(FieldError::new(
                "action",
                "required",
                format!("is required ({ACTIONS})"),
            ));
            return Err(errors);
        }
        Some(v) => match as_str(v) {
            Ok(a) if ["subscribe", "unsubscribe", "resume", "ping"].contains(&&*a) => {
                a.into_owned()
            }
            Ok(a) => {
                errors.push(FieldError::new(
                    "action",
                    "invalid",
                    format!("must be {ACTIONS}, got {a:?}"),
                ));
                return Err(errors);
            }
            Err(e) => {
                errors.push(FieldError::new("action", "invalid", e.to_string()));
                return Err(errors);
            }
        },
    };
    let allowed: &[&str] = match action.as_str() {
        "subscribe" => &["action", "symbols", "watchlist", "conflate"],
        "resume" => &["action", "from", "symbols", "watchlist", "conflate"],
        "unsubscribe" => &["action", "symbols"],
        _ => &["action", "data"],
    };
    for name in fields.keys() {
        if !allowed.contains(&name.as_str()) {
            errors.push(FieldError::new(
                name,
                "unknown_field",
                format!(
                    "is not a field of {action} (expected {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let symbols = optional(&mut errors, "symbols", get("symbols"), symbol_list);
    let request = match action.as_str() {
        "subscribe" | "resume" => {
            let watchlist = optional(&mut errors, "watchlist", get("watchlist"), watchlist_id);
            let conflate = optional(&mut errors, "conflate", get("conflate"), |v| {
                conflation(&as_str(v)?)
            });
            let from = if action == "resume" {
                match present(get("from")) {
                    None => {
                        errors.push(FieldError::new(
                            "from",
                            "required",
                            "is required: the `id` of the last event the client got",
                        ));
                        None
                    }
                    Some(v) => as_str(v)
                        .and_then(|t| t.parse::<Cursor>())
                        .map_err(|e| errors.push(FieldError::new("from", "invalid", e.to_string())))
                        .ok(),
                }
            } else {
                None
            };
            let follow = match (symbols, watchlist) {
                (Some(Some(_)), Some(Some(_))) => {
                    errors.push(FieldError::new(
                        "watchlist",
                        "invalid",
                        "give symbols or watchlist, not both",
                    ));
                    None
                }
                (Some(Some(list)), Some(None)) => Some(Follow::Symbols(list)),
                (Some(None), Some(Some(id))) => Some(Follow::Watchlist(id)),
                (Some(None), Some(None)) => Some(Follow::All),
                _ => None,
            };
            match (follow, conflate) {
                (Some(follow), Some(conflate)) if errors.is_empty() => {
                    let subscription = Subscription {
                        follow,
                        conflate: conflate.flatten(),
                    };
                    match from {
                        Some(from) => Request::Resume { from, subscription },
                        None => Request::Subscribe(subscription),
                    }
                }
                _ => return Err(errors),
            }
        }
        "unsubscribe" => match symbols {
            Some(list) if errors.is_empty() => Request::Unsubscribe(list),
            _ => return Err(errors),
        },
        _ => {
            let data = optional(&mut errors, "data", get("data"), |v| {
                let text = as_str(v)?;
                if text.chars().count() > 256 {
                    return Err(ValueError::TooLong { max: 256 });
                }
                Ok(text.into_owned())
            });
            match data {
                Some(data) if errors.is_empty() => Request::Ping(data),
                _ => return Err(errors),
            }
        }
    };
    Ok(request)
}

fn symbol_list(v: &RawValue) -> Result<Vec<Symbol>, ValueError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(v.get()).map_err(|_| ValueError::WrongType {
            expected: "an array of symbols",
            got: kind(v),
        })?;
    if items.len() > MAX_SUBSCRIBE_SYMBOLS {
        return Err(ValueError::BadString(format!(
            "names {} symbols; a message may name at most {MAX_SUBSCRIBE_SYMBOLS}",
            items.len()
        )));
    }
    let mut out: Vec<Symbol> = Vec::with_capacity(items.len());
    for item in items {
        let text = as_str(item)?;
        let symbol = Symbol::new_checked(text.trim())
            .map_err(|e| ValueError::BadString(format!("{:?} {e}", text.trim())))?;
        if !out.contains(&symbol) {
            out.push(symbol);
        }
    }
    Ok(out)
}

fn watchlist_id(v: &RawValue) -> Result<i64, ValueError> {
    v.get()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ValueError::BadString(format!(
                "must be a watchlist id (a whole number from 1), got {}",
                v.get()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(message: &str) -> Vec<String> {
        request(message.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn conflation_intervals_are_read_with_their_unit_and_bounded() {
        assert_eq!(conflation("250ms"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(conflation(" 2s "), Ok(Some(Duration::from_secs(2))));
        assert_eq!(conflation("1m"), Ok(Some(Duration::from_secs(60))));
        for none in ["0", "0ms", "0s"] {
            assert_eq!(conflation(none), Ok(None), "{none}");
        }
        for bad in [
            "",
            "250",
            "9ms",
            "61s",
            "2m",
            "1.5s",
            "-1s",
            "ms",
            "1h",
            "99999999999999999999s",
        ] {
            assert!(conflation(bad).is_err(), "{bad}");
        }
        assert_eq!(
            conflation(&conflation_text(Duration::from_millis(250))),
            Ok(Some(Duration::from_millis(250)))
        );
    }

    #[test]
    fn every_request_reads_back_from_its_json() {
        let s = |follow| Subscription {
            follow,
            conflate: Some(Duration::from_millis(250)),
        };
        for r in [
            Request::Subscribe(s(Follow::All)),
            Request::Subscribe(s(Follow::Symbols(vec![Symbol::new("A"), Symbol::new("B")]))),
            Request::Subscribe(Subscription {
                follow: Follow::Watchlist(3),
                conflate: None,
            }),
            Request::Resume {
                from: "5-0,7-1".parse().unwrap(),
                subscription: s(Follow::Symbols(vec![Symbol::new("A")])),
            },
            Request::Unsubscribe(None),
            Request::Unsubscribe(Some(vec![Symbol::new("A")])),
            Request::Ping(Some("x".into())),
            Request::Ping(None),
        ] {
            assert_eq!(request(r.to_json().as_bytes()).unwrap(), r);
        }
    }

    #[test]
    fn problems_name_their_field() {
        assert_eq!(fields("nope"), ["message"]);
        assert_eq!(fields("[]"), ["message"]);
        assert_eq!(fields("{}"), ["action"]);
        assert_eq!(fields(r#"{"action":"dance"}"#), ["action"]);
        assert_eq!(fields(r#"{"action":1}"#), ["action"]);
        assert_eq!(
            fields(r#"{"action":"subscribe","symbols":"A"}"#),
            ["symbols"]
        );
        assert_eq!(
            fields(r#"{"action":"subscribe","symbols":["A B"]}"#),
            ["symbols"]
        );
        assert_eq!(
            fields(r#"{"action":"subscribe","symbols":["A"],"watchlist":1}"#),
            ["watchlist"]
        );
        assert_eq!(
            fields(r#"{"action":"subscribe","watchlist":0}"#),
            ["watchlist"]
        );
        assert_eq!(
            fields(r#"{"action":"subscribe","conflate":"5ms"}"#),
            ["conflate"]
        );
        assert_eq!(fields(r#"{"action":"subscribe","from":"1-0"}"#), ["from"]);
        assert_eq!(fields(r#"{"action":"resume"}"#), ["from"]);
        assert_eq!(fields(r#"{"action":"resume","from":"x"}"#), ["from"]);
        assert_eq!(
            fields(r#"{"action":"unsubscribe","conflate":"1s"}"#),
            ["conflate"]
        );
        assert_eq!(fields(r#"{"action":"ping","data":5}"#), ["data"]);
        let big = format!(
            r#"{{"action":"ping","data":"{}"}}"#,
            "x".repeat(MAX_REQUEST_BYTES)
        );
        assert_eq!(fields(&big), ["message"]);
        let many: Vec<String> = (0..=MAX_SUBSCRIBE_SYMBOLS)
            .map(|i| format!("\"S{i}\""))
            .collect();
        assert_eq!(
            fields(&format!(
                r#"{{"action":"subscribe","symbols":[{}]}}"#,
                many.join(",")
            )),
            ["symbols"]
        );
    }

    #[test]
    fn repeated_symbols_count_once_and_null_is_absent() {
        let r = request(br#"{"action":"subscribe","symbols":["a","A"],"conflate":null}"#).unwrap();
        assert_eq!(
            r,
            Request::Subscribe(Subscription {
                follow: Follow::Symbols(vec![Symbol::new("A")]),
                conflate: None,
            })
        );
    }
}
