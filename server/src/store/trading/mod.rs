//! Paper trading's tables (`account`, `position`, `trade_order`, `fill`,
//! `api_token`; DESIGN.md §4a): the trait, and its SQL written once for
//! both databases.
//!
//! Every order, fill, cancel or expiry is one transaction that locks the
//! order (a new one: the account first), the account, the catalog row and
//! the position, in that order, so two transactions never wait on each
//! other in a cycle; it changes them with
//! the rules of [`tickpulse_core::trade`], and writes them back. Postgres
//! locks the rows (`FOR UPDATE`); SQLite takes its one write lock at
//! `BEGIN IMMEDIATE`. Money is read as text (`CAST(… AS TEXT)`, exact in
//! both) and written as each database's exact type.

mod ledger;
mod orders;

use super::sql::Row;
use super::StoreError;
use rust_decimal::Decimal;
use tickpulse_core::trade::{
    ClientOrderId, Fill, Order, OrderNumber, OrderRequest, OrderStatus, Refusal, Shares, StockEvent,
};
use tickpulse_core::{Money, Price, Symbol, Timestamp};

/// An order to place, checked.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub user: &'a str,
    pub request: &'a OrderRequest,
    /// The request's, or a generated one.
    pub client_order_id: &'a ClientOrderId,
    /// The live price when it is fresh enough to trade on.
    pub price: Option<Price>,
    /// The cash of an account opened by this order.
    pub starting_cash: Decimal,
    pub now: Timestamp,
}

/// What one transaction did to an order, for the answer and the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: String,
    pub order: Order,
    /// The fill it made, if it made one.
    pub fill: Option<Fill>,
    /// The stock's `available` after it, when it changed.
    pub stock: Option<StockEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    Created(Change),
    /// The user already has an order with this client order id: that one,
    /// untouched.
    Existing(Order),
    /// Refused; nothing was written.
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Done(Change),
    /// Already filled, canceled or expired: unchanged.
    Terminal(Order),
    /// No such order (or not the user's).
    NotFound,
}

/// Which of a user's orders to list, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Closed,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    pub status: StatusFilter,
    pub limit: usize,
    /// Only orders with a smaller number (paging).
    pub before: Option<OrderNumber>,
}

/// An order with its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedOrder {
    pub user: String,
    pub order: Order,
}

/// A position as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub symbol: Symbol,
    pub quantity: Shares,
    pub reserved: Shares,
    pub avg_price: Decimal,
}

/// A user's cash and positions as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdings {
    pub cash: Decimal,
    pub reserved_cash: Decimal,
    pub positions: Vec<Holding>,
}

