//! Browser only: draws the symbol page's charts with charming (ECharts,
//! loaded from `/echarts.min.js`), redrawn whenever their data changes.

use crate::format::hms;
use crate::series::{candle_series, price_series, LiveCandles};
use charming::component::{Axis, DataZoom, Grid, Legend};
use charming::element::{AxisType, ItemStyle, Tooltip, Trigger};
use charming::series::{Bar, Candlestick, Line};
use charming::{Chart, Echarts, WasmRenderer};
use leptos::prelude::*;
use std::collections::VecDeque;
use tickpulse_core::StreamTick;

const PRICE_CHART: &str = "price-chart";
const CANDLE_CHART: &str = "candle-chart";

pub fn draw(ticks: RwSignal<VecDeque<StreamTick>>, candles: RwSignal<Option<LiveCandles>>) {
    let price: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        let chart = ticks.with(|t| price_chart(t));
        show(price, PRICE_CHART, &chart);
    });
    let candle: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        let Some(chart) = candles.with(|c| c.as_ref().map(candle_chart)) else {
            return;
        };
        show(candle, CANDLE_CHART, &chart);
    });
}

const INGEST_CHART: &str = "ingest-chart";

/// The health view's ingest rate chart, redrawn with each new view.
pub fn draw_series(health: RwSignal<tickpulse_core::health::Health>) {
    let slot: Slot = StoredValue::new_local(None);
    Effect::new(move |_| {
        let chart = health.with(|h| series_chart(&h.ingest_series));
        show(slot, INGEST_CHART, &chart);
    });
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

/// Draws into the element `id`, creating the chart the first time.
fn show(slot: Slot, id: &'static str, chart: &Chart) {
    if redraw(slot, chart) == Some(false) {
        show_when_placed(slot, id, chart.clone(), 0);
    }
}

/// Redraws the chart in `slot` if it was drawn already: `Some(true)`;
/// `Some(false)` when not drawn yet, `None` when the page is gone.
fn redraw(slot: Slot, chart: &Chart) -> Option<bool> {
    slot.try_with_value(|e| e.as_ref().map(|e| WasmRenderer::update(e, chart)).is_some())
}

type Slot = StoredValue<Option<Echarts>, LocalStorage>;

/// How long a chart waits for its element to be placed in the document
/// (after a client-side navigation the page is built before it is shown).
const PLACE_TRIES: u32 = 100;
const PLACE_RETRY_MS: u64 = 50;

fn show_when_placed(slot: Slot, id: &'static str, chart: Chart, tries: u32) {
    if redraw(slot, &chart) != Some(false) {
        return;
    }
    let placed = window()
        .document()
        .and_then(|d| d.get_element_by_id(id))
        .is_some();
    if !placed {
        if tries < PLACE_TRIES {
            set_timeout(
                move || show_when_placed(slot, id, chart, tries + 1),
                std::time::Duration::from_millis(PLACE_RETRY_MS),
            );
        } else {
            leptos::logging::warn!("chart {id} not drawn: no element #{id}");
        }
        return;
    }
    match WasmRenderer::new_opt(None, None).render(id, &chart) {
        Ok(e) => slot.set_value(Some(e)),
        Err(e) => leptos::logging::warn!("chart {id} not drawn: {e:?}"),
    }
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

fn candle_chart(live: &LiveCandles) -> Chart {
    let s = candle_series(&live.candles, live.interval);
    let ohlc: Vec<Vec<f64>> = s.ohlc.iter().map(|c| c.to_vec()).collect();
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(Legend::new().data(vec!["OHLC", "Volume"]))
        .grid(Grid::new().left("60").right("60").top("40").bottom("70"))
        .data_zoom(DataZoom::new().start(50).end(100))
        .x_axis(Axis::new().type_(AxisType::Category).data(s.buckets))
        .y_axis(Axis::new().type_(AxisType::Value).name("Price").scale(true))
        .y_axis(volume_axis(&s.volumes))
        .series(Candlestick::new().name("OHLC").data(ohlc))
        .series(volume_bars(s.volumes))
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
