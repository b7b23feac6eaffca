//! Orders and accounts as the API and the pages see them: placing (checked
//! input, the live price, idempotency by client order id), canceling,
//! lookups, the account valued at live prices, and the `orders` and
//! `stocks` messages every change publishes on the bus.

use super::{Trading, TradingError};
use crate::bus::{publish_json, Bus, Topic};
use crate::store::trading::{Change, Ended, NewOrder, OrderQuery, OwnedOrder, Placed};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};
use tickpulse_core::account::{Role, SignedIn};
use tickpulse_core::notice::OrderNotice;
use tickpulse_core::trade::{
    Account, ClientOrderId, Order, OrderEvent, OrderNumber, OrderRequest, OrderStatus, Position,
    StockEvent,
};
use tickpulse_core::{Money, Price, Symbol, Timestamp};

/// The trading settings of a process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `STARTING_CASH`.
    pub starting_cash: Decimal,
    /// `TRADE_STALE_SECS`: older prices are not traded on.
    pub stale: Duration,
}

impl Settings {
    pub fn of(config: &crate::platform::config::Config) -> Self {
        Self {
            starting_cash: config.starting_cash,
            stale: Duration::from_secs(config.trade_stale_secs),
        }
    }
}

/// A new client order id: 16 random bytes as hex.
pub fn new_client_order_id() -> ClientOrderId {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    ClientOrderId::from_random(bytes)
}

/// The symbol's last price when it is no older than `stale` (event time),
/// for trading on.
///
/// # Errors
/// The bus's failure.
pub async fn live_price(
    bus: &dyn Bus,
    symbol: &Symbol,
    stale: Duration,
) -> Result<Option<Price>, TradingError> {
    let Some(view) = bus.view(symbol).await? else {
        return Ok(None);
    };
    let age_nanos = Timestamp::now()
        .as_nanos()
        .saturating_sub(view.last.tick.ts.as_nanos());
    let fresh = u128::try_from(age_nanos).unwrap_or(0) <= stale.as_nanos();
    Ok(fresh.then_some(view.last.tick.price))
}

/// Publishes what the changes did: each order change to its owner's
/// stream, each change of a stock's available quantity on `/api/stream`.
/// A change is already committed; when the bus is down the events are lost
/// (logged), and order streams catch up from their next snapshot.
pub async fn publish(bus: &dyn Bus, changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    let notices: Vec<OrderNotice> = changes
        .iter()
        .map(|c| OrderNotice {
            user: c.user.clone(),
            event: OrderEvent {
                order: Order {
                    fills: Vec::new(),
                    ..c.order.clone()
                },
                fill: c.fill.clone(),
            },
        })
        .collect();
    let stocks: Vec<&StockEvent> = changes.iter().filter_map(|c| c.stock.as_ref()).collect();
    publish_json(bus, Topic::Orders, &notices).await;
    if !stocks.is_empty() {
        publish_json(bus, Topic::Stocks, &stocks).await;
    }
}

impl Trading {
    /// Places an order for `user`: `(true, order)` for a new one, `(false,
    /// order)` when the user already placed one with this client order id
    /// (nothing is traded again).
    ///
    /// # Errors
    /// `Refused` with the refusal code, or the bus's or the store's failure
    /// (nothing is written then).
    pub async fn place(
        &self,
        user: &str,
        request: &OrderRequest,
    ) -> Result<(bool, Order), TradingError> {
        let (store, bus, metrics, settings) = (
            self.store.as_ref(),
            self.bus.as_ref(),
            &self.metrics,
            &self.settings,
        );
        let started = Instant::now();
        let client_order_id = request
            .client_order_id
            .clone()
            .unwrap_or_else(new_client_order_id);
        let price = live_price(bus, &request.symbol, settings.stale).await?;
        let placed = store
            .place_order(&NewOrder {
                user,
                request,
                client_order_id: &client_order_id,
                price,
                starting_cash: settings.starting_cash,
                now: Timestamp::now(),
            })
            .await?;
        let (kind, side) = (request.order_type.as_str(), request.side.as_str());
        let answer = match placed {
            Placed::Created(change) => {
                metrics.order(kind, side, change.order.status.as_str());
                if change.fill.is_some() {
                    metrics.fills.inc();
                }
                publish(bus, std::slice::from_ref(&change)).await;
                Ok((true, change.order))
            }
            Placed::Existing(order) => Ok((false, order)),
            Placed::Refused(refusal) => {
                metrics.order(kind, side, refused_label(refusal));
                Err(TradingError::Refused(refusal))
            }
        };
        metrics
            .order_seconds
            .observe(started.elapsed().as_secs_f64());
        answer
    }

