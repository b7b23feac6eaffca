//! Paper trading's vocabulary, shared by the server, the client package and
//! the pages: sides, order types, time in force, the order lifecycle, the
//! checked order request, orders and fills, accounts and positions, the
//! refusal codes, and the arithmetic every one of them values things with.
//!
//! Quantities are whole shares (`u64`); prices and money are exact decimals
//! ([`Price`], [`Money`]); nothing passes through a float.

use crate::validate::{as_decimal, as_str, kind, optional, required};
use crate::{FieldError, Money, Price, StreamId, Symbol, Timestamp, ValueError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

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

macro_rules! names {
    ($(#[$meta:meta])* $t:ident { $($(#[$vmeta:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $t { $($(#[$vmeta])* $v),+ }

        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The name in JSON, SQL and the metrics.
            pub const fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($s => Some($t::$v),)+ _ => None }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// Buying from the house or selling to it.
    Side { Buy = "buy", Sell = "sell" }
);
names!(
    /// `market` fills at once at the latest price; `limit` at the limit or
    /// better.
    OrderType { Market = "market", Limit = "limit" }
);
names!(
    /// How long an order may rest: until the end of the UTC day, until
    /// canceled, or not at all (fill what can be filled now, cancel the rest).
    TimeInForce { Day = "day", Gtc = "gtc", Ioc = "ioc" }
);
names!(
    /// Where an order is in its lifecycle. `new` and `partially_filled` are
    /// open; the others are terminal and never change again.
    OrderStatus {
        New = "new",
        PartiallyFilled = "partially_filled",
        Filled = "filled",
        Canceled = "canceled",
        /// A `day` order still open when its UTC day ended.
        Expired = "expired",
        /// Refused after it was accepted. Refusals at acceptance store
        /// nothing, so no order of today's rules ends here.
        Rejected = "rejected"
    }
);

impl OrderStatus {
    pub const fn is_open(self) -> bool {
        matches!(self, Self::New | Self::PartiallyFilled)
    }

    pub const fn is_terminal(self) -> bool {
        !self.is_open()
    }
}

/// Why an order was refused (HTTP 422, `code`). Nothing is stored for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The buy costs more than the buying power (cash not reserved).
    InsufficientCash,
    /// The house has fewer shares available than the buy asks for.
    InsufficientQuantity,
    /// The sell asks for more shares than the position holds unreserved.
    InsufficientPosition,
    /// The stock has no price yet, or its last one is too old to trade on.
    NoLivePrice,
    /// The symbol is not in the catalog.
    UnknownSymbol,
}

impl Refusal {
    pub const ALL: &'static [Refusal] = &[
        Self::InsufficientCash,
        Self::InsufficientQuantity,
        Self::InsufficientPosition,
        Self::NoLivePrice,
        Self::UnknownSymbol,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Self::InsufficientCash => "insufficient_cash",
            Self::InsufficientQuantity => "insufficient_quantity",
            Self::InsufficientPosition => "insufficient_position",
            Self::NoLivePrice => "no_live_price",
            Self::UnknownSymbol => "unknown_symbol",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == code)
    }

    /// The reason in words, for the answer and the trade page.
    pub const fn message(self) -> &'static str {
        match self {
            Self::InsufficientCash => "not enough buying power for this order",
            Self::InsufficientQuantity => "the house does not have that many shares available",
            Self::InsufficientPosition => "you do not hold that many shares (unreserved) to sell",
            Self::NoLivePrice => "the stock has no live price right now; try again when it trades",
            Self::UnknownSymbol => "the stock is not in the catalog",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// A checked `POST /api/orders` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderRequest {
    pub symbol: Symbol,
    pub side: Side,
    /// Whole shares, 1 to 1,000,000,000.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub quantity: u64,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Required for `limit`, refused for `market`: at most 1,000,000,000
    /// with at most 8 decimal places.
    pub limit_price: Option<Price>,
    /// `day` when absent.
    pub time_in_force: TimeInForce,
    /// 1–64 of A-Z a-z 0-9 . _ : -; generated when absent. A second order
    /// with the same id is the first one again.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._:-]{1,64}$"))]
    pub client_order_id: Option<String>,
}

