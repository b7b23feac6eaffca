//! The server's moving parts between HTTP and the bus: the coalescing tick
//! [`writer`] and the realtime [`gateway`].

pub mod gateway;
pub mod writer;
