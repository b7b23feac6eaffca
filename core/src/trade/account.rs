//! What a user sees of trading: stocks, positions valued at live prices,
//! the account, and the trade page's desk.

use super::{Order, Shares};
use crate::{Money, Price, Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A catalog entry with the live last price (`GET /api/stocks/{symbol}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Stock {
    pub symbol: Symbol,
    pub name: String,
    /// Shares the house can still sell.
    pub available: Shares,
    /// The last price of the symbol's View; absent before its first tick.
    pub price: Option<Price>,
    /// The event time of that price.
    pub price_ts: Option<Timestamp>,
}

/// A change of a stock's available quantity (`event: stock` on
/// `/api/stream`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct StockEvent {
    pub symbol: Symbol,
    pub available: Shares,
}

/// A holding, valued at the live price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Position {
    pub symbol: Symbol,
    pub quantity: Shares,
    /// Shares promised to open sell orders.
    pub reserved: Shares,
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
        let qty = Decimal::from(self.quantity.get());
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
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
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
                None => p.avg_price.value() * Decimal::from(p.quantity.get()),
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
