//! The pages: Leptos SSR routes, server functions, and the static site
//! (WASM, JS, CSS, `public/`) under [`Config::site_root`].

use crate::accounts::{Accounts, LoginError};
use crate::error::ApiError;
use crate::market::MarketError;
use crate::platform::config::Config;
use crate::platform::edge::conn::addr_of;
use crate::state::AppState;
use crate::trading::TradingError;
use crate::watchlists::WatchlistError;
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
use tickpulse_core::trade::{Desk, Order, OrderForm, OrderNumber, Stock};
use tickpulse_core::watchlist::{Watchlist, WatchlistRequest};
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

/// The pages' view of the market data: the same reads as the JSON API's.
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
            self.0
                .market
                .history(symbol, newest, limit)
                .await
                .map_err(market_words)
        })
    }

    fn candles<'a>(
        &'a self,
        symbol: &'a Symbol,
        interval: Interval,
    ) -> BoxFuture<'a, Result<Vec<Candle>, String>> {
        Box::pin(async move {
            self.0
                .market
                .candles(symbol, interval, None, None)
                .await
                .map_err(market_words)
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
            let (from, to, step) = crate::market::report::period(
                from.as_deref(),
                to.as_deref(),
                step.as_deref(),
                Timestamp::now().as_millis(),
            )
            .map_err(market_refusal)?;
            self.0
                .market
                .report(from, to, None, step)
                .await
                .map_err(market_refusal)
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

/// The pages' paper trading and watchlists: the same services as the JSON
/// API's.
struct StateTrading(AppState);

impl StateTrading {
    fn trading(&self) -> Result<&crate::trading::Trading, AppError> {
        self.0
            .trading
            .as_deref()
            .ok_or_else(|| AppError::Unavailable(for_page(ApiError::NoStore("trading"))))
    }

    fn watchlists(&self) -> Result<&crate::watchlists::Watchlists, AppError> {
        self.0
            .watchlists
            .as_deref()
            .ok_or_else(|| AppError::Unavailable(for_page(ApiError::NoStore("watchlists"))))
    }
}

/// A refusal of the trading service, for a page: the same words and field
/// as the JSON API's.
fn trading_refusal(e: TradingError) -> AppError {
    match e {
        TradingError::BadParam { field, message } => AppError::BadParam {
            field: field.into(),
            message,
        },
        TradingError::Refused(refusal) => AppError::Refused(refusal.code().into()),
        TradingError::Conflict(message) => AppError::Conflict(message),
        TradingError::NotFound(message) => AppError::NotFound(message),
        TradingError::Bus(e) => AppError::Unavailable(for_page(e)),
        TradingError::Store(e) => AppError::Unavailable(for_page(e)),
    }
}

/// A refusal of the watchlists service, for a page.
fn watchlist_refusal(e: WatchlistError) -> AppError {
    match e {
        WatchlistError::Invalid(errors) => {
            let first = errors.into_iter().next();
            AppError::BadParam {
                field: first.as_ref().map_or("body".into(), |e| e.field.clone()),
                message: first.map_or_else(|| "invalid watchlist".into(), |e| e.message),
            }
        }
        WatchlistError::NotFound(message) => AppError::NotFound(message),
        WatchlistError::Conflict(message) | WatchlistError::OverLimit { message, .. } => {
            AppError::Conflict(message)
        }
        WatchlistError::Bus(e) => AppError::Unavailable(for_page(e)),
        WatchlistError::Store(e) => AppError::Unavailable(for_page(e)),
    }
}

/// A refusal of the market reads, for a page.
fn market_refusal(e: MarketError) -> AppError {
    match e {
        MarketError::BadParam { field, message } => AppError::BadParam {
            field: field.into(),
            message,
        },
        other => AppError::Unavailable(market_words(other)),
    }
}

/// What a page says of a failed market read.
fn market_words(e: MarketError) -> String {
    match e {
        MarketError::BadParam { .. } => e.to_string(),
        MarketError::NoStore(what) => for_page(ApiError::NoStore(what)),
        MarketError::Bus(e) => for_page(e),
        MarketError::Store(e) => for_page(e),
    }
}

impl Watching for StateTrading {
    fn lists<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<Watchlist>, AppError>> {
        Box::pin(async move {
            self.watchlists()?
                .list(user)
                .await
                .map_err(watchlist_refusal)
        })
    }

    fn create<'a>(
        &'a self,
        user: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>> {
        Box::pin(async move {
            let service = self.watchlists()?;
            let request = WatchlistRequest::named(name).map_err(|e| AppError::BadParam {
                field: e.field,
                message: e.message,
            })?;
            service
                .create(user, request)
                .await
                .map_err(watchlist_refusal)
        })
    }

    fn toggle<'a>(
        &'a self,
        user: &'a str,
        list: i64,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, Result<Watchlist, AppError>> {
        Box::pin(async move {
            self.watchlists()?
                .toggle(user, list, symbol)
                .await
                .map_err(watchlist_refusal)
        })
    }

    fn names(&self) -> BoxFuture<'_, Result<Vec<(Symbol, String)>, AppError>> {
        Box::pin(async move { self.watchlists()?.names().await.map_err(watchlist_refusal) })
    }
}

impl Trading for StateTrading {
    fn desk<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Desk, AppError>> {
        use crate::store::trading::{OrderQuery, StatusFilter};
        Box::pin(async move {
            let trading = self.trading()?;
            let account = trading.account(user).await.map_err(trading_refusal)?;
            let query = |status, limit| OrderQuery {
                status,
                limit,
                before: None,
            };
            let open = trading
                .list(user, &query(StatusFilter::Open, 500))
                .await
                .map_err(trading_refusal)?;
            let history = trading
                .list(
                    user,
                    &query(StatusFilter::All, tickpulse_app::trade::HISTORY),
                )
                .await
                .map_err(trading_refusal)?;
            Ok(Desk {
                account,
                open,
                history,
            })
        })
    }

    fn stock<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, Result<Option<Stock>, AppError>> {
        Box::pin(async move {
            match self.trading()?.stock(symbol).await {
                Ok(stock) => Ok(Some(stock)),
                Err(TradingError::NotFound(_)) => Ok(None),
                Err(e) => Err(trading_refusal(e)),
            }
        })
    }

    fn place<'a>(
        &'a self,
        user: &'a str,
        form: OrderForm,
    ) -> BoxFuture<'a, Result<Order, AppError>> {
        Box::pin(async move {
            let trading = self.trading()?;
            let request = form.check().map_err(|errors| {
                let first = errors.into_iter().next();
                AppError::BadParam {
                    field: first.as_ref().map_or("body".into(), |e| e.field.clone()),
                    message: first.map_or_else(|| "invalid order".into(), |e| e.message),
                }
            })?;
            trading
                .place(user, &request)
                .await
                .map(|(_, order)| order)
                .map_err(trading_refusal)
        })
    }

    fn cancel<'a>(&'a self, user: &'a str, number: i64) -> BoxFuture<'a, Result<Order, AppError>> {
        Box::pin(async move {
            self.trading()?
                .cancel(user, OrderNumber::new(number))
                .await
                .map_err(trading_refusal)
        })
    }

    fn order<'a>(
        &'a self,
        user: &'a SignedIn,
        number: i64,
    ) -> BoxFuture<'a, Result<Option<Order>, AppError>> {
        Box::pin(async move {
            match self.trading()?.order(user, OrderNumber::new(number)).await {
                Ok(order) => Ok(Some(order)),
                Err(TradingError::NotFound(_)) => Ok(None),
                Err(e) => Err(trading_refusal(e)),
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
