//! What every request passes before a handler sees it, and the shape it is
//! read in: connections with a write-stall limit ([`conn`]), rate limits
//! ([`limits`]), browser security headers and the cross-site check
//! ([`browser`]), response compression ([`compress`]), caching headers
//! ([`cache`]), and extractors whose refusals are the API's JSON errors
//! ([`extract`]). Handlers in `http`, `ingest` and `gateway` use it; it
//! uses none of them.

pub mod browser;
pub mod cache;
pub mod compress;
pub mod conn;
pub mod extract;
pub mod limits;
