//! The pages: Leptos SSR routes, server functions, and the static site
//! (WASM, JS, CSS, `public/`) under [`Config::site_root`].

use crate::bus::Bus;
use crate::config::Config;
use crate::state::AppState;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tickpulse_app::ssr::{BoxFuture, MarketData, Services};
use tickpulse_app::{shell, App};
use tickpulse_core::LatestTick;

/// The name of the built bundle: `pkg/tickpulse.js`, `pkg/tickpulse_bg.wasm`,
/// `pkg/tickpulse.css` (see scripts/build-site.sh).
pub const OUTPUT_NAME: &str = "tickpulse";

pub fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .build()
}

/// The pages' view of the bus.
struct BusMarketData(Arc<dyn Bus>);

impl MarketData for BusMarketData {
    fn latest_all(&self) -> BoxFuture<'_, Result<Vec<LatestTick>, String>> {
        Box::pin(async move { self.0.latest_all().await.map_err(|e| e.to_string()) })
    }
}

/// Adds the page routes, the server functions and the static files.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let services = Services {
        market: Arc::new(BusMarketData(state.bus.clone())),
    };
    let options = state.leptos_options.clone();
    router
        .leptos_routes_with_context(
            state,
            generate_route_list(App),
            move || provide_context(services.clone()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