const ORDER_FIELDS: &[&str] = &[
    "symbol",
    "side",
    "quantity",
    "type",
    "limit_price",
    "time_in_force",
    "client_order_id",
];

/// One of the names `all` (by `name`), e.g. a side.
fn named<'a, T: Copy>(
    expected: &'a str,
    all: &'a [T],
    name: fn(T) -> &'static str,
) -> impl FnOnce(&RawValue) -> Result<T, ValueError> + 'a {
    move |v| {
        let text = as_str(v)?;
        all.iter()
            .copied()
            .find(|t| name(*t) == text)
            .ok_or_else(|| ValueError::BadString(format!("must be {expected}, got {text:?}")))
    }
}

/// A whole number of shares from 1 to [`MAX_QUANTITY`].
///
/// # Errors
/// Why the value is not one.
pub fn quantity(v: &RawValue) -> Result<u64, ValueError> {
    if kind(v) != "a number" {
        return Err(ValueError::WrongType {
            expected: "a whole number of shares",
            got: kind(v),
        });
    }
    let n: u64 = v.get().parse().map_err(|_| {
        ValueError::BadString(format!(
            "must be a whole number of shares from 1 to {MAX_QUANTITY}, got {}",
            v.get()
        ))
    })?;
    check_quantity(n).map_err(ValueError::BadString)
}

/// # Errors
/// When `n` is 0 or above [`MAX_QUANTITY`].
pub fn check_quantity(n: u64) -> Result<u64, String> {
    if n == 0 || n > MAX_QUANTITY {
        return Err(format!(
            "must be a whole number of shares from 1 to {MAX_QUANTITY}, got {n}"
        ));
    }
    Ok(n)
}

/// A limit price: positive, at most [`MAX_LIMIT_PRICE`], at most
/// [`MAX_PRICE_DECIMALS`] decimal places.
///
/// # Errors
/// Why the value is not one.
pub fn limit_price(value: Decimal) -> Result<Price, ValueError> {
    let price = Price::new_checked(value)?;
    if price.value() > Decimal::from(MAX_LIMIT_PRICE) {
        return Err(ValueError::BadString(format!(
            "must be at most {MAX_LIMIT_PRICE}, got {price}"
        )));
    }
    if price.value().scale() > MAX_PRICE_DECIMALS {
        return Err(ValueError::BadString(format!(
            "must have at most {MAX_PRICE_DECIMALS} decimal places, got {price}"
        )));
    }
    Ok(price)
}

