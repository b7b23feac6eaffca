//! The tickpulse client package: what programs and pages use to hold live
//! prices. Pure state here ([`Book`], [`PriceCache`]); transports live with
//! their callers.

pub mod book;
pub mod cache;
pub mod views;

pub use book::{Applied, Book, Direction, Entry};
pub use cache::{CacheConfig, CacheStats, EvictionPolicy, Lru, PriceCache, Update};
pub use views::{CachedViews, FetchError, ViewSource};
