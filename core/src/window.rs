//! calc-a: the rolling window of one symbol, over event time.
//!
//! Holds the last N ticks (for SMA and the price list), the ticks of the last
//! minute (for VWAP and volume) and the session's open, high and low. Ticks
//! may arrive out of order: each lands at its place by `(ts, id)`. A tick
//! older than the minute window (relative to the newest event time seen) is
//! counted as late and otherwise ignored. A tick whose stream id is already
//! held is a re-delivery and changes nothing, so replaying is harmless.
//! [`crate::View`] (calc-b) is computed from this state.

use crate::{Price, StreamId, StreamTick, Timestamp, View, Volume};
use rust_decimal::Decimal;
use std::collections::VecDeque;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Window sizes; the same for every symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// N of "last N prices" and SMA(N).
    pub sma_len: usize,
    /// Span of VWAP and volume, in nanoseconds of event time.
    pub span_nanos: i64,
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            sma_len: 20,
            span_nanos: 60 * 1_000_000_000,
        }
    }
}

/// What [`SymbolWindow::apply`] did with a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Counted and placed in the windows.
    Applied,
    /// Counted, but older than the window: not in SMA, VWAP or volume.
    Late,
    /// Already held (same stream id): nothing changed.
    Replayed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Point {
    ts: Timestamp,
    id: StreamId,
    price: Price,
    volume: Volume,
}

impl Point {
    fn key(&self) -> (Timestamp, StreamId) {
        (self.ts, self.id)
    }
}

/// The session: one UTC day of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    day: i64,
    open_ts: Timestamp,
    /// With `open_ts`, orders ticks of equal event time by arrival, so the
    /// open does not depend on the order of delivery.
    open_id: StreamId,
    open: Price,
    high: Price,
    low: Price,
}

#[derive(Debug, Clone, Default)]
pub struct SymbolWindow {
    /// The last `sma_len` ticks by event time, oldest first.
    recent: VecDeque<Point>,
    /// The ticks within `span_nanos` of the newest event time, oldest first.
    span: VecDeque<Point>,
    /// Σ volume and Σ price × volume over `span`, kept exact as points come
    /// and go, so a view costs O(N) whatever the tick rate.
    span_volume: Decimal,
    span_notional: Decimal,
    session: Option<Session>,
    /// The newest tick by `(ts, id)`.
    last: Option<StreamTick>,
    tick_count: u64,
    late_ticks: u64,
    /// The highest stream id applied.
    stream_id: StreamId,
    /// The first tick's stream id and price: the first to arrive, whatever
    /// order the ticks are applied in.
    first: Option<(StreamId, Price)>,
}

