//! Browser only: draws the pages' charts. charming builds each option;
//! ECharts (the site's own subset, `/echarts.<hash>.js`) draws it, loaded
//! the first time a page draws a chart, so pages without charts never fetch
//! it. A chart is redrawn whenever its data changes.

use crate::format::hms;
use crate::series::{candle_series, price_series, LiveCandles};
use charming::component::{Axis, DataZoom, Grid, Legend};
use charming::element::{AxisLabel, AxisType, ItemStyle, Tooltip, Trigger};
use charming::series::{Bar, Candlestick, Line};
use charming::Chart;
use leptos::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use tickpulse_core::StreamTick;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

const PRICE_CHART: &str = "price-chart";
const CANDLE_CHART: &str = "candle-chart";

#[wasm_bindgen]
extern "C" {
    /// One drawn ECharts instance.
    type Instance;

    #[wasm_bindgen(js_namespace = echarts, js_name = init)]
    fn init(element: &web_sys::Element) -> Instance;

    #[wasm_bindgen(method, js_name = setOption)]
    fn set_option(this: &Instance, option: JsValue);
}

/// Where the choice of palette is kept between visits.
const PALETTE_KEY: &str = "tickpulse.palette";
/// The value of `data-palette` on the document that switches the theme's
/// rising and falling colours to the colour-blind-safe pair.
const COLOUR_BLIND: &str = "colour-blind";

/// Keeps `palette` (true: the colour-blind-safe pair) on the document and in
/// local storage, starting from the stored choice.
pub fn keep_palette(palette: RwSignal<bool>) {
    let storage = || window().local_storage().ok().flatten();
    // After hydration, so the page first matches what the server sent.
    Effect::new(move |_| {
        let stored = storage().and_then(|s| s.get_item(PALETTE_KEY).ok().flatten());
        palette.set(stored.as_deref() == Some(COLOUR_BLIND));
    });
    Effect::new(move |_| {
        let colour_blind = palette.get();
        if let Some(root) = document().document_element() {
            let _ = if colour_blind {
                root.set_attribute("data-palette", COLOUR_BLIND)
            } else {
                root.remove_attribute("data-palette")
            };
        }
        if let Some(s) = storage() {
            let _ = s.set_item(
                PALETTE_KEY,
                if colour_blind {
                    COLOUR_BLIND
                } else {
                    "default"
                },
            );
        }
    });
}

pub fn draw(
    ticks: RwSignal<VecDeque<StreamTick>>,
    candles: RwSignal<Option<LiveCandles>>,
    palette: RwSignal<bool>,
) {
    let price: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        let chart = ticks.with(|t| price_chart(t));
        show(price, PRICE_CHART, option(&chart));
    });
    let candle: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        palette.track(); // its colours are read from the document
        let Some(chart) = candles.with(|c| c.as_ref().map(candle_chart)) else {
            return;
        };
        show(candle, CANDLE_CHART, candle_colours(option(&chart)));
    });
}

const INGEST_CHART: &str = "ingest-chart";

/// The health view's ingest rate chart, redrawn with each new view.
pub fn draw_series(health: RwSignal<tickpulse_core::health::Health>) {
    let slot: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        let chart = health.with(|h| series_chart(&h.ingest_series));
        show(slot, INGEST_CHART, option(&chart));
    });
}

/// The report page's charts: per figure, a line per node of its mean per
/// step.
pub fn draw_report(report: tickpulse_core::health::Report) {
    let times: Vec<i64> = report.total.steps.iter().map(|s| s.at).collect();
    let labels: Vec<String> = times.iter().map(|t| hms(*t)).collect();
    for (id, figure, scale) in [
        ("report-cpu", "cpu_pct", 1.0),
        ("report-memory", "rss_bytes", 1.0 / (1024.0 * 1024.0)),
        ("report-ingest", "ingest_rate", 1.0),
    ] {
        let mut chart = Chart::new()
            .animation(false)
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .legend(Legend::new().data(report.nodes.iter().map(|n| n.node.clone()).collect()))
            .grid(Grid::new().left("60").right("30").top("30").bottom("30"))
            .x_axis(Axis::new().type_(AxisType::Category).data(labels.clone()))
            .y_axis(Axis::new().type_(AxisType::Value).min(0));
        for node in &report.nodes {
            let data: Vec<f64> = times
                .iter()
                .map(|t| {
                    node.steps
                        .iter()
                        .find(|s| s.at == *t)
                        .and_then(|s| s.figures.get(figure))
                        .map_or(f64::NAN, |stat| (stat.mean * scale * 10.0).round() / 10.0)
                })
                .collect();
            chart = chart.series(
                Line::new()
                    .name(node.node.clone())
                    .show_symbol(false)
                    .data(data),
            );
        }
        let slot: Slot = StoredValue::new_local(None);
        show(slot, id, option(&chart));
    }
}

