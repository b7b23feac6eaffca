//! Watchlists as the API, the pages and the streams see them: checked
//! bodies, symbols that must have been seen (a tick or a catalog entry),
//! the limits, each list answered with its symbols' Views, and the
//! `watchlists` message every change publishes on the bus so streams that
//! follow a list change with it.

use crate::bus::{Bus, Topic};
use crate::error::ApiError;
use crate::store::watchlists::{Changed, Limits, WatchlistRefusal};
use crate::store::Store;
use std::collections::HashSet;
use tickpulse_core::watchlist::{
    symbol_request, watchlist_request, Watchlist, WatchlistEvent, WatchlistViews, MAX_WATCHLISTS,
};
use tickpulse_core::{Symbol, Timestamp};

/// The limits of a process (`WATCHLIST_MAX_SYMBOLS`).
pub fn limits(config: &crate::platform::config::Config) -> Limits {
    Limits {
        max_lists: MAX_WATCHLISTS,
        max_symbols: usize::try_from(config.watchlist_max_symbols).unwrap_or(usize::MAX),
    }
}

/// Symbols checked one by one up to this many; past it, against every
/// latest tick and catalog entry at once.
const ONE_BY_ONE: usize = 8;

/// Fails with a 404 naming the first symbol never seen: no tick (no View)
/// and not in the catalog.
async fn known(store: &dyn Store, bus: &dyn Bus, symbols: &[Symbol]) -> Result<(), ApiError> {
    let unknown = if symbols.len() <= ONE_BY_ONE {
        let mut first = None;
        for s in symbols {
            if bus.view(s).await?.is_none() && store.stock(s.as_str()).await?.is_none() {
                first = Some(s);
                break;
            }
        }
        first
    } else {
        let mut seen: HashSet<Symbol> = bus
            .latest_all()
            .await?
            .into_iter()
            .map(|t| t.symbol().clone())
            .collect();
        seen.extend(
            store
                .stocks()
                .await?
                .into_iter()
                .map(|e| Symbol::new(&e.symbol)),
        );
        symbols.iter().find(|s| !seen.contains(*s))
    };
    match unknown {
        Some(s) => Err(ApiError::NotFound(format!(
            "symbol {s} is unknown: it has no tick and is not in the catalog"
        ))),
        None => Ok(()),
    }
}

/// The API's answer to a refused change.
fn refused(refusal: WatchlistRefusal, id: i64) -> ApiError {
    match refusal {
        WatchlistRefusal::NotFound => ApiError::NotFound(format!("you have no watchlist {id}")),
        WatchlistRefusal::NameTaken(name) => {
            ApiError::Conflict(format!("you already have a watchlist named {name:?}"))
        }
        WatchlistRefusal::TooManyLists(limit) => ApiError::OverLimit {
            code: "too_many_watchlists",
            field: "body",
            message: format!("you have {limit} watchlists, the most allowed; delete one first"),
        },
        WatchlistRefusal::TooManySymbols(limit) => ApiError::OverLimit {
            code: "watchlist_full",
            field: "symbols",
            message: format!(
                "a watchlist holds at most {limit} symbols (WATCHLIST_MAX_SYMBOLS); nothing was saved"
            ),
        },
        WatchlistRefusal::NotInList(symbol) => {
            ApiError::NotFound(format!("{symbol} is not in watchlist {id}"))
        }
    }
}

/// The list after a change, published for its streams.
async fn changed(
    bus: &dyn Bus,
    user: &str,
    id: i64,
    outcome: Changed,
) -> Result<Watchlist, ApiError> {
    let list = outcome.map_err(|r| refused(r, id))?;
    publish(bus, user, list.clone(), false).await;
    Ok(list)
}

async fn publish(bus: &dyn Bus, user: &str, list: Watchlist, deleted: bool) {
    crate::bus::publish_json(
        bus,
        Topic::Watchlists,
        &[tickpulse_core::notice::WatchlistNotice {
            user: user.to_owned(),
            event: WatchlistEvent { list, deleted },
        }],
    )
    .await;
}

/// The user's lists, oldest first.
///
/// # Errors
/// The store's failure.
pub async fn list(store: &dyn Store, user: &str) -> Result<Vec<Watchlist>, ApiError> {
    Ok(store.watchlists(user).await?)
}

