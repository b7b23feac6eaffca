//! The tickpulse pages: the shell, the router and the page components.
//!
//! Built twice: with `ssr` into the server (rendering, server functions) and
//! with `hydrate` into the browser bundle (live updates). Server-only code
//! sits behind `#[cfg(feature = "ssr")]`, browser-only code behind
//! `#[cfg(feature = "hydrate")]`.

pub mod account;
pub mod admin;
pub mod assets;
pub mod components;
pub mod dashboard;
#[cfg(feature = "hydrate")]
mod echarts;
pub mod error;
pub mod format;
#[cfg(feature = "hydrate")]
mod live;
pub mod report;
pub mod security;
pub mod series;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod symbol;
pub mod trade;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{ParamSegment, SsrMode, StaticSegment};

/// Who may open a page. The server's page guard reads [`PAGES`]; a path
/// that is no page here (the API, static files) has guards of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (the sign-in page).
    Open,
    /// Anyone; a signed-in user when the server requires an API key.
    Viewer,
    /// Signed-in users of any role; a visitor is sent to the login page.
    User,
    /// Signed-in admins only.
    Admin,
}

/// One page of the router and who may open it.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// The route, with `{name}` for one path segment.
    pub path: &'static str,
    pub access: Access,
}

/// Every page [`App`] routes, with its access: a new page is added here and
/// in the `Routes` below, side by side.
pub const PAGES: &[Page] = &[
    Page {
        path: "/",
        access: Access::Viewer,
    },
    Page {
        path: "/login",
        access: Access::Open,
    },
    Page {
        path: "/admin/report",
        access: Access::Admin,
    },
    Page {
        path: "/admin/health",
        access: Access::Admin,
    },
    Page {
        path: "/symbols/{id}",
        access: Access::Viewer,
    },
    Page {
        path: "/trade",
        access: Access::User,
    },
    Page {
        path: "/trade/orders/{number}",
        access: Access::User,
    },
];

/// The page `path` is, if it is one of [`PAGES`].
pub fn page(path: &str) -> Option<&'static Page> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    PAGES.iter().find(|p| {
        let mut want = p.path.split('/');
        let mut got = path.split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    })
}

/// The page a signed-in user sees where their role is not enough, rendered
/// by the server's page guard with a 403.
#[component]
pub fn Forbidden(username: String, role: String) -> impl IntoView {
    view! {
        <main class="page">
            <h1>"Forbidden"</h1>
            <p class="error">"This page is for admins; you are signed in as " {username} " (" {role} ")."</p>
            <p><a href="/">"Back to the dashboard"</a> " · " <a href="/login">"Sign in as someone else"</a></p>
        </main>
    }
}

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // Server side only: the names of this build's files.
    let assets = use_context::<assets::Assets>().unwrap_or_else(assets::Assets::plain);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" href=assets.css/>
                // Loaded by the WASM when a page draws a chart, never before.
                <meta name=assets::ECHARTS_META content=assets.echarts/>
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
                    path=(StaticSegment("admin"), StaticSegment("report"))
                    view=report::ReportPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("symbols"), ParamSegment("id"))
                    view=symbol::SymbolPage
                    ssr=SsrMode::Async
                />
                <Route path=StaticSegment("trade") view=trade::TradePage ssr=SsrMode::Async/>
                <Route
                    path=(StaticSegment("trade"), StaticSegment("orders"), ParamSegment("number"))
                    view=trade::OrderPage
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_find_their_page_and_its_access() {
        let access = |p: &str| page(p).map(|p| p.access);
        assert_eq!(access("/"), Some(Access::Viewer));
        assert_eq!(access("/login"), Some(Access::Open));
        assert_eq!(access("/admin/health"), Some(Access::Admin));
        assert_eq!(access("/admin/health/"), Some(Access::Admin));
        assert_eq!(access("/admin/report"), Some(Access::Admin));
        assert_eq!(access("/symbols/AAPL"), Some(Access::Viewer));
        assert_eq!(access("/symbols/"), None, "a segment must not be empty");
        assert_eq!(access("/symbols/AAPL/x"), None);
        assert_eq!(
            access("/api/symbols"),
            None,
            "the API has guards of its own"
        );
        assert_eq!(access("/echarts.0123456789abcdef.js"), None);
        assert_eq!(access("/trade"), Some(Access::User));
        assert_eq!(access("/trade/orders/12"), Some(Access::User));
        assert_eq!(
            access("/trade/place"),
            None,
            "a server function guards itself"
        );
        assert_eq!(access("/pkg/tickpulse.js"), None);
    }
}
