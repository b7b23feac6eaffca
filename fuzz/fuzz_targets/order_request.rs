//! An order's JSON body (`POST /api/orders`): never a panic; an accepted
//! order, written out and read again, is the same order, and it keeps the
//! rules (whole shares in range, a limit price exactly for limit orders).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::trade::{order_request, OrderType, MAX_QUANTITY};

fuzz_target!(|body: &[u8]| {
    if let Ok(order) = order_request(body) {
        assert!((1..=MAX_QUANTITY).contains(&order.quantity.get()));
        assert_eq!(
            order.limit_price.is_some(),
            order.order_type == OrderType::Limit
        );
        let json = serde_json::to_vec(&order).expect("an order serialises");
        let again = order_request(&json).expect("an order written out is accepted again");
        assert_eq!(again, order);
    }
});
