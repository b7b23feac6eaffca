//! `/`: the live dashboard, one row per symbol.
//!
//! The server renders the table from a snapshot; after hydration the page
//! follows `/api/stream` and updates each row in place (only the cells of the
//! changed row re-render), flashing up or down.

use leptos::prelude::*;
use std::collections::HashMap;
use tickpulse_client::{Applied, Book, Direction, Entry};
use tickpulse_core::{LatestTick, Snapshot, StreamTick, Symbol};

/// The latest tick of every symbol.
#[server]
pub async fn load_snapshot() -> Result<Vec<LatestTick>, ServerFnError> {
    crate::ssr::services()?
        .market
        .latest_all()
        .await
        .map_err(ServerFnError::new)
}

/// State of the live connection, shown in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// The reactive mirror of a [`Book`]: the book decides, the signals show.
#[derive(Clone, Copy)]
pub struct Table {
    book: StoredValue<Book>,
    /// Symbols in display order; changes only when a symbol appears or goes.
    order: RwSignal<Vec<Symbol>>,
    rows: StoredValue<HashMap<Symbol, RwSignal<Entry>>>,
}

impl Table {
    fn new(initial: Vec<LatestTick>) -> Self {
        let table = Self {
            book: StoredValue::new(Book::new()),
            order: RwSignal::new(Vec::new()),
            rows: StoredValue::new(HashMap::new()),
        };
        table.apply_snapshot(Snapshot {
            reset: false,
            ticks: initial,
        });
        table
    }

    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        self.book.update_value(|b| b.apply_snapshot(snapshot));
        let entries: Vec<Entry> = self.book.with_value(|b| b.iter().cloned().collect());
        self.rows.update_value(|rows| {
            rows.retain(|symbol, _| entries.iter().any(|e| e.latest.symbol() == symbol));
            for entry in &entries {
                match rows.get(entry.latest.symbol()) {
                    Some(row) => row.set(entry.clone()),
                    None => {
                        rows.insert(entry.latest.symbol().clone(), RwSignal::new(entry.clone()));
                    }
                }
            }
        });
        self.order
            .set(entries.iter().map(|e| e.latest.symbol().clone()).collect());
    }

    pub fn apply_tick(&self, tick: StreamTick) {
        let symbol = tick.tick.symbol.clone();
        let applied = self.book.try_update_value(|b| b.apply_tick(tick));
        let Some(entry) = self.book.with_value(|b| b.get(&symbol).cloned()) else {
            return;
        };
        match applied {
            Some(Applied::Updated) => {
                if let Some(row) = self.rows.with_value(|rows| rows.get(&symbol).copied()) {
                    row.set(entry);
                }
            }
            Some(Applied::Inserted) => {
                self.rows.update_value(|rows| {
                    rows.insert(symbol, RwSignal::new(entry));
                });
                self.order
                    .set(self.book.with_value(|b| b.symbols().cloned().collect()));
            }
            Some(Applied::Stale) | None => {}
        }
    }

    fn row(&self, symbol: &Symbol) -> Option<RwSignal<Entry>> {
        self.rows.with_value(|rows| rows.get(symbol).copied())
    }
}

#[component]
pub fn Dashboard() -> impl IntoView {
    let snapshot = Resource::new(|| (), |_| load_snapshot());
    let status = RwSignal::new(Connection::Connecting);
    view! {
        <main class="page">
            <header class="top">
                <h1 class="brand">"tickpulse"</h1>
                <StatusBadge status/>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading prices…"</p> }>
                {move || Suspend::new(async move {
                    match snapshot.await {
                        Ok(ticks) => view! { <LiveTable initial=ticks status/> }.into_any(),
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
pub fn StatusBadge(status: RwSignal<Connection>) -> impl IntoView {
    let label = move || match status.get() {
        Connection::Connecting => "Connecting…",
        Connection::Live => "Live",
        Connection::Reconnecting => "Reconnecting…",
    };
    let class = move || match status.get() {
        Connection::Connecting => "status connecting",
        Connection::Live => "status live",
        Connection::Reconnecting => "status reconnecting",
    };
    view! { <span class=class role="status" aria-live="polite" data-status=label>{label}</span> }
}

#[component]
fn LiveTable(initial: Vec<LatestTick>, status: RwSignal<Connection>) -> impl IntoView {
    let table = Table::new(initial);
    #[cfg(feature = "hydrate")]
    crate::live::follow(table, status);
    #[cfg(not(feature = "hydrate"))]
    let _ = status;
    view! {
        <table class="quotes">
            <thead>
                <tr>
                    <th scope="col">"Symbol"</th>
                    <th scope="col" class="num">"Last"</th>
                    <th scope="col" class="num">"Change"</th>
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
fn QuoteRow(row: RwSignal<Entry>) -> impl IntoView {
    let symbol = row.with_untracked(|e| e.latest.symbol().to_string());
    // Two classes per direction, alternated, so two equal moves in a row
    // both restart the flash animation.
    let class = move || {
        row.with(|e| match (e.direction, e.updates % 2) {
            (Direction::Up, 0) => "quote up",
            (Direction::Up, _) => "quote up again",
            (Direction::Down, 0) => "quote down",
            (Direction::Down, _) => "quote down again",
            (Direction::Flat, _) => "quote",
        })
    };
    let price = move || row.with(|e| e.latest.tick.tick.price.to_string());
    let change = move || {
        row.with(|e| {
            let (abs, pct) = e.latest.change();
            let sign = if abs.is_sign_positive() && !abs.is_zero() {
                "+"
            } else {
                ""
            };
            format!("{sign}{abs} ({sign}{pct}%)")
        })
    };
    let change_class = move || {
        row.with(|e| {
            let (abs, _) = e.latest.change();
            if abs.is_zero() {
                "num change"
            } else if abs.is_sign_positive() {
                "num change pos"
            } else {
                "num change neg"
            }
        })
    };
    let volume = move || row.with(|e| e.latest.tick.tick.volume.to_string());
    let ts = move || row.with(|e| e.latest.tick.tick.ts.to_rfc3339());
    let time = move || {
        let full = ts();
        full.split_once('T')
            .map(|(_, t)| t.trim_end_matches('Z').to_owned())
            .unwrap_or(full)
    };
    let source = move || row.with(|e| e.latest.tick.tick.source.to_string());
    let label = symbol.clone();
    view! {
        <tr class=class data-symbol=symbol>
            <th scope="row" class="symbol">
                <a href=format!("/symbols/{label}")>{label.clone()}</a>
            </th>
            <td class="num price">{price}</td>
            <td class=change_class>{change}</td>
            <td class="num volume">{volume}</td>
            <td class="time" title=ts>{time}</td>
            <td class="source">{source}</td>
        </tr>
    }
    .into_any()
}