/// Paper trading.
#[async_trait::async_trait]
pub trait TradeStore: Send + Sync + 'static {
    /// The user's cash and positions; the account is opened with
    /// `starting_cash` when it has none yet.
    async fn holdings(&self, user: &str, starting_cash: Decimal) -> Result<Holdings, StoreError>;
    /// Places an order (see [`tickpulse_core::trade::place`]) in one
    /// transaction, or finds the user's order with the same client order id.
    async fn place_order(&self, order: &NewOrder<'_>) -> Result<Placed, StoreError>;
    /// Fills the rest of a resting limit order at a tick's price, once per
    /// order and tick; `None` when it is no longer open (filled, canceled,
    /// expired) or does not cross the price.
    async fn fill_order(
        &self,
        number: OrderNumber,
        price: Price,
        stream_id: tickpulse_core::StreamId,
        ts: Timestamp,
    ) -> Result<Option<Change>, StoreError>;
    /// Cancels (`Canceled`) or expires (`Expired`) an open order and gives
    /// back what it holds; with `user`, only that user's order.
    async fn end_order(
        &self,
        number: OrderNumber,
        user: Option<&str>,
        status: OrderStatus,
        at: Timestamp,
    ) -> Result<Ended, StoreError>;
    /// An order with its fills.
    async fn order(&self, number: OrderNumber) -> Result<Option<OwnedOrder>, StoreError>;
    async fn order_by_client_id(
        &self,
        user: &str,
        client_order_id: &str,
    ) -> Result<Option<Order>, StoreError>;
    /// The user's orders (without fills), newest first.
    async fn orders(&self, user: &str, query: &OrderQuery) -> Result<Vec<Order>, StoreError>;
    /// The open limit orders on these symbols, oldest first.
    async fn open_limit_orders(&self, symbols: &[Symbol]) -> Result<Vec<OwnedOrder>, StoreError>;
    /// Open `day` orders whose day ended by `now`.
    async fn expiring_orders(&self, now: Timestamp) -> Result<Vec<OrderNumber>, StoreError>;
    /// Stores a personal token's hash for `user`; `false` when there is no
    /// such user.
    async fn add_token(
        &self,
        user: &str,
        token_hash: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Whose token this hash is.
    async fn token_user(&self, token_hash: &str) -> Result<Option<String>, StoreError>;
}

/// The columns of an order, money as text.
pub(crate) const ORDER_COLUMNS: &str =
    "number, user_id, client_order_id, symbol, side, type, quantity, \
     CAST(limit_price AS TEXT) AS limit_price, time_in_force, status, filled_quantity, \
     CAST(avg_fill_price AS TEXT) AS avg_fill_price, CAST(reserved_cash AS TEXT) AS reserved_cash, \
     created_at, filled_at, canceled_at";

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn decimal(what: &str, text: &str) -> Result<Decimal, StoreError> {
    tickpulse_core::decimal::parse_decimal(text).map_err(|e| corrupt(what, e))
}

pub(crate) fn price(what: &str, text: Option<String>) -> Result<Option<Price>, StoreError> {
    text.map(|t| Price::parse(&t).map_err(|e| corrupt(what, e)))
        .transpose()
}

pub(crate) fn shares(what: &str, n: i64) -> Result<Shares, StoreError> {
    u64::try_from(n)
        .map(Shares::new)
        .map_err(|e| corrupt(what, e))
}

pub(crate) fn db_shares(n: Shares) -> i64 {
    i64::try_from(n.get()).unwrap_or(i64::MAX)
}

pub(crate) fn money_of(what: &str, text: &str) -> Result<Money, StoreError> {
    decimal(what, text).map(Money::new)
}

pub(crate) fn time(ms: i64) -> Timestamp {
    Timestamp::from_nanos(ms.saturating_mul(1_000_000))
}

/// Reads an order row of [`ORDER_COLUMNS`]: its owner, the order and the
/// cash it holds reserved.
fn order_from(row: &Row) -> Result<(String, Order, Money), StoreError> {
    use tickpulse_core::trade::{OrderType, Side, TimeInForce};
    let text = |name: &str| -> Result<String, StoreError> { row.get(name) };
    fn named<T>(name: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(value).ok_or_else(|| corrupt(name, format!("unknown value {value:?}")))
    }
    let side = named("side", &text("side")?, Side::parse)?;
    let order_type = named("type", &text("type")?, OrderType::parse)?;
    let time_in_force = named("time_in_force", &text("time_in_force")?, TimeInForce::parse)?;
    let status = named("status", &text("status")?, OrderStatus::parse)?;
    let symbol = text("symbol")?;
    let filled_at: Option<i64> = row.get("filled_at")?;
    let canceled_at: Option<i64> = row.get("canceled_at")?;
    let order = Order {
        number: OrderNumber::new(row.get("number")?),
        client_order_id: ClientOrderId::new_checked(&text("client_order_id")?)
            .map_err(|e| corrupt("client_order_id", e))?,
        symbol: Symbol::new_checked(&symbol).map_err(|e| corrupt("symbol", e))?,
        side,
        order_type,
        quantity: shares("quantity", row.get("quantity")?)?,
        limit_price: price("limit_price", row.get("limit_price")?)?,
        time_in_force,
        status,
        filled_quantity: shares("filled_quantity", row.get("filled_quantity")?)?,
        avg_fill_price: price("avg_fill_price", row.get("avg_fill_price")?)?,
        created_at: time(row.get("created_at")?),
        filled_at: filled_at.map(time),
        canceled_at: canceled_at.map(time),
        fills: Vec::new(),
    };
    let reserved = money_of("reserved_cash", &text("reserved_cash")?)?;
    Ok((text("user_id")?, order, reserved))
}