impl SymbolWindow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores counts, session and last tick from a stored view; the
    /// windows are then refilled with [`SymbolWindow::warm`].
    pub fn from_view(view: &View) -> Self {
        Self {
            session: Some(Session {
                day: view.last.tick.ts.as_nanos().div_euclid(NANOS_PER_DAY),
                open_ts: view.session_open_ts,
                // Unknown after a restore: taken as the smallest, so only a
                // strictly earlier tick replaces the restored open.
                open_id: StreamId::ZERO,
                open: view.open,
                high: view.high,
                low: view.low,
            }),
            last: Some(view.last.clone()),
            tick_count: view.tick_count,
            late_ticks: view.late_ticks,
            stream_id: view.stream_id,
            // A view stored before the first price was kept: its session
            // open is the earliest price known.
            first: Some((StreamId::ZERO, view.first_price.unwrap_or(view.open))),
            ..Self::default()
        }
    }

    /// Applies one tick of the stream.
    pub fn apply(&mut self, tick: &StreamTick, settings: &WindowSettings) -> Applied {
        if self.holds(tick) {
            return Applied::Replayed;
        }
        self.tick_count += 1;
        self.stream_id = self.stream_id.max(tick.id);
        if self.first.is_none_or(|(id, _)| tick.id < id) {
            self.first = Some((tick.id, tick.tick.price));
        }
        self.update_session(tick);
        if self
            .last
            .as_ref()
            .is_none_or(|l| (tick.tick.ts, tick.id) >= (l.tick.ts, l.id))
        {
            self.last = Some(tick.clone());
        }
        if self.place(tick, settings) {
            Applied::Applied
        } else {
            self.late_ticks += 1;
            Applied::Late
        }
    }

    /// Puts a tick that the restored counts already include back into the
    /// windows (rebuilding after a restart), without counting it again.
    pub fn warm(&mut self, tick: &StreamTick, settings: &WindowSettings) {
        if !self.in_windows(tick) {
            self.place(tick, settings);
        }
    }

    /// Places the tick in both windows; `false` when it is older than the span.
    fn place(&mut self, tick: &StreamTick, settings: &WindowSettings) -> bool {
        let point = Point {
            ts: tick.tick.ts,
            id: tick.id,
            price: tick.tick.price,
            volume: tick.tick.volume,
        };
        let newest = self.newest_ts().max(point.ts);
        let horizon = newest.as_nanos().saturating_sub(settings.span_nanos);
        if point.ts.as_nanos() < horizon {
            return false;
        }
        insert_sorted(&mut self.span, point);
        self.span_volume += point.volume.value();
        self.span_notional += point.price.value() * point.volume.value();
        while self.span.front().is_some_and(|p| p.ts.as_nanos() < horizon) {
            if let Some(gone) = self.span.pop_front() {
                self.span_volume -= gone.volume.value();
                self.span_notional -= gone.price.value() * gone.volume.value();
            }
        }
        insert_sorted(&mut self.recent, point);
        while self.recent.len() > settings.sma_len.max(1) {
            self.recent.pop_front();
        }
        true
    }

    fn update_session(&mut self, tick: &StreamTick) {
        let (ts, id, price) = (tick.tick.ts, tick.id, tick.tick.price);
        let day = ts.as_nanos().div_euclid(NANOS_PER_DAY);
        match &mut self.session {
            Some(s) if s.day == day => {
                if (ts, id) < (s.open_ts, s.open_id) {
                    s.open_ts = ts;
                    s.open_id = id;
                    s.open = price;
                }
                s.high = s.high.max(price);
                s.low = s.low.min(price);
            }
            // A tick of an earlier day does not reopen an ended session.
            Some(s) if s.day > day => {}
            _ => {
                self.session = Some(Session {
                    day,
                    open_ts: ts,
                    open_id: id,
                    open: price,
                    high: price,
                    low: price,
                })
            }
        }
    }

    /// Whether this exact tick was applied already: it is in a window, or it
    /// is the last tick (which a restored window holds before warming).
    fn holds(&self, tick: &StreamTick) -> bool {
        self.in_windows(tick) || self.last.as_ref().is_some_and(|l| l.id == tick.id)
    }

    fn in_windows(&self, tick: &StreamTick) -> bool {
        let key = (tick.tick.ts, tick.id);
        let found = |points: &VecDeque<Point>| {
            // Usually the tick is newer than every point: no search then.
            if points.back().is_none_or(|p| p.key() < key) {
                return false;
            }
            let at = points.partition_point(|p| p.key() < key);
            points.get(at).is_some_and(|p| p.key() == key)
        };
        found(&self.span) || found(&self.recent)
    }

    fn newest_ts(&self) -> Timestamp {
        self.last
            .as_ref()
            .map_or(Timestamp::from_nanos(0), |l| l.tick.ts)
    }

    /// calc-b: merges the windows into the symbol's view; `None` before the
    /// first tick.
    pub fn view(&self, updated_at: Timestamp) -> Option<View> {
        let last = self.last.clone()?;
        let session = self.session?;
        let last_prices: Vec<Price> = self.recent.iter().map(|p| p.price).collect();
        let sma = (!last_prices.is_empty()).then(|| {
            let sum: Decimal = last_prices.iter().map(|p| p.value()).sum();
            round(sum / Decimal::from(last_prices.len()))
        });
        let volume = self.span_volume;
        let vwap = (!volume.is_zero()).then(|| round(self.span_notional / volume));
        let change = (last.tick.price.value() - session.open.value()).normalize();
        let change_pct = round(change * Decimal::ONE_HUNDRED / session.open.value());
        Some(View {
            symbol: last.tick.symbol.clone(),
            stream_id: self.stream_id,
            last_prices,
            sma,
            vwap_1m: vwap,
            volume_1m: Volume::new_checked(volume.normalize()).unwrap_or(Volume::ZERO),
            open: session.open,
            session_open_ts: session.open_ts,
            high: session.high,
            low: session.low,
            change,
            change_pct,
            tick_count: self.tick_count,
            late_ticks: self.late_ticks,
            updated_at,
            last,
            first_price: self.first.map(|(_, price)| price),
        })
    }
}

/// Statistics are shown with at most 8 decimals.
fn round(d: Decimal) -> Decimal {
    d.round_dp(8).normalize()
}

fn insert_sorted(points: &mut VecDeque<Point>, point: Point) {
    // Usually the newest: check the back before searching.
    if points.back().is_none_or(|b| b.key() <= point.key()) {
        points.push_back(point);
    } else {
        let at = points.partition_point(|p| p.key() <= point.key());
        points.insert(at, point);
    }
}
