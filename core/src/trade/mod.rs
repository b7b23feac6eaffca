//! Paper trading's vocabulary, shared by the server, the client package and
//! the pages: sides, order types, time in force, the order lifecycle, the
//! checked order request, orders and fills, accounts and positions, the
//! refusal codes, and the arithmetic every one of them values things with.
//!
//! Quantities are whole shares (`u64`); prices and money are exact decimals
//! ([`Price`], [`Money`]); nothing passes through a float.

//!
//! By job: the vocabulary of an order and its lifecycle ([`order`]), the
//! checked request ([`request`]), what a user sees of an account
//! ([`account`]), and the ledger rules one order transaction applies to the
//! balances ([`ledger`]).

mod account;
mod ledger;
mod order;
mod request;
mod units;

pub use self::account::*;
pub use self::ledger::*;
pub use self::order::*;
pub use self::request::*;
pub use self::units::{ClientOrderId, OrderNumber, Shares};

/// The largest quantity one order may ask for.
pub const MAX_QUANTITY: u64 = 1_000_000_000;
/// The largest limit price accepted.
pub const MAX_LIMIT_PRICE: u64 = 1_000_000_000;
/// Most decimal places of a limit price.
pub const MAX_PRICE_DECIMALS: u32 = 8;
/// Decimal places averages (average fill price, average cost) are rounded to.
pub const AVERAGE_DECIMALS: u32 = 8;
/// The longest `client_order_id`.
pub const MAX_CLIENT_ORDER_ID_LEN: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Money, Price, Symbol, Timestamp};
    use rust_decimal::Decimal;

    fn fields(body: &str) -> Vec<String> {
        order_request(body.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_limit_order_reads_exactly() {
        let r = order_request(
            br#"{"symbol":"btc-usd","side":"buy","quantity":3,"type":"limit","limit_price":123.4567,"time_in_force":"gtc","client_order_id":"a-1"}"#,
        )
        .unwrap();
        assert_eq!(r.symbol.as_str(), "BTC-USD");
        assert_eq!(r.limit_price.unwrap().to_string(), "123.4567");
        assert_eq!(r.time_in_force, TimeInForce::Gtc);
        assert_eq!(
            r.client_order_id.as_ref().map(ClientOrderId::as_str),
            Some("a-1")
        );
        let m =
            order_request(br#"{"symbol":"A","side":"sell","quantity":1,"type":"market"}"#).unwrap();
        assert_eq!((m.time_in_force, m.limit_price), (TimeInForce::Day, None));
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(fields("{}"), ["symbol", "side", "quantity", "type"]);
        assert_eq!(fields("[1]"), ["body"]);
        assert_eq!(
            fields(
                r#"{"symbol":"A B","side":"hold","quantity":0,"type":"stop","time_in_force":"week","client_order_id":"a b","x":1}"#
            ),
            [
                "x",
                "symbol",
                "side",
                "quantity",
                "type",
                "time_in_force",
                "client_order_id"
            ]
        );
        for q in ["1.5", "-1", "\"3\"", "1000000001", "1e3"] {
            let body = format!(r#"{{"symbol":"A","side":"buy","quantity":{q},"type":"market"}}"#);
            assert_eq!(fields(&body), ["quantity"], "{q}");
        }
        for p in ["0", "-1", "\"abc\"", "1.123456789", "1000000001", "null"] {
            let body = format!(
                r#"{{"symbol":"A","side":"buy","quantity":1,"type":"limit","limit_price":{p}}}"#
            );
            assert_eq!(fields(&body), ["limit_price"], "{p}");
        }
        assert_eq!(
            fields(r#"{"symbol":"A","side":"buy","quantity":1,"type":"market","limit_price":"5"}"#),
            ["limit_price"]
        );
    }

    #[test]
    fn positions_and_accounts_value_exactly() {
        let p = Position {
            symbol: Symbol::new("A"),
            quantity: Shares::new(3),
            reserved: Shares::ZERO,
            avg_price: Money::parse("10.1").unwrap(),
            price: None,
            market_value: None,
            unrealized_pnl: None,
        }
        .valued(Some(Price::parse("10.3").unwrap()));
        assert_eq!(p.market_value.unwrap().to_string(), "30.9");
        assert_eq!(p.unrealized_pnl.unwrap().to_string(), "0.6");
        let a = Account::new(
            "u".into(),
            Money::parse("100").unwrap(),
            Money::parse("40").unwrap(),
            vec![p],
        );
        assert_eq!(a.buying_power.to_string(), "60");
        assert_eq!(a.equity.to_string(), "130.9");
        let a = a.revalued(|_| Some(Price::parse("11").unwrap()));
        assert_eq!(a.equity.to_string(), "133");
    }

    fn request(body: &str) -> OrderRequest {
        order_request(body.as_bytes()).unwrap()
    }

    fn balances() -> Balances {
        Balances {
            cash: Money::new(Decimal::new(1_000, 0)),
            available: Shares::new(10),
            ..Balances::default()
        }
    }

    fn price(text: &str) -> Option<Price> {
        Some(Price::parse(text).unwrap())
    }

    #[test]
    fn market_orders_fill_at_once_or_are_refused_without_a_change() {
        let mut b = balances();
        let buy = request(r#"{"symbol":"A","side":"buy","quantity":4,"type":"market"}"#);
        let placed = place(&buy, price("10.5"), &mut b).unwrap();
        assert_eq!(placed.status, OrderStatus::Filled);
        assert_eq!(
            (b.cash.value(), b.available.get(), b.quantity.get()),
            (Decimal::new(958, 0), 6, 4)
        );
        assert_eq!(place(&buy, None, &mut b), Err(Refusal::NoLivePrice));
        let big = request(r#"{"symbol":"A","side":"buy","quantity":7,"type":"market"}"#);
        assert_eq!(
            place(&big, price("1"), &mut b),
            Err(Refusal::InsufficientQuantity)
        );
        assert_eq!(
            place(&buy, price("300"), &mut b),
            Err(Refusal::InsufficientCash)
        );
        let sell = request(r#"{"symbol":"A","side":"sell","quantity":5,"type":"market"}"#);
        assert_eq!(
            place(&sell, price("1"), &mut b),
            Err(Refusal::InsufficientPosition)
        );
        assert_eq!(
            (b.cash.value(), b.available.get(), b.quantity.get()),
            (Decimal::new(958, 0), 6, 4)
        );
        let sell = request(r#"{"symbol":"A","side":"sell","quantity":4,"type":"market"}"#);
        place(&sell, price("11"), &mut b).unwrap();
        assert_eq!(
            (
                b.cash.value(),
                b.available.get(),
                b.quantity.get(),
                b.avg_price
            ),
            (Decimal::new(1_002, 0), 10, 0, Decimal::ZERO)
        );
    }

    #[test]
    fn resting_limits_reserve_and_give_back() {
        let mut b = balances();
        let buy = request(
            r#"{"symbol":"A","side":"buy","quantity":2,"type":"limit","limit_price":"100"}"#,
        );
        let placed = place(&buy, price("120"), &mut b).unwrap();
        assert_eq!(
            (placed.status, placed.reserved_cash.value()),
            (OrderStatus::New, Decimal::new(200, 0))
        );
        assert_eq!(
            (
                b.available.get(),
                b.catalog_reserved.get(),
                b.reserved_cash.value()
            ),
            (8, 2, Decimal::new(200, 0))
        );
        // Fills at the tick's price, below the limit; the rest of the hold goes back.
        fill_resting(
            Side::Buy,
            Shares::new(2),
            placed.reserved_cash,
            Price::parse("99").unwrap(),
            &mut b,
        )
        .unwrap();
        assert_eq!(
            (
                b.cash.value(),
                b.reserved_cash.value(),
                b.available.get(),
                b.catalog_reserved.get(),
                b.quantity.get()
            ),
            (Decimal::new(802, 0), Decimal::ZERO, 8, 0, 2)
        );
        let sell = request(
            r#"{"symbol":"A","side":"sell","quantity":2,"type":"limit","limit_price":"150","time_in_force":"gtc"}"#,
        );
        place(&sell, price("120"), &mut b).unwrap();
        assert_eq!(b.reserved.get(), 2);
        assert_eq!(
            place(&sell, price("120"), &mut b),
            Err(Refusal::InsufficientPosition)
        );
        release(Side::Sell, Shares::new(2), Money::ZERO, &mut b);
        assert_eq!(b.reserved.get(), 0);
    }

    #[test]
    fn ioc_fills_what_it_can_and_marketable_limits_fill_now() {
        let mut b = balances();
        let ioc = request(
            r#"{"symbol":"A","side":"buy","quantity":12,"type":"limit","limit_price":"5","time_in_force":"ioc"}"#,
        );
        let placed = place(&ioc, price("4"), &mut b).unwrap();
        assert_eq!(
            (placed.status, placed.fill.map(|(p, q)| (p, q.get()))),
            (
                OrderStatus::Canceled,
                Some((Price::parse("4").unwrap(), 10))
            )
        );
        assert_eq!(place(&ioc, price("6"), &mut b).unwrap().fill, None);
        let mut b = balances();
        let limit =
            request(r#"{"symbol":"A","side":"buy","quantity":1,"type":"limit","limit_price":"5"}"#);
        let placed = place(&limit, price("4.5"), &mut b).unwrap();
        assert_eq!(placed.status, OrderStatus::Filled);
        assert_eq!(b.cash.value(), Decimal::new(9955, 1));
    }

    #[test]
    fn averages_and_day_ends() {
        let avg = average(
            Decimal::new(10, 0),
            Shares::new(1),
            Decimal::new(20, 0),
            Shares::new(2),
        );
        assert_eq!(avg.to_string(), "16.66666667");
        let at = Timestamp::parse_flexible("2026-12-01T16:30:00Z").unwrap();
        assert_eq!(day_end(at).to_string(), "2026-12-02T00:00:00Z");
        assert!(cost(Price::parse("1e20").unwrap(), Shares::new(MAX_QUANTITY)).is_none());
    }
}
