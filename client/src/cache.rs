//! [`PriceCache`]: a bounded in-memory cache of [`View`]s, one per symbol,
//! for programs and pages that read prices far more often than they change.
//!
//! - **Bounded, O(1)**: a hash index into a slab of slots; `get`, `put`,
//!   `apply` and `invalidate` cost a hash lookup and a few link updates.
//! - **Eviction** is a pluggable [`EvictionPolicy`]; [`Lru`] (least recently
//!   used, an intrusive doubly linked list over the slots) is the default.
//!   With admission on (the default), a fetched view only takes the place
//!   of the entry to evict when its symbol was read at least as much lately,
//!   which brings the hit ratio on skewed reads close to the best possible
//!   (bench P6).
//! - **Staleness**: an entry older than the TTL is a miss (it is kept, so a
//!   refresh that brings nothing newer does not lose it).
//! - **Newer only**: a view replaces the stored one only when its stream id
//!   is not lower, so a slow fetch never undoes a live update.
//! - **Popularity**: every read adds to a per-symbol score that halves every
//!   `half_life`; [`PriceCache::hottest`] names the symbols worth keeping
//!   fresh by subscription (prefetch), and live updates for those symbols
//!   are stored even when they are not resident.
//!
//! No clock and no I/O: callers pass the time (milliseconds), so the same
//! code runs natively and in the browser and is tested deterministically.

use std::collections::{HashMap, HashSet};
use tickpulse_core::{Symbol, View};

/// Decides which entry leaves when the cache is full. Slots are small
/// integers below the capacity; every method must be O(1).
pub trait EvictionPolicy {
    /// Prepares for slots `0..capacity`.
    fn with_capacity(capacity: usize) -> Self
    where
        Self: Sized;
    /// A slot was filled.
    fn inserted(&mut self, slot: usize);
    /// A slot was read or updated.
    fn touched(&mut self, slot: usize);
    /// A slot was emptied.
    fn removed(&mut self, slot: usize);
    /// The slot to empty to make room.
    fn victim(&self) -> Option<usize>;
}

/// Least recently used: a doubly linked list of slots, most recent first.
#[derive(Debug, Clone)]
pub struct Lru {
    links: Vec<Link>,
    head: Option<usize>,
    tail: Option<usize>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Link {
    prev: Option<usize>,
    next: Option<usize>,
}

impl Lru {
    fn unlink(&mut self, slot: usize) {
        let Link { prev, next } = self.links[slot];
        match prev {
            Some(p) => self.links[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.links[n].prev = prev,
            None => self.tail = prev,
        }
        self.links[slot] = Link::default();
    }

    fn push_front(&mut self, slot: usize) {
        self.links[slot] = Link {
            prev: None,
            next: self.head,
        };
        if let Some(h) = self.head {
            self.links[h].prev = Some(slot);
        }
        self.head = Some(slot);
        if self.tail.is_none() {
            self.tail = Some(slot);
        }
    }
}

impl EvictionPolicy for Lru {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            links: vec![Link::default(); capacity],
            head: None,
            tail: None,
        }
    }

    fn inserted(&mut self, slot: usize) {
        self.push_front(slot);
    }

    fn touched(&mut self, slot: usize) {
        if self.head != Some(slot) {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    fn removed(&mut self, slot: usize) {
        self.unlink(slot);
    }

    fn victim(&self) -> Option<usize> {
        self.tail
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheConfig {
    /// Most views held.
    pub capacity: usize,
    /// An entry older than this (since it was stored or last updated) is
    /// stale: reading it is a miss.
    pub ttl_ms: u64,
    /// How fast read counts fade: a read counts half after this long.
    pub half_life_ms: u64,
    /// When full, a fetched view takes the place of the entry to evict only
    /// if its symbol was read at least as much lately (frequency-based
    /// admission): a symbol read once does not push out a popular one.
    /// Off: plain eviction by the policy.
    pub admission: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: 500,
            ttl_ms: 5_000,
            half_life_ms: 60_000,
            admission: true,
        }
    }
}

/// What the cache has counted since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    /// Reads that found nothing, or only a stale entry.
    pub misses: u64,
    /// Of the misses, those that found a stale entry.
    pub stale: u64,
    pub evictions: u64,
    /// Views that replaced an older one or were stored new.
    pub stored: u64,
    /// Views refused because the stored one was newer.
    pub refused: u64,
    pub invalidations: u64,
    /// Fetched views not stored: their symbol was read less lately than
    /// the one they would have pushed out.
    pub not_admitted: u64,
}

/// What [`PriceCache::apply`] did with a live update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Stored (replacing an older view, or new for a hot symbol).
    Stored,
    /// Older than the stored view: ignored.
    Refused,
    /// Neither resident nor hot: not stored.
    NotResident,
}

