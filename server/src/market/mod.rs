//! The `MarketReads` service: what every door reads of the market and of
//! the system's history (views, ticks, candles, the performance report),
//! so each rule of a read (limits, defaults, where unpersisted ticks come
//! from, the report's period) is written once. It speaks no protocol: each
//! door reads its own parameters and maps a [`MarketError`] once.

mod reads;
pub mod report;

pub use reads::MAX_CANDLES;

use crate::bus::{Bus, BusError};
use crate::store::{Store, StoreError};
use std::sync::Arc;

/// Why a read was not answered.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// A parameter is out of range; `field` names it.
    #[error("invalid {field}: {message}")]
    BadParam {
        field: &'static str,
        message: String,
    },
    /// The read needs a database and there is none.
    #[error("{0} needs a database: set DATABASE_URL")]
    NoStore(&'static str),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the reads need: the bus (latest prices, views, ticks not yet
/// persisted) and the store (history, candles, the metric history), when
/// there is one.
pub struct MarketReads {
    bus: Arc<dyn Bus>,
    store: Option<Arc<dyn Store>>,
}

impl MarketReads {
    pub fn new(bus: Arc<dyn Bus>, store: Option<Arc<dyn Store>>) -> Self {
        Self { bus, store }
    }

    /// The store, or why `what` cannot be read without one.
    fn store(&self, what: &'static str) -> Result<&dyn Store, MarketError> {
        self.store.as_deref().ok_or(MarketError::NoStore(what))
    }
}
