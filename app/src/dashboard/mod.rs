//! `/`: the live dashboard, one row per symbol, with watchlists.
//!
//! The prices live in one [`tickpulse_client::PriceCache`] of the client package, the page's
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
use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};
use std::collections::HashSet;
use tickpulse_core::Symbol;

#[cfg(feature = "hydrate")]
mod live;
mod server;
mod table;
#[cfg(feature = "hydrate")]
use live::{follow, toggle_now, watch_visibility};
pub use server::{load_board, load_views, new_list, star_form, toggle_star, Board};
pub use table::{matches, Controls, Direction, Row, Sort, Table, CAPACITY};

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

#[cfg(test)]
mod tests {
    use super::server::same_site;
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
