//! The pages: Leptos SSR routes, server functions, and the static site
//! (WASM, JS, CSS, `public/`) under [`Config::site_root`].

use crate::accounts::{Accounts, LoginError};
use crate::error::ApiError;
use crate::market::{candles_of, history_of};
use crate::platform::config::Config;
use crate::platform::edge::conn::addr_of;
use crate::state::AppState;
use axum::http::request::Parts;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tickpulse_app::assets::Assets;
use tickpulse_app::error::{AppError, Refusal};
use tickpulse_app::ssr::{Admin, BoxFuture, MarketData, Services, Trading, Watching};
use tickpulse_app::{shell, App};
use tickpulse_core::account::SignedIn;
use tickpulse_core::health::Health;
use tickpulse_core::trade::{Desk, Order, Stock};
use tickpulse_core::watchlist::Watchlist;
use tickpulse_core::{Candle, Interval, LatestTick, StreamTick, Symbol, Timestamp, View};
use tower_sessions::Session;

/// The name of the built bundle (see scripts/build-site.sh).
pub const OUTPUT_NAME: &str = "tickpulse";

/// The list of hashed names the site build writes.
const HASH_FILE: &str = "pkg/hash.txt";

/// The pages' options and the names of the site's build files: hashed when
/// the site build wrote `pkg/hash.txt`, plain (with a warning) otherwise.
pub fn load(config: &Config) -> Result<(LeptosOptions, Assets), String> {
    let hash_file = config.site_root.join(HASH_FILE);
    let assets = match std::fs::read_to_string(&hash_file) {
        Ok(text) => Assets::from_hashes(&text).map_err(|e| {
            format!(
                "{}: {e}; run scripts/build-site.sh again",
                hash_file.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A process without a site (API only) has nothing to say.
            if config.site_root.exists() {
                tracing::warn!(path = %hash_file.display(), "no hash file: the site's files keep plain names and are not cached for good (build the site with scripts/build-site.sh)");
            }
            Assets::plain()
        }
        Err(e) => return Err(format!("{}: {e}", hash_file.display())),
    };
    // Leptos reads the same file for the names of the JS and the WASM; an
    // absolute path, since it otherwise looks beside the binary.
    let absolute =
        std::path::absolute(&hash_file).map_err(|e| format!("{}: {e}", hash_file.display()))?;
    let options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .hash_files(assets.hashed)
        .hash_file(std::sync::Arc::from(absolute.to_string_lossy().as_ref()))
        .build();
    Ok((options, assets))
}

/// The pages' view of the market data: the JSON API's reads.
struct StateMarketData(AppState);

impl MarketData for StateMarketData {
    fn latest_all(&self) -> BoxFuture<'_, Result<Vec<LatestTick>, String>> {
        Box::pin(async move { self.0.bus.latest_all().await.map_err(for_page) })
    }

    fn views(&self) -> BoxFuture<'_, Result<Vec<View>, String>> {
        Box::pin(async move {
            let mut views = self.0.bus.views().await.map_err(for_page)?;
            views.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            Ok(views)
        })
    }

    fn view<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, Result<Option<View>, String>> {
        Box::pin(async move { self.0.bus.view(symbol).await.map_err(for_page) })
    }

    fn history<'a>(
        &'a self,
        symbol: &'a Symbol,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<StreamTick>, String>> {
        let newest = Timestamp::from_nanos(i64::MAX);
        Box::pin(async move {
            history_of(&self.0, symbol, newest, limit)
                .await
                .map_err(for_page)
        })
    }

    fn candles<'a>(
        &'a self,
        symbol: &'a Symbol,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Vec<Candle>, String>> {
        Box::pin(async move {
            candles_of(&self.0, symbol, interval, None, None)
                .await
                .map_err(for_page)
        })
    }
}

/// The pages' accounts and health view.
struct StateAdmin(AppState);

impl StateAdmin {
    fn accounts(&self) -> Option<&Accounts> {
        self.0.accounts.as_deref()
    }
}

fn session(parts: &Parts) -> Option<&Session> {
    parts.extensions.get::<Session>()
}

/// The client's address, for login throttling.
fn client_ip(parts: &Parts, trust_forwarded: bool) -> String {
    addr_of(&parts.headers, &parts.extensions, trust_forwarded)
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string())
}

