//! What the load client checks: every order it sent reads back as sent, a
//! refused one left nothing behind, nothing was executed twice, a market
//! fill lies within the prices seen around it, and the trading invariants
//! hold over its users and stocks.

use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::HashMap;

/// How a sent order was answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 201 (`created`) or 200 (a resend found the first one): its number.
    Placed { number: i64, created: bool },
    /// 422 with this refusal code: nothing may exist for it.
    Refused(String),
    /// Another answer (a 4xx the client did not expect).
    Unexpected(u16, String),
    /// No answer after every resend: it may or may not exist, at most once.
    Unknown(String),
}

/// An order the client sent, recorded before it was sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Index of the user (and token) that sent it.
    pub user: usize,
    pub client_order_id: String,
    pub symbol: String,
    pub side: &'static str,
    pub quantity: u64,
    pub kind: &'static str,
    pub limit: Option<Decimal>,
    /// When it was sent and answered, in ms since the epoch (the clock the
    /// server stamps ticks with: the same machine's, or a synchronised one).
    pub sent_ms: i64,
    pub answered_ms: i64,
    pub outcome: Outcome,
    /// What an immediate resend of the same order answered, if it was resent.
    pub resend: Option<Outcome>,
}

/// Every price the client saw per symbol (stream ticks, by the time the
/// server received them; lookups, by the time they were answered), in ms
/// since the epoch.
#[derive(Debug, Default, Clone)]
pub struct PriceLog(HashMap<String, Vec<(i64, Decimal)>>);

/// How far before an order a price counts as "seen around it" (ms): a
/// market order trades on a last price at most `TRADE_STALE_SECS` (60 s)
/// old.
pub const BEFORE_MS: i64 = 65_000;
/// And after its answer.
pub const AFTER_MS: i64 = 1_000;

impl PriceLog {
    pub fn saw(&mut self, symbol: &str, at_ms: i64, price: Decimal) {
        self.0
            .entry(symbol.to_owned())
            .or_default()
            .push((at_ms, price));
    }

    /// The prices of `symbol` seen after `from_ms`.
    pub fn after(&self, symbol: &str, from_ms: i64) -> impl Iterator<Item = Decimal> + '_ {
        self.0
            .get(symbol)
            .into_iter()
            .flatten()
            .filter(move |(t, _)| *t > from_ms)
            .map(|(_, p)| *p)
    }

    /// The lowest and highest price of `symbol` seen from `from` to `to`,
    /// with the last one seen before `from` (still in force then).
    pub fn range(&self, symbol: &str, from: i64, to: i64) -> Option<(Decimal, Decimal)> {
        let seen = self.0.get(symbol)?;
        let before = seen
            .iter()
            .filter(|(t, _)| *t < from)
            .max_by_key(|(t, _)| *t);
        let during = seen.iter().filter(|(t, _)| *t >= from && *t <= to);
        let mut prices = before.into_iter().chain(during).map(|(_, p)| *p);
        let first = prices.next()?;
        Some(prices.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p))))
    }
}

fn text<'a>(order: &'a Value, field: &str) -> &'a str {
    order[field].as_str().unwrap_or("")
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str()?.parse().ok()
}

/// Whether an open limit order should have been filled: a price seen after
/// it was answered crossed its limit (`None` when none did).
pub fn crossed_but_open(sent: &Sent, order: &Value, prices: &PriceLog) -> Option<Decimal> {
    let limit = sent.limit?;
    if !matches!(text(order, "status"), "new" | "partially_filled") {
        return None;
    }
    prices
        .after(&sent.symbol, sent.answered_ms)
        .find(|p| match sent.side {
            "buy" => *p <= limit,
            _ => *p >= limit,
        })
}

