//! An order's vocabulary and lifecycle: sides, types, time in force,
//! statuses, refusals, fills, the order itself and its change event.

use super::{ClientOrderId, OrderNumber, Shares};
use crate::{Price, StreamId, Symbol, Timestamp};
use serde::{Deserialize, Serialize};

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

/// One execution of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Fill {
    pub price: Price,
    pub quantity: Shares,
    pub ts: Timestamp,
    /// The tick that filled a limit order; absent for a market order, which
    /// fills at the price the View held when it arrived.
    pub stream_id: Option<StreamId>,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct Order {
    /// The transaction number users quote: increasing, never reused.
    pub number: OrderNumber,
    pub client_order_id: ClientOrderId,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "graphql", graphql(name = "type"))]
    pub order_type: OrderType,
    pub quantity: Shares,
    pub limit_price: Option<Price>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    pub filled_quantity: Shares,
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
    pub fn remaining(&self) -> Shares {
        self.quantity.saturating_sub(self.filled_quantity)
    }
}

/// A change of an order, as `GET /api/orders/stream` sends it (`event:
/// order`): the order after the change and, when the change was a fill,
/// that fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct OrderEvent {
    pub order: Order,
    pub fill: Option<Fill>,
}
