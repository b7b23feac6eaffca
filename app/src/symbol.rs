//! `/symbols/{id}`: one symbol in detail. Price line and volume bars of the
//! latest ticks, candlesticks with an interval picker, the View's window
//! statistics and a table of the latest ticks.
//!
//! The server renders the statistics and the table (the page reads without
//! JavaScript; the interval picker is plain links). After hydration the page
//! follows `/api/stream?symbols={id}`: ticks extend the table, the price
//! chart and the current candle, views replace the statistics. Redraws are
//! coalesced to a few per second, whatever the tick rate.

use crate::components::{Connection, StatusBadge};
use crate::error::AppError;
use crate::format::clock;
use crate::series::LiveCandles;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use tickpulse_core::{Candle, Interval, StreamTick, View};

/// How many of the latest ticks the page shows and charts.
pub const RECENT_TICKS: usize = 200;

/// What the page opens with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SymbolData {
    /// `None` until the calc stage has seen the symbol.
    pub view: Option<View>,
    /// The latest ticks, newest first.
    pub ticks: Vec<StreamTick>,
    /// Why there are no earlier ticks, when the history cannot be read
    /// (no database, or it is down); live ticks still come.
    pub history_error: Option<String>,
}

#[cfg(feature = "ssr")]
fn symbol_param(id: &str) -> Result<tickpulse_core::Symbol, AppError> {
    tickpulse_core::Symbol::new_checked(id).map_err(|e| {
        AppError::BadParam {
            field: "id".into(),
            message: format!("{id:?} is not a symbol: {e}"),
        }
        .respond()
    })
}

