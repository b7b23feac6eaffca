//! The read API: `GET /api/symbols` (latest tick per symbol) and
//! `GET /api/symbols/{id}` (the symbol's View).

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use tickpulse_core::{LatestTick, Symbol, View};

/// Every symbol with its latest tick, ordered by symbol.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<LatestTick>>, ApiError> {
    Ok(Json(state.bus.latest_all().await?))
}

/// The View of one symbol (last tick and window statistics); 404 when no
/// tick of it has been through the calc stage yet.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<View>, ApiError> {
    let symbol = Symbol::new_checked(&id).map_err(|message| ApiError::BadParam {
        field: "id",
        message,
    })?;
    match state.bus.view(&symbol).await? {
        Some(view) => Ok(Json(view)),
        None => Err(ApiError::NotFound(format!(
            "unknown symbol {symbol} (no view computed yet)"
        ))),
    }
}
