//! The server's moving parts between HTTP, the bus and the store: the
//! coalescing tick [`writer`], the realtime [`gateway`] and the [`persist`]
//! consumer.

pub mod calc;
pub mod durable;
pub mod gateway;
pub mod persist;
pub mod writer;
