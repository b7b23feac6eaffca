//! [`AppState`]: what every handler and page render can reach. Built once at
//! start-up; cloning it clones handles, never connections.

use crate::bus::Bus;
use crate::config::Config;
use crate::pipeline::gateway::Gateway;
use crate::pipeline::writer::TickWriter;
use crate::store::Store;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub config: Arc<Config>,
    pub bus: Arc<dyn Bus>,
    /// The durable store, when `DATABASE_URL` is set.
    pub store: Option<Arc<dyn Store>>,
    pub writer: TickWriter,
    pub gateway: Gateway,
    /// Turns true when the server shuts down; long-lived responses (SSE)
    /// end on it so shutdown does not wait for clients.
    pub shutdown: watch::Receiver<bool>,
}
