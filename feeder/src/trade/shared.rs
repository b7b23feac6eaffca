//! What the load client's sessions share: the API, the users' tokens, the
//! stocks, the prices seen and the stock cache.

use super::api::Api;
use super::verify::PriceLog;
use std::sync::Mutex;
use tickpulse_client::StockCache;
use tickpulse_core::Symbol;

pub(super) fn now_ms() -> i64 {
    tickpulse_core::Timestamp::now().as_millis()
}

/// What the sessions share.
pub(super) struct Shared {
    pub(super) api: Api,
    pub(super) tokens: Vec<String>,
    pub(super) stocks: Vec<Symbol>,
    pub(super) prices: Mutex<PriceLog>,
    pub(super) cache: Mutex<StockCache>,
}
