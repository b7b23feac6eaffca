//! `/`: the live dashboard, one row per symbol, with watchlists.
//!
//! The prices live in one [`PriceCache`] of the client package, the page's
//! single store: the server renders the table from every symbol's View;
//! after hydration the page follows `/api/stream` (or, on a watchlist's tab,
//! `/api/stream?watchlist=`) and applies each `view` event to the cache
//! (newer ones only, by stream id). Whenever the stream (re)opens, or says
//! it reset, the page reads all views again, so nothing missed while it was
//! away stays.
//!
//! What the page shows is in its URL, so a link or a reload keeps it:
//! `list` (a watchlist's tab), `q` (the search, on symbol and catalog
//! name), `sort` (`symbol`, `price`, `change` or `updated`) and `star`
//! (the list the stars add to on the "All" tab; the first one by default).
//! Without WASM every control is a link or a form post.
//!
//! # Keeping up with the feed
//! At hundreds of symbols and ticks per second the page must not write the
//! DOM per event:
//! - events are held per symbol and applied once per animation frame, so a
//!   row (its cells and its sparkline) is written at most once per frame;
//! - rows off screen are not written at all: an `IntersectionObserver`
//!   marks them, their latest View waits, and it is applied when they are
//!   scrolled to;
//! - a sort by a live value re-sorts at most once a second;
//! - the table's layout is fixed (column widths from the header), so a
//!   changed cell does not lay out the other 499 rows again.

use crate::components::{Connection, StatusBadge};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use tickpulse_client::{CacheConfig, PriceCache, Update as Cached};
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
fn same_site(back: &str) -> String {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back.to_owned()
    } else {
        "/".to_owned()
    }
}

/// `path` with the problem in words as `problem=`, when there is one.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn with_problem(path: &str, problem: Option<AppError>) -> String {
    let Some(e) = problem else {
        return path.to_owned();
    };
    let joiner = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{joiner}problem={}",
        crate::account::encode(&e.to_string())
    )
}

/// Which way the price moved with the last update of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Flat,
}

/// What one row shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub view: View,
    pub direction: Direction,
    /// Updates since the row appeared; tells two equal moves in a row apart
    /// (to flash again).
    pub updates: u64,
}

/// How the rows are ordered (`sort=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// A to Z.
    Symbol,
    /// Highest last price first.
    Price,
    /// Biggest change % first.
    Change,
    /// Most recently updated first.
    Updated,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Symbol, Sort::Price, Sort::Change, Sort::Updated];

    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("price") => Sort::Price,
            Some("change") => Sort::Change,
            Some("updated") => Sort::Updated,
            _ => Sort::Symbol,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Sort::Symbol => "symbol",
            Sort::Price => "price",
            Sort::Change => "change",
            Sort::Updated => "updated",
        }
    }

    /// Orders `symbols` by the rows' current values.
    pub fn apply(self, symbols: &mut [Symbol], view: impl Fn(&Symbol) -> Option<View>) {
        match self {
            Sort::Symbol => symbols.sort(),
            _ => {
                let mut keyed: Vec<(Option<View>, Symbol)> =
                    symbols.iter().map(|s| (view(s), s.clone())).collect();
                keyed.sort_by(|(a, sa), (b, sb)| {
                    let order = match (a, b) {
                        (Some(a), Some(b)) => match self {
                            Sort::Price => b.last.tick.price.cmp(&a.last.tick.price),
                            Sort::Change => b.change_pct.cmp(&a.change_pct),
                            _ => b.last.tick.ts.cmp(&a.last.tick.ts),
                        },
                        (Some(_), None) => std::cmp::Ordering::Less,
                        (None, Some(_)) => std::cmp::Ordering::Greater,
                        (None, None) => std::cmp::Ordering::Equal,
                    };
                    order.then_with(|| sa.cmp(sb))
                });
                for (slot, (_, s)) in symbols.iter_mut().zip(keyed) {
                    *slot = s;
                }
            }
        }
    }
}

/// Whether `symbol` (named `name` in the catalog) matches the search `q`
/// (lower case): a part of either, whatever the case.
pub fn matches(symbol: &Symbol, name: Option<&str>, q: &str) -> bool {
    q.is_empty()
        || symbol.as_str().to_lowercase().contains(q)
        || name.is_some_and(|n| n.to_lowercase().contains(q))
}