struct Slot {
    symbol: Symbol,
    view: View,
    stored_ms: u64,
}

pub struct PriceCache<P: EvictionPolicy = Lru> {
    config: CacheConfig,
    index: HashMap<Symbol, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    policy: P,
    stats: CacheStats,
    /// symbol → (decayed read count, when it was last brought up to date).
    popularity: HashMap<Symbol, (f64, u64)>,
    hot: HashSet<Symbol>,
}

impl PriceCache<Lru> {
    /// An LRU cache.
    pub fn new(config: CacheConfig) -> Self {
        Self::with_policy(config)
    }
}

impl<P: EvictionPolicy> PriceCache<P> {
    /// A cache with the eviction policy `P`.
    pub fn with_policy(config: CacheConfig) -> Self {
        let capacity = config.capacity.max(1);
        Self {
            config: CacheConfig { capacity, ..config },
            index: HashMap::with_capacity(capacity),
            slots: (0..capacity).map(|_| None).collect(),
            free: (0..capacity).rev().collect(),
            policy: P::with_capacity(capacity),
            stats: CacheStats::default(),
            popularity: HashMap::new(),
            hot: HashSet::new(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `symbol` is resident (fresh or not), without counting a read.
    pub fn contains(&self, symbol: &Symbol) -> bool {
        self.index.contains_key(symbol)
    }

    /// The resident view of `symbol`, fresh or not, without counting a read
    /// or touching the eviction order: for showing what is held.
    pub fn peek(&self, symbol: &Symbol) -> Option<&View> {
        let slot = *self.index.get(symbol)?;
        self.slots[slot].as_ref().map(|s| &s.view)
    }

    /// The fresh view of `symbol`, counting a hit or a miss and the read's
    /// popularity.
    pub fn get(&mut self, symbol: &Symbol, now_ms: u64) -> Option<&View> {
        self.count_read(symbol, now_ms);
        let Some(&slot) = self.index.get(symbol) else {
            self.stats.misses += 1;
            return None;
        };
        let stored_ms = self.slots[slot].as_ref().map_or(0, |s| s.stored_ms);
        if now_ms.saturating_sub(stored_ms) > self.config.ttl_ms {
            self.stats.misses += 1;
            self.stats.stale += 1;
            return None;
        }
        self.stats.hits += 1;
        self.policy.touched(slot);
        self.slots[slot].as_ref().map(|s| &s.view)
    }

    /// Stores a fetched view (it counts as fresh from `now_ms`). A stored
    /// view with a higher stream id stays, and is fresh again. Returns the
    /// symbol evicted to make room, if any.
    pub fn put(&mut self, view: View, now_ms: u64) -> Option<Symbol> {
        if let Some(&slot) = self.index.get(&view.symbol) {
            let entry = self.slots[slot].as_mut().expect("indexed slots are full");
            if view.stream_id >= entry.view.stream_id {
                entry.view = view;
                self.stats.stored += 1;
            } else {
                self.stats.refused += 1;
            }
            entry.stored_ms = now_ms;
            self.policy.touched(slot);
            return None;
        }
        if self.config.admission && self.free.is_empty() {
            if let Some(victim) = self.policy.victim() {
                let victim = &self.slots[victim]
                    .as_ref()
                    .expect("the victim slot is full")
                    .symbol;
                if self.popularity_of(&view.symbol, now_ms) < self.popularity_of(victim, now_ms) {
                    self.stats.not_admitted += 1;
                    return None;
                }
            }
        }
        self.stats.stored += 1;
        self.insert(view, now_ms)
    }

    /// A symbol's read count, decayed to `now_ms`.
    fn popularity_of(&self, symbol: &Symbol, now_ms: u64) -> f64 {
        let half_life = self.config.half_life_ms.max(1) as f64;
        self.popularity.get(symbol).map_or(0.0, |(score, at)| {
            decay(*score, now_ms.saturating_sub(*at), half_life)
        })
    }

    /// Applies a live update: stored when newer than the resident view, or
    /// when the symbol is hot; otherwise ignored.
    pub fn apply(&mut self, view: View, now_ms: u64) -> Update {
        match self.index.get(&view.symbol) {
            Some(&slot) => {
                let entry = self.slots[slot].as_mut().expect("indexed slots are full");
                if view.stream_id < entry.view.stream_id {
                    self.stats.refused += 1;
                    return Update::Refused;
                }
                entry.view = view;
                entry.stored_ms = now_ms;
                self.stats.stored += 1;
                Update::Stored
            }
            None if self.hot.contains(&view.symbol) => {
                self.stats.stored += 1;
                self.insert(view, now_ms);
                Update::Stored
            }
            None => Update::NotResident,
        }
    }

    /// Removes `symbol`'s view (an invalidation event); `true` if it was held.
    pub fn invalidate(&mut self, symbol: &Symbol) -> bool {
        let Some(slot) = self.index.remove(symbol) else {
            return false;
        };
        self.slots[slot] = None;
        self.policy.removed(slot);
        self.free.push(slot);
        self.stats.invalidations += 1;
        true
    }

    /// The `k` most read symbols now (decayed counts), most read first, and
    /// makes them the hot set: live updates for them are stored even when
    /// they are not resident. Symbols whose count faded to nothing are
    /// forgotten.
    pub fn hottest(&mut self, k: usize, now_ms: u64) -> Vec<Symbol> {
        let half_life = self.config.half_life_ms.max(1) as f64;
        let mut scored: Vec<(f64, Symbol)> = Vec::with_capacity(self.popularity.len());
        self.popularity.retain(|symbol, (score, at)| {
            let decayed = decay(*score, now_ms.saturating_sub(*at), half_life);
            *score = decayed;
            *at = now_ms;
            if decayed < 1e-3 {
                return false;
            }
            scored.push((decayed, symbol.clone()));
            true
        });
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.truncate(k);
        let hottest: Vec<Symbol> = scored.into_iter().map(|(_, s)| s).collect();
        self.hot = hottest.iter().cloned().collect();
        hottest
    }

    fn count_read(&mut self, symbol: &Symbol, now_ms: u64) {
        let half_life = self.config.half_life_ms.max(1) as f64;
        match self.popularity.get_mut(symbol) {
            Some((score, at)) => {
                *score = decay(*score, now_ms.saturating_sub(*at), half_life) + 1.0;
                *at = now_ms;
            }
            None => {
                self.popularity.insert(symbol.clone(), (1.0, now_ms));
            }
        }
    }

    fn insert(&mut self, view: View, now_ms: u64) -> Option<Symbol> {
        let mut evicted = None;
        if self.free.is_empty() {
            if let Some(victim) = self.policy.victim() {
                let old = self.slots[victim].take().expect("the victim slot is full");
                self.index.remove(&old.symbol);
                self.policy.removed(victim);
                self.free.push(victim);
                self.stats.evictions += 1;
                evicted = Some(old.symbol);
            }
        }
        let slot = self.free.pop().expect("a slot is free after eviction");
        self.index.insert(view.symbol.clone(), slot);
        self.slots[slot] = Some(Slot {
            symbol: view.symbol.clone(),
            view,
            stored_ms: now_ms,
        });
        self.policy.inserted(slot);
        evicted
    }
}

fn decay(score: f64, elapsed_ms: u64, half_life_ms: f64) -> f64 {
    score * (-(elapsed_ms as f64) / half_life_ms).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_view as view;
    use tickpulse_core::StreamId;

    fn cache(capacity: usize) -> PriceCache {
        PriceCache::new(CacheConfig {
            capacity,
            ttl_ms: 1_000,
            half_life_ms: 10_000,
            admission: false,
        })
    }

    #[test]
    fn a_symbol_read_once_does_not_push_out_a_popular_one() {
        let mut c = PriceCache::new(CacheConfig {
            capacity: 2,
            ttl_ms: 1_000,
            half_life_ms: 10_000,
            admission: true,
        });
        for s in ["A", "B"] {
            for _ in 0..3 {
                c.get(&sym(s), 0);
            }
            c.put(view(s, 1), 0);
        }
        // C was read once: not admitted, A and B stay.
        assert!(c.get(&sym("C"), 1).is_none());
        assert_eq!(c.put(view("C", 1), 1), None);
        assert!(!c.contains(&sym("C")));
        assert_eq!(c.stats().not_admitted, 1);
        // Read as much as the least recently used one, it gets in.
        for _ in 0..4 {
            c.get(&sym("C"), 2);
        }
        assert_eq!(c.put(view("C", 1), 2), Some(sym("A")));
        assert!(c.contains(&sym("C")));
    }

    fn sym(s: &str) -> Symbol {
        Symbol::new(s)
    }

    #[test]
    fn a_peek_neither_counts_nor_changes_the_eviction_order() {
        let mut c = cache(2);
        c.put(view("A", 1), 0);
        c.put(view("B", 1), 0);
        // Stale by now, still shown.
        assert_eq!(
            c.peek(&sym("A")).map(|v| v.stream_id),
            Some(view("A", 1).stream_id)
        );
        assert_eq!(c.peek(&sym("Z")), None);
        assert_eq!((c.stats().hits, c.stats().misses), (0, 0));
        // A stays the least recently used one: peeking is not using.
        assert_eq!(c.put(view("C", 1), 5_000), Some(sym("A")));
    }

    #[test]
    fn the_least_recently_used_entry_leaves_first() {
        let mut c = cache(3);
        for s in ["A", "B", "C"] {
            assert_eq!(c.put(view(s, 1), 0), None);
        }
        assert!(c.get(&sym("A"), 1).is_some()); // A is now the most recent
        assert_eq!(c.put(view("D", 1), 2), Some(sym("B")));
        assert_eq!(c.put(view("E", 1), 3), Some(sym("C")));
        c.put(view("A", 2), 4); // an update counts as a use
        assert_eq!(c.put(view("F", 1), 5), Some(sym("D")));
        assert_eq!(c.len(), 3);
        assert!(c.contains(&sym("A")) && c.contains(&sym("E")) && c.contains(&sym("F")));
        assert_eq!(c.stats().evictions, 3);
    }

    #[test]
    fn an_entry_older_than_the_ttl_is_a_miss_until_refreshed() {
        let mut c = cache(4);
        c.put(view("A", 1), 0);
        assert!(c.get(&sym("A"), 1_000).is_some(), "fresh at the TTL");
        assert!(c.get(&sym("A"), 1_001).is_none(), "stale after it");
        assert!(c.contains(&sym("A")), "kept for the refresh");
        // A refresh that brings nothing newer still makes it fresh.
        c.put(view("A", 1), 1_500);
        assert!(c.get(&sym("A"), 2_000).is_some());
        assert!(c.get(&sym("B"), 2_000).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.stale), (2, 2, 1));
    }

    #[test]
    fn an_older_view_never_replaces_a_newer_one() {
        let mut c = cache(4);
        c.put(view("A", 5), 0);
        assert_eq!(c.apply(view("A", 4), 1), Update::Refused);
        c.put(view("A", 3), 2); // a slow fetch answering late
        assert_eq!(c.get(&sym("A"), 3).unwrap().stream_id, StreamId::new(5, 0));
        assert_eq!(c.apply(view("A", 6), 4), Update::Stored);
        assert_eq!(c.get(&sym("A"), 5).unwrap().stream_id, StreamId::new(6, 0));
        assert_eq!(c.stats().refused, 2);
        // Not resident and not hot: a live update is not stored.
        assert_eq!(c.apply(view("Z", 1), 6), Update::NotResident);
        assert!(!c.contains(&sym("Z")));
    }

    #[test]
    fn an_invalidation_removes_the_entry_and_frees_its_slot() {
        let mut c = cache(2);
        c.put(view("A", 1), 0);
        c.put(view("B", 1), 0);
        assert!(c.invalidate(&sym("A")));
        assert!(!c.invalidate(&sym("A")));
        assert!(c.get(&sym("A"), 1).is_none());
        assert_eq!(
            c.put(view("C", 1), 2),
            None,
            "the freed slot is used, no eviction"
        );
        assert_eq!(c.stats().evictions, 0);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn the_hottest_symbols_are_the_most_read_lately() {
        let mut c = cache(2);
        // X was read a lot long ago; Y and Z a little, lately.
        for _ in 0..8 {
            c.get(&sym("X"), 0);
        }
        for t in 0..3 {
            c.get(&sym("Y"), 40_000 + t);
        }
        c.get(&sym("Z"), 40_000);
        c.get(&sym("Z"), 40_001);
        // After four half-lives X counts 8/16 = 0.5.
        assert_eq!(c.hottest(2, 40_010), [sym("Y"), sym("Z")]);
        // Hot symbols are kept fresh by live updates even when not resident.
        assert_eq!(c.apply(view("Y", 1), 40_020), Update::Stored);
        assert!(c.get(&sym("Y"), 40_030).is_some());
        assert_eq!(c.apply(view("X", 1), 40_020), Update::NotResident);
        // Long unread symbols are forgotten.
        assert!(c.hottest(10, 10_000_000).is_empty());
    }
}
