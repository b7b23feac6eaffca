//! The stock catalog as the API, the CLI and the pages see it: checked
//! input, the live price beside each entry, and `tickpulse catalog …`.

use super::{Trading, TradingError};
use crate::bus::publish_json;
use crate::bus::Topic;
use crate::platform::config::{CatalogAction, Config};
use crate::store::{CatalogEntry, Store};
use serde::Deserialize;
pub use tickpulse_core::trade::Stock;
use tickpulse_core::trade::StockEvent;
use tickpulse_core::{Symbol, Timestamp};

/// The longest display name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// What `PUT /api/admin/catalog/{symbol}` takes.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    /// 1–64 characters, no control characters; the symbol when absent.
    pub name: Option<String>,
    /// Shares the house can still sell.
    pub available: u64,
}

fn bad(field: &'static str, message: impl Into<String>) -> TradingError {
    TradingError::BadParam {
        field,
        message: message.into(),
    }
}

/// A checked symbol.
///
/// # Errors
/// `BadParam` naming `field`.
pub fn symbol(field: &'static str, text: &str) -> Result<Symbol, TradingError> {
    Symbol::new_checked(text).map_err(|e| bad(field, format!("{text:?} {e}")))
}

/// A checked display name; the symbol when none is given.
///
/// # Errors
/// `BadParam` naming `name`.
pub fn name(symbol: &Symbol, name: Option<&str>) -> Result<String, TradingError> {
    let Some(name) = name else {
        return Ok(symbol.as_str().to_owned());
    };
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(bad(
            "name",
            format!("must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("name", "must not hold control characters"));
    }
    Ok(name.to_owned())
}

/// A quantity as the database keeps it.
///
/// # Errors
/// `BadParam` naming `field` when it does not fit.
pub fn quantity(field: &'static str, n: u64) -> Result<i64, TradingError> {
    i64::try_from(n).map_err(|_| bad(field, format!("must be at most {}", i64::MAX)))
}

impl Trading {
    /// The entry of `symbol` with its live price.
    ///
    /// # Errors
    /// `NotFound` when it is not in the catalog, or the store's or the
    /// bus's failure.
    pub async fn stock(&self, symbol: &Symbol) -> Result<Stock, TradingError> {
        let entry = self
            .store
            .stock(symbol.as_str())
            .await?
            .ok_or_else(|| TradingError::NotFound(format!("{symbol} is not in the catalog")))?;
        let view = self.bus.view(symbol).await?;
        Ok(Stock {
            symbol: symbol.clone(),
            name: entry.name,
            available: tickpulse_core::trade::Shares::new(
                u64::try_from(entry.available).unwrap_or(0),
            ),
            price: view.as_ref().map(|v| v.last.tick.price),
            price_ts: view.map(|v| v.last.tick.ts),
        })
    }

    /// Adds `symbol`, or sets its name and quantity, and tells the streams
    /// (a `stock` event); `true` when it was added, with the entry as it is
    /// now.
    ///
    /// # Errors
    /// `BadParam` for a bad name or quantity, or the store's or the bus's
    /// failure.
    pub async fn put_stock(
        &self,
        symbol: &Symbol,
        update: &StockUpdate,
    ) -> Result<(bool, Stock), TradingError> {
        let entry = CatalogEntry {
            symbol: symbol.as_str().to_owned(),
            name: name(symbol, update.name.as_deref())?,
            available: quantity("available", update.available)?,
            created_at: Timestamp::now().as_millis(),
        };
        let added = self.store.put_stock(&entry).await?;
        let stock = self.stock(symbol).await?;
        publish_json(
            self.bus.as_ref(),
            Topic::Stocks,
            &[StockEvent {
                symbol: stock.symbol.clone(),
                available: stock.available,
            }],
        )
        .await;
        Ok((added, stock))
    }
}

/// The shares each seeded stock starts with.
pub const SEED_QUANTITY: i64 = 100;

/// The symbols `CATALOG_SEED` names (`demo`: [`tickpulse_core::DEMO_SYMBOLS`]).
///
/// # Errors
/// The first entry that is not a symbol.
pub fn seed_symbols(setting: &[String]) -> Result<Vec<Symbol>, TradingError> {
    let mut out = Vec::new();
    for item in setting.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if item.eq_ignore_ascii_case("demo") {
            out.extend(tickpulse_core::DEMO_SYMBOLS.iter().map(|s| Symbol::new(s)));
        } else {
            out.push(symbol("CATALOG_SEED", item)?);
        }
    }
    Ok(out)
}

/// Adds each seed symbol with [`SEED_QUANTITY`] shares unless it is in the
/// catalog already (a restart changes nothing); how many were added.
///
/// # Errors
/// The store's failure.
pub async fn seed(store: &dyn Store, symbols: &[Symbol]) -> Result<usize, TradingError> {
    let mut added = 0;
    for symbol in symbols {
        let entry = CatalogEntry {
            symbol: symbol.as_str().to_owned(),
            name: symbol.as_str().to_owned(),
            available: SEED_QUANTITY,
            created_at: Timestamp::now().as_millis(),
        };
        added += usize::from(store.add_stock(&entry).await?);
    }
    Ok(added)
}

/// Runs one `tickpulse catalog …` command and says what it did.
///
/// # Errors
/// A message for the operator; the process exits with status 1.
pub async fn run(config: &Config, action: &CatalogAction) -> anyhow::Result<()> {
    let store = crate::store::open(&config.store_settings()).await?.ok_or_else(|| {
        anyhow::anyhow!("the catalog needs a database: set DATABASE_URL (or leave REDIS_URL unset for the embedded one)")
    })?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("cannot prepare the database: {e}"))?;
    let said = match action {
        CatalogAction::Add {
            symbol: text,
            quantity: n,
            name: given,
        } => {
            let symbol = symbol("SYMBOL", text).map_err(refusal)?;
            let entry = CatalogEntry {
                name: name(&symbol, given.as_deref()).map_err(refusal)?,
                symbol: symbol.as_str().to_owned(),
                available: quantity("--quantity", *n).map_err(refusal)?,
                created_at: Timestamp::now().as_millis(),
            };
            if !store.add_stock(&entry).await? {
                anyhow::bail!("{symbol} is already in the catalog (set-quantity changes it)");
            }
            format!("added {symbol} ({}) with {n} shares", entry.name)
        }
        CatalogAction::SetQuantity {
            symbol: text,
            quantity: n,
        } => {
            let symbol = symbol("SYMBOL", text).map_err(refusal)?;
            let q = quantity("QUANTITY", *n).map_err(refusal)?;
            if !store.set_available(symbol.as_str(), q).await? {
                anyhow::bail!("{symbol} is not in the catalog (add it first)");
            }
            format!("{symbol} now has {n} shares available")
        }
        CatalogAction::List => {
            let mut out = format!("{:<32} {:>14}  NAME", "SYMBOL", "AVAILABLE");
            for e in store.stocks().await? {
                out.push_str(&format!(
                    "\n{:<32} {:>14}  {}",
                    e.symbol, e.available, e.name
                ));
            }
            out
        }
    };
    println!("{said}");
    Ok(())
}