/// What is wrong with `order` (as read back) for what was `sent`.
pub fn check(sent: &Sent, order: &Value, prices: &PriceLog) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |field: &str, want: &str, got: &str| {
        if want != got {
            wrong.push(format!("{field} is {got:?}, sent {want:?}"));
        }
    };
    expect("symbol", &sent.symbol, text(order, "symbol"));
    expect("side", sent.side, text(order, "side"));
    expect("type", sent.kind, text(order, "type"));
    expect(
        "client_order_id",
        &sent.client_order_id,
        text(order, "client_order_id"),
    );
    if order["quantity"].as_u64() != Some(sent.quantity) {
        wrong.push(format!(
            "quantity is {}, sent {}",
            order["quantity"], sent.quantity
        ));
    }
    if decimal(&order["limit_price"]) != sent.limit {
        wrong.push(format!(
            "limit_price is {}, sent {:?}",
            order["limit_price"], sent.limit
        ));
    }
    let status = text(order, "status");
    let filled = order["filled_quantity"].as_u64().unwrap_or(0);
    let fills: u64 = order["fills"]
        .as_array()
        .map_or(0, |f| f.iter().filter_map(|f| f["quantity"].as_u64()).sum());
    if fills != filled {
        wrong.push(format!(
            "fills add up to {fills}, filled_quantity is {filled}"
        ));
    }
    if filled > sent.quantity {
        wrong.push(format!("filled {filled} of {}", sent.quantity));
    }
    let avg = decimal(&order["avg_fill_price"]);
    match sent.kind {
        "market" => {
            if status != "filled" || filled != sent.quantity {
                wrong.push(format!("a market order is {status} with {filled} filled"));
            }
            let window = prices.range(
                &sent.symbol,
                sent.sent_ms - BEFORE_MS,
                sent.answered_ms + AFTER_MS,
            );
            match (avg, window) {
                (Some(p), Some((lo, hi))) if p < lo || p > hi => wrong.push(format!(
                    "filled at {p}, outside the prices seen around it ({lo} to {hi})"
                )),
                (None, _) => wrong.push("a market order without a fill price".into()),
                _ => {}
            }
        }
        _ => {
            let (Some(limit), Some(p)) = (sent.limit, avg) else {
                return wrong;
            };
            let crossed = match sent.side {
                "buy" => p <= limit,
                _ => p >= limit,
            };
            if !crossed {
                wrong.push(format!("a {} limit of {limit} filled at {p}", sent.side));
            }
        }
    }
    if !matches!(
        status,
        "new" | "partially_filled" | "filled" | "canceled" | "expired"
    ) {
        wrong.push(format!("status {status:?}"));
    }
    wrong
}

/// The trading invariants over a closed set of users and stocks.
#[derive(Debug, Default)]
pub struct Ledger {
    pub cash: Decimal,
    pub bought: Decimal,
    pub sold: Decimal,
    /// Per symbol: shares held, and shares open buys still hold in the
    /// catalog.
    pub held: HashMap<String, u64>,
    pub promised: HashMap<String, u64>,
    pub negative: Vec<String>,
}

impl Ledger {
    /// Adds a user's account (`GET /api/account`).
    pub fn account(&mut self, account: &Value) {
        let cash = decimal(&account["cash"]).unwrap_or_default();
        if cash.is_sign_negative() {
            self.negative
                .push(format!("{} has cash {cash}", account["username"]));
        }
        self.cash += cash;
        for p in account["positions"].as_array().into_iter().flatten() {
            match p["quantity"].as_u64() {
                Some(q) => *self.held.entry(text(p, "symbol").to_owned()).or_default() += q,
                None => self.negative.push(format!("position {p}")),
            }
        }
    }

