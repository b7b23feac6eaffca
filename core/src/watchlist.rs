//! Watchlists: a signed-in user's named lists of symbols, in the order they
//! were added. The rules (names, limits, bodies) live here, so the server,
//! the client package and the pages agree on them.
//!
//! - A name is 1–[`MAX_NAME_CHARS`] characters (spaces around it are
//!   dropped) and unique per user, whatever its case.
//! - A user has at most [`MAX_WATCHLISTS`] lists; a list holds at most the
//!   server's `WATCHLIST_MAX_SYMBOLS` ([`DEFAULT_MAX_SYMBOLS`]) symbols.
//! - A symbol appears once in a list: adding it again changes nothing.

use crate::validate::{as_str, kind, optional, present, required};
use crate::{FieldError, Symbol, ValueError, View};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashSet};

pub const MAX_NAME_CHARS: usize = 64;
/// Lists per user.
pub const MAX_WATCHLISTS: usize = 20;
/// Symbols per list unless `WATCHLIST_MAX_SYMBOLS` says otherwise.
pub const DEFAULT_MAX_SYMBOLS: usize = 200;

/// One list, without prices (`GET /api/watchlists`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Watchlist {
    pub id: i64,
    pub name: String,
    /// In the order they were added.
    pub symbols: Vec<Symbol>,
}

/// One list with the latest View of each of its symbols that has one
/// (`GET /api/watchlists/{id}`): what a screen of it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct WatchlistViews {
    pub id: i64,
    pub name: String,
    pub symbols: Vec<Symbol>,
    /// In the order of `symbols`; a symbol without a View yet has none.
    pub views: Vec<View>,
}

/// The `watchlist` event of a stream that follows a list: the list after
/// a change, or `deleted` (the stream then ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct WatchlistEvent {
    #[serde(flatten)]
    #[cfg_attr(feature = "graphql", graphql(flatten))]
    pub list: Watchlist,
    #[serde(default)]
    pub deleted: bool,
}

/// A checked `POST` or `PUT /api/watchlists…` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchlistRequest {
    pub name: Option<String>,
    /// Without repeats, in the order given.
    pub symbols: Option<Vec<Symbol>>,
}

impl WatchlistRequest {
    /// A new list of this name and no symbols (the pages' form), checked as
    /// a body's `name` is.
    ///
    /// # Errors
    /// The name's problem, on `name`.
    pub fn named(text: &str) -> Result<Self, FieldError> {
        match name(text) {
            Ok(name) => Ok(Self {
                name: Some(name),
                symbols: None,
            }),
            Err(e) => Err(FieldError::new("name", "invalid", e.to_string())),
        }
    }
}

const LIST_FIELDS: &[&str] = &["name", "symbols"];

/// A list name, trimmed.
///
/// # Errors
/// When it is empty, too long or holds control characters.
pub fn name(text: &str) -> Result<String, ValueError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ValueError::Empty);
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ValueError::TooLong {
            max: MAX_NAME_CHARS,
        });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

/// The key that makes names unique per user: `Tech` and `tech` are one.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Symbols without repeats (the first one stays), in order.
pub fn distinct(symbols: impl IntoIterator<Item = Symbol>) -> Vec<Symbol> {
    let mut seen = HashSet::new();
    symbols
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

fn fields(body: &[u8], what: &str) -> Result<BTreeMap<String, Box<RawValue>>, Vec<FieldError>> {
    serde_json::from_slice(body).map_err(|e| {
        vec![FieldError::new(
            "body",
            "invalid",
            format!("must be a JSON object of {what}: {e}"),
        )]
    })
}

/// Checks a list body. `name_required` for `POST` (a new list); for `PUT`
/// either field may be left out, not both.
///
/// # Errors
/// Every problem, each naming its field (`symbols[2]` for one symbol).
pub fn watchlist_request(
    body: &[u8],
    name_required: bool,
) -> Result<WatchlistRequest, Vec<FieldError>> {
    let fields = fields(body, "watchlist fields (name, symbols)")?;
    let mut errors = Vec::new();
    for key in fields.keys() {
        if !LIST_FIELDS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key,
                "unknown_field",
                "is not a watchlist field (expected name, symbols)",
            ));
        }
    }
    let raw_name = fields.get("name").map(Box::as_ref);
    let checked_name = |v: &RawValue| name(&as_str(v)?);
    let name = if name_required {
        required(&mut errors, "name", raw_name, checked_name).map(Some)
    } else {
        optional(&mut errors, "name", raw_name, checked_name)
    };
    let symbols = match present(fields.get("symbols").map(Box::as_ref)) {
        None => Some(None),
        Some(v) => symbol_list(v, &mut errors).map(Some),
    };
    if !name_required && fields.get("name").is_none() && fields.get("symbols").is_none() {
        errors.push(FieldError::new(
            "body",
            "required",
            "give the list's new name, its symbols, or both",
        ));
    }
    match (name, symbols) {
        (Some(name), Some(symbols)) if errors.is_empty() => Ok(WatchlistRequest { name, symbols }),
        _ => Err(errors),
    }
}

