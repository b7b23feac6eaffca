//! The HTTP API's OpenAPI 3.1 document, built from the handlers' and the
//! types' annotations: served at `GET /api/openapi.json` and kept in
//! `docs/openapi.json` (a test fails when the two drift; `tickpulse openapi
//! > docs/openapi.json` writes it again).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tickpulse",
        description = "Real-time market data: ticks in over an authenticated webhook, latest prices, window statistics, history, candles and a live stream out.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::pipeline::ingest::handler::one,
        crate::pipeline::ingest::handler::many,
        super::symbols::list,
        super::symbols::one,
        super::symbols::history,
        super::symbols::candles,
        super::symbols::stream,
        super::ws::ws,
        super::graphql::post,
        super::graphql::get,
        super::admin::nodes,
        super::admin::health,
        super::admin::events,
        super::admin::stream,
        super::report::get,
        super::stocks::one,
        super::admin::put_stock,
        super::admin::put_user,
        super::admin::new_token,
        super::orders::account,
        super::orders::place,
        super::orders::list,
        super::orders::one,
        super::orders::by_client_id,
        super::orders::cancel,
        super::orders::stream,
        super::watchlists::list,
        super::watchlists::create,
        super::watchlists::one,
        super::watchlists::replace,
        super::watchlists::delete,
        super::watchlists::add,
        super::watchlists::remove,
        super::health::liveness,
        super::health::readiness,
        super::health::metrics,
        openapi_json,
    ),
    components(schemas(
        tickpulse_core::Snapshot,
        tickpulse_core::Interval,
        tickpulse_core::trade::OrderEvent,
        tickpulse_core::trade::StockEvent,
        tickpulse_core::watchlist::WatchlistEvent
    )),
    modifiers(&Security),
    tags(
        (name = "ingest", description = "The feeders' webhook (HTTP Basic Auth)"),
        (name = "market data", description = "Latest prices, views, history, candles and the live stream"),
        (name = "admin", description = "Nodes, health, alerts and performance reports (an admin session or ADMIN_API_KEY)"),
        (name = "trading", description = "Paper trading: the stock catalog, accounts and orders (a session, or a personal token as `Authorization: Bearer`)"),
        (name = "watchlists", description = "Named lists of symbols per user, answered with their Views; `/api/stream?watchlist=` follows one (a session, or a personal token)"),
        (name = "operations", description = "Probes, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The security schemes the paths name.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "ingest",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("INGEST_USERNAME and INGEST_PASSWORD"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "API_KEY, when the server requires one",
            ))),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "ADMIN_API_KEY",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A personal token: `tickpulse user token NAME` prints one",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "tickpulse_session",
                "The session cookie set by signing in on /login",
            ))),
        );
    }
}

/// The document as the server serves it (pretty, ending in a newline).
pub fn document() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serialises");
    text.push('\n');
    text
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.get_or_init(document).clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_the_one_the_code_builds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document(),
            "docs/openapi.json differs from what the code builds: run \
             `cargo run -p tickpulse-server -- openapi > docs/openapi.json` and commit it"
        );
    }

    #[test]
    fn every_json_route_is_in_the_document() {
        let doc = ApiDoc::openapi();
        for path in [
            "/ingest/tick",
            "/ingest/ticks",
            "/api/symbols",
            "/api/symbols/{id}",
            "/api/symbols/{id}/history",
            "/api/symbols/{id}/candles",
            "/api/stream",
            "/api/admin/nodes",
            "/api/admin/health",
            "/api/admin/events",
            "/api/admin/stream",
            "/health/liveness",
            "/health/readiness",
            "/api/openapi.json",
            "/api/stocks/{symbol}",
            "/api/admin/catalog/{symbol}",
            "/api/admin/users/{username}",
            "/api/admin/users/{username}/tokens",
            "/api/account",
            "/api/orders",
            "/api/orders/{number}",
            "/api/orders/by-client-id/{id}",
            "/api/orders/stream",
            "/api/ws",
            "/api/graphql",
        ] {
            assert!(doc.paths.paths.contains_key(path), "{path} is missing");
        }
    }
}
