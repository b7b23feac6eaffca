//! `GET /api/stocks/{symbol}`: a catalog entry with its live price, and
//! `PUT /api/admin/catalog/{symbol}` (in [`super::admin`]) to change it.

use crate::error::{ApiError, ErrorBody, ReadRefusals};
use crate::platform::edge::extract::Path;
use crate::state::AppState;
use crate::trading::catalog::{self, Stock};
use axum::extract::State;
use axum::Json;

#[utoipa::path(
    get, path = "/api/stocks/{symbol}", tag = "trading",
    params(("symbol" = tickpulse_core::Symbol, Path, description = "The stock")),
    responses(
        (status = 200, description = "The catalog entry with the live last price", body = Stock),
        (status = 400, description = "`symbol` is not a symbol", body = ErrorBody),
        (status = 404, description = "Not in the catalog", body = ErrorBody),
        ReadRefusals,
    ),
    security((), ("api_key" = []), ("session" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Path(symbol): Path<String>,
) -> Result<Json<Stock>, ApiError> {
    let symbol = catalog::symbol("symbol", &symbol)?;
    Ok(Json(
        super::services::catalog(&state)?.stock(&symbol).await?,
    ))
}