/// A refused argument, in the operator's words.
fn refusal(e: TradingError) -> anyhow::Error {
    match e {
        TradingError::BadParam { field, message } => anyhow::anyhow!("{field}: {message}"),
        other => anyhow::anyhow!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_default_to_the_symbol() {
        let s = Symbol::new("BTC-USD");
        assert_eq!(name(&s, None).unwrap(), "BTC-USD");
        assert_eq!(name(&s, Some("  Bitcoin ")).unwrap(), "Bitcoin");
        for bad in ["", "   ", "a\u{7}b"] {
            assert!(matches!(
                name(&s, Some(bad)),
                Err(TradingError::BadParam { field: "name", .. })
            ));
        }
        assert!(name(&s, Some(&"x".repeat(65))).is_err());
        assert!(name(&s, Some(&"é".repeat(64))).is_ok());
        assert!(quantity("available", u64::MAX).is_err());
        assert_eq!(quantity("available", 7).unwrap(), 7);
    }

    #[test]
    fn the_seed_names_symbols_or_the_demo() {
        let list = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(seed_symbols(&[]).unwrap().is_empty());
        assert_eq!(seed_symbols(&list(&["demo"])).unwrap().len(), 10);
        let two = seed_symbols(&list(&["btc-usd", " X "])).unwrap();
        assert_eq!(two, [Symbol::new("BTC-USD"), Symbol::new("X")]);
        assert!(matches!(
            seed_symbols(&list(&["a b"])),
            Err(TradingError::BadParam {
                field: "CATALOG_SEED",
                ..
            })
        ));
    }
}
