//! The ledger rules one order transaction applies: what an order costs,
//! reserves, fills and gives back, on the balances the store reads under
//! its locks and writes back in the same transaction.

use super::{
    OrderRequest, OrderStatus, OrderType, Refusal, Shares, Side, TimeInForce, AVERAGE_DECIMALS,
};
use crate::{Money, Price, Timestamp};
use rust_decimal::Decimal;

/// `price × quantity`, or `None` when it overflows (no account could pay it).
pub fn cost(price: Price, quantity: Shares) -> Option<Money> {
    price
        .value()
        .checked_mul(Decimal::from(quantity.get()))
        .map(Money::new)
}

/// The average of `old_quantity` at `old_avg` and `quantity` at `price`,
/// rounded to [`AVERAGE_DECIMALS`].
pub fn average(
    old_avg: Decimal,
    old_quantity: Shares,
    price: Decimal,
    quantity: Shares,
) -> Decimal {
    let total = old_quantity + quantity;
    if total.is_zero() {
        return Decimal::ZERO;
    }
    let sum = old_avg * Decimal::from(old_quantity.get()) + price * Decimal::from(quantity.get());
    (sum / Decimal::from(total.get()))
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
    pub cash: Money,
    pub reserved_cash: Money,
    /// The catalog's `available` and `reserved`.
    pub available: Shares,
    pub catalog_reserved: Shares,
    /// The position's quantity, reserved shares and average price.
    pub quantity: Shares,
    pub reserved: Shares,
    pub avg_price: Decimal,
}

/// What placing an order does, once the balances are changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub status: OrderStatus,
    /// Executed at once: price and quantity.
    pub fill: Option<(Price, Shares)>,
    /// Cash the order keeps reserved while it rests.
    pub reserved_cash: Money,
}

fn buy_now(b: &mut Balances, price: Price, quantity: Shares) -> Result<(), Refusal> {
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

fn sell_now(b: &mut Balances, price: Price, quantity: Shares) -> Result<(), Refusal> {
    if b.quantity.saturating_sub(b.reserved) < quantity {
        return Err(Refusal::InsufficientPosition);
    }
    let proceeds = cost(price, quantity).ok_or(Refusal::InsufficientPosition)?;
    b.quantity -= quantity;
    if b.quantity.is_zero() {
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
        reserved_cash: Money::ZERO,
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
            reserved_cash: Money::ZERO,
        };
        let Some(price) = now else {
            return Ok(canceled);
        };
        let k = match order.side {
            Side::Buy => q.min(b.available),
            Side::Sell => q.min(b.quantity.saturating_sub(b.reserved)),
        };
        if k.is_zero() {
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
                reserved_cash: Money::ZERO,
            })
        }
    }
}

/// Gives back what a resting order holds (`remaining` shares, and
/// `reserved_cash`): on cancel, on expiry, and before its fill.
pub fn release(side: Side, remaining: Shares, reserved_cash: Money, b: &mut Balances) {
    match side {
        Side::Buy => {
            b.reserved_cash = (b.reserved_cash - reserved_cash).max(Money::ZERO);
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
    remaining: Shares,
    reserved_cash: Money,
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
