//! `/`: the live dashboard, one row per symbol.
//!
//! The prices live in one [`PriceCache`] of the client package, the page's
//! single store: the server renders the table from every symbol's View;
//! after hydration the page follows `/api/stream` and applies each `view`
//! event to the cache (newer ones only, by stream id), and each changed
//! entry updates its row in place (only that row's cells re-render),
//! flashing up or down. Whenever the stream (re)opens, or says it reset, the
//! page reads all views again, so nothing missed while it was away stays.

use crate::components::{Connection, StatusBadge};
use crate::error::AppError;
use leptos::prelude::*;
use std::collections::HashMap;
use tickpulse_client::{CacheConfig, PriceCache, Update as Cached};
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

/// Symbols the dashboard holds at most; past that the least recently
/// updated one leaves the table.
pub const CAPACITY: usize = 10_000;

/// The reactive mirror of the [`PriceCache`]: the cache decides, the
/// signals show.
#[derive(Clone, Copy)]
pub struct Table {
    cache: StoredValue<PriceCache>,
    /// Symbols in display order; changes only when a symbol appears or goes.
    order: RwSignal<Vec<Symbol>>,
    rows: StoredValue<HashMap<Symbol, RwSignal<Row>>>,
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
            order: RwSignal::new(Vec::new()),
            rows: StoredValue::new(HashMap::new()),
        };
        table.apply_all(initial);
        table
    }

    /// Applies the views of a full read (newer ones only).
    pub fn apply_all(&self, views: Vec<View>) {
        let mut reordered = false;
        for view in views {
            reordered |= self.apply_one(view);
        }
        if reordered {
            self.reorder();
        }
    }

    /// Applies a live view.
    pub fn apply_view(&self, view: View) {
        if self.apply_one(view) {
            self.reorder();
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

    fn reorder(&self) {
        let mut symbols: Vec<Symbol> = self.rows.with_value(|rows| rows.keys().cloned().collect());
        symbols.sort();
        self.order.set(symbols);
    }

    fn row(&self, symbol: &Symbol) -> Option<RwSignal<Row>> {
        self.rows.with_value(|rows| rows.get(symbol).copied())
    }
}

/// The dashboard: every symbol's views. When the stream opens (again) or
/// resets, all views are read again: view events are not replayed on resume.
#[cfg(feature = "hydrate")]
fn follow(table: Table, status: RwSignal<Connection>) {
    let url = "/api/stream".to_owned();
    crate::live::follow_url(
        url,
        &["snapshot", "view"],
        status,
        move |kind, data| match kind {
            crate::live::OPENED | "snapshot" => leptos::task::spawn_local(async move {
                match load_views().await {
                    Ok(views) => table.apply_all(views),
                    Err(e) => leptos::logging::warn!("views not read again: {e}"),
                }
            }),
            _ => match serde_json::from_str::<View>(data) {
                Ok(view) => table.apply_view(view),
                Err(e) => leptos::logging::warn!("unreadable view: {e}"),
            },
        },
    );
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let views = Resource::new(|| (), |_| load_views());
    let status = RwSignal::new(Connection::Connecting);
    view! {
        <main class="page">
            <header class="top">
                <h1 class="brand">"tickpulse"</h1>
                <StatusBadge status/>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading prices…"</p> }>
                {move || Suspend::new(async move {
                    match views.await {
                        Ok(views) => view! { <LiveTable initial=views status/> }.into_any(),
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

#[component]
fn LiveTable(initial: Vec<View>, status: RwSignal<Connection>) -> impl IntoView {
    let table = Table::new(initial);
    #[cfg(feature = "hydrate")]
    follow(table, status);
    #[cfg(not(feature = "hydrate"))]
    let _ = status;
    view! {
        <table class="quotes">
            <thead>
                <tr>
                    <th scope="col">"Symbol"</th>
                    <th scope="col" class="num">"Last"</th>
                    <th scope="col" class="num">"Change"</th>
                    <th scope="col">"Trend"</th>
                    <th scope="col" class="num">"Volume"</th>
                    <th scope="col">"Time (UTC)"</th>
                    <th scope="col">"Source"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || table.order.get() key=|symbol| symbol.clone() let:symbol>
                    {table.row(&symbol).map(|row| view! { <QuoteRow row/> })}
                </For>
            </tbody>
        </table>
        <Show when=move || table.order.with(Vec::is_empty)>
            <p class="empty">"No ticks yet. Start a feeder and prices appear here as they arrive."</p>
        </Show>
    }
    .into_any()
}

#[component]
fn QuoteRow(row: RwSignal<Row>) -> impl IntoView {
    let symbol = row.with_untracked(|r| r.view.symbol.to_string());
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
    let label = symbol.clone();
    view! {
        <tr class=class data-symbol=symbol>
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
