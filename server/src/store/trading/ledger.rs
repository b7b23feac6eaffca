//! What one trading transaction reads and writes besides the order row:
//! the balances (account, catalog row, position) under their locks, the
//! order row itself, and its fills.

use super::{corrupt, db_shares, decimal, money_of, order_from, shares, time, ORDER_COLUMNS};
use crate::store::sql::{sql, On, Tx};
use crate::store::StoreError;
use tickpulse_core::trade::OrderNumber;

/// The account, catalog row and position an order of `user` on
/// `symbol` changes, locked; `None` without a catalog entry.
pub(super) async fn lock_balances(
    conn: &mut Tx,
    user: &str,
    symbol: &str,
) -> Result<Option<tickpulse_core::trade::Balances>, StoreError> {
    use {decimal, money_of, shares};
    let account = sql(format!("SELECT CAST(cash AS TEXT) AS cash, CAST(reserved AS TEXT) AS reserved FROM account WHERE user_id = $1{}", conn.lock()))
    .bind(user)
    .fetch_one(&mut *conn)
    .await?;
    let Some(stock) = sql(format!(
        "SELECT available, reserved FROM catalog WHERE symbol = $1{}",
        conn.lock()
    ))
    .bind(symbol)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let position = sql(format!("SELECT quantity, reserved, CAST(avg_price AS TEXT) AS avg_price FROM position WHERE user_id = $1 AND symbol = $2{}", conn.lock()))
    .bind(user)
    .bind(symbol)
    .fetch_optional(&mut *conn)
    .await?;
    let cash: String = account.get("cash")?;
    let reserved: String = account.get("reserved")?;
    let mut balances = tickpulse_core::trade::Balances {
        cash: money_of("cash", &cash)?,
        reserved_cash: money_of("reserved", &reserved)?,
        available: shares("available", stock.get("available")?)?,
        catalog_reserved: shares("reserved", stock.get("reserved")?)?,
        ..Default::default()
    };
    if let Some(p) = position {
        let avg: String = p.get("avg_price")?;
        balances.quantity = shares("quantity", p.get("quantity")?)?;
        balances.reserved = shares("reserved", p.get("reserved")?)?;
        balances.avg_price = decimal("avg_price", &avg)?;
    }
    Ok(Some(balances))
}

/// Writes back what changed; the stock event when `available`
/// changed.
pub(super) async fn write_balances(
    conn: &mut Tx,
    user: &str,
    symbol: &tickpulse_core::Symbol,
    before: &tickpulse_core::trade::Balances,
    after: &tickpulse_core::trade::Balances,
) -> Result<Option<tickpulse_core::trade::StockEvent>, StoreError> {
    use db_shares;
    if (before.cash, before.reserved_cash) != (after.cash, after.reserved_cash) {
        sql("UPDATE account SET cash = $1, reserved = $2 WHERE user_id = $3")
            .money(after.cash.value())
            .money(after.reserved_cash.value())
            .bind(user)
            .execute(&mut *conn)
            .await?;
    }
    if (before.available, before.catalog_reserved) != (after.available, after.catalog_reserved) {
        sql("UPDATE catalog SET available = $1, reserved = $2 WHERE symbol = $3")
            .bind(db_shares(after.available))
            .bind(db_shares(after.catalog_reserved))
            .bind(symbol.as_str())
            .execute(&mut *conn)
            .await?;
    }
    if (before.quantity, before.reserved, before.avg_price)
        != (after.quantity, after.reserved, after.avg_price)
    {
        if after.quantity.is_zero() && after.reserved.is_zero() {
            sql("DELETE FROM position WHERE user_id = $1 AND symbol = $2")
                .bind(user)
                .bind(symbol.as_str())
                .execute(&mut *conn)
                .await?;
        } else {
            sql(
                "INSERT INTO position (user_id, symbol, quantity, reserved, avg_price) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_id, symbol) DO UPDATE SET quantity = EXCLUDED.quantity, reserved = EXCLUDED.reserved, avg_price = EXCLUDED.avg_price",
            )
            .bind(user)
            .bind(symbol.as_str())
            .bind(db_shares(after.quantity))
            .bind(db_shares(after.reserved))
            .money(after.avg_price)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(
        (before.available != after.available).then(|| tickpulse_core::trade::StockEvent {
            symbol: symbol.clone(),
            available: after.available,
        }),
    )
}

/// The order, locked when `lock`: its owner, itself, its cash hold.
pub(super) async fn order_row(
    conn: &mut Tx,
    number: tickpulse_core::trade::OrderNumber,
) -> Result<Option<(String, tickpulse_core::trade::Order, tickpulse_core::Money)>, StoreError> {
    let row = sql(format!(
        "SELECT {} FROM trade_order WHERE number = $1{}",
        ORDER_COLUMNS,
        conn.lock()
    ))
    .bind(number.get())
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| order_from(&r)).transpose()
}

pub(super) async fn fills_of(
    on: On<'_>,
    number: OrderNumber,
) -> Result<Vec<tickpulse_core::trade::Fill>, StoreError> {
    use {corrupt, shares, time};
    let rows = sql(
        "SELECT CAST(price AS TEXT) AS price, quantity, ts, stream_id FROM fill WHERE order_number = $1 ORDER BY ts, quantity",
    )
    .bind(number.get())
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            let price: String = r.get("price")?;
            let stream_id: Option<String> = r.get("stream_id")?;
            Ok(tickpulse_core::trade::Fill {
                price: tickpulse_core::Price::parse(&price)
                    .map_err(|e| corrupt("fill price", e))?,
                quantity: shares("fill quantity", r.get("quantity")?)?,
                ts: time(r.get("ts")?),
                stream_id: stream_id
                    .map(|s| s.parse().map_err(|e| corrupt("fill stream_id", e)))
                    .transpose()?,
            })
        })
        .collect()
}

/// Records a fill of `order` and the order's new state.
pub(super) async fn record_fill(
    conn: &mut Tx,
    order: &mut tickpulse_core::trade::Order,
    fill: &tickpulse_core::trade::Fill,
    status: tickpulse_core::trade::OrderStatus,
    reserved_cash: tickpulse_core::Money,
) -> Result<(), StoreError> {
    use db_shares;
    let avg = tickpulse_core::trade::average(
        order
            .avg_fill_price
            .map_or(rust_decimal::Decimal::ZERO, |p| p.value()),
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
    sql(
        "INSERT INTO fill (order_number, price, quantity, ts, stream_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order.number.get())
    .money(fill.price.value())
    .bind(db_shares(fill.quantity))
    .bind(fill.ts.as_millis())
    .bind(fill.stream_id.map(|s| s.to_string()))
    .execute(&mut *conn)
    .await?;
    sql(
        "UPDATE trade_order SET status = $1, filled_quantity = $2, avg_fill_price = $3, reserved_cash = $4, filled_at = $5, canceled_at = $6 WHERE number = $7",
    )
    .bind(status.as_str())
    .bind(db_shares(order.filled_quantity))
    .money(avg)
    .money(reserved_cash.value())
    .bind(order.filled_at.map(|t| t.as_millis()))
    .bind(order.canceled_at.map(|t| t.as_millis()))
    .bind(order.number.get())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
