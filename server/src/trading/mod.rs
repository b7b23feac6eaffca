//! Paper trading (DESIGN.md §4a): the [`Trading`] service, which every door
//! calls (the JSON API, the pages), with the stock catalog ([`catalog`]),
//! orders and accounts ([`orders`]), and the `trade` role that fills
//! resting limit orders from the tick stream ([`role`]). The rules
//! themselves (what an order reserves, fills and gives back) live in
//! `tickpulse_core::trade`; the store applies them in one transaction per
//! change. Nothing here speaks HTTP: each door maps a [`TradingError`]
//! once.

pub mod catalog;
pub mod orders;
pub mod role;

use crate::bus::{Bus, BusError};
use crate::platform::prometheus::Metrics;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use tickpulse_core::trade::Refusal;

pub use orders::Settings;

/// Why a trading request was not done; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TradingError {
    /// A value is not acceptable; `field` names it.
    #[error("invalid {field}: {message}")]
    BadParam {
        field: &'static str,
        message: String,
    },
    /// Refused by the trading rules (cash, shares, no live price, an
    /// unknown symbol).
    #[error("{0}")]
    Refused(Refusal),
    /// No such order or stock of the caller's.
    #[error("{0}")]
    NotFound(String),
    /// The order's state does not allow it (already filled, say).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What paper trading needs: the store that holds the truth, the bus for
/// live prices and change events, the counters, and the settings.
pub struct Trading {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    settings: Settings,
}

impl Trading {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            bus,
            metrics,
            settings,
        }
    }
}