fn series_chart(series: &[(i64, f64)]) -> Chart {
    let times: Vec<String> = series.iter().map(|(t, _)| hms(*t)).collect();
    let rates: Vec<f64> = series
        .iter()
        .map(|(_, r)| (r * 10.0).round() / 10.0)
        .collect();
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .grid(Grid::new().left("60").right("30").top("20").bottom("30"))
        .x_axis(Axis::new().type_(AxisType::Category).data(times))
        .y_axis(Axis::new().type_(AxisType::Value).name("ticks/s").min(0))
        .series(Line::new().name("Ingest").show_symbol(false).data(rates))
}

/// The option ECharts is handed: charming's chart as JSON, which a chart
/// may amend where charming has no setter.
fn option(chart: &Chart) -> serde_json::Value {
    serde_json::to_value(chart).unwrap_or_default()
}

/// Rising candles in the theme's `--up` colour and falling ones in
/// `--down` (green and red, or the colour-blind-safe pair; see
/// style/main.css). charming's candlestick has no item style, so it is set
/// on the option.
fn candle_colours(mut option: serde_json::Value) -> serde_json::Value {
    let (rise, fall) = (
        theme_colour("--up", "#0a7f3f"),
        theme_colour("--down", "#c62828"),
    );
    if let Some(candles) = option.pointer_mut("/series/0") {
        candles["itemStyle"] = serde_json::json!({
            "color": rise, "borderColor": rise, "color0": fall, "borderColor0": fall,
        });
    }
    option
}

/// A colour the stylesheet sets on the document.
fn theme_colour(name: &str, default: &str) -> String {
    let window = window();
    window
        .document()
        .and_then(|d| d.document_element())
        .and_then(|root| window.get_computed_style(&root).ok().flatten())
        .and_then(|style| style.get_property_value(name).ok())
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// Draws into the element `id`, creating the chart the first time.
fn show(slot: Slot, id: &'static str, option: serde_json::Value) {
    if redraw(slot, &option) == Some(false) {
        with_echarts(move || show_when_placed(slot, id, option, 0));
    }
}

/// Redraws the chart in `slot` if it was drawn already: `Some(true)`;
/// `Some(false)` when not drawn yet, `None` when the page is gone.
fn redraw(slot: Slot, option: &serde_json::Value) -> Option<bool> {
    slot.try_with_value(|e| e.as_ref().map(|e| e.set_option(to_js(option))).is_some())
}

fn to_js(option: &serde_json::Value) -> JsValue {
    js_sys::JSON::parse(&option.to_string()).unwrap_or(JsValue::NULL)
}

type Slot = StoredValue<Option<Instance>, LocalStorage>;

thread_local! {
    /// What waits for ECharts to load; `None` before the first chart asks
    /// for it (or after a failed load, so the next chart tries again).
    static WAITING: RefCell<Option<Vec<Box<dyn FnOnce()>>>> = const { RefCell::new(None) };
}

fn echarts_loaded() -> bool {
    js_sys::Reflect::get(&window(), &JsValue::from_str("echarts")).is_ok_and(|e| !e.is_undefined())
}

/// Runs `then` once ECharts is loaded, loading it the first time.
fn with_echarts(then: impl FnOnce() + 'static) {
    if echarts_loaded() {
        return then();
    }
    let first = WAITING.with(|w| {
        let mut w = w.borrow_mut();
        let first = w.is_none();
        w.get_or_insert_with(Vec::new).push(Box::new(then));
        first
    });
    if first {
        load_echarts();
    }
}

fn load_echarts() {
    let src = crate::assets::echarts_path();
    let script = document()
        .create_element("script")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlScriptElement>().ok());
    let Some(script) = script else { return };
    script.set_src(&src);
    let loaded = Closure::once_into_js(move || {
        for then in WAITING.with(|w| w.borrow_mut().take()).unwrap_or_default() {
            then();
        }
    });
    let failed = Closure::once_into_js(move || {
        WAITING.with(|w| w.borrow_mut().take());
        leptos::logging::warn!("charts not drawn: {src} did not load");
    });
    script.set_onload(Some(loaded.unchecked_ref()));
    script.set_onerror(Some(failed.unchecked_ref()));
    if let Some(head) = document().head() {
        let _ = head.append_child(&script);
    }
}