/// One of the user's lists with the latest View of each symbol.
///
/// # Errors
/// 404 for a list that is not the user's; the store's or the bus's failure.
pub async fn one(
    store: &dyn Store,
    bus: &dyn Bus,
    user: &str,
    id: i64,
) -> Result<WatchlistViews, ApiError> {
    let list = owned(store, user, id).await?;
    let views = futures::future::try_join_all(list.symbols.iter().map(|s| bus.view(s))).await?;
    Ok(WatchlistViews {
        id: list.id,
        name: list.name,
        symbols: list.symbols,
        views: views.into_iter().flatten().collect(),
    })
}

/// The user's list `id`, or a 404.
///
/// # Errors
/// 404, or the store's failure.
pub async fn owned(store: &dyn Store, user: &str, id: i64) -> Result<Watchlist, ApiError> {
    store
        .watchlist(user, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("you have no watchlist {id}")))
}

/// A new list from a `POST /api/watchlists` body.
///
/// # Errors
/// 400 naming each bad field, 404 for an unknown symbol, 409 for a name in
/// use, 422 over a limit; the store's or the bus's failure.
pub async fn create(
    store: &dyn Store,
    bus: &dyn Bus,
    limits: Limits,
    user: &str,
    body: &[u8],
) -> Result<Watchlist, ApiError> {
    let request = watchlist_request(body, true).map_err(ApiError::fields)?;
    let symbols = request.symbols.unwrap_or_default();
    known(store, bus, &symbols).await?;
    let name = request.name.unwrap_or_default();
    let outcome = store
        .create_watchlist(user, &name, &symbols, limits, Timestamp::now().as_millis())
        .await?;
    changed(bus, user, 0, outcome).await
}

/// Renames a list and/or replaces its symbols (`PUT`).
///
/// # Errors
/// As [`create`], and 404 for a list that is not the user's.
pub async fn update(
    store: &dyn Store,
    bus: &dyn Bus,
    limits: Limits,
    user: &str,
    id: i64,
    body: &[u8],
) -> Result<Watchlist, ApiError> {
    let request = watchlist_request(body, false).map_err(ApiError::fields)?;
    if let Some(symbols) = &request.symbols {
        known(store, bus, symbols).await?;
    }
    let outcome = store
        .update_watchlist(
            user,
            id,
            request.name.as_deref(),
            request.symbols.as_deref(),
            limits,
        )
        .await?;
    changed(bus, user, id, outcome).await
}

/// Deletes a list; its streams are told and end.
///
/// # Errors
/// 404 for a list that is not the user's; the store's failure.
pub async fn delete(store: &dyn Store, bus: &dyn Bus, user: &str, id: i64) -> Result<(), ApiError> {
    let list = owned(store, user, id).await?;
    if !store.delete_watchlist(user, id).await? {
        return Err(ApiError::NotFound(format!("you have no watchlist {id}")));
    }
    publish(bus, user, list, true).await;
    Ok(())
}

/// Adds a symbol from a `{"symbol": …}` body; adding one that is there
/// changes nothing.
///
/// # Errors
/// 400, 404 (list or symbol), 422 when the list is full.
pub async fn add(
    store: &dyn Store,
    bus: &dyn Bus,
    limits: Limits,
    user: &str,
    id: i64,
    body: &[u8],
) -> Result<Watchlist, ApiError> {
    let symbol = symbol_request(body).map_err(ApiError::fields)?;
    add_symbol(store, bus, limits, user, id, symbol).await
}

/// [`add`] with a checked symbol (the pages' star).
///
/// # Errors
/// As [`add`].
pub async fn add_symbol(
    store: &dyn Store,
    bus: &dyn Bus,
    limits: Limits,
    user: &str,
    id: i64,
    symbol: Symbol,
) -> Result<Watchlist, ApiError> {
    known(store, bus, std::slice::from_ref(&symbol)).await?;
    let outcome = store
        .add_watchlist_symbol(user, id, &symbol, limits)
        .await?;
    changed(bus, user, id, outcome).await
}

/// Removes a symbol.
///
/// # Errors
/// 400 for a bad symbol, 404 for a list that is not the user's or a symbol
/// not in it.
pub async fn remove(
    store: &dyn Store,
    bus: &dyn Bus,
    user: &str,
    id: i64,
    symbol: &str,
) -> Result<Watchlist, ApiError> {
    let symbol = Symbol::new_checked(symbol).map_err(|e| ApiError::BadParam {
        field: "symbol",
        message: e.to_string(),
    })?;
    let outcome = store.remove_watchlist_symbol(user, id, &symbol).await?;
    changed(bus, user, id, outcome).await
}