fn symbol_list(v: &RawValue, errors: &mut Vec<FieldError>) -> Option<Vec<Symbol>> {
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(v.get()) else {
        errors.push(FieldError::new(
            "symbols",
            "invalid",
            format!("must be an array of symbols, got {}", kind(v)),
        ));
        return None;
    };
    let before = errors.len();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match as_str(item).and_then(|s| Symbol::new_checked(s.trim())) {
            Ok(s) => out.push(s),
            Err(e) => errors.push(FieldError::new(
                &format!("symbols[{i}]"),
                "invalid",
                e.to_string(),
            )),
        }
    }
    (errors.len() == before).then(|| distinct(out))
}

/// Checks a `POST /api/watchlists/{id}/symbols` body (`{"symbol": "…"}`).
///
/// # Errors
/// Every problem, naming its field.
pub fn symbol_request(body: &[u8]) -> Result<Symbol, Vec<FieldError>> {
    let fields = fields(body, "{\"symbol\": …}")?;
    let mut errors = Vec::new();
    for key in fields.keys().filter(|k| k.as_str() != "symbol") {
        errors.push(FieldError::new(
            key,
            "unknown_field",
            "is not a field here (expected symbol)",
        ));
    }
    let symbol = required(
        &mut errors,
        "symbol",
        fields.get("symbol").map(Box::as_ref),
        |v| Symbol::new_checked(as_str(v)?.trim()),
    );
    match symbol {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(e: &[FieldError]) -> Vec<&str> {
        e.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn names_are_trimmed_and_limited() {
        assert_eq!(name("  Tech ").unwrap(), "Tech");
        assert_eq!(name(" "), Err(ValueError::Empty));
        assert_eq!(name(&"é".repeat(64)).unwrap().chars().count(), 64);
        assert!(matches!(
            name(&"a".repeat(65)),
            Err(ValueError::TooLong { max: 64 })
        ));
        assert_eq!(name("a\tb"), Err(ValueError::ControlCharacter));
        assert_eq!(name_key("Tech"), name_key("TECH"));
    }

    #[test]
    fn a_new_list_needs_a_name_and_takes_symbols_without_repeats() {
        let r = watchlist_request(br#"{"name":"Tech","symbols":["aapl","NVDA","AAPL"]}"#, true)
            .unwrap();
        assert_eq!(r.name.as_deref(), Some("Tech"));
        let symbols: Vec<&str> = r
            .symbols
            .as_ref()
            .unwrap()
            .iter()
            .map(Symbol::as_str)
            .collect();
        assert_eq!(symbols, ["AAPL", "NVDA"]);
        assert_eq!(
            watchlist_request(br#"{"name":"Tech"}"#, true)
                .unwrap()
                .symbols,
            None
        );
        let e = watchlist_request(br#"{"symbols":[]}"#, true).unwrap_err();
        assert_eq!(fields_of(&e), ["name"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = watchlist_request(br#"{"name":"","symbols":["A","b c",3],"color":1}"#, true)
            .unwrap_err();
        let mut names = fields_of(&e);
        names.sort_unstable();
        assert_eq!(names, ["color", "name", "symbols[1]", "symbols[2]"]);
        let e = watchlist_request(br#"{"symbols":"A"}"#, false).unwrap_err();
        assert_eq!(fields_of(&e), ["symbols"]);
        let e = watchlist_request(b"[1]", true).unwrap_err();
        assert_eq!(fields_of(&e), ["body"]);
    }

    #[test]
    fn a_replacement_gives_a_name_symbols_or_both() {
        let r = watchlist_request(br#"{"symbols":["A"]}"#, false).unwrap();
        assert_eq!((r.name, r.symbols.map(|s| s.len())), (None, Some(1)));
        let e = watchlist_request(b"{}", false).unwrap_err();
        assert_eq!(fields_of(&e), ["body"]);
    }

    #[test]
    fn one_symbol_is_checked() {
        assert_eq!(
            symbol_request(br#"{"symbol":" msft "}"#).unwrap().as_str(),
            "MSFT"
        );
        assert_eq!(fields_of(&symbol_request(b"{}").unwrap_err()), ["symbol"]);
        assert_eq!(
            fields_of(&symbol_request(br#"{"symbol":"A","x":1}"#).unwrap_err()),
            ["x"]
        );
    }
}
