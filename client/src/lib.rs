//! The tickpulse client package: what programs and pages use to hold live
//! prices. Pure state here ([`Book`]); transports live with their callers.

pub mod book;

pub use book::{Applied, Book, Direction, Entry};