/// A checked client order id.
///
/// # Errors
/// Why the text is not one.
pub fn client_order_id(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_CLIENT_ORDER_ID_LEN {
        return Err(format!(
            "must be 1 to {MAX_CLIENT_ORDER_ID_LEN} characters, got {}",
            text.len()
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Err(format!("contains {c:?}; allowed are A-Z a-z 0-9 . _ : -"));
    }
    Ok(text.to_owned())
}

/// Checks a `POST /api/orders` body, returning every problem with the name
/// of its field (like the tick webhook does).
///
/// # Errors
/// Every problem found; an unreadable body is reported on `body`.
pub fn order_request(body: &[u8]) -> Result<OrderRequest, Vec<FieldError>> {
    let fields: BTreeMap<String, &RawValue> = match serde_json::from_slice(body) {
        Ok(fields) => fields,
        Err(e) => {
            return Err(vec![FieldError::new(
                "body",
                "invalid",
                format!("must be a JSON object of order fields: {e}"),
            )])
        }
    };
    let mut errors = Vec::new();
    for name in fields.keys() {
        if !ORDER_FIELDS.contains(&name.as_str()) {
            errors.push(FieldError::new(
                name,
                "unknown_field",
                format!(
                    "is not an order field (expected {})",
                    ORDER_FIELDS.join(", ")
                ),
            ));
        }
    }
    let get = |name: &str| fields.get(name).copied();
    let symbol = required(&mut errors, "symbol", get("symbol"), |v| {
        Symbol::new_checked(&as_str(v)?)
    });
    let side = required(
        &mut errors,
        "side",
        get("side"),
        named("buy or sell", Side::ALL, Side::as_str),
    );
    let quantity = required(&mut errors, "quantity", get("quantity"), quantity);
    let order_type = required(
        &mut errors,
        "type",
        get("type"),
        named("market or limit", OrderType::ALL, OrderType::as_str),
    );
    let limit = optional(&mut errors, "limit_price", get("limit_price"), |v| {
        limit_price(as_decimal(v)?)
    });
    let time_in_force = optional(
        &mut errors,
        "time_in_force",
        get("time_in_force"),
        named("day, gtc or ioc", TimeInForce::ALL, TimeInForce::as_str),
    );
    let client_id = optional(
        &mut errors,
        "client_order_id",
        get("client_order_id"),
        |v| client_order_id(&as_str(v)?).map_err(ValueError::BadString),
    );
    match (order_type, &limit) {
        (Some(OrderType::Limit), Some(None)) => errors.push(FieldError::new(
            "limit_price",
            "required",
            "is required for a limit order",
        )),
        (Some(OrderType::Market), Some(Some(_))) => errors.push(FieldError::new(
            "limit_price",
            "invalid",
            "must be absent for a market order (it fills at the latest price)",
        )),
        _ => {}
    }
    match (
        symbol,
        side,
        quantity,
        order_type,
        limit,
        time_in_force,
        client_id,
    ) {
        (
            Some(symbol),
            Some(side),
            Some(quantity),
            Some(order_type),
            Some(limit_price),
            Some(time_in_force),
            Some(client_order_id),
        ) if errors.is_empty() => Ok(OrderRequest {
            symbol,
            side,
            quantity,
            order_type,
            limit_price,
            time_in_force: time_in_force.unwrap_or(TimeInForce::Day),
            client_order_id,
        }),
        _ => Err(errors),
    }
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fill {
    pub price: Price,
    pub quantity: u64,
    pub ts: Timestamp,
    /// The tick that filled a limit order; absent for a market order, which
    /// fills at the price the View held when it arrived.
    pub stream_id: Option<StreamId>,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// The transaction number users quote: increasing, never reused.
    pub number: i64,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub quantity: u64,
    pub limit_price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    pub filled_quantity: u64,
    /// The quantity-weighted average of the fills (8 decimal places).
    pub avg_fill_price: Option<Price>,
    pub created_at: Timestamp,
    /// When the last share was filled.
    pub filled_at: Option<Timestamp>,
    /// When it was canceled or expired.
    pub canceled_at: Option<Timestamp>,
    /// Its fills, oldest first (in single-order answers; lists leave them out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<Fill>,
}

impl Order {
    /// Shares still to fill while open.
    pub fn remaining(&self) -> u64 {
        self.quantity.saturating_sub(self.filled_quantity)
    }
}

/// A change of an order, as `GET /api/orders/stream` sends it (`event:
/// order`): the order after the change and, when the change was a fill,
/// that fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderEvent {
    pub order: Order,
    pub fill: Option<Fill>,
}

/// A catalog entry with the live last price (`GET /api/stocks/{symbol}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stock {
    pub symbol: Symbol,
    pub name: String,
    /// Shares the house can still sell.
    pub available: u64,
    /// The last price of the symbol's View; absent before its first tick.
    pub price: Option<Price>,
    /// The event time of that price.
    pub price_ts: Option<Timestamp>,
}

/// A change of a stock's available quantity (`event: stock` on
/// `/api/stream`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockEvent {
    pub symbol: Symbol,
    pub available: u64,
}

/// A holding, valued at the live price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Position {
    pub symbol: Symbol,
    pub quantity: u64,
    /// Shares promised to open sell orders.
    pub reserved: u64,
    /// What a share cost on average (8 decimal places).
    pub avg_price: Money,
    /// The live last price; absent before the symbol's first tick.
    pub price: Option<Price>,
    /// quantity × price.
    pub market_value: Option<Money>,
    /// market value − quantity × average price.
    pub unrealized_pnl: Option<Money>,
}

impl Position {
    /// The position valued at `price` (none: unvalued).
    pub fn valued(mut self, price: Option<Price>) -> Self {
        self.price = price;
        let qty = Decimal::from(self.quantity);
        self.market_value = price.map(|p| Money::new(p.value() * qty));
        self.unrealized_pnl = self
            .market_value
            .map(|v| Money::new(v.value() - self.avg_price.value() * qty));
        self
    }
}

