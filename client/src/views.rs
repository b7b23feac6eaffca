//! [`CachedViews`]: the [`PriceCache`] in front of a [`ViewSource`] (the
//! server's `GET /api/symbols/{id}`), so reads of known symbols never wait
//! for the network and a miss costs one request however many readers ask
//! at once (single flight).
//!
//! Runtime-agnostic: only `futures` channels and a mutex, so it runs under
//! tokio natively and in the browser alike. The clock is the caller's.

use crate::cache::{CacheConfig, CacheStats, PriceCache, Update};
use futures::channel::oneshot;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tickpulse_core::{Symbol, View};

/// Why a view could not be fetched. Cloned to every reader that waited for
/// the same fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server could not be reached or answered with an error; retry.
    #[error("view unavailable: {0}")]
    Unavailable(String),
    /// The server's answer could not be read.
    #[error("unreadable view: {0}")]
    Unreadable(String),
}

/// Where views come from on a miss.
pub trait ViewSource {
    /// The current view of `symbol`; `None` when the server has none yet.
    fn fetch(&self, symbol: &Symbol) -> impl Future<Output = Result<Option<View>, FetchError>>;
}

type Waiters = Vec<oneshot::Sender<Result<Option<View>, FetchError>>>;

pub struct CachedViews<S> {
    source: S,
    cache: Mutex<PriceCache>,
    inflight: Mutex<HashMap<Symbol, Waiters>>,
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: ViewSource> CachedViews<S> {
    /// `clock` gives the time in milliseconds (any epoch).
    pub fn new(
        source: S,
        config: CacheConfig,
        clock: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        Self {
            source,
            cache: Mutex::new(PriceCache::new(config)),
            inflight: Mutex::new(HashMap::new()),
            clock: Box::new(clock),
        }
    }

    /// The view of `symbol`: from the cache when fresh, otherwise fetched
    /// (once, for every reader asking meanwhile) and stored.
    ///
    /// # Errors
    /// When the fetch fails; every reader that waited for it gets the error.
    pub async fn get(&self, symbol: &Symbol) -> Result<Option<View>, FetchError> {
        if let Some(view) = lock(&self.cache).get(symbol, (self.clock)()) {
            return Ok(Some(view.clone()));
        }
        let waiting = {
            let mut inflight = lock(&self.inflight);
            match inflight.get_mut(symbol) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    inflight.insert(symbol.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiting {
            return rx.await.unwrap_or_else(|_| {
                Err(FetchError::Unavailable(
                    "the request this read waited for was cancelled".into(),
                ))
            });
        }
        // This reader fetches for everyone; should it be dropped half-way,
        // the guard lets the next reader start afresh.
        let guard = Flight {
            inflight: &self.inflight,
            symbol,
        };
        let result = self.source.fetch(symbol).await;
        if let Ok(Some(view)) = &result {
            lock(&self.cache).put(view.clone(), (self.clock)());
        }
        for waiter in guard.land() {
            let _ = waiter.send(result.clone());
        }
        result
    }

    /// Applies a live update (newer only; see [`PriceCache::apply`]).
    pub fn apply(&self, view: View) -> Update {
        lock(&self.cache).apply(view, (self.clock)())
    }

    /// Removes a symbol's view (an invalidation event).
    pub fn invalidate(&self, symbol: &Symbol) -> bool {
        lock(&self.cache).invalidate(symbol)
    }

    /// The `k` most read symbols lately, to keep fresh by subscription.
    pub fn hottest(&self, k: usize) -> Vec<Symbol> {
        lock(&self.cache).hottest(k, (self.clock)())
    }

    pub fn stats(&self) -> CacheStats {
        lock(&self.cache).stats()
    }
}

/// A fetch under way; removes its entry when it lands or is dropped.
struct Flight<'a> {
    inflight: &'a Mutex<HashMap<Symbol, Waiters>>,
    symbol: &'a Symbol,
}

impl Flight<'_> {
    fn land(self) -> Waiters {
        let waiters = lock(self.inflight).remove(self.symbol).unwrap_or_default();
        std::mem::forget(self);
        waiters
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        // Dropped before landing: the waiters see a cancelled request.
        lock(self.inflight).remove(self.symbol);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_view as view;
    use futures::future::join_all;
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    /// Answers every fetch only when the test opens the gate, counting
    /// fetches, so that readers overlap for certain.
    #[derive(Clone, Default)]
    struct Gated {
        fetches: Rc<Cell<u32>>,
        gates: Rc<RefCell<Vec<oneshot::Sender<()>>>>,
        fail: bool,
    }

    impl ViewSource for Gated {
        async fn fetch(&self, symbol: &Symbol) -> Result<Option<View>, FetchError> {
            self.fetches.set(self.fetches.get() + 1);
            let (tx, rx) = oneshot::channel();
            self.gates.borrow_mut().push(tx);
            let _ = rx.await;
            if self.fail {
                return Err(FetchError::Unavailable("down".into()));
            }
            Ok(Some(view(symbol.as_str(), 1)))
        }
    }

    /// Lets every reader register (one turn of the executor), then answers
    /// all fetches.
    async fn open_gates(source: &Gated) {
        YieldOnce(false).await;
        for g in source.gates.borrow_mut().drain(..) {
            let _ = g.send(());
        }
    }

    struct YieldOnce(bool);
    impl Future for YieldOnce {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }

    #[test]
    fn concurrent_misses_for_one_symbol_make_one_request() {
        let source = Gated::default();
        let views = CachedViews::new(source.clone(), CacheConfig::default(), || 0);
        let symbol = Symbol::new("SF");
        let readers = join_all((0..10).map(|_| views.get(&symbol)));
        let opener = open_gates(&source);
        let (results, ()) = futures::executor::block_on(futures::future::join(readers, opener));
        assert_eq!(source.fetches.get(), 1, "one request for ten readers");
        assert!(results
            .iter()
            .all(|r| r.as_ref().unwrap().as_ref().unwrap().symbol == symbol));
        // Now cached: no further request.
        let again = futures::executor::block_on(views.get(&symbol)).unwrap();
        assert!(again.is_some());
        assert_eq!(source.fetches.get(), 1);
        assert_eq!(views.stats().hits, 1);
    }

    #[test]
    fn every_waiting_reader_gets_the_error_and_the_next_read_retries() {
        let source = Gated {
            fail: true,
            ..Gated::default()
        };
        let views = CachedViews::new(source.clone(), CacheConfig::default(), || 0);
        let symbol = Symbol::new("ERR");
        let readers = join_all((0..3).map(|_| views.get(&symbol)));
        let opener = open_gates(&source);
        let (results, ()) = futures::executor::block_on(futures::future::join(readers, opener));
        assert!(results
            .iter()
            .all(|r| *r == Err(FetchError::Unavailable("down".into()))));
        assert_eq!(source.fetches.get(), 1);
        // Nothing is left in flight: the next read asks again.
        let retry = views.get(&symbol);
        let opener = open_gates(&source);
        let (result, ()) = futures::executor::block_on(futures::future::join(retry, opener));
        assert!(result.is_err());
        assert_eq!(source.fetches.get(), 2);
    }
}
