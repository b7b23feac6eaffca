//! Paper trading (DESIGN.md §4a): the stock catalog ([`catalog`]), orders
//! and accounts ([`orders`]), and the `trade` role that fills resting limit
//! orders from the tick stream ([`role`]). The rules themselves (what an
//! order reserves, fills and gives back) live in `tickpulse_core::trade`;
//! the store applies them in one transaction per change.

pub mod catalog;
pub mod orders;
pub mod role;
