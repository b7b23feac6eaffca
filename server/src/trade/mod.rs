//! Paper trading: the stock catalog ([`catalog`]) to begin with; orders,
//! accounts and the `trade` role follow (DESIGN.md §4a).

pub mod catalog;
