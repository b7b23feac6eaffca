//! tickpulse-feeder as a library: a simulated [`market`] and a [`runner`]
//! that posts its ticks to the tickpulse webhook, paced or as fast as the
//! server takes them (load mode), and reports what happened; and the paper
//! trading load client that verifies every order ([`trade`]).

pub mod market;
pub mod report;
pub mod runner;
pub mod trade;

pub use report::Report;
pub use runner::{run, Endpoint, Pace, RunConfig};
