//! How the JSON API answers each service's refusal: one mapping per
//! service error into [`ApiError`] (the pages map the same errors in
//! `site.rs`).

use crate::error::ApiError;
use crate::market::MarketError;
use crate::trading::TradingError;
use crate::watchlists::WatchlistError;

impl From<TradingError> for ApiError {
    fn from(e: TradingError) -> Self {
        use TradingError as E;
        match e {
            E::BadParam { field, message } => ApiError::BadParam { field, message },
            E::Refused(refusal) => ApiError::Refused(refusal),
            E::NotFound(message) => ApiError::NotFound(message),
            E::Conflict(message) => ApiError::Conflict(message),
            E::Bus(e) => ApiError::Unavailable(e),
            E::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<WatchlistError> for ApiError {
    fn from(e: WatchlistError) -> Self {
        use WatchlistError as E;
        match e {
            E::Invalid(errors) => ApiError::fields(errors),
            E::NotFound(message) => ApiError::NotFound(message),
            E::Conflict(message) => ApiError::Conflict(message),
            E::OverLimit {
                code,
                field,
                message,
            } => ApiError::OverLimit {
                code,
                field,
                message,
            },
            E::Bus(e) => ApiError::Unavailable(e),
            E::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<MarketError> for ApiError {
    fn from(e: MarketError) -> Self {
        use MarketError as E;
        match e {
            E::BadParam { field, message } => ApiError::BadParam { field, message },
            E::NoStore(what) => ApiError::NoStore(what),
            E::Bus(e) => ApiError::Unavailable(e),
            E::Store(e) => ApiError::Store(e),
        }
    }
}