impl Admin for StateAdmin {
    fn login<'a>(
        &'a self,
        parts: &'a Parts,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<SignedIn, AppError>> {
        Box::pin(async move {
            let (Some(accounts), Some(session)) = (self.accounts(), session(parts)) else {
                return Err(AppError::SignIn(Refusal::NoAccounts));
            };
            accounts
                .login(
                    session,
                    username,
                    password,
                    &client_ip(parts, self.0.config.trust_forwarded_for),
                )
                .await
                .map_err(|e| {
                    AppError::SignIn(match e {
                        LoginError::Invalid => Refusal::Invalid,
                        LoginError::Throttled(wait) => Refusal::Throttled(wait.as_secs().max(1)),
                        LoginError::Unavailable(reason) => {
                            tracing::warn!(%reason, "sign-in failed: store unavailable");
                            Refusal::Unavailable
                        }
                    })
                })
        })
    }

    fn logout<'a>(&'a self, parts: &'a Parts) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(async move {
            match (self.accounts(), session(parts)) {
                (Some(accounts), Some(session)) => {
                    accounts.logout(session).await.map_err(session_unavailable)
                }
                _ => Ok(()),
            }
        })
    }

    fn current<'a>(
        &'a self,
        parts: &'a Parts,
    ) -> BoxFuture<'a, Result<Option<SignedIn>, AppError>> {
        Box::pin(async move {
            match (self.accounts(), session(parts)) {
                (Some(accounts), Some(session)) => {
                    accounts.current(session).await.map_err(session_unavailable)
                }
                _ => Ok(None),
            }
        })
    }

    fn report(
        &self,
        from: Option<String>,
        to: Option<String>,
        step: Option<String>,
    ) -> BoxFuture<'_, Result<tickpulse_core::health::Report, AppError>> {
        Box::pin(async move {
            let params = crate::http::report::ReportParams {
                from,
                to,
                node: None,
                step,
                format: None,
            };
            let (from, to, step) = params
                .period(Timestamp::now().as_millis())
                .map_err(for_app)?;
            crate::http::report::report_of(&self.0, from, to, None, step)
                .await
                .map_err(for_app)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<Health, AppError>> {
        Box::pin(async move {
            crate::monitor::health(&self.0).await.map_err(|e| {
                tracing::warn!(error = %e, "health view not read");
                AppError::Unavailable(
                    "the message bus does not answer; the view comes back by itself".into(),
                )
            })
        })
    }
}

/// The pages' paper trading: the JSON API's functions.
struct StateTrading(AppState);

impl StateTrading {
    fn store(&self) -> Result<&dyn crate::store::Store, AppError> {
        crate::http::stocks::store(&self.0).map_err(for_app)
    }

    fn settings(&self) -> crate::trading::orders::Settings {
        crate::trading::orders::Settings::of(&self.0.config)
    }
}

/// A refusal of the JSON API, for a page: the same words and field.
fn for_app(e: ApiError) -> AppError {
    match e {
        ApiError::BadBody(body) => {
            let first = body.details().into_iter().next();
            AppError::BadParam {
                field: first
                    .as_ref()
                    .map_or("body".into(), |d| d.error.field.clone()),
                message: first.map_or_else(|| body.to_string(), |d| d.error.message),
            }
        }
        ApiError::BadParam { field, message } => AppError::BadParam {
            field: field.into(),
            message,
        },
        ApiError::Refused(refusal) => AppError::Refused(refusal.code().into()),
        ApiError::Conflict(message) => AppError::Conflict(message),
        ApiError::NotFound(message) => AppError::NotFound(message),
        ApiError::OverLimit { message, .. } => AppError::Conflict(message),
        other => AppError::Unavailable(for_page(other)),
    }
}

impl Watching for StateTrading {
    fn lists<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<Watchlist>, AppError>> {
        Box::pin(async move {
            crate::watchlists::list(self.store()?, user)
                .await
                .map_err(for_app)
        })
    }

    fn create<'a>(
        &'a self,
        user: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>> {
        Box::pin(async move {
            let body = serde_json::json!({ "name": name }).to_string();
            crate::watchlists::create(
                self.store()?,
                self.0.bus.as_ref(),
                crate::watchlists::limits(&self.0.config),
                user,
                body.as_bytes(),
            )
            .await
            .map_err(for_app)
        })
    }

    fn toggle<'a>(
        &'a self,
        user: &'a str,
        list: i64,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>> {
        Box::pin(async move {
            let store = self.store()?;
            let bus = self.0.bus.as_ref();
            let current = crate::watchlists::owned(store, user, list)
                .await
                .map_err(for_app)?;
            if current.symbols.contains(symbol) {
                crate::watchlists::remove(store, bus, user, list, symbol.as_str()).await
            } else {
                let limits = crate::watchlists::limits(&self.0.config);
                crate::watchlists::add_symbol(store, bus, limits, user, list, symbol.clone()).await
            }
            .map_err(for_app)
        })
    }

    fn names(&self) -> BoxFuture<'_, Result<Vec<(Symbol, String)>, AppError>> {
        Box::pin(async move {
            let entries = self
                .store()?
                .stocks()
                .await
                .map_err(|e| for_app(e.into()))?;
            Ok(entries
                .into_iter()
                .map(|e| (Symbol::new(&e.symbol), e.name))
                .collect())
        })
    }
}

