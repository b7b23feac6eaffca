//! The dashboard's table as data: one row per symbol fed from the page's
//! `PriceCache`, the search, the sort, and which rows are on screen. No
//! markup here; the components in `mod.rs` render it.

use leptos::prelude::*;
use std::collections::{HashMap, HashSet};
use tickpulse_client::{CacheConfig, PriceCache, Update as Cached};
use tickpulse_core::watchlist::Watchlist;
use tickpulse_core::{Symbol, View};

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
    pub(super) cache: StoredValue<PriceCache>,
    /// Every symbol the table holds; changes only when one appears or goes.
    pub(super) symbols: RwSignal<Vec<Symbol>>,
    pub(super) rows: StoredValue<HashMap<Symbol, RwSignal<Row>>>,
    /// Live views not yet applied: the newest per symbol, until the next
    /// animation frame.
    pub(super) pending: StoredValue<HashMap<Symbol, View>>,
    /// The newest view of each row off screen, until it is scrolled to.
    pub(super) parked: StoredValue<HashMap<Symbol, View>>,
    pub(super) frame_asked: StoredValue<bool>,
    /// Rows known to be off screen.
    pub(super) hidden: StoredValue<HashSet<Symbol>>,
    /// Bumped when a sort by a live value may have changed.
    pub(super) resort: RwSignal<u64>,
    /// The rows are sorted by a live value (price, change, time).
    pub(super) live_sort: StoredValue<bool>,
    pub(super) last_resort_ms: StoredValue<f64>,
}

impl Table {
    pub(super) fn new(initial: Vec<View>) -> Self {
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
    pub(super) fn hold(&self, view: View) {
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
    pub(super) fn flush(&self) {
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
    pub(super) fn visible(&self, symbol: Symbol, on_screen: bool) {
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
    pub(super) fn apply_one(&self, view: View) -> bool {
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

    pub(super) fn list_symbols(&self) {
        let mut symbols: Vec<Symbol> = self.rows.with_value(|rows| rows.keys().cloned().collect());
        symbols.sort();
        self.symbols.set(symbols);
    }

    pub(super) fn row(&self, symbol: &Symbol) -> Option<RwSignal<Row>> {
        self.rows.with_value(|rows| rows.get(symbol).copied())
    }

    pub(super) fn view_now(&self, symbol: &Symbol) -> Option<View> {
        self.row(symbol)
            .map(|r| r.with_untracked(|r| r.view.clone()))
    }
}

pub(super) fn now_ms() -> f64 {
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
pub struct Controls {
    pub(super) lists: RwSignal<Option<Vec<Watchlist>>>,
    /// The tab's list (`list=`); `None` is "All".
    pub(super) current: Memo<Option<i64>>,
    /// The list the stars act on.
    pub(super) target: Memo<Option<i64>>,
    pub(super) search: RwSignal<String>,
    pub(super) sort: Memo<Sort>,
    pub(super) names: StoredValue<HashMap<Symbol, String>>,
    pub(super) problem: RwSignal<Option<String>>,
}

impl Controls {
    pub(super) fn members(&self, id: Option<i64>) -> Option<HashSet<Symbol>> {
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
    pub(super) fn replace(&self, list: Watchlist) {
        self.lists.update(|lists| {
            if let Some(lists) = lists {
                if let Some(slot) = lists.iter_mut().find(|l| l.id == list.id) {
                    *slot = list;
                }
            }
        });
    }
}