/// A user's trading account (`GET /api/account`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub username: String,
    /// Cash held, reserved part included.
    pub cash: Money,
    /// Cash promised to open limit buys.
    pub reserved_cash: Money,
    /// cash − reserved cash: what a new buy may spend.
    pub buying_power: Money,
    /// cash + the market value of every position (at the last price; a
    /// position without a price counts at its average price).
    pub equity: Money,
    pub positions: Vec<Position>,
}

impl Account {
    /// The account with its figures computed from cash and positions.
    pub fn new(
        username: String,
        cash: Money,
        reserved_cash: Money,
        positions: Vec<Position>,
    ) -> Self {
        let held: Decimal = positions
            .iter()
            .map(|p| match p.market_value {
                Some(v) => v.value(),
                None => p.avg_price.value() * Decimal::from(p.quantity),
            })
            .sum();
        Self {
            username,
            buying_power: Money::new(cash.value() - reserved_cash.value()),
            equity: Money::new(cash.value() + held),
            cash,
            reserved_cash,
            positions,
        }
    }

    /// The same account revalued at new prices (the trade page does this on
    /// every tick).
    pub fn revalued(self, price: impl Fn(&Symbol) -> Option<Price>) -> Self {
        let positions = self
            .positions
            .into_iter()
            .map(|p| {
                let live = price(&p.symbol).or(p.price);
                p.valued(live)
            })
            .collect();
        Self::new(self.username, self.cash, self.reserved_cash, positions)
    }
}

/// What the trade page shows of a user: the account, open orders and the
/// latest orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desk {
    pub account: Account,
    /// Open orders, newest first.
    pub open: Vec<Order>,
    /// The latest orders of any status, newest first.
    pub history: Vec<Order>,
}

/// `price × quantity`, or `None` when it overflows (no account could pay it).
pub fn cost(price: Price, quantity: u64) -> Option<Decimal> {
    price.value().checked_mul(Decimal::from(quantity))
}

/// The average of `old_quantity` at `old_avg` and `quantity` at `price`,
/// rounded to [`AVERAGE_DECIMALS`].
pub fn average(old_avg: Decimal, old_quantity: u64, price: Decimal, quantity: u64) -> Decimal {
    let total = old_quantity + quantity;
    if total == 0 {
        return Decimal::ZERO;
    }
    let sum = old_avg * Decimal::from(old_quantity) + price * Decimal::from(quantity);
    (sum / Decimal::from(total))
        .round_dp(AVERAGE_DECIMALS)
        .normalize()
}

/// When a `day` order placed at `at` expires: the next midnight UTC.
pub fn day_end(at: Timestamp) -> Timestamp {
    const DAY_NANOS: i64 = 86_400 * 1_000_000_000;
    Timestamp::from_nanos((at.as_nanos().div_euclid(DAY_NANOS) + 1) * DAY_NANOS)
}

/// What one order transaction reads and writes: the user's cash, the
/// stock's catalog row and the user's position in it. The rules below
/// change it in memory; the store reads it under row locks and writes it
/// back in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Balances {
    pub cash: Decimal,
    pub reserved_cash: Decimal,
    /// The catalog's `available` and `reserved`.
    pub available: u64,
    pub catalog_reserved: u64,
    /// The position's quantity, reserved shares and average price.
    pub quantity: u64,
    pub reserved: u64,
    pub avg_price: Decimal,
}

/// What placing an order does, once the balances are changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub status: OrderStatus,
    /// Executed at once: price and quantity.
    pub fill: Option<(Price, u64)>,
    /// Cash the order keeps reserved while it rests.
    pub reserved_cash: Decimal,
}

fn buy_now(b: &mut Balances, price: Price, quantity: u64) -> Result<(), Refusal> {
    if b.available < quantity {
        return Err(Refusal::InsufficientQuantity);
    }
    let cost = cost(price, quantity).ok_or(Refusal::InsufficientCash)?;
    if b.cash - b.reserved_cash < cost {
        return Err(Refusal::InsufficientCash);
    }
    b.available -= quantity;
    b.cash -= cost;
    b.avg_price = average(b.avg_price, b.quantity, price.value(), quantity);
    b.quantity += quantity;
    Ok(())
}

