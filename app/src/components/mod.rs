//! Pieces several pages show: the connection status badge.

mod status;

pub use self::status::{Connection, StatusBadge};
