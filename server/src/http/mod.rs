//! The HTTP surface: the [`router`] and one module per group of endpoints.

pub mod admin;
pub mod graphql;
pub mod health;
pub mod openapi;
pub mod orders;
mod refusals;
pub mod report;
mod services;
pub mod stocks;
pub mod symbols;
pub mod watchlists;
pub mod ws;

use crate::error::ApiError;
use crate::pipeline::ingest::handler as ingest;
use crate::state::AppState;
use axum::middleware;
use axum::routing::{any, get, post, put};
use axum::Router;

/// Every JSON endpoint but the webhook's ([`webhook_routes`]); the pages
/// are added by [`crate::site`].
pub fn api_routes(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/symbols", get(symbols::list))
        .route("/api/symbols/{id}", get(symbols::one))
        .route("/api/symbols/{id}/history", get(symbols::history))
        .route("/api/symbols/{id}/candles", get(symbols::candles))
        .route("/api/stocks/{symbol}", get(stocks::one))
        .route("/api/stream", get(symbols::stream))
        .route("/api/ws", get(ws::ws))
        .route("/api/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql", get(graphql::graphiql))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::accounts::extract::api_key_guard,
        ));
    Router::new()
        .route("/api/admin/nodes", get(admin::nodes))
        .route("/api/admin/events", get(admin::events))
        .route("/api/admin/health", get(admin::health))
        .route("/api/admin/stream", get(admin::stream))
        .route("/api/admin/report", get(report::get))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/admin/catalog/{symbol}", put(admin::put_stock))
        .route("/api/admin/users/{username}", put(admin::put_user))
        .route("/api/admin/users/{username}/tokens", post(admin::new_token))
        .route("/api/account", get(orders::account))
        .route("/api/orders", post(orders::place).get(orders::list))
        .route("/api/orders/stream", get(orders::stream))
        .route("/api/orders/by-client-id/{id}", get(orders::by_client_id))
        .route(
            "/api/orders/{number}",
            get(orders::one).delete(orders::cancel),
        )
        .route(
            "/api/watchlists",
            get(watchlists::list).post(watchlists::create),
        )
        .route(
            "/api/watchlists/{id}",
            get(watchlists::one)
                .put(watchlists::replace)
                .delete(watchlists::delete),
        )
        .route("/api/watchlists/{id}/symbols", post(watchlists::add))
        .route(
            "/api/watchlists/{id}/symbols/{symbol}",
            axum::routing::delete(watchlists::remove),
        )
        .merge(public)
        .route("/api/{*rest}", any(not_found))
        .merge(health_routes())
}

/// The ingest webhook. It answers programs, not browsers, and is the hot
/// path: [`crate::router`] keeps it out of the site's layers (sessions,
/// page guard, browser headers, caching, compression).
pub fn webhook_routes() -> Router<AppState> {
    Router::new()
        .route("/ingest/tick", post(ingest::one))
        .route("/ingest/ticks", post(ingest::many))
}

/// What every process serves, whatever its roles.
pub fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/health/liveness", get(health::liveness))
        .route("/health/readiness", get(health::readiness))
        .route("/metrics", get(health::metrics))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no endpoint {}", uri.path()))
}