fn sell_now(b: &mut Balances, price: Price, quantity: u64) -> Result<(), Refusal> {
    if b.quantity.saturating_sub(b.reserved) < quantity {
        return Err(Refusal::InsufficientPosition);
    }
    let proceeds = cost(price, quantity).ok_or(Refusal::InsufficientPosition)?;
    b.quantity -= quantity;
    if b.quantity == 0 {
        b.avg_price = Decimal::ZERO;
    }
    b.available += quantity;
    b.cash += proceeds;
    Ok(())
}

/// Whether a limit order would fill at `price`: a buy at or under its
/// limit, a sell at or over it.
pub fn crosses(side: Side, limit: Price, price: Price) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// Places `order` against the balances. `price` is the live price, `None`
/// when there is none or it is stale.
///
/// - market: fills all at once at `price`, or is refused;
/// - limit, crossing `price` now: fills at `price` (an `ioc` one fills what
///   the catalog or the position allows and cancels the rest);
/// - limit, not crossing: an `ioc` one is canceled; others rest, reserving
///   the cash at the limit and the catalog shares (buy) or the shares held
///   (sell).
///
/// # Errors
/// The refusal; the balances are then unchanged.
pub fn place(
    order: &OrderRequest,
    price: Option<Price>,
    b: &mut Balances,
) -> Result<Placement, Refusal> {
    let before = b.clone();
    let placed = place_inner(order, price, b);
    if placed.is_err() {
        *b = before;
    }
    placed
}

fn place_inner(
    order: &OrderRequest,
    price: Option<Price>,
    b: &mut Balances,
) -> Result<Placement, Refusal> {
    let q = order.quantity;
    let filled = |status, price, quantity| Placement {
        status,
        fill: Some((price, quantity)),
        reserved_cash: Decimal::ZERO,
    };
    let Some(limit) = order
        .limit_price
        .filter(|_| order.order_type == OrderType::Limit)
    else {
        let price = price.ok_or(Refusal::NoLivePrice)?;
        match order.side {
            Side::Buy => buy_now(b, price, q)?,
            Side::Sell => sell_now(b, price, q)?,
        }
        return Ok(filled(OrderStatus::Filled, price, q));
    };
    let now = price.filter(|p| crosses(order.side, limit, *p));
    if order.time_in_force == TimeInForce::Ioc {
        let canceled = Placement {
            status: OrderStatus::Canceled,
            fill: None,
            reserved_cash: Decimal::ZERO,
        };
        let Some(price) = now else {
            return Ok(canceled);
        };
        let k = match order.side {
            Side::Buy => q.min(b.available),
            Side::Sell => q.min(b.quantity.saturating_sub(b.reserved)),
        };
        if k == 0 {
            return Ok(canceled);
        }
        match order.side {
            Side::Buy => buy_now(b, price, k)?,
            Side::Sell => sell_now(b, price, k)?,
        }
        let status = if k == q {
            OrderStatus::Filled
        } else {
            OrderStatus::Canceled
        };
        return Ok(filled(status, price, k));
    }
    if let Some(price) = now {
        match order.side {
            Side::Buy => buy_now(b, price, q)?,
            Side::Sell => sell_now(b, price, q)?,
        }
        return Ok(filled(OrderStatus::Filled, price, q));
    }
    match order.side {
        Side::Buy => {
            if b.available < q {
                return Err(Refusal::InsufficientQuantity);
            }
            let hold = cost(limit, q).ok_or(Refusal::InsufficientCash)?;
            if b.cash - b.reserved_cash < hold {
                return Err(Refusal::InsufficientCash);
            }
            b.available -= q;
            b.catalog_reserved += q;
            b.reserved_cash += hold;
            Ok(Placement {
                status: OrderStatus::New,
                fill: None,
                reserved_cash: hold,
            })
        }
        Side::Sell => {
            if b.quantity.saturating_sub(b.reserved) < q {
                return Err(Refusal::InsufficientPosition);
            }
            b.reserved += q;
            Ok(Placement {
                status: OrderStatus::New,
                fill: None,
                reserved_cash: Decimal::ZERO,
            })
        }
    }
}