impl Trading for StateTrading {
    fn desk<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Desk, AppError>> {
        use crate::store::trading::{OrderQuery, StatusFilter};
        use crate::trading::orders;
        Box::pin(async move {
            let store = self.store()?;
            let account = orders::account(store, self.0.bus.as_ref(), &self.settings(), user)
                .await
                .map_err(for_app)?;
            let query = |status, limit| OrderQuery {
                status,
                limit,
                before: None,
            };
            let open = orders::list(store, user, &query(StatusFilter::Open, 500))
                .await
                .map_err(for_app)?;
            let history = orders::list(
                store,
                user,
                &query(StatusFilter::All, tickpulse_app::trade::HISTORY),
            )
            .await
            .map_err(for_app)?;
            Ok(Desk {
                account,
                open,
                history,
            })
        })
    }

    fn stock<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, Result<Option<Stock>, AppError>> {
        Box::pin(async move {
            match crate::trading::catalog::stock(self.store()?, self.0.bus.as_ref(), symbol).await {
                Ok(stock) => Ok(Some(stock)),
                Err(ApiError::NotFound(_)) => Ok(None),
                Err(e) => Err(for_app(e)),
            }
        })
    }

    fn place<'a>(&'a self, user: &'a str, body: String) -> BoxFuture<'a, Result<Order, AppError>> {
        Box::pin(async move {
            crate::trading::orders::place(
                self.store()?,
                self.0.bus.as_ref(),
                &self.0.metrics,
                &self.settings(),
                user,
                body.as_bytes(),
            )
            .await
            .map(|(_, order)| order)
            .map_err(for_app)
        })
    }

    fn cancel<'a>(&'a self, user: &'a str, number: i64) -> BoxFuture<'a, Result<Order, AppError>> {
        Box::pin(async move {
            crate::trading::orders::cancel(self.store()?, self.0.bus.as_ref(), user, number)
                .await
                .map_err(for_app)
        })
    }

    fn order<'a>(
        &'a self,
        user: &'a SignedIn,
        number: i64,
    ) -> BoxFuture<'a, Result<Option<Order>, AppError>> {
        Box::pin(async move {
            match crate::trading::orders::order(self.store()?, user, number).await {
                Ok(order) => Ok(Some(order)),
                Err(ApiError::NotFound(_)) => Ok(None),
                Err(e) => Err(for_app(e)),
            }
        })
    }
}

/// What a page says of a failed read: the same words as the JSON API's
/// answer, never the driver's text, which goes to the log.
fn for_page(e: impl Into<ApiError>) -> String {
    let e = e.into();
    if e.status().is_server_error() {
        tracing::warn!(error = %e, "page read failed");
    }
    e.public_message()
}

/// The session could not be read or ended: the cause goes to the log, the
/// page says what to do.
fn session_unavailable(reason: String) -> AppError {
    tracing::warn!(%reason, "session not read");
    AppError::Unavailable("the database does not answer; retry shortly".into())
}

/// Adds the page routes, the server functions and the static files.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let services = Services {
        market: Arc::new(StateMarketData(state.clone())),
        admin: Arc::new(StateAdmin(state.clone())),
        trading: Arc::new(StateTrading(state.clone())),
        watching: Arc::new(StateTrading(state.clone())),
    };
    let options = state.leptos_options.clone();
    let assets = state.assets.clone();
    let context = move || {
        crate::platform::edge::browser::page_nonce();
        provide_context(services.clone());
        provide_context(Assets::clone(&assets));
    };
    let error_assets = state.assets.clone();
    router
        .leptos_routes_with_context(state, generate_route_list(App), context, move || {
            shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(
            move || {
                crate::platform::edge::browser::page_nonce();
                provide_context(Assets::clone(&error_assets));
            },
            shell,
        ))
}
