//! The tickpulse pages: the shell, the router and the page components.
//!
//! Built twice: with `ssr` into the server (rendering, server functions) and
//! with `hydrate` into the browser bundle (live updates). Server-only code
//! sits behind `#[cfg(feature = "ssr")]`, browser-only code behind
//! `#[cfg(feature = "hydrate")]`.

pub mod account;
pub mod admin;
pub mod components;
pub mod dashboard;
#[cfg(feature = "hydrate")]
mod echarts;
pub mod error;
pub mod format;
#[cfg(feature = "hydrate")]
mod live;
pub mod series;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod symbol;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Global before hydration: the symbol page's charts use it.
                <script src="/echarts.min.js"></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="tickpulse" href="/pkg/tickpulse.css"/>
        <Title text="tickpulse"/>
        <Router>
            <account::SiteBar/>
            <Routes fallback=NotFound>
                // Async: the first response already holds the table, so the
                // page works without JavaScript and never flashes a spinner.
                <Route path=StaticSegment("") view=dashboard::Dashboard ssr=SsrMode::Async/>
                <Route path=StaticSegment("login") view=account::LoginPage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("admin"), StaticSegment("health"))
                    view=admin::HealthPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("symbols"), ParamSegment("id"))
                    view=symbol::SymbolPage
                    ssr=SsrMode::Async
                />
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the dashboard"</a></p>
        </main>
    }
}
