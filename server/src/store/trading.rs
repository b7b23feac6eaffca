//! Paper trading's tables (`account`, `position`, `trade_order`, `fill`,
//! `api_token`; DESIGN.md §4a): the trait, and its SQL written once for
//! Postgres and SQLite and expanded into each store by [`trade_store!`].
//!
//! Every order, fill, cancel or expiry is one transaction that locks the
//! order (a new one: the account first), the account, the catalog row and
//! the position, in that order, so two transactions never wait on each
//! other in a cycle; it changes them with
//! the rules of [`tickpulse_core::trade`], and writes them back. Postgres
//! locks the rows (`FOR UPDATE`); SQLite takes its one write lock at
//! `BEGIN IMMEDIATE`. Money is read as text (`CAST(… AS TEXT)`, exact in
//! both) and written as each database's exact type.

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
pub(crate) fn order_from<R>(
    row: &R,
    failed: fn(sqlx::Error) -> StoreError,
) -> Result<(String, Order, Money), StoreError>
where
    R: sqlx::Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    use tickpulse_core::trade::{OrderType, Side, TimeInForce};
    let text = |name: &str| -> Result<String, StoreError> { row.try_get(name).map_err(failed) };
    fn named<T>(name: &str, value: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(value).ok_or_else(|| corrupt(name, format!("unknown value {value:?}")))
    }
    let side = named("side", &text("side")?, Side::parse)?;
    let order_type = named("type", &text("type")?, OrderType::parse)?;
    let time_in_force = named("time_in_force", &text("time_in_force")?, TimeInForce::parse)?;
    let status = named("status", &text("status")?, OrderStatus::parse)?;
    let symbol = text("symbol")?;
    let filled_at: Option<i64> = row.try_get("filled_at").map_err(failed)?;
    let canceled_at: Option<i64> = row.try_get("canceled_at").map_err(failed)?;
    let order = Order {
        number: OrderNumber::new(row.try_get("number").map_err(failed)?),
        client_order_id: ClientOrderId::new_checked(&text("client_order_id")?)
            .map_err(|e| corrupt("client_order_id", e))?,
        symbol: Symbol::new_checked(&symbol).map_err(|e| corrupt("symbol", e))?,
        side,
        order_type,
        quantity: shares("quantity", row.try_get("quantity").map_err(failed)?)?,
        limit_price: price("limit_price", row.try_get("limit_price").map_err(failed)?)?,
        time_in_force,
        status,
        filled_quantity: shares(
            "filled_quantity",
            row.try_get("filled_quantity").map_err(failed)?,
        )?,
        avg_fill_price: price(
            "avg_fill_price",
            row.try_get("avg_fill_price").map_err(failed)?,
        )?,
        created_at: time(row.try_get("created_at").map_err(failed)?),
        filled_at: filled_at.map(time),
        canceled_at: canceled_at.map(time),
        fills: Vec::new(),
    };
    let reserved = money_of("reserved_cash", &text("reserved_cash")?)?;
    Ok((text("user_id")?, order, reserved))
}

