//! The read API: `GET /api/symbols` and `GET /api/symbols/{id}`.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use tickpulse_core::{LatestTick, Symbol};

/// Every symbol with its latest tick, ordered by symbol.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<LatestTick>>, ApiError> {
    Ok(Json(state.bus.latest_all().await?))
}

/// The latest tick of one symbol; 404 when no tick was ever accepted for it.
pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LatestTick>, ApiError> {
    let symbol = Symbol::new_checked(&id).map_err(|message| ApiError::BadParam {
        field: "id",
        message,
    })?;
    match state.bus.latest(&symbol).await? {
        Some(latest) => Ok(Json(latest)),
        None => Err(ApiError::NotFound(format!("unknown symbol {symbol}"))),
    }
}
