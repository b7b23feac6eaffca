//! The tickpulse domain: symbols, exact prices and volumes, timestamps, ticks,
//! and the one place where untrusted input becomes a [`Tick`].
//!
//! This crate owns every rule about what a valid tick is. It does no I/O, reads
//! no clock (callers pass `now`), and compiles to WASM, so the server, the
//! feeder, the client package and the browser all agree on the same rules.

pub mod account;
pub mod body;
pub mod candle;
pub mod decimal;
pub mod demo;
pub mod error;
pub mod fixture;
#[cfg(feature = "graphql")]
mod graphql;
pub mod health;
pub mod live;
pub mod notice;
#[cfg(feature = "openapi")]
mod openapi;
pub mod partition;
pub mod stream_id;
pub mod symbol;
pub mod tick;
pub mod time;
pub mod trade;
pub mod validate;
pub mod view;
pub mod watchlist;
pub mod window;

pub use body::{parse_batch, parse_one, BodyError, BodyFormat, ItemError, MAX_BATCH_TICKS};
pub use candle::{candles, Candle, CandleBuilder, Interval};
pub use decimal::{Money, Price, Volume};
pub use demo::DEMO_SYMBOLS;
pub use error::ValueError;
pub use partition::{Cursor, Partition};
pub use stream_id::StreamId;
pub use symbol::{EventId, Source, Symbol};
pub use tick::{LatestTick, Snapshot, StreamTick, Tick};
pub use time::Timestamp;
pub use validate::{validate, FieldError, RawTick, MAX_FUTURE_SKEW_NANOS};
pub use view::View;
pub use window::{Applied, SymbolWindow, WindowSettings};
