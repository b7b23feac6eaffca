//! What the bus carries between processes about a user's things: an order
//! changed, a watchlist changed. The features publish these and the gateway
//! reads them, so the gateway needs no feature to decode a message; the
//! stock events (`trade::StockEvent`) travel as they are, they belong to
//! nobody.
//!
//! # Format
//! Each message is a JSON array of one kind of notice (see `bus::Topic`).

use crate::trade::OrderEvent;
use crate::watchlist::WatchlistEvent;
use serde::{Deserialize, Serialize};

/// One order change: whose order, and the event its owner's stream sends
/// (`event: order`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNotice {
    pub user: String,
    #[serde(flatten)]
    pub event: OrderEvent,
}

/// One list change: whose list, and the event its streams send
/// (`event: watchlist`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistNotice {
    pub user: String,
    pub event: WatchlistEvent,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trade::OrderStatus;

    #[test]
    fn an_order_notice_is_the_event_with_its_owner() {
        let json = r#"{"user":"ann","order":{"number":1,"client_order_id":"c","symbol":"A","side":"buy","type":"market","quantity":1,"limit_price":null,"time_in_force":"day","status":"filled","filled_quantity":1,"avg_fill_price":"2","created_at":"2026-12-01T00:00:00Z","filled_at":"2026-12-01T00:00:00Z","canceled_at":null},"fill":null}"#;
        let notice: OrderNotice = serde_json::from_str(json).unwrap();
        assert_eq!(notice.user, "ann");
        assert_eq!(notice.event.order.status, OrderStatus::Filled);
        assert_eq!(serde_json::to_string(&notice).unwrap(), json);
    }
}