/// The View and the latest ticks of one symbol.
#[server]
pub async fn load_symbol(id: String) -> Result<SymbolData, AppError> {
    let symbol = symbol_param(&id)?;
    let market = crate::ssr::services()?.market;
    let view = market
        .view(&symbol)
        .await
        .map_err(|e| AppError::Unavailable(e).respond())?;
    let (ticks, history_error) = match market.history(&symbol, RECENT_TICKS).await {
        Ok(ticks) => (ticks, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    Ok(SymbolData {
        view,
        ticks,
        history_error,
    })
}

/// Candles of one symbol, the last 500 intervals up to now. The inner
/// error says why there are none (no database, or it is down): the page
/// shows it and stays live, so it is an answer, not a failed request.
#[server]
pub async fn load_candles(
    id: String,
    interval: Interval,
) -> Result<Result<Vec<Candle>, String>, AppError> {
    let symbol = symbol_param(&id)?;
    Ok(crate::ssr::services()?
        .market
        .candles(&symbol, interval)
        .await)
}

/// How often the symbol page redraws at most.
#[cfg(feature = "hydrate")]
const REDRAW_MS: u64 = 250;

/// The symbol page: ticks and views of one symbol, applied in batches of
/// at most [`REDRAW_MS`].
#[cfg(feature = "hydrate")]
fn follow_symbol(symbol: &str, live: Live, status: RwSignal<Connection>) {
    #[derive(Default)]
    struct Pending {
        ticks: Vec<StreamTick>,
        view: Option<View>,
        scheduled: bool,
    }
    let pending = std::rc::Rc::new(std::cell::RefCell::new(Pending::default()));
    let url = format!("/api/stream?symbols={symbol}");
    crate::live::follow_url(url, &["tick", "view"], status, move |kind, data| {
        {
            let mut p = pending.borrow_mut();
            if kind == "tick" {
                match serde_json::from_str::<StreamTick>(data) {
                    Ok(tick) => p.ticks.push(tick),
                    Err(e) => leptos::logging::warn!("unreadable tick: {e}"),
                }
            } else {
                match serde_json::from_str::<View>(data) {
                    Ok(view) => p.view = Some(view),
                    Err(e) => leptos::logging::warn!("unreadable view: {e}"),
                }
            }
            if p.scheduled {
                return;
            }
            p.scheduled = true;
        }
        let pending = pending.clone();
        leptos::prelude::set_timeout(
            move || {
                let (ticks, view) = {
                    let mut p = pending.borrow_mut();
                    p.scheduled = false;
                    (std::mem::take(&mut p.ticks), p.view.take())
                };
                live.apply(ticks, view);
            },
            std::time::Duration::from_millis(REDRAW_MS),
        );
    });
}

#[component]
pub fn SymbolPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id =
        Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default().to_ascii_uppercase()));
    // `Err(text)` for an interval the picker does not offer.
    let interval = Memo::new(move |_| {
        query.with(|q| match q.get("interval") {
            None => Ok(Interval::M1),
            Some(text) => text.parse::<Interval>().map_err(|_| text),
        })
    });
    let data = Resource::new(move || id.get(), load_symbol);
    let status = RwSignal::new(Connection::Connecting);
    view! {
        <main class="page symbol-page">
            <header class="top">
                <nav class="crumbs"><a href="/">"All symbols"</a></nav>
                <h1 class="brand" data-symbol=move || id.get()>{move || id.get()}</h1>
                <crate::trade::TradeLink symbol=id/>
                <StatusBadge status/>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(d) if d.view.is_none() && d.ticks.is_empty() => {
                            view! {
                                <p class="empty" role="alert">
                                    "No ticks of " {id.get_untracked()} " yet. "
                                    <a href="/">"Back to all symbols"</a>
                                </p>
                            }
                                .into_any()
                        }
                        Ok(d) => {
                            view! { <SymbolLive symbol=id.get_untracked() data=d interval status/> }
                                .into_any()
                        }
                        Err(e) => {
                            view! {
                                <p class="error" role="alert">
                                    "This symbol cannot be shown (" {e.to_string()} ")."
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

/// The live state of the page.
#[derive(Clone, Copy)]
pub(crate) struct Live {
    view: RwSignal<Option<View>>,
    /// Newest first, at most [`RECENT_TICKS`].
    ticks: RwSignal<VecDeque<StreamTick>>,
    candles: RwSignal<Option<LiveCandles>>,
}

impl Live {
    /// Applies what arrived since the last redraw, in one update per signal.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    pub(crate) fn apply(&self, ticks: Vec<StreamTick>, view: Option<View>) {
        if let Some(view) = view {
            self.view.update(|v| {
                if v.as_ref().is_none_or(|old| old.stream_id <= view.stream_id) {
                    *v = Some(view);
                }
            });
        }
        if ticks.is_empty() {
            return;
        }
        let newest = self.ticks.with_untracked(|t| t.front().map(|t| t.id));
        let fresh: Vec<StreamTick> = ticks
            .into_iter()
            .filter(|t| newest.is_none_or(|n| t.id > n))
            .collect();
        if fresh.is_empty() {
            return;
        }
        self.candles.update(|c| {
            if let Some(c) = c {
                fresh.iter().for_each(|t| c.apply(t));
            }
        });
        self.ticks.update(|all| {
            for t in fresh {
                all.push_front(t);
            }
            all.truncate(RECENT_TICKS);
        });
    }
}

#[component]
fn SymbolLive(
    symbol: String,
    data: SymbolData,
    interval: Memo<Result<Interval, String>>,
    status: RwSignal<Connection>,
) -> impl IntoView {
    let live = Live {
        view: RwSignal::new(data.view),
        ticks: RwSignal::new(data.ticks.into_iter().take(RECENT_TICKS).collect()),
        candles: RwSignal::new(None),
    };
    let id = symbol.clone();
    let chosen = move || interval.get().unwrap_or(Interval::M1);
    let candles = Resource::new(move || chosen(), move |iv| load_candles(id.clone(), iv));
    // The colour-blind-safe pair for rising and falling (style/main.css).
    let palette = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    crate::echarts::keep_palette(palette);
    #[cfg(feature = "hydrate")]
    crate::echarts::draw(live.ticks, live.candles, palette);
    #[cfg(feature = "hydrate")]
    follow_symbol(&symbol, live, status);
    #[cfg(not(feature = "hydrate"))]
    let _ = status;
    let link = symbol.clone();
    view! {
        // The charts' library, fetched while the WASM starts.
        <leptos_meta::Link rel="preload" href=crate::assets::echarts_path() as_="script"/>
        <Stats view=live.view/>
        <section class="panel">
            <h2>"Price and volume"</h2>
            <div id="price-chart" class="chart" aria-label=format!("price and volume of {symbol}")></div>
            <noscript><p class="muted">"The charts need JavaScript; the statistics and ticks below do not."</p></noscript>
        </section>
        <section class="panel">
            <div class="panel-head">
                <h2>"Candles"</h2>
                <nav class="intervals" aria-label="candle interval">
                    {Interval::ALL
                        .into_iter()
                        .map(|iv| {
                            let href = format!("/symbols/{link}?interval={iv}");
                            let current = move || (chosen() == iv).then_some("page");
                            view! { <a href=href aria-current=current>{iv.as_str()}</a> }
                        })
                        .collect_view()}
                </nav>
                <label class="palette">
                    <input
                        type="checkbox"
                        name="palette"
                        prop:checked=move || palette.get()
                        on:change=move |e| palette.set(event_target_checked(&e))
                    />
                    " Colour-blind-safe colours"
                </label>
            </div>
            {move || {
                interval
                    .get()
                    .err()
                    .map(|text| {
                        view! {
                            <p class="error" role="alert">
                                "interval " {format!("{text:?}")} " is not offered; showing 1m."
                            </p>
                        }
                    })
            }}
            <Transition fallback=|| view! { <p class="muted">"Loading candles…"</p> }>
                {move || Suspend::new(async move {
                    let iv = chosen();
                    match candles.await.map_err(|e| e.to_string()).and_then(|c| c) {
                        Ok(list) => {
                            live.candles.set(Some(LiveCandles::new(iv, list)));
                            ().into_any()
                        }
                        Err(e) => {
                            live.candles.set(None);
                            view! {
                                <p class="error" role="alert">
                                    "Candles are unavailable (" {e.to_string()} ")."
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
            <div id="candle-chart" class="chart" aria-label=format!("candles of {symbol}")></div>
        </section>
        <section class="panel">
            <h2>"Latest ticks"</h2>
            {data
                .history_error
                .map(|e| {
                    view! {
                        <p class="muted">"Earlier ticks are unavailable (" {e} "); new ticks appear as they arrive."</p>
                    }
                })}
            <TickTable ticks=live.ticks/>
        </section>
    }
}

#[component]
fn Stats(view: RwSignal<Option<View>>) -> impl IntoView {
    let field = move |f: fn(&View) -> String| {
        move || view.with(|v| v.as_ref().map(f).unwrap_or_else(|| "–".to_owned()))
    };
    let change = move || {
        view.with(|v| {
            v.as_ref().map(|v| {
                let sign = if v.change.is_sign_positive() && !v.change.is_zero() {
                    "+"
                } else {
                    ""
                };
                format!("{sign}{} ({sign}{}%)", v.change, v.change_pct.round_dp(2))
            })
        })
    };
    let change_class = move || {
        view.with(|v| match v.as_ref().map(|v| v.change) {
            Some(c) if c.is_sign_positive() && !c.is_zero() => "change pos",
            Some(c) if c.is_sign_negative() && !c.is_zero() => "change neg",
            _ => "change",
        })
    };
    view! {
        <section class="headline">
            <span class="last price" data-field="last">{field(|v| v.last.tick.price.to_string())}</span>
            <span class=change_class data-field="change">{move || change().unwrap_or_default()}</span>
        </section>
        <dl class="stats">
            <div><dt>"Open"</dt><dd data-field="open">{field(|v| v.open.to_string())}</dd></div>
            <div><dt>"High"</dt><dd data-field="high">{field(|v| v.high.to_string())}</dd></div>
            <div><dt>"Low"</dt><dd data-field="low">{field(|v| v.low.to_string())}</dd></div>
            <div><dt>{move || view.with(|v| format!("SMA({})", v.as_ref().map_or(0, |v| v.last_prices.len())))}</dt>
                <dd data-field="sma">{field(|v| decimal(v.sma))}</dd></div>
            <div><dt>"VWAP 1 min"</dt><dd data-field="vwap">{field(|v| decimal(v.vwap_1m))}</dd></div>
            <div><dt>"Volume 1 min"</dt><dd data-field="volume">{field(|v| v.volume_1m.to_string())}</dd></div>
            <div><dt>"Ticks"</dt><dd data-field="ticks">{field(|v| v.tick_count.to_string())}</dd></div>
            <div><dt>"Late ticks"</dt><dd data-field="late">{field(|v| v.late_ticks.to_string())}</dd></div>
        </dl>
    }
}

/// A statistic rounded for reading; "–" when there is none.
fn decimal(d: Option<rust_decimal::Decimal>) -> String {
    d.map(|d| d.round_dp(6).normalize().to_string())
        .unwrap_or_else(|| "–".to_owned())
}

#[component]
fn TickTable(ticks: RwSignal<VecDeque<StreamTick>>) -> impl IntoView {
    view! {
        <table class="quotes ticks">
            <thead>
                <tr>
                    <th scope="col">"Time (UTC)"</th>
                    <th scope="col" class="num">"Price"</th>
                    <th scope="col" class="num">"Volume"</th>
                    <th scope="col">"Source"</th>
                    <th scope="col">"Event id"</th>
                </tr>
            </thead>
            <tbody>
                <For each=move || ticks.get() key=|t| t.id let:t>
                    <tr data-id=t.id.to_string()>
                        <td class="time" title=t.tick.ts.to_rfc3339()>{clock(t.tick.ts, true)}</td>
                        <td class="num price">{t.tick.price.to_string()}</td>
                        <td class="num volume">{t.tick.volume.to_string()}</td>
                        <td class="source">{t.tick.source.to_string()}</td>
                        <td class="event-id">{t.tick.event_id.to_string()}</td>
                    </tr>
                </For>
            </tbody>
        </table>
    }
}
