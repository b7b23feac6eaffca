//! The service each JSON handler calls, or the refusal when this process
//! has none (no database).

use crate::error::ApiError;
use crate::state::AppState;
use crate::trading::Trading;
use crate::watchlists::Watchlists;

pub(super) fn trading(state: &AppState) -> Result<&Trading, ApiError> {
    state.trading.as_deref().ok_or(ApiError::NoStore("trading"))
}

/// The same service as [`trading`], named for the catalog's endpoints.
pub(super) fn catalog(state: &AppState) -> Result<&Trading, ApiError> {
    state
        .trading
        .as_deref()
        .ok_or(ApiError::NoStore("the stock catalog"))
}

pub(super) fn watchlists(state: &AppState) -> Result<&Watchlists, ApiError> {
    state
        .watchlists
        .as_deref()
        .ok_or(ApiError::NoStore("watchlists"))
}