    /// Adds an order with its fills (`GET /api/orders/{number}`).
    pub fn order(&mut self, order: &Value) {
        let mut filled = 0;
        for f in order["fills"].as_array().into_iter().flatten() {
            let q = f["quantity"].as_u64().unwrap_or(0);
            filled += q;
            let amount = decimal(&f["price"]).unwrap_or_default() * Decimal::from(q);
            if text(order, "side") == "buy" {
                self.bought += amount;
            } else {
                self.sold += amount;
            }
        }
        if text(order, "side") == "buy"
            && matches!(text(order, "status"), "new" | "partially_filled")
        {
            *self
                .promised
                .entry(text(order, "symbol").to_owned())
                .or_default() += order["quantity"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(filled);
        }
    }

    /// What breaks the invariants, given the users' starting cash and each
    /// stock's initial quantity and available quantity now.
    pub fn broken(
        &self,
        starting: Decimal,
        users: usize,
        stocks: &[(String, u64, u64)],
    ) -> Vec<String> {
        let mut out = self.negative.clone();
        let total = self.cash + self.bought - self.sold;
        let expected = starting * Decimal::from(users);
        if total != expected {
            out.push(format!(
                "cash {} + bought {} − sold {} = {total}, not {expected} ({users} users × {starting})",
                self.cash, self.bought, self.sold
            ));
        }
        for (symbol, initial, available) in stocks {
            let held = self.held.get(symbol).copied().unwrap_or(0);
            let promised = self.promised.get(symbol).copied().unwrap_or(0);
            if available + held + promised != *initial {
                out.push(format!(
                    "{symbol}: available {available} + held {held} + promised {promised} ≠ {initial}"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(kind: &'static str, limit: Option<&str>) -> Sent {
        let now = 1_000_000;
        Sent {
            user: 0,
            client_order_id: "c1".into(),
            symbol: "A".into(),
            side: "buy",
            quantity: 2,
            kind,
            limit: limit.map(|l| l.parse().unwrap()),
            sent_ms: now,
            answered_ms: now,
            outcome: Outcome::Placed {
                number: 1,
                created: true,
            },
            resend: None,
        }
    }

    fn order(kind: &str, status: &str, avg: Option<&str>, limit: Option<&str>) -> Value {
        let filled = if avg.is_some() { 2 } else { 0 };
        json!({"symbol": "A", "side": "buy", "type": kind, "client_order_id": "c1", "quantity": 2,
               "limit_price": limit, "status": status, "filled_quantity": filled, "avg_fill_price": avg,
               "fills": if filled > 0 { json!([{"quantity": 2, "price": avg}]) } else { json!([]) }})
    }

    #[test]
    fn a_market_fill_must_lie_within_the_prices_seen() {
        let s = sent("market", None);
        let mut log = PriceLog::default();
        log.saw("A", s.sent_ms - 1_000, "10".parse().unwrap());
        log.saw("A", s.sent_ms, "11".parse().unwrap());
        log.saw("A", s.sent_ms - 100_000, "1".parse().unwrap());
        assert!(check(&s, &order("market", "filled", Some("10.5"), None), &log).is_empty());
        let wrong = check(&s, &order("market", "filled", Some("12"), None), &log);
        assert!(wrong[0].contains("outside the prices seen"), "{wrong:?}");
        assert!(!check(&s, &order("market", "new", None, None), &log).is_empty());
    }

    #[test]
    fn every_field_is_compared_and_a_limit_is_respected() {
        let s = sent("limit", Some("5"));
        let log = PriceLog::default();
        assert!(check(&s, &order("limit", "new", None, Some("5")), &log).is_empty());
        assert!(check(&s, &order("limit", "filled", Some("4.9"), Some("5")), &log).is_empty());
        let wrong = check(&s, &order("limit", "filled", Some("5.1"), Some("5")), &log);
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        let mut other = order("limit", "new", None, Some("5"));
        other["quantity"] = json!(3);
        other["side"] = json!("sell");
        assert_eq!(check(&s, &other, &log).len(), 2);
    }

    #[test]
    fn the_ledger_finds_lost_shares_and_cash() {
        let mut l = Ledger::default();
        l.account(
            &json!({"username": "u", "cash": "990", "positions": [{"symbol": "A", "quantity": 1}]}),
        );
        l.order(&json!({"side": "buy", "symbol": "A", "status": "filled", "quantity": 1, "fills": [{"quantity": 1, "price": "10"}]}));
        assert!(l
            .broken(Decimal::from(1000), 1, &[("A".into(), 10, 9)])
            .is_empty());
        assert_eq!(
            l.broken(Decimal::from(1000), 1, &[("A".into(), 10, 8)])
                .len(),
            1
        );
        assert_eq!(l.broken(Decimal::from(1001), 1, &[]).len(), 1);
    }
}
