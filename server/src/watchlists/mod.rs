//! The `Watchlists` service: a user's lists as every door sees them
//! (the JSON API, the pages, the streams): checked input, symbols that must
//! have been seen (a tick or a catalog entry), the limits, each list
//! answered with its symbols' Views, and the `watchlists` message every
//! change publishes on the bus so streams that follow a list change with
//! it. It speaks no protocol: each door maps a [`WatchlistError`] once.

use crate::bus::{Bus, BusError, Topic};
use crate::store::watchlists::{Changed, Limits, WatchlistRefusal};
use crate::store::{Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use tickpulse_core::watchlist::{
    Watchlist, WatchlistEvent, WatchlistRequest, WatchlistViews, MAX_WATCHLISTS,
};
use tickpulse_core::{FieldError, Symbol, Timestamp};

/// Why a watchlist request was not done; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum WatchlistError {
    /// The request's fields, each problem naming its field.
    #[error("invalid watchlist request")]
    Invalid(Vec<FieldError>),
    /// No such list of the user's, or no such symbol.
    #[error("{0}")]
    NotFound(String),
    /// The user has a list of that name.
    #[error("{0}")]
    Conflict(String),
    /// Over a limit (`code` says which, `field` what to change).
    #[error("{message}")]
    OverLimit {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the watchlists need: the store that keeps them, the bus whose
/// views answer them and that carries their changes, and the limits.
pub struct Watchlists {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    limits: Limits,
}

/// The limits of a process: at most `max_symbols` per list
/// (`WATCHLIST_MAX_SYMBOLS`), [`MAX_WATCHLISTS`] lists per user.
pub fn limits(max_symbols: u64) -> Limits {
    Limits {
        max_lists: MAX_WATCHLISTS,
        max_symbols: usize::try_from(max_symbols).unwrap_or(usize::MAX),
    }
}

/// Symbols checked one by one up to this many; past it, against every
/// latest tick and catalog entry at once.
const ONE_BY_ONE: usize = 8;

/// Fails with a 404 naming the first symbol never seen: no tick (no View)
/// and not in the catalog.
async fn known(store: &dyn Store, bus: &dyn Bus, symbols: &[Symbol]) -> Result<(), WatchlistError> {
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
        Some(s) => Err(WatchlistError::NotFound(format!(
            "symbol {s} is unknown: it has no tick and is not in the catalog"
        ))),
        None => Ok(()),
    }
}

/// The API's answer to a refused change.
fn refused(refusal: WatchlistRefusal, id: i64) -> WatchlistError {
    match refusal {
        WatchlistRefusal::NotFound => WatchlistError::NotFound(format!("you have no watchlist {id}")),
        WatchlistRefusal::NameTaken(name) => {
            WatchlistError::Conflict(format!("you already have a watchlist named {name:?}"))
        }
        WatchlistRefusal::TooManyLists(limit) => WatchlistError::OverLimit {
            code: "too_many_watchlists",
            field: "body",
            message: format!("you have {limit} watchlists, the most allowed; delete one first"),
        },
        WatchlistRefusal::TooManySymbols(limit) => WatchlistError::OverLimit {
            code: "watchlist_full",
            field: "symbols",
            message: format!(
                "a watchlist holds at most {limit} symbols (WATCHLIST_MAX_SYMBOLS); nothing was saved"
            ),
        },
        WatchlistRefusal::NotInList(symbol) => {
            WatchlistError::NotFound(format!("{symbol} is not in watchlist {id}"))
        }
    }
}

/// The list after a change, published for its streams.
async fn changed(
    bus: &dyn Bus,
    user: &str,
    id: i64,
    outcome: Changed,
) -> Result<Watchlist, WatchlistError> {
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

impl Watchlists {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, limits: Limits) -> Self {
        Self { store, bus, limits }
    }

    /// The user's lists, oldest first.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn list(&self, user: &str) -> Result<Vec<Watchlist>, WatchlistError> {
        Ok(self.store.watchlists(user).await?)
    }

    /// One of the user's lists with the latest View of each symbol.
    ///
    /// # Errors
    /// `NotFound` for a list that is not the user's; the store's or the
    /// bus's failure.
    pub async fn one(&self, user: &str, id: i64) -> Result<WatchlistViews, WatchlistError> {
        let list = self.owned(user, id).await?;
        let bus = self.bus.as_ref();
        let views = futures::future::try_join_all(list.symbols.iter().map(|s| bus.view(s))).await?;
        Ok(WatchlistViews {
            id: list.id,
            name: list.name,
            symbols: list.symbols,
            views: views.into_iter().flatten().collect(),
        })
    }

    /// The user's list `id`.
    ///
    /// # Errors
    /// `NotFound`, or the store's failure.
    pub async fn owned(&self, user: &str, id: i64) -> Result<Watchlist, WatchlistError> {
        self.store
            .watchlist(user, id)
            .await?
            .ok_or_else(|| WatchlistError::NotFound(format!("you have no watchlist {id}")))
    }

    /// A new list; `request.name` is required.
    ///
    /// # Errors
    /// `Invalid` without a name, `NotFound` for an unknown symbol,
    /// `Conflict` for a name in use, `OverLimit`; the store's or the bus's
    /// failure.
    pub async fn create(
        &self,
        user: &str,
        request: WatchlistRequest,
    ) -> Result<Watchlist, WatchlistError> {
        let Some(name) = request.name else {
            return Err(WatchlistError::Invalid(vec![FieldError::new(
                "name",
                "required",
                "is required",
            )]));
        };
        let symbols = request.symbols.unwrap_or_default();
        known(self.store.as_ref(), self.bus.as_ref(), &symbols).await?;
        let outcome = self
            .store
            .create_watchlist(
                user,
                &name,
                &symbols,
                self.limits,
                Timestamp::now().as_millis(),
            )
            .await?;
        changed(self.bus.as_ref(), user, 0, outcome).await
    }

    /// Renames a list and/or replaces its symbols.
    ///
    /// # Errors
    /// As [`Watchlists::create`], and `NotFound` for a list that is not
    /// the user's.
    pub async fn update(
        &self,
        user: &str,
        id: i64,
        request: WatchlistRequest,
    ) -> Result<Watchlist, WatchlistError> {
        if let Some(symbols) = &request.symbols {
            known(self.store.as_ref(), self.bus.as_ref(), symbols).await?;
        }
        let outcome = self
            .store
            .update_watchlist(
                user,
                id,
                request.name.as_deref(),
                request.symbols.as_deref(),
                self.limits,
            )
            .await?;
        changed(self.bus.as_ref(), user, id, outcome).await
    }

    /// Deletes a list; its streams are told and end.
    ///
    /// # Errors
    /// `NotFound` for a list that is not the user's; the store's failure.
    pub async fn delete(&self, user: &str, id: i64) -> Result<(), WatchlistError> {
        let list = self.owned(user, id).await?;
        if !self.store.delete_watchlist(user, id).await? {
            return Err(WatchlistError::NotFound(format!(
                "you have no watchlist {id}"
            )));
        }
        publish(self.bus.as_ref(), user, list, true).await;
        Ok(())
    }

    /// Adds a symbol; adding one that is there changes nothing.
    ///
    /// # Errors
    /// `NotFound` (list or symbol), `OverLimit` when the list is full.
    pub async fn add(
        &self,
        user: &str,
        id: i64,
        symbol: Symbol,
    ) -> Result<Watchlist, WatchlistError> {
        known(
            self.store.as_ref(),
            self.bus.as_ref(),
            std::slice::from_ref(&symbol),
        )
        .await?;
        let outcome = self
            .store
            .add_watchlist_symbol(user, id, &symbol, self.limits)
            .await?;
        changed(self.bus.as_ref(), user, id, outcome).await
    }

    /// Removes a symbol.
    ///
    /// # Errors
    /// `NotFound` for a list that is not the user's or a symbol not in it.
    pub async fn remove(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
    ) -> Result<Watchlist, WatchlistError> {
        let outcome = self.store.remove_watchlist_symbol(user, id, symbol).await?;
        changed(self.bus.as_ref(), user, id, outcome).await
    }

    /// Adds the symbol when the list lacks it, removes it otherwise (the
    /// pages' star).
    ///
    /// # Errors
    /// As [`Watchlists::add`] and [`Watchlists::remove`].
    pub async fn toggle(
        &self,
        user: &str,
        id: i64,
        symbol: &Symbol,
    ) -> Result<Watchlist, WatchlistError> {
        let current = self.owned(user, id).await?;
        if current.symbols.contains(symbol) {
            self.remove(user, id, symbol).await
        } else {
            self.add(user, id, symbol.clone()).await
        }
    }

    /// Every symbol of the catalog with its name, for the pages' search.
    ///
    /// # Errors
    /// The store's failure.
    pub async fn names(&self) -> Result<Vec<(Symbol, String)>, WatchlistError> {
        Ok(self
            .store
            .stocks()
            .await?
            .into_iter()
            .map(|e| (Symbol::new(&e.symbol), e.name))
            .collect())
    }
}