/// Gives back what a resting order holds (`remaining` shares, and
/// `reserved_cash`): on cancel, on expiry, and before its fill.
pub fn release(side: Side, remaining: u64, reserved_cash: Decimal, b: &mut Balances) {
    match side {
        Side::Buy => {
            b.reserved_cash = (b.reserved_cash - reserved_cash).max(Decimal::ZERO);
            let shares = remaining.min(b.catalog_reserved);
            b.catalog_reserved -= shares;
            b.available += shares;
        }
        Side::Sell => b.reserved = b.reserved.saturating_sub(remaining),
    }
}

/// Fills the `remaining` shares of a resting limit order at `price` (a
/// tick's). Its reservations are released first, so the fill takes the
/// shares and cash they held.
///
/// # Errors
/// Only when the balances were changed behind the order's back (they
/// cannot be, under the store's locks); nothing is changed then.
pub fn fill_resting(
    side: Side,
    remaining: u64,
    reserved_cash: Decimal,
    price: Price,
    b: &mut Balances,
) -> Result<(), Refusal> {
    let before = b.clone();
    release(side, remaining, reserved_cash, b);
    let done = match side {
        Side::Buy => buy_now(b, price, remaining),
        Side::Sell => sell_now(b, price, remaining),
    };
    if done.is_err() {
        *b = before;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(r.client_order_id.as_deref(), Some("a-1"));
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
            quantity: 3,
            reserved: 0,
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
            cash: Decimal::new(1_000, 0),
            available: 10,
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
            (b.cash, b.available, b.quantity),
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
            (b.cash, b.available, b.quantity),
            (Decimal::new(958, 0), 6, 4)
        );
        let sell = request(r#"{"symbol":"A","side":"sell","quantity":4,"type":"market"}"#);
        place(&sell, price("11"), &mut b).unwrap();
        assert_eq!(
            (b.cash, b.available, b.quantity, b.avg_price),
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
            (placed.status, placed.reserved_cash),
            (OrderStatus::New, Decimal::new(200, 0))
        );
        assert_eq!(
            (b.available, b.catalog_reserved, b.reserved_cash),
            (8, 2, Decimal::new(200, 0))
        );
        // Fills at the tick's price, below the limit; the rest of the hold goes back.
        fill_resting(
            Side::Buy,
            2,
            placed.reserved_cash,
            Price::parse("99").unwrap(),
            &mut b,
        )
        .unwrap();
        assert_eq!(
            (
                b.cash,
                b.reserved_cash,
                b.available,
                b.catalog_reserved,
                b.quantity
            ),
            (Decimal::new(802, 0), Decimal::ZERO, 8, 0, 2)
        );
        let sell = request(
            r#"{"symbol":"A","side":"sell","quantity":2,"type":"limit","limit_price":"150","time_in_force":"gtc"}"#,
        );
        place(&sell, price("120"), &mut b).unwrap();
        assert_eq!(b.reserved, 2);
        assert_eq!(
            place(&sell, price("120"), &mut b),
            Err(Refusal::InsufficientPosition)
        );
        release(Side::Sell, 2, Decimal::ZERO, &mut b);
        assert_eq!(b.reserved, 0);
    }

    #[test]
    fn ioc_fills_what_it_can_and_marketable_limits_fill_now() {
        let mut b = balances();
        let ioc = request(
            r#"{"symbol":"A","side":"buy","quantity":12,"type":"limit","limit_price":"5","time_in_force":"ioc"}"#,
        );
        let placed = place(&ioc, price("4"), &mut b).unwrap();
        assert_eq!(
            (placed.status, placed.fill),
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
        assert_eq!(b.cash, Decimal::new(9955, 1));
    }

    #[test]
    fn averages_and_day_ends() {
        let avg = average(Decimal::new(10, 0), 1, Decimal::new(20, 0), 2);
        assert_eq!(avg.to_string(), "16.66666667");
        let at = Timestamp::parse_flexible("2026-12-01T16:30:00Z").unwrap();
        assert_eq!(day_end(at).to_string(), "2026-12-02T00:00:00Z");
        assert!(cost(Price::parse("1e20").unwrap(), MAX_QUANTITY).is_none());
    }
}