    /// Cancels `user`'s open order `number` and gives back what it holds.
    ///
    /// # Errors
    /// `NotFound` for an order that is not the user's, `Conflict` when it is
    /// already terminal, or the store's failure.
    pub async fn cancel(&self, user: &str, number: OrderNumber) -> Result<Order, TradingError> {
        let bus = self.bus.as_ref();
        match self
            .store
            .end_order(number, Some(user), OrderStatus::Canceled, Timestamp::now())
            .await?
        {
            Ended::Done(change) => {
                publish(bus, std::slice::from_ref(&change)).await;
                Ok(change.order)
            }
            Ended::Terminal(order) => Err(TradingError::Conflict(format!(
                "order {number} is already {} and cannot be canceled",
                order.status
            ))),
            Ended::NotFound => Err(not_found(number)),
        }
    }

    /// Order `number` with its fills, for its owner or an admin; `NotFound`
    /// for anyone else, so numbers tell nothing about other users' orders.
    ///
    /// # Errors
    /// `NotFound`, or the store's failure.
    pub async fn order(
        &self,
        caller: &SignedIn,
        number: OrderNumber,
    ) -> Result<Order, TradingError> {
        match self.store.order(number).await? {
            Some(OwnedOrder { user, order })
                if user == caller.username || caller.role == Role::Admin =>
            {
                Ok(order)
            }
            _ => Err(not_found(number)),
        }
    }

    /// # Errors
    /// `NotFound`, or the store's failure.
    pub async fn by_client_id(&self, user: &str, id: &str) -> Result<Order, TradingError> {
        self.store
            .order_by_client_id(user, id)
            .await?
            .ok_or_else(|| {
                TradingError::NotFound(format!("you have no order with client_order_id {id:?}"))
            })
    }

    /// # Errors
    /// The store's failure.
    pub async fn list(&self, user: &str, query: &OrderQuery) -> Result<Vec<Order>, TradingError> {
        Ok(self.store.orders(user, query).await?)
    }

    /// The user's account, valued at the live last prices.
    ///
    /// # Errors
    /// The store's or the bus's failure.
    pub async fn account(&self, user: &str) -> Result<Account, TradingError> {
        let bus = self.bus.as_ref();
        let holdings = self
            .store
            .holdings(user, self.settings.starting_cash)
            .await?;
        // The positions' prices, asked for at once.
        let prices =
            futures::future::try_join_all(holdings.positions.iter().map(|h| bus.view(&h.symbol)))
                .await?;
        let mut positions = Vec::with_capacity(holdings.positions.len());
        for (h, view) in holdings.positions.into_iter().zip(prices) {
            let price = view.map(|v| v.last.tick.price);
            positions.push(
                Position {
                    symbol: h.symbol,
                    quantity: h.quantity,
                    reserved: h.reserved,
                    avg_price: Money::new(h.avg_price),
                    price: None,
                    market_value: None,
                    unrealized_pnl: None,
                }
                .valued(price),
            );
        }
        Ok(Account::new(
            user.to_owned(),
            Money::new(holdings.cash),
            Money::new(holdings.reserved_cash),
            positions,
        ))
    }
}

fn refused_label(refusal: tickpulse_core::trade::Refusal) -> &'static str {
    use tickpulse_core::trade::Refusal;
    match refusal {
        Refusal::InsufficientCash => "refused_insufficient_cash",
        Refusal::InsufficientQuantity => "refused_insufficient_quantity",
        Refusal::InsufficientPosition => "refused_insufficient_position",
        Refusal::NoLivePrice => "refused_no_live_price",
        Refusal::UnknownSymbol => "refused_unknown_symbol",
    }
}

fn not_found(number: OrderNumber) -> TradingError {
    TradingError::NotFound(format!("you have no order {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_are_valid_and_distinct() {
        let a = new_client_order_id();
        assert_eq!(a.as_str().len(), 32);
        assert!(ClientOrderId::new_checked(a.as_str()).is_ok());
        assert_ne!(a, new_client_order_id());
    }
}