/// Implements [`TradeStore`] for a store type with a `pool` field and a
/// `begin_write()` (a transaction that may write), in a module with
/// `unavailable(sqlx::Error) -> StoreError` and `money(Decimal)` (the
/// database's exact type for a bind) in scope. `$lock` is what locks a
/// selected row to the end of the transaction (`" FOR UPDATE"`, or `""`
/// where the transaction already holds the write lock).
macro_rules! trade_store {
    ($store:ty, $db:ty, lock = $lock:literal) => {
        type TradeConn = <$db as sqlx::Database>::Connection;

        impl $store {
            /// The account, catalog row and position an order of `user` on
            /// `symbol` changes, locked; `None` without a catalog entry.
            async fn lock_balances(
                conn: &mut TradeConn,
                user: &str,
                symbol: &str,
            ) -> Result<Option<tickpulse_core::trade::Balances>, StoreError> {
                use $crate::store::trading::{decimal, money_of, shares};
                use sqlx::Row;
                let account = sqlx::query(concat!(
                    "SELECT CAST(cash AS TEXT) AS cash, CAST(reserved AS TEXT) AS reserved FROM account WHERE user_id = $1",
                    $lock
                ))
                .bind(user)
                .fetch_one(&mut *conn)
                .await
                .map_err(unavailable)?;
                let Some(stock) = sqlx::query(concat!(
                    "SELECT available, reserved FROM catalog WHERE symbol = $1",
                    $lock
                ))
                .bind(symbol)
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?
                else {
                    return Ok(None);
                };
                let position = sqlx::query(concat!(
                    "SELECT quantity, reserved, CAST(avg_price AS TEXT) AS avg_price FROM position WHERE user_id = $1 AND symbol = $2",
                    $lock
                ))
                .bind(user)
                .bind(symbol)
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
                let cash: String = account.try_get("cash").map_err(unavailable)?;
                let reserved: String = account.try_get("reserved").map_err(unavailable)?;
                let mut balances = tickpulse_core::trade::Balances {
                    cash: money_of("cash", &cash)?,
                    reserved_cash: money_of("reserved", &reserved)?,
                    available: shares("available", stock.try_get("available").map_err(unavailable)?)?,
                    catalog_reserved: shares("reserved", stock.try_get("reserved").map_err(unavailable)?)?,
                    ..Default::default()
                };
                if let Some(p) = position {
                    let avg: String = p.try_get("avg_price").map_err(unavailable)?;
                    balances.quantity = shares("quantity", p.try_get("quantity").map_err(unavailable)?)?;
                    balances.reserved = shares("reserved", p.try_get("reserved").map_err(unavailable)?)?;
                    balances.avg_price = decimal("avg_price", &avg)?;
                }
                Ok(Some(balances))
            }

            /// Writes back what changed; the stock event when `available`
            /// changed.
            async fn write_balances(
                conn: &mut TradeConn,
                user: &str,
                symbol: &tickpulse_core::Symbol,
                before: &tickpulse_core::trade::Balances,
                after: &tickpulse_core::trade::Balances,
            ) -> Result<Option<tickpulse_core::trade::StockEvent>, StoreError> {
                use $crate::store::trading::db_shares;
                if (before.cash, before.reserved_cash) != (after.cash, after.reserved_cash) {
                    sqlx::query("UPDATE account SET cash = $1, reserved = $2 WHERE user_id = $3")
                        .bind(money(after.cash.value()))
                        .bind(money(after.reserved_cash.value()))
                        .bind(user)
                        .execute(&mut *conn)
                        .await
                        .map_err(unavailable)?;
                }
                if (before.available, before.catalog_reserved) != (after.available, after.catalog_reserved) {
                    sqlx::query("UPDATE catalog SET available = $1, reserved = $2 WHERE symbol = $3")
                        .bind(db_shares(after.available))
                        .bind(db_shares(after.catalog_reserved))
                        .bind(symbol.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(unavailable)?;
                }
                if (before.quantity, before.reserved, before.avg_price) != (after.quantity, after.reserved, after.avg_price) {
                    if after.quantity.is_zero() && after.reserved.is_zero() {
                        sqlx::query("DELETE FROM position WHERE user_id = $1 AND symbol = $2")
                            .bind(user)
                            .bind(symbol.as_str())
                            .execute(&mut *conn)
                            .await
                            .map_err(unavailable)?;
                    } else {
                        sqlx::query(
                            "INSERT INTO position (user_id, symbol, quantity, reserved, avg_price) VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = EXCLUDED.quantity, reserved = EXCLUDED.reserved, avg_price = EXCLUDED.avg_price",
                        )
                        .bind(user)
                        .bind(symbol.as_str())
                        .bind(db_shares(after.quantity))
                        .bind(db_shares(after.reserved))
                        .bind(money(after.avg_price))
                        .execute(&mut *conn)
                        .await
                        .map_err(unavailable)?;
                    }
                }
                Ok((before.available != after.available).then(|| tickpulse_core::trade::StockEvent {
                    symbol: symbol.clone(),
                    available: after.available,
                }))
            }

            /// The order, locked when `lock`: its owner, itself, its cash hold.
            async fn order_row(
                conn: &mut TradeConn,
                number: tickpulse_core::trade::OrderNumber,
            ) -> Result<Option<(String, tickpulse_core::trade::Order, tickpulse_core::Money)>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM trade_order WHERE number = $1{}",
                    $crate::store::trading::ORDER_COLUMNS,
                    $lock
                ))
                .bind(number.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
                row.map(|r| $crate::store::trading::order_from(&r, unavailable)).transpose()
            }

            async fn fills_of(
                conn: &mut TradeConn,
                number: tickpulse_core::trade::OrderNumber,
            ) -> Result<Vec<tickpulse_core::trade::Fill>, StoreError> {
                use $crate::store::trading::{corrupt, shares, time};
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT CAST(price AS TEXT) AS price, quantity, ts, stream_id FROM fill WHERE order_number = $1 ORDER BY ts, quantity",
                )
                .bind(number.get())
                .fetch_all(&mut *conn)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|r| {
                        let price: String = r.try_get("price").map_err(unavailable)?;
                        let stream_id: Option<String> = r.try_get("stream_id").map_err(unavailable)?;
                        Ok(tickpulse_core::trade::Fill {
                            price: tickpulse_core::Price::parse(&price).map_err(|e| corrupt("fill price", e))?,
                            quantity: shares("fill quantity", r.try_get("quantity").map_err(unavailable)?)?,
                            ts: time(r.try_get("ts").map_err(unavailable)?),
                            stream_id: stream_id
                                .map(|s| s.parse().map_err(|e| corrupt("fill stream_id", e)))
                                .transpose()?,
                        })
                    })
                    .collect()
            }

            /// Records a fill of `order` and the order's new state.
            async fn record_fill(
                conn: &mut TradeConn,
                order: &mut tickpulse_core::trade::Order,
                fill: &tickpulse_core::trade::Fill,
                status: tickpulse_core::trade::OrderStatus,
                reserved_cash: tickpulse_core::Money,
            ) -> Result<(), StoreError> {
                use $crate::store::trading::db_shares;
                let avg = tickpulse_core::trade::average(
                    order.avg_fill_price.map_or(rust_decimal::Decimal::ZERO, |p| p.value()),
                    order.filled_quantity,
                    fill.price.value(),
                    fill.quantity,
                );
                order.filled_quantity += fill.quantity;
                order.avg_fill_price = tickpulse_core::Price::new_checked(avg).ok();
                order.status = status;
                if order.filled_quantity == order.quantity {
                    order.filled_at = Some(fill.ts);
                }
                if matches!(status, tickpulse_core::trade::OrderStatus::Canceled) {
                    order.canceled_at = Some(fill.ts);
                }
                sqlx::query(
                    "INSERT INTO fill (order_number, price, quantity, ts, stream_id) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(order.number.get())
                .bind(money(fill.price.value()))
                .bind(db_shares(fill.quantity))
                .bind(fill.ts.as_millis())
                .bind(fill.stream_id.map(|s| s.to_string()))
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
                sqlx::query(
                    "UPDATE trade_order SET status = $1, filled_quantity = $2, avg_fill_price = $3, reserved_cash = $4, filled_at = $5, canceled_at = $6 WHERE number = $7",
                )
                .bind(status.as_str())
                .bind(db_shares(order.filled_quantity))
                .bind(money(avg))
                .bind(money(reserved_cash.value()))
                .bind(order.filled_at.map(|t| t.as_millis()))
                .bind(order.canceled_at.map(|t| t.as_millis()))
                .bind(order.number.get())
                .execute(&mut *conn)
                .await
                .map_err(unavailable)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::TradeStore for $store {
            async fn holdings(
                &self,
                user: &str,
                starting_cash: rust_decimal::Decimal,
            ) -> Result<$crate::store::trading::Holdings, StoreError> {
                use $crate::store::trading::{decimal, shares};
                use sqlx::Row;
                sqlx::query(
                    "INSERT INTO account (user_id, cash, reserved, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(user)
                .bind(money(starting_cash))
                .bind(money(rust_decimal::Decimal::ZERO))
                .bind(tickpulse_core::Timestamp::now().as_millis())
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                let account = sqlx::query(
                    "SELECT CAST(cash AS TEXT) AS cash, CAST(reserved AS TEXT) AS reserved FROM account WHERE user_id = $1",
                )
                .bind(user)
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
                let rows = sqlx::query(
                    "SELECT symbol, quantity, reserved, CAST(avg_price AS TEXT) AS avg_price FROM position WHERE user_id = $1 ORDER BY symbol",
                )
                .bind(user)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                let cash: String = account.try_get("cash").map_err(unavailable)?;
                let reserved: String = account.try_get("reserved").map_err(unavailable)?;
                let positions = rows
                    .iter()
                    .map(|r| {
                        let symbol: String = r.try_get("symbol").map_err(unavailable)?;
                        let avg: String = r.try_get("avg_price").map_err(unavailable)?;
                        Ok($crate::store::trading::Holding {
                            symbol: tickpulse_core::Symbol::new_checked(&symbol)
                                .map_err(|e| $crate::store::trading::corrupt("symbol", e))?,
                            quantity: shares("quantity", r.try_get("quantity").map_err(unavailable)?)?,
                            reserved: shares("reserved", r.try_get("reserved").map_err(unavailable)?)?,
                            avg_price: decimal("avg_price", &avg)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok($crate::store::trading::Holdings {
                    cash: decimal("cash", &cash)?,
                    reserved_cash: decimal("reserved", &reserved)?,
                    positions,
                })
            }

            async fn place_order(
                &self,
                new: &$crate::store::trading::NewOrder<'_>,
            ) -> Result<$crate::store::trading::Placed, StoreError> {
                use $crate::store::trading::{db_shares, Change, Placed};
                use sqlx::Row;
                use tickpulse_core::trade::{OrderStatus, TimeInForce};
                let r = new.request;
                let mut tx = self.begin_write().await.map_err(unavailable)?;
                sqlx::query(
                    "INSERT INTO account (user_id, cash, reserved, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(new.user)
                .bind(money(new.starting_cash))
                .bind(money(rust_decimal::Decimal::ZERO))
                .bind(new.now.as_millis())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
                // Lock the account before the order row goes in: the order's
                // foreign key share-locks it, and two orders of one user that
                // both held that share lock would wait on each other for the
                // update lock.
                sqlx::query(concat!("SELECT user_id FROM account WHERE user_id = $1", $lock))
                    .bind(new.user)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                let expires_at = (r.time_in_force == TimeInForce::Day
                    && r.order_type == tickpulse_core::trade::OrderType::Limit)
                    .then(|| tickpulse_core::trade::day_end(new.now).as_millis());
                let inserted = sqlx::query(
                    "INSERT INTO trade_order (user_id, client_order_id, symbol, side, type, quantity, limit_price, time_in_force, status, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'new', $9, $10)
                     ON CONFLICT (user_id, client_order_id) DO NOTHING RETURNING number",
                )
                .bind(new.user)
                .bind(new.client_order_id.as_str())
                .bind(r.symbol.as_str())
                .bind(r.side.as_str())
                .bind(r.order_type.as_str())
                .bind(db_shares(r.quantity))
                .bind(r.limit_price.map(|p| money(p.value())))
                .bind(r.time_in_force.as_str())
                .bind(new.now.as_millis())
                .bind(expires_at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
                let Some(inserted) = inserted else {
                    // Placed before (maybe a moment ago, by another process).
                    drop(tx);
                    let existing = self
                        .order_by_client_id(new.user, new.client_order_id.as_str())
                        .await?
                        .ok_or_else(|| StoreError::Unavailable("the order with this client_order_id was just removed".into()))?;
                    return Ok(Placed::Existing(existing));
                };
                let number = tickpulse_core::trade::OrderNumber::new(
                    inserted.try_get("number").map_err(unavailable)?,
                );
                let Some(before) = Self::lock_balances(&mut tx, new.user, r.symbol.as_str()).await? else {
                    return Ok(Placed::Refused(tickpulse_core::trade::Refusal::UnknownSymbol));
                };
                let mut after = before.clone();
                let placement = match tickpulse_core::trade::place(r, new.price, &mut after) {
                    Ok(p) => p,
                    // Dropping the transaction rolls the order row back.
                    Err(refusal) => return Ok(Placed::Refused(refusal)),
                };
                let stock = Self::write_balances(&mut tx, new.user, &r.symbol, &before, &after).await?;
                let mut order = tickpulse_core::trade::Order {
                    number,
                    client_order_id: new.client_order_id.clone(),
                    symbol: r.symbol.clone(),
                    side: r.side,
                    order_type: r.order_type,
                    quantity: r.quantity,
                    limit_price: r.limit_price,
                    time_in_force: r.time_in_force,
                    status: OrderStatus::New,
                    filled_quantity: tickpulse_core::trade::Shares::ZERO,
                    avg_fill_price: None,
                    created_at: tickpulse_core::Timestamp::from_nanos(new.now.as_millis().saturating_mul(1_000_000)),
                    filled_at: None,
                    canceled_at: None,
                    fills: Vec::new(),
                };
                let fill = placement.fill.map(|(price, quantity)| tickpulse_core::trade::Fill {
                    price,
                    quantity,
                    ts: order.created_at,
                    stream_id: None,
                });
                if let Some(fill) = &fill {
                    Self::record_fill(&mut tx, &mut order, fill, placement.status, placement.reserved_cash).await?;
                    order.fills.push(fill.clone());
                } else {
                    order.status = placement.status;
                    if placement.status == OrderStatus::Canceled {
                        order.canceled_at = Some(order.created_at);
                    }
                    sqlx::query("UPDATE trade_order SET status = $1, reserved_cash = $2, canceled_at = $3 WHERE number = $4")
                        .bind(placement.status.as_str())
                        .bind(money(placement.reserved_cash.value()))
                        .bind(order.canceled_at.map(|t| t.as_millis()))
                        .bind(number.get())
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(Placed::Created(Change {
                    user: new.user.to_owned(),
                    order,
                    fill,
                    stock,
                }))
            }

            async fn fill_order(
                &self,
                number: tickpulse_core::trade::OrderNumber,
                price: tickpulse_core::Price,
                stream_id: tickpulse_core::StreamId,
                ts: tickpulse_core::Timestamp,
            ) -> Result<Option<$crate::store::trading::Change>, StoreError> {
                use tickpulse_core::trade::OrderStatus;
                let mut tx = self.begin_write().await.map_err(unavailable)?;
                let Some((user, mut order, reserved_cash)) = Self::order_row(&mut tx, number).await? else {
                    return Ok(None);
                };
                let Some(limit) = order.limit_price else { return Ok(None) };
                if !order.status.is_open() || !tickpulse_core::trade::crosses(order.side, limit, price) {
                    return Ok(None);
                }
                let Some(before) = Self::lock_balances(&mut tx, &user, order.symbol.as_str()).await? else {
                    return Ok(None);
                };
                let mut after = before.clone();
                let remaining = order.remaining();
                if let Err(refusal) = tickpulse_core::trade::fill_resting(order.side, remaining, reserved_cash, price, &mut after) {
                    return Err(StoreError::Corrupt(format!("order {number} cannot fill: {refusal}")));
                }
                let stock = Self::write_balances(&mut tx, &user, &order.symbol, &before, &after).await?;
                let fill = tickpulse_core::trade::Fill {
                    price,
                    quantity: remaining,
                    ts: tickpulse_core::Timestamp::from_nanos(ts.as_millis().saturating_mul(1_000_000)),
                    stream_id: Some(stream_id),
                };
                Self::record_fill(&mut tx, &mut order, &fill, OrderStatus::Filled, tickpulse_core::Money::ZERO).await?;
                order.fills = Self::fills_of(&mut tx, number).await?;
                tx.commit().await.map_err(unavailable)?;
                Ok(Some($crate::store::trading::Change {
                    user,
                    order,
                    fill: Some(fill),
                    stock,
                }))
            }

            async fn end_order(
                &self,
                number: tickpulse_core::trade::OrderNumber,
                user: Option<&str>,
                status: tickpulse_core::trade::OrderStatus,
                at: tickpulse_core::Timestamp,
            ) -> Result<$crate::store::trading::Ended, StoreError> {
                use $crate::store::trading::Ended;
                let mut tx = self.begin_write().await.map_err(unavailable)?;
                let Some((owner, mut order, reserved_cash)) = Self::order_row(&mut tx, number).await? else {
                    return Ok(Ended::NotFound);
                };
                if user.is_some_and(|u| u != owner) {
                    return Ok(Ended::NotFound);
                }
                if !order.status.is_open() {
                    order.fills = Self::fills_of(&mut tx, number).await?;
                    return Ok(Ended::Terminal(order));
                }
                let Some(before) = Self::lock_balances(&mut tx, &owner, order.symbol.as_str()).await? else {
                    return Err(StoreError::Corrupt(format!("order {number} names a stock not in the catalog")));
                };
                let mut after = before.clone();
                tickpulse_core::trade::release(order.side, order.remaining(), reserved_cash, &mut after);
                let stock = Self::write_balances(&mut tx, &owner, &order.symbol, &before, &after).await?;
                let at = tickpulse_core::Timestamp::from_nanos(at.as_millis().saturating_mul(1_000_000));
                order.status = status;
                order.canceled_at = Some(at);
                sqlx::query("UPDATE trade_order SET status = $1, reserved_cash = $2, canceled_at = $3 WHERE number = $4")
                    .bind(status.as_str())
                    .bind(money(rust_decimal::Decimal::ZERO))
                    .bind(at.as_millis())
                    .bind(number.get())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                order.fills = Self::fills_of(&mut tx, number).await?;
                tx.commit().await.map_err(unavailable)?;
                Ok(Ended::Done($crate::store::trading::Change {
                    user: owner,
                    order,
                    fill: None,
                    stock,
                }))
            }

            async fn order(
                &self,
                number: tickpulse_core::trade::OrderNumber,
            ) -> Result<Option<$crate::store::trading::OwnedOrder>, StoreError> {
                let mut conn = self.pool.acquire().await.map_err(unavailable)?;
                let row = sqlx::query(&format!(
                    "SELECT {} FROM trade_order WHERE number = $1",
                    $crate::store::trading::ORDER_COLUMNS
                ))
                .bind(number.get())
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
                let Some(row) = row else { return Ok(None) };
                let (user, mut order, _) = $crate::store::trading::order_from(&row, unavailable)?;
                order.fills = Self::fills_of(&mut conn, number).await?;
                Ok(Some($crate::store::trading::OwnedOrder { user, order }))
            }

            async fn order_by_client_id(
                &self,
                user: &str,
                client_order_id: &str,
            ) -> Result<Option<tickpulse_core::trade::Order>, StoreError> {
                let number: Option<i64> = sqlx::query_scalar(
                    "SELECT number FROM trade_order WHERE user_id = $1 AND client_order_id = $2",
                )
                .bind(user)
                .bind(client_order_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
                let Some(number) = number else { return Ok(None) };
                let number = tickpulse_core::trade::OrderNumber::new(number);
                Ok($crate::store::TradeStore::order(self, number).await?.map(|o| o.order))
            }

            async fn orders(
                &self,
                user: &str,
                query: &$crate::store::trading::OrderQuery,
            ) -> Result<Vec<tickpulse_core::trade::Order>, StoreError> {
                use $crate::store::trading::StatusFilter;
                let status = match query.status {
                    StatusFilter::Open => " AND status IN ('new', 'partially_filled')",
                    StatusFilter::Closed => " AND status NOT IN ('new', 'partially_filled')",
                    StatusFilter::All => "",
                };
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM trade_order WHERE user_id = $1 AND number < $2{status} ORDER BY number DESC LIMIT $3",
                    $crate::store::trading::ORDER_COLUMNS
                ))
                .bind(user)
                .bind(query.before.map_or(i64::MAX, |n| n.get()))
                .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|r| $crate::store::trading::order_from(r, unavailable).map(|(_, o, _)| o))
                    .collect()
            }

            async fn open_limit_orders(
                &self,
                symbols: &[tickpulse_core::Symbol],
            ) -> Result<Vec<$crate::store::trading::OwnedOrder>, StoreError> {
                if symbols.is_empty() {
                    return Ok(Vec::new());
                }
                let mut out = Vec::new();
                for chunk in symbols.chunks(500) {
                    let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                    let sql = format!(
                        "SELECT {} FROM trade_order WHERE status IN ('new', 'partially_filled') AND type = 'limit' AND symbol IN ({list}) ORDER BY number",
                        $crate::store::trading::ORDER_COLUMNS
                    );
                    let mut q = sqlx::query(&sql);
                    for s in chunk {
                        q = q.bind(s.as_str());
                    }
                    for row in q.fetch_all(&self.pool).await.map_err(unavailable)? {
                        let (user, order, _) = $crate::store::trading::order_from(&row, unavailable)?;
                        out.push($crate::store::trading::OwnedOrder { user, order });
                    }
                }
                out.sort_by_key(|o| o.order.number);
                Ok(out)
            }

            async fn expiring_orders(
                &self,
                now: tickpulse_core::Timestamp,
            ) -> Result<Vec<tickpulse_core::trade::OrderNumber>, StoreError> {
                let numbers: Vec<i64> = sqlx::query_scalar(
                    "SELECT number FROM trade_order WHERE status IN ('new', 'partially_filled') AND expires_at <= $1 ORDER BY number",
                )
                .bind(now.as_millis())
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(numbers.into_iter().map(tickpulse_core::trade::OrderNumber::new).collect())
            }

            async fn add_token(
                &self,
                user: &str,
                token_hash: &str,
                at: tickpulse_core::Timestamp,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "INSERT INTO api_token (token_hash, user_id, created_at) SELECT $1, username, $2 FROM app_user WHERE username = $3",
                )
                .bind(token_hash)
                .bind(at.as_millis())
                .bind(user)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn token_user(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
                sqlx::query_scalar("SELECT user_id FROM api_token WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)
            }
        }
    };
}

pub(crate) use trade_store;