/// How long a chart waits for its element to be placed in the document
/// (after a client-side navigation the page is built before it is shown).
const PLACE_TRIES: u32 = 100;
const PLACE_RETRY_MS: u64 = 50;

fn show_when_placed(slot: Slot, id: &'static str, option: serde_json::Value, tries: u32) {
    if redraw(slot, &option) != Some(false) {
        return;
    }
    let Some(element) = window().document().and_then(|d| d.get_element_by_id(id)) else {
        if tries < PLACE_TRIES {
            set_timeout(
                move || show_when_placed(slot, id, option, tries + 1),
                std::time::Duration::from_millis(PLACE_RETRY_MS),
            );
        } else {
            leptos::logging::warn!("chart {id} not drawn: no element #{id}");
        }
        return;
    };
    let chart = init(&element);
    chart.set_option(to_js(&option));
    slot.set_value(Some(chart));
}

fn price_chart(ticks: &VecDeque<StreamTick>) -> Chart {
    let s = price_series(ticks.iter());
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().data(vec!["Price", "Volume"]))
        .grid(Grid::new().left("60").right("60").top("40").bottom("40"))
        .x_axis(Axis::new().type_(AxisType::Category).data(s.times))
        .y_axis(Axis::new().type_(AxisType::Value).name("Price").scale(true))
        .y_axis(volume_axis(&s.volumes))
        .series(Line::new().name("Price").show_symbol(false).data(s.prices))
        .series(volume_bars(s.volumes))
}

/// Candles above, their volume in a grid of its own below; one zoom moves
/// both.
fn candle_chart(live: &LiveCandles) -> Chart {
    let s = candle_series(&live.candles, live.interval);
    let ohlc: Vec<Vec<f64>> = s.ohlc.iter().map(|c| c.to_vec()).collect();
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().data(vec!["OHLC", "Volume"]))
        .grid(Grid::new().left("60").right("30").top("40").height("52%"))
        .grid(Grid::new().left("60").right("30").top("72%").height("14%"))
        .data_zoom(DataZoom::new().start(50).end(100).x_axis_index(vec![0, 1]))
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .data(s.buckets.clone()),
        )
        .x_axis(
            Axis::new()
                .type_(AxisType::Category)
                .grid_index(1)
                .axis_label(AxisLabel::new().show(false))
                .data(s.buckets),
        )
        .y_axis(Axis::new().type_(AxisType::Value).name("Price").scale(true))
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .grid_index(1)
                .name("Volume")
                .min(0)
                .split_number(2),
        )
        .series(Candlestick::new().name("OHLC").data(ohlc))
        .series(
            Bar::new()
                .name("Volume")
                .x_axis_index(1)
                .y_axis_index(1)
                .item_style(ItemStyle::new().opacity(0.6))
                .data(s.volumes),
        )
}

/// Volume on the right, scaled so its bars keep to the lower third and
/// leave the prices readable.
fn volume_axis(volumes: &[f64]) -> Axis {
    let most = volumes.iter().copied().fold(0.0, f64::max);
    let axis = Axis::new()
        .type_(AxisType::Value)
        .name("Volume")
        .min(0)
        .show(false);
    if most > 0.0 {
        axis.max(most * 3.0)
    } else {
        axis
    }
}

fn volume_bars(volumes: Vec<f64>) -> Bar {
    Bar::new()
        .name("Volume")
        .y_axis_index(1)
        .item_style(ItemStyle::new().opacity(0.45))
        .data(volumes)
}
