//! The ingest stage: the webhook (`POST /ingest/tick`, `POST /ingest/ticks`)
//! with its Basic Auth, the [`writer`] that coalesces requests into bus
//! appends, and the [`durable`] acknowledgements that wait for the store's
//! commit. It validates and appends; it computes nothing and stores nothing
//! itself.

pub mod auth;
pub mod durable;
pub mod handler;
pub mod writer;

pub use self::durable::Durability;
pub use self::writer::TickWriter;

use crate::platform::config::Config;
use crate::platform::prometheus::Metrics;
use std::sync::Arc;

/// What the webhook's handlers reach, taken from the server's state for
/// each request as one `Arc`.
pub struct Ingest {
    pub config: Arc<Config>,
    pub writer: TickWriter,
    /// Confirms commits for `?ack=durable`, when there is a store.
    pub durability: Option<Durability>,
    pub metrics: Arc<Metrics>,
    /// Checked once the credential is verified.
    pub limits: Arc<crate::platform::edge::limits::Limits>,
}
