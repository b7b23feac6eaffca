//! [`AppState`]: what every handler and page render can reach. Built once at
//! start-up; axum clones it for every request, so it is one `Arc` and a
//! clone costs one reference count.

use crate::accounts::{Accounts, Gate};
use crate::bus::Bus;
use crate::market::MarketReads;
use crate::pipeline::gateway::Gateway;
use crate::pipeline::ingest::Ingest;
use crate::platform::config::Config;
use crate::platform::edge::limits::Limits;
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::Tasks;
use crate::store::Store;
use crate::trading::Trading;
use crate::watchlists::Watchlists;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub leptos_options: LeptosOptions,
    /// The names of the site's build files.
    pub assets: Arc<tickpulse_app::assets::Assets>,
    pub config: Arc<Config>,
    pub bus: Arc<dyn Bus>,
    /// The durable store, when `DATABASE_URL` is set.
    pub store: Option<Arc<dyn Store>>,
    /// Accounts and sign-in, when there is a store.
    pub accounts: Option<Arc<Accounts>>,
    /// Who may pass: what the `CurrentUser`, `MaybeUser` and `Admin`
    /// extractors and the guards read.
    pub gate: Arc<Gate>,
    /// Views, history, candles and the report.
    pub market: Arc<MarketReads>,
    /// Paper trading, when there is a store.
    pub trading: Option<Arc<Trading>>,
    /// Watchlists, when there is a store.
    pub watchlists: Option<Arc<Watchlists>>,
    /// Every background task of this process; readiness reports the ones
    /// that are down, shutdown waits for all.
    pub tasks: Tasks,
    /// The webhook's writer and durable acknowledgements (one reference
    /// count per request).
    pub ingest: Arc<Ingest>,
    pub gateway: Gateway,
    /// Request rate limits (also held by the webhook, for credentials).
    pub limits: Arc<Limits>,
    /// Counters of this process, for `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// Turns true when the server shuts down; long-lived responses (SSE)
    /// end on it so shutdown does not wait for clients.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Leptos reads its options from the state (page routes only).
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The webhook reads only its own part.
impl FromRef<AppState> for Arc<Ingest> {
    fn from_ref(state: &AppState) -> Self {
        state.ingest.clone()
    }
}

/// The extractors of who is asking read only the gate.
impl FromRef<AppState> for Arc<Gate> {
    fn from_ref(state: &AppState) -> Self {
        state.gate.clone()
    }
}

/// The SSE endpoint reads only the gateway.
impl FromRef<AppState> for Gateway {
    fn from_ref(state: &AppState) -> Self {
        state.gateway.clone()
    }
}