/// Symbols the dashboard holds at most; past that the least recently
/// updated one leaves the table.
pub const CAPACITY: usize = 10_000;

/// The reactive mirror of the [`PriceCache`]: the cache decides, the
/// signals show.
#[derive(Clone, Copy)]
pub struct Table {
    cache: StoredValue<PriceCache>,
    /// Every symbol the table holds; changes only when one appears or goes.
    symbols: RwSignal<Vec<Symbol>>,
    rows: StoredValue<HashMap<Symbol, RwSignal<Row>>>,
    /// Live views not yet applied: the newest per symbol, until the next
    /// animation frame.
    pending: StoredValue<HashMap<Symbol, View>>,
    /// The newest view of each row off screen, until it is scrolled to.
    parked: StoredValue<HashMap<Symbol, View>>,
    frame_asked: StoredValue<bool>,
    /// Rows known to be off screen.
    hidden: StoredValue<HashSet<Symbol>>,
    /// Bumped when a sort by a live value may have changed.
    resort: RwSignal<u64>,
    /// The rows are sorted by a live value (price, change, time).
    live_sort: StoredValue<bool>,
    last_resort_ms: StoredValue<f64>,
}

impl Table {
    fn new(initial: Vec<View>) -> Self {
        let table = Self {
            cache: StoredValue::new(PriceCache::new(CacheConfig {
                capacity: CAPACITY,
                // Shown until replaced: the stream keeps them current.
                ttl_ms: u64::MAX,
                half_life_ms: 60_000,
                admission: false,
            })),
            symbols: RwSignal::new(Vec::new()),
            rows: StoredValue::new(HashMap::new()),
            pending: StoredValue::new(HashMap::new()),
            parked: StoredValue::new(HashMap::new()),
            frame_asked: StoredValue::new(false),
            hidden: StoredValue::new(HashSet::new()),
            resort: RwSignal::new(0),
            live_sort: StoredValue::new(false),
            last_resort_ms: StoredValue::new(0.0),
        };
        table.apply_all(initial);
        table
    }

    /// Applies the views of a full read (newer ones only).
    pub fn apply_all(&self, views: Vec<View>) {
        let mut changed = false;
        for view in views {
            changed |= self.apply_one(view);
        }
        if changed {
            self.list_symbols();
        }
        self.resort.update(|n| *n += 1);
    }

    /// Holds a live view for the next frame (only the newest per symbol);
    /// one of a row off screen is parked until the row is scrolled to.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn hold(&self, view: View) {
        let newer = |held: &mut HashMap<Symbol, View>, view: View| match held.get(&view.symbol) {
            Some(old) if old.last.id >= view.last.id => {}
            _ => {
                held.insert(view.symbol.clone(), view);
            }
        };
        if self.hidden.with_value(|h| h.contains(&view.symbol)) {
            self.parked.update_value(|p| newer(p, view));
            return;
        }
        self.pending.update_value(|p| newer(p, view));
        #[cfg(feature = "hydrate")]
        {
            if !self.frame_asked.get_value() {
                self.frame_asked.set_value(true);
                let table = *self;
                request_animation_frame(move || table.flush());
            }
        }
    }

    /// Applies what is held (rows on screen only: see [`Table::hold`]).
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn flush(&self) {
        self.frame_asked.set_value(false);
        let ready: Vec<View> = self
            .pending
            .try_update_value(|p| p.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        let mut changed = false;
        for view in ready {
            changed |= self.apply_one(view);
        }
        if changed {
            self.list_symbols();
        }
        let now = now_ms();
        if self.live_sort.get_value() && now - self.last_resort_ms.get_value() >= 1_000.0 {
            self.last_resort_ms.set_value(now);
            self.resort.update(|n| *n += 1);
        }
    }

    /// A row came on screen or went off it; one that comes on shows its
    /// held view at the next frame.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn visible(&self, symbol: Symbol, on_screen: bool) {
        self.hidden.update_value(|h| {
            if on_screen {
                h.remove(&symbol);
            } else {
                h.insert(symbol.clone());
            }
        });
        if on_screen {
            if let Some(view) = self
                .parked
                .try_update_value(|p| p.remove(&symbol))
                .flatten()
            {
                self.hold(view);
            }
        }
    }

    /// Returns whether a symbol appeared or left.
    fn apply_one(&self, view: View) -> bool {
        let symbol = view.symbol.clone();
        let before = self
            .cache
            .with_value(|c| c.peek(&symbol).map(|v| v.last.tick.price));
        let (stored, evicted) = self
            .cache
            .try_update_value(|c| {
                if !c.contains(&symbol) {
                    // A symbol the table does not show yet.
                    return (true, c.put(view, 0));
                }
                (c.apply(view, 0) == Cached::Stored, None)
            })
            .unwrap_or((false, None));
        if !stored {
            return false;
        }
        let Some(view) = self.cache.with_value(|c| c.peek(&symbol).cloned()) else {
            return false;
        };
        let mut changed = false;
        if let Some(gone) = evicted {
            self.rows.update_value(|rows| {
                rows.remove(&gone);
            });
            changed = true;
        }
        match self.row(&symbol) {
            Some(row) => {
                let price = view.last.tick.price;
                let direction = match before {
                    Some(b) if price > b => Direction::Up,
                    Some(b) if price < b => Direction::Down,
                    _ => Direction::Flat,
                };
                row.update(|r| {
                    if direction != Direction::Flat || r.view.last.id != view.last.id {
                        r.direction = direction;
                        r.updates += 1;
                    }
                    r.view = view;
                });
            }
            None => {
                let row = RwSignal::new(Row {
                    view,
                    direction: Direction::Flat,
                    updates: 0,
                });
                self.rows.update_value(|rows| {
                    rows.insert(symbol, row);
                });
                changed = true;
            }
        }
        changed
    }

    fn list_symbols(&self) {
        let mut symbols: Vec<Symbol> = self.rows.with_value(|rows| rows.keys().cloned().collect());
        symbols.sort();
        self.symbols.set(symbols);
    }

    fn row(&self, symbol: &Symbol) -> Option<RwSignal<Row>> {
        self.rows.with_value(|rows| rows.get(symbol).copied())
    }

    fn view_now(&self, symbol: &Symbol) -> Option<View> {
        self.row(symbol)
            .map(|r| r.with_untracked(|r| r.view.clone()))
    }
}

fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys_now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

#[cfg(feature = "hydrate")]
fn js_sys_now() -> f64 {
    web_sys::js_sys::Date::now()
}

/// The dashboard's state besides the rows: lists, the current tab, the
/// stars' list, the search and the sort.
#[derive(Clone, Copy)]
struct Controls {
    lists: RwSignal<Option<Vec<Watchlist>>>,
    /// The tab's list (`list=`); `None` is "All".
    current: Memo<Option<i64>>,
    /// The list the stars act on.
    target: Memo<Option<i64>>,
    search: RwSignal<String>,
    sort: Memo<Sort>,
    names: StoredValue<HashMap<Symbol, String>>,
    problem: RwSignal<Option<String>>,
}

impl Controls {
    fn members(&self, id: Option<i64>) -> Option<HashSet<Symbol>> {
        let id = id?;
        self.lists.with(|lists| {
            lists
                .as_ref()?
                .iter()
                .find(|l| l.id == id)
                .map(|l| l.symbols.iter().cloned().collect())
        })
    }

    /// Replaces a list with what the server says it is now.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn replace(&self, list: Watchlist) {
        self.lists.update(|lists| {
            if let Some(lists) = lists {
                if let Some(slot) = lists.iter_mut().find(|l| l.id == list.id) {
                    *slot = list;
                }
            }
        });
    }
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let board = Resource::new(|| (), |_| load_board());
    let status = RwSignal::new(Connection::Connecting);
    view! {
        <main class="page">
            <header class="top">
                <h1 class="brand">"tickpulse"</h1>
                <StatusBadge status/>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading prices…"</p> }>
                {move || Suspend::new(async move {
                    match board.await {
                        Ok(board) => view! { <LiveBoard board status/> }.into_any(),
                        Err(e) => {
                            view! {
                                <p class="error" role="alert">
                                    "Prices are unavailable right now (" {e.to_string()}
                                    "). The page retries when you reload it."
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

/// A query string with `key` set to `value` (or removed when `None`),
/// keeping the other parameters of `query`.
fn with_param(query: &[(String, String)], key: &str, value: Option<&str>) -> String {
    let mut pairs: Vec<String> = query
        .iter()
        .filter(|(k, _)| k != key && k != "problem")
        .map(|(k, v)| format!("{k}={}", crate::account::encode(v)))
        .collect();
    if let Some(v) = value {
        pairs.push(format!("{key}={}", crate::account::encode(v)));
    }
    if pairs.is_empty() {
        "/".into()
    } else {
        format!("/?{}", pairs.join("&"))
    }
}

#[component]
fn LiveBoard(board: Board, status: RwSignal<Connection>) -> impl IntoView {
    let query = use_query_map();
    let location = use_location();
    let params = Memo::new(move |_| {
        query.with(|q| {
            ["list", "q", "sort", "star"]
                .iter()
                .filter_map(|k| q.get(k).map(|v| ((*k).to_owned(), v)))
                .collect::<Vec<_>>()
        })
    });
    let lists = RwSignal::new(board.lists);
    let current = Memo::new(move |_| {
        query
            .with(|q| q.get("list"))
            .and_then(|l| l.parse::<i64>().ok())
    });
    let target = Memo::new(move |_| {
        let asked = query
            .with(|q| q.get("star"))
            .and_then(|l| l.parse::<i64>().ok())
            .or_else(|| current.get());
        lists.with(|lists| {
            let lists = lists.as_ref()?;
            asked
                .filter(|id| lists.iter().any(|l| l.id == *id))
                .or_else(|| lists.first().map(|l| l.id))
        })
    });
    let controls = Controls {
        lists,
        current,
        target,
        search: RwSignal::new(query.with_untracked(|q| q.get("q")).unwrap_or_default()),
        sort: Memo::new(move |_| Sort::parse(query.with(|q| q.get("sort")).as_deref())),
        names: StoredValue::new(board.names.into_iter().collect()),
        problem: RwSignal::new(query.with_untracked(|q| q.get("problem"))),
    };
    let table = Table::new(board.views);
    Effect::new(move |_| {
        table
            .live_sort
            .set_value(controls.sort.get() != Sort::Symbol);
    });
    #[cfg(feature = "hydrate")]
    follow(table, controls, status);
    #[cfg(not(feature = "hydrate"))]
    let _ = status;
    // The rows of this tab that match the search, in the chosen order.
    let in_tab = Memo::new(move |_| {
        let members = controls.members(controls.current.get());
        table.symbols.with(|all| {
            all.iter()
                .filter(|s| members.as_ref().is_none_or(|m| m.contains(*s)))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let shown = Memo::new(move |_| {
        table.resort.track();
        let q = controls.search.get().trim().to_lowercase();
        let mut rows: Vec<Symbol> = controls.names.with_value(|names| {
            in_tab.with(|tab| {
                tab.iter()
                    .filter(|s| matches(s, names.get(*s).map(String::as_str), &q))
                    .cloned()
                    .collect()
            })
        });
        controls.sort.get().apply(&mut rows, |s| table.view_now(s));
        rows
    });
    let starred = Memo::new(move |_| controls.members(controls.target.get()).unwrap_or_default());
    // This page's path and query, to come back to after a star's form post.
    let back = move || {
        let search = location.search.get();
        let search = search.trim_start_matches('?');
        if search.is_empty() {
            location.pathname.get()
        } else {
            format!("{}?{search}", location.pathname.get())
        }
    };
    let target_name = move || {
        let id = controls.target.get()?;
        controls.lists.with(|l| {
            l.as_ref()?
                .iter()
                .find(|l| l.id == id)
                .map(|l| l.name.clone())
        })
    };
    view! {
        {move || controls.problem.get().map(|p| view! { <p class="error" role="alert" id="board-problem">{p}</p> })}
        <Show when=move || controls.lists.with(Option::is_some)>
            <nav class="tabs" aria-label="Watchlists" id="tabs">
                <a href=move || params.with(|p| with_param(p, "list", None)) rel="external" class:active=move || controls.current.get().is_none() aria-current=move || controls.current.get().is_none().then_some("page")>"All"</a>
                <For each=move || controls.lists.get().unwrap_or_default() key=|l| (l.id, l.name.clone()) let:list>
                    {
                        let id = list.id;
                        view! {
                            <a href=move || format!("/?list={id}{}", params.with(|p| p.iter().find(|(k, _)| k == "sort").map(|(_, v)| format!("&sort={v}")).unwrap_or_default()))
                                rel="external" data-list=id
                                class:active=move || controls.current.get() == Some(id)
                                aria-current=move || (controls.current.get() == Some(id)).then_some("page")>
                                {list.name.clone()}
                            </a>
                        }
                    }
                </For>
                <form method="post" action="/api/dashboard/new-list" class="inline new-list">
                    <label class="sr-only" for="new-list-name">"New list name"</label>
                    <input id="new-list-name" name="name" placeholder="New list" maxlength="64" required/>
                    <button type="submit">"Create"</button>
                </form>
            </nav>
        </Show>
        <form method="get" action="/" class="inline board-controls" role="search">
            {move || params.with(|p| p.iter().filter(|(k, _)| k != "q").map(|(k, v)| view! { <input type="hidden" name=k.clone() value=v.clone()/> }).collect_view())}
            <label>
                "Search "
                <input type="search" name="q" id="search" placeholder="symbol or name" autocomplete="off"
                    prop:value=move || controls.search.get()
                    on:input=move |ev| controls.search.set(event_target_value(&ev))/>
            </label>
            <noscript><button type="submit">"Search"</button></noscript>
            <span class="muted count" id="row-count" aria-live="polite">
                {move || format!("{} of {} shown", shown.with(Vec::len), in_tab.with(Vec::len))}
            </span>
            {move || target_name().map(|name| view! { <span class="muted" id="star-target">"☆ adds to " <strong>{name}</strong></span> })}
        </form>
        <table class="quotes" id="quotes">
            <thead>
                <tr>
                    {move || controls.target.get().is_some().then(|| view! { <th scope="col" class="col-star"><span class="sr-only">"Watch"</span></th> })}
                    <SortHeader label="Symbol" sort=Sort::Symbol params current=controls.sort class="col-symbol"/>
                    <SortHeader label="Last" sort=Sort::Price params current=controls.sort class="num col-last"/>
                    <SortHeader label="Change" sort=Sort::Change params current=controls.sort class="num col-change"/>
                    <th scope="col" class="col-trend">"Trend"</th>
                    <th scope="col" class="num col-volume">"Volume"</th>
                    <SortHeader label="Time (UTC)" sort=Sort::Updated params current=controls.sort class="col-time"/>
                    <th scope="col" class="col-source">"Source"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || shown.get() key=|symbol| symbol.clone() let:symbol>
                    {table.row(&symbol).map(|row| view! { <QuoteRow row table controls starred back/> })}
                </For>
            </tbody>
        </table>
        <Show when=move || table.symbols.with(Vec::is_empty)>
            <p class="empty">"No ticks yet. Start a feeder and prices appear here as they arrive."</p>
        </Show>
        <Show when=move || !table.symbols.with(Vec::is_empty) && shown.with(Vec::is_empty)>
            <p class="empty" id="nothing-shown">
                {move || if controls.current.get().is_some() && in_tab.with(Vec::is_empty) {
                    "This list is empty: star symbols on the All tab to add them."
                } else {
                    "No symbol matches the search."
                }}
            </p>
        </Show>
    }
    .into_any()
}

#[component]
fn SortHeader(
    label: &'static str,
    sort: Sort,
    params: Memo<Vec<(String, String)>>,
    current: Memo<Sort>,
    class: &'static str,
) -> impl IntoView {
    let href = move || {
        params.with(|p| with_param(p, "sort", (sort != Sort::Symbol).then_some(sort.as_str())))
    };
    view! {
        <th scope="col" class=class aria-sort=move || (current.get() == sort).then_some(if sort == Sort::Symbol { "ascending" } else { "descending" })>
            <a href=href class="sort" data-sort=sort.as_str()>{label}</a>
        </th>
    }
}

#[component]
fn QuoteRow(
    row: RwSignal<Row>,
    table: Table,
    controls: Controls,
    starred: Memo<HashSet<Symbol>>,
    back: impl Fn() -> String + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let symbol = row.with_untracked(|r| r.view.symbol.clone());
    let label = symbol.to_string();
    // Two classes per direction, alternated, so two equal moves in a row
    // both restart the flash animation.
    let class = move || {
        row.with(|r| match (r.direction, r.updates % 2) {
            (Direction::Up, 0) => "quote up",
            (Direction::Up, _) => "quote up again",
            (Direction::Down, 0) => "quote down",
            (Direction::Down, _) => "quote down again",
            (Direction::Flat, _) => "quote",
        })
    };
    let price = move || row.with(|r| r.view.last.tick.price.to_string());
    let change = move || {
        row.with(|r| {
            let (abs, pct) = (r.view.change, r.view.change_pct.round_dp(2).normalize());
            let sign = if abs.is_sign_positive() && !abs.is_zero() {
                "+"
            } else {
                ""
            };
            format!("{sign}{abs} ({sign}{pct}%)")
        })
    };
    let change_class = move || {
        row.with(|r| {
            let abs = r.view.change;
            if abs.is_zero() {
                "num change"
            } else if abs.is_sign_positive() {
                "num change pos"
            } else {
                "num change neg"
            }
        })
    };
    let volume = move || row.with(|r| r.view.last.tick.volume.to_string());
    let ts = move || row.with(|r| r.view.last.tick.ts.to_rfc3339());
    let time = move || row.with(|r| crate::format::clock(r.view.last.tick.ts, true));
    let source = move || row.with(|r| r.view.last.tick.source.to_string());
    let trend = move || row.with(|r| crate::series::sparkline(&r.view.last_prices, 80.0, 20.0));
    let node: NodeRef<leptos::html::Tr> = NodeRef::new();
    #[cfg(feature = "hydrate")]
    watch_visibility(node, table, symbol.clone());
    #[cfg(not(feature = "hydrate"))]
    let _ = (table, node);
    let is_starred = {
        let symbol = symbol.clone();
        move || starred.with(|s| s.contains(&symbol))
    };
    let star = {
        let symbol = symbol.clone();
        move || {
            let list = controls.target.get()?;
            let on = is_starred.clone();
            let on2 = is_starred.clone();
            let on3 = is_starred.clone();
            let name = symbol.to_string();
            let sym = symbol.clone();
            let submit = move |ev: leptos::ev::SubmitEvent| {
                #[cfg(feature = "hydrate")]
                {
                    ev.prevent_default();
                    toggle_now(controls, list, sym.clone());
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = (&ev, &sym);
            };
            Some(view! {
                <td class="star">
                    <form method="post" action="/api/dashboard/star-form" class="inline" on:submit=submit>
                        <input type="hidden" name="list" value=list/>
                        <input type="hidden" name="symbol" value=name.clone()/>
                        <input type="hidden" name="back" value=back/>
                        <button type="submit" class="star-button" aria-pressed=move || if on() { "true" } else { "false" }
                            title=move || if on2() { format!("Remove {name} from the list") } else { format!("Add {name} to the list") }>
                            {move || if on3() { "★" } else { "☆" }}
                        </button>
                    </form>
                </td>
            })
        }
    };
    view! {
        <tr class=class data-symbol=label.clone() node_ref=node>
            {star}
            <th scope="row" class="symbol">
                <a href=format!("/symbols/{label}")>{label.clone()}</a>
            </th>
            <td class="num price">{price}</td>
            <td class=change_class>{change}</td>
            <td class="trend">
                <svg viewBox="0 0 80 20" width="80" height="20" aria-hidden="true">
                    <polyline points=trend/>
                </svg>
            </td>
            <td class="num volume">{volume}</td>
            <td class="time" title=ts>{time}</td>
            <td class="source">{source}</td>
        </tr>
    }
    .into_any()
}

/// The star, at once: the list changes on the page, then the server is
/// told; what it answers replaces the guess (or puts it back, with the
/// reason shown).
#[cfg(feature = "hydrate")]
fn toggle_now(controls: Controls, list: i64, symbol: Symbol) {
    let before = controls.lists.get_untracked();
    controls.lists.update(|lists| {
        if let Some(l) = lists
            .as_mut()
            .and_then(|ls| ls.iter_mut().find(|l| l.id == list))
        {
            if let Some(i) = l.symbols.iter().position(|s| *s == symbol) {
                l.symbols.remove(i);
            } else {
                l.symbols.push(symbol.clone());
            }
        }
    });
    leptos::task::spawn_local(async move {
        match toggle_star(list, symbol.to_string()).await {
            Ok(after) => {
                controls.problem.set(None);
                controls.replace(after);
            }
            Err(e) => {
                controls.lists.set(before);
                controls.problem.set(Some(e.to_string()));
            }
        }
    });
}

/// Tells the table when the row comes on screen and goes off it.
#[cfg(feature = "hydrate")]
fn watch_visibility(node: NodeRef<leptos::html::Tr>, table: Table, symbol: Symbol) {
    use send_wrapper::SendWrapper;
    use wasm_bindgen::JsCast;
    node.on_load(move |tr| {
        let observer = visibility_observer(table);
        observer.observe(tr.unchecked_ref());
        let observer = SendWrapper::new(observer);
        let element = SendWrapper::new(tr.clone());
        let symbol = symbol.clone();
        on_cleanup(move || {
            observer.unobserve(element.unchecked_ref());
            table.hidden.update_value(|h| {
                h.remove(&symbol);
            });
        });
    });
}

#[cfg(feature = "hydrate")]
thread_local! {
    static OBSERVER: std::cell::RefCell<Option<web_sys::IntersectionObserver>> = const { std::cell::RefCell::new(None) };
}

/// One observer for every row of the page (made on first use).
#[cfg(feature = "hydrate")]
fn visibility_observer(table: Table) -> web_sys::IntersectionObserver {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    OBSERVER.with(|cell| {
        if let Some(o) = cell.borrow().as_ref() {
            return o.clone();
        }
        let callback = Closure::<dyn FnMut(web_sys::js_sys::Array)>::new(
            move |entries: web_sys::js_sys::Array| {
                for entry in entries.iter() {
                    let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
                    let Some(symbol) = entry.target().get_attribute("data-symbol") else {
                        continue;
                    };
                    table.visible(Symbol::new(&symbol), entry.is_intersecting());
                }
            },
        );
        let options = web_sys::IntersectionObserverInit::new();
        // A screen's height of margin: rows about to scroll in are current.
        options.set_root_margin("100% 0px");
        let observer = web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &options,
        )
        .expect("IntersectionObserver");
        callback.forget();
        *cell.borrow_mut() = Some(observer.clone());
        observer
    })
}

/// The dashboard's stream: every symbol's views, or one list's (whose
/// changes, from anywhere, show at once). When the stream opens (again) or
/// resets, all views are read again: view events are not replayed on
/// resume.
#[cfg(feature = "hydrate")]
fn follow(table: Table, controls: Controls, status: RwSignal<Connection>) {
    let url = match controls.current.get_untracked() {
        Some(id) => format!("/api/stream?watchlist={id}"),
        None => "/api/stream".to_owned(),
    };
    crate::live::follow_url(
        url,
        &["snapshot", "view", "watchlist"],
        status,
        move |kind, data| match kind {
            crate::live::OPENED | "snapshot" => leptos::task::spawn_local(async move {
                match load_views().await {
                    Ok(views) => table.apply_all(views),
                    Err(e) => leptos::logging::warn!("views not read again: {e}"),
                }
            }),
            "watchlist" => {
                match serde_json::from_str::<tickpulse_core::watchlist::WatchlistEvent>(data) {
                    Ok(event) if !event.deleted => controls.replace(event.list),
                    Ok(_) => controls.problem.set(Some("This list was deleted.".into())),
                    Err(e) => leptos::logging::warn!("unreadable watchlist event: {e}"),
                }
            }
            _ => match serde_json::from_str::<View>(data) {
                Ok(view) => table.hold(view),
                Err(e) => leptos::logging::warn!("unreadable view: {e}"),
            },
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_matches_symbol_or_name_whatever_the_case() {
        let s = Symbol::new("NVDA");
        assert!(matches(&s, None, ""));
        assert!(matches(&s, None, "nv"));
        assert!(matches(&s, Some("NVIDIA Corp"), "corp"));
        assert!(!matches(&s, Some("NVIDIA"), "apple"));
    }

    #[test]
    fn sorts_are_named_in_the_url() {
        for sort in Sort::ALL {
            assert_eq!(Sort::parse(Some(sort.as_str())), sort);
        }
        assert_eq!(Sort::parse(Some("nonsense")), Sort::Symbol);
        assert_eq!(Sort::parse(None), Sort::Symbol);
    }

    #[test]
    fn links_keep_the_other_parameters() {
        let q = vec![
            ("list".to_owned(), "3".to_owned()),
            ("q".to_owned(), "a b".to_owned()),
        ];
        assert_eq!(
            with_param(&q, "sort", Some("change")),
            "/?list=3&q=a%20b&sort=change"
        );
        assert_eq!(with_param(&q, "list", None), "/?q=a%20b");
        assert_eq!(with_param(&[], "list", None), "/");
    }

    #[test]
    fn only_paths_of_this_site_are_gone_back_to() {
        assert_eq!(same_site("/?list=2"), "/?list=2");
        for bad in ["https://evil.example/", "//evil.example", "/\\evil", "x"] {
            assert_eq!(same_site(bad), "/");
        }
    }
}
