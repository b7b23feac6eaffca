//! The dashboard's server functions: the board it starts from, every View
//! again after a reconnect, the star (with and without WASM) and a new
//! list.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use tickpulse_core::watchlist::Watchlist;
use tickpulse_core::{Symbol, View};

/// The View of every symbol, ordered by symbol.
#[server]
pub async fn load_views() -> Result<Vec<View>, AppError> {
    crate::ssr::services()?
        .market
        .views()
        .await
        .map_err(|e| AppError::Unavailable(e).respond())
}

/// What the dashboard starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Board {
    pub views: Vec<View>,
    /// Catalog names, for the search.
    pub names: Vec<(Symbol, String)>,
    /// The viewer's watchlists; `None` when nobody is signed in.
    pub lists: Option<Vec<Watchlist>>,
}

#[server]
pub async fn load_board() -> Result<Board, AppError> {
    let services = crate::ssr::services()?;
    let views = services
        .market
        .views()
        .await
        .map_err(|e| AppError::Unavailable(e).respond())?;
    // Without a catalog (or its database) the search uses symbols only.
    let names = services.watching.names().await.unwrap_or_default();
    let lists = match crate::ssr::signed_in().await? {
        Some(user) => Some(services.watching.lists(&user.username).await?),
        None => None,
    };
    Ok(Board {
        views,
        names,
        lists,
    })
}

/// Adds the symbol to the list or removes it (the star, with WASM): the
/// list after.
#[server(prefix = "/api/dashboard", endpoint = "star")]
pub async fn toggle_star(list: i64, symbol: String) -> Result<Watchlist, AppError> {
    let user = crate::ssr::user().await?;
    let symbol = Symbol::new_checked(symbol.trim()).map_err(|e| AppError::BadParam {
        field: "symbol".into(),
        message: e.to_string(),
    })?;
    crate::ssr::services()?
        .watching
        .toggle(&user.username, list, &symbol)
        .await
}

/// The star without WASM: a form post, then back to the page it came from.
#[server(prefix = "/api/dashboard", endpoint = "star-form")]
pub async fn star_form(list: String, symbol: String, back: String) -> Result<(), AppError> {
    let outcome = match list.trim().parse::<i64>() {
        Ok(id) => toggle_star(id, symbol).await.map(|_| ()),
        Err(_) => Err(AppError::BadParam {
            field: "list".into(),
            message: format!("{list:?} is not a watchlist id"),
        }),
    };
    leptos_axum::redirect(&with_problem(&same_site(&back), outcome.err()));
    Ok(())
}

/// A new watchlist from the dashboard's form; its tab opens.
#[server(prefix = "/api/dashboard", endpoint = "new-list")]
pub async fn new_list(name: String) -> Result<(), AppError> {
    let outcome = match crate::ssr::user().await {
        Ok(user) => {
            crate::ssr::services()?
                .watching
                .create(&user.username, &name)
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(list) => leptos_axum::redirect(&format!("/?list={}", list.id)),
        Err(e) => leptos_axum::redirect(&with_problem("/", Some(e))),
    }
    Ok(())
}

/// `back` when it is a path of this site, else `/` (no open redirect).
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
pub(super) fn same_site(back: &str) -> String {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/".to_owned()
    }
}

/// `path` with the problem in words as `problem=`, when there is one.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
pub(super) fn with_problem(path: &str, problem: Option<AppError>) -> String {
    let Some(e) = problem else {
        return path.to_owned();
    };
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{joiner}problem={}",
        crate::account::encode(&e.to_string())
    )
}
