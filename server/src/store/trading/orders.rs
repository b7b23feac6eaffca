//! [`TradeStore`] on both databases: placing, filling, ending and reading
//! orders, holdings and personal tokens, each change one transaction.

use super::ledger::{fills_of, lock_balances, order_row, record_fill, write_balances};
use super::*;
use crate::store::sql::{sql, SqlStore};

#[async_trait::async_trait]
impl<S: SqlStore> TradeStore for S {
    async fn holdings(
        &self,
        user: &str,
        starting_cash: rust_decimal::Decimal,
    ) -> Result<Holdings, StoreError> {
        use {decimal, shares};
        sql(
            "INSERT INTO account (user_id, cash, reserved, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user)
        .money(starting_cash)
        .money(rust_decimal::Decimal::ZERO)
        .bind(tickpulse_core::Timestamp::now().as_millis())
        .execute(self.db())
        .await?;
        let account = sql(
            "SELECT CAST(cash AS TEXT) AS cash, CAST(reserved AS TEXT) AS reserved FROM account WHERE user_id = $1",
        )
        .bind(user)
        .fetch_one(self.db())
        .await?;
        let rows = sql(
            "SELECT symbol, quantity, reserved, CAST(avg_price AS TEXT) AS avg_price FROM position WHERE user_id = $1 ORDER BY symbol",
        )
        .bind(user)
        .fetch_all(self.db())
        .await?;
        let cash: String = account.get("cash")?;
        let reserved: String = account.get("reserved")?;
        let positions = rows
            .iter()
            .map(|r| {
                let symbol: String = r.get("symbol")?;
                let avg: String = r.get("avg_price")?;
                Ok(Holding {
                    symbol: tickpulse_core::Symbol::new_checked(&symbol)
                        .map_err(|e| corrupt("symbol", e))?,
                    quantity: shares("quantity", r.get("quantity")?)?,
                    reserved: shares("reserved", r.get("reserved")?)?,
                    avg_price: decimal("avg_price", &avg)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Holdings {
            cash: decimal("cash", &cash)?,
            reserved_cash: decimal("reserved", &reserved)?,
            positions,
        })
    }

    async fn place_order(&self, new: &NewOrder<'_>) -> Result<Placed, StoreError> {
        use tickpulse_core::trade::{OrderStatus, TimeInForce};
        use {db_shares, Change, Placed};
        let r = new.request;
        let mut tx = self.db().begin_write().await?;
        sql(
            "INSERT INTO account (user_id, cash, reserved, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(new.user)
        .money(new.starting_cash)
        .money(rust_decimal::Decimal::ZERO)
        .bind(new.now.as_millis())
        .execute(&mut tx)
        .await?;
        // Lock the account before the order row goes in: the order's
        // foreign key share-locks it, and two orders of one user that
        // both held that share lock would wait on each other for the
        // update lock.
        sql(format!(
            "SELECT user_id FROM account WHERE user_id = $1{}",
            tx.lock()
        ))
        .bind(new.user)
        .fetch_one(&mut tx)
        .await?;
        let expires_at = (r.time_in_force == TimeInForce::Day
            && r.order_type == tickpulse_core::trade::OrderType::Limit)
            .then(|| tickpulse_core::trade::day_end(new.now).as_millis());
        let inserted = sql(
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
        .opt_money(r.limit_price.map(|p| p.value()))
        .bind(r.time_in_force.as_str())
        .bind(new.now.as_millis())
        .bind(expires_at)
        .fetch_optional(&mut tx)
        .await?;
        let Some(inserted) = inserted else {
            // Placed before (maybe a moment ago, by another process).
            drop(tx);
            let existing = self
                .order_by_client_id(new.user, new.client_order_id.as_str())
                .await?
                .ok_or_else(|| {
                    StoreError::Unavailable(
                        "the order with this client_order_id was just removed".into(),
                    )
                })?;
            return Ok(Placed::Existing(existing));
        };
        let number = tickpulse_core::trade::OrderNumber::new(inserted.get("number")?);
        let Some(before) = lock_balances(&mut tx, new.user, r.symbol.as_str()).await? else {
            return Ok(Placed::Refused(
                tickpulse_core::trade::Refusal::UnknownSymbol,
            ));
        };
        let mut after = before.clone();
        let placement = match tickpulse_core::trade::place(r, new.price, &mut after) {
            Ok(p) => p,
            // Dropping the transaction rolls the order row back.
            Err(refusal) => return Ok(Placed::Refused(refusal)),
        };
        let stock = write_balances(&mut tx, new.user, &r.symbol, &before, &after).await?;
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
            created_at: tickpulse_core::Timestamp::from_nanos(
                new.now.as_millis().saturating_mul(1_000_000),
            ),
            filled_at: None,
            canceled_at: None,
            fills: Vec::new(),
        };
        let fill = placement
            .fill
            .map(|(price, quantity)| tickpulse_core::trade::Fill {
                price,
                quantity,
                ts: order.created_at,
                stream_id: None,
            });
        if let Some(fill) = &fill {
            record_fill(
                &mut tx,
                &mut order,
                fill,
                placement.status,
                placement.reserved_cash,
            )
            .await?;
            order.fills.push(fill.clone());
        } else {
            order.status = placement.status;
            if placement.status == OrderStatus::Canceled {
                order.canceled_at = Some(order.created_at);
            }
            sql("UPDATE trade_order SET status = $1, reserved_cash = $2, canceled_at = $3 WHERE number = $4")
                .bind(placement.status.as_str())
                .money(placement.reserved_cash.value())
                .bind(order.canceled_at.map(|t| t.as_millis()))
                .bind(number.get())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
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
    ) -> Result<Option<Change>, StoreError> {
        use tickpulse_core::trade::OrderStatus;
        let mut tx = self.db().begin_write().await?;
        let Some((user, mut order, reserved_cash)) = order_row(&mut tx, number).await? else {
            return Ok(None);
        };
        let Some(limit) = order.limit_price else {
            return Ok(None);
        };
        if !order.status.is_open() || !tickpulse_core::trade::crosses(order.side, limit, price) {
            return Ok(None);
        }
        let Some(before) = lock_balances(&mut tx, &user, order.symbol.as_str()).await? else {
            return Ok(None);
        };
        let mut after = before.clone();
        let remaining = order.remaining();
        if let Err(refusal) = tickpulse_core::trade::fill_resting(
            order.side,
            remaining,
            reserved_cash,
            price,
            &mut after,
        ) {
            return Err(StoreError::Corrupt(format!(
                "order {number} cannot fill: {refusal}"
            )));
        }
        let stock = write_balances(&mut tx, &user, &order.symbol, &before, &after).await?;
        let fill = tickpulse_core::trade::Fill {
            price,
            quantity: remaining,
            ts: tickpulse_core::Timestamp::from_nanos(ts.as_millis().saturating_mul(1_000_000)),
            stream_id: Some(stream_id),
        };
        record_fill(
            &mut tx,
            &mut order,
            &fill,
            OrderStatus::Filled,
            tickpulse_core::Money::ZERO,
        )
        .await?;
        order.fills = fills_of((&mut tx).into(), number).await?;
        tx.commit().await?;
        Ok(Some(Change {
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
    ) -> Result<Ended, StoreError> {
        use Ended;
        let mut tx = self.db().begin_write().await?;
        let Some((owner, mut order, reserved_cash)) = order_row(&mut tx, number).await? else {
            return Ok(Ended::NotFound);
        };
        if user.is_some_and(|u| u != owner) {
            return Ok(Ended::NotFound);
        }
        if !order.status.is_open() {
            order.fills = fills_of((&mut tx).into(), number).await?;
            return Ok(Ended::Terminal(order));
        }
        let Some(before) = lock_balances(&mut tx, &owner, order.symbol.as_str()).await? else {
            return Err(StoreError::Corrupt(format!(
                "order {number} names a stock not in the catalog"
            )));
        };
        let mut after = before.clone();
        tickpulse_core::trade::release(order.side, order.remaining(), reserved_cash, &mut after);
        let stock = write_balances(&mut tx, &owner, &order.symbol, &before, &after).await?;
        let at = tickpulse_core::Timestamp::from_nanos(at.as_millis().saturating_mul(1_000_000));
        order.status = status;
        order.canceled_at = Some(at);
        sql("UPDATE trade_order SET status = $1, reserved_cash = $2, canceled_at = $3 WHERE number = $4")
            .bind(status.as_str())
            .money(rust_decimal::Decimal::ZERO)
            .bind(at.as_millis())
            .bind(number.get())
            .execute(&mut tx)
            .await?;
        order.fills = fills_of((&mut tx).into(), number).await?;
        tx.commit().await?;
        Ok(Ended::Done(Change {
            user: owner,
            order,
            fill: None,
            stock,
        }))
    }

    async fn order(
        &self,
        number: tickpulse_core::trade::OrderNumber,
    ) -> Result<Option<OwnedOrder>, StoreError> {
        let row = sql(format!(
            "SELECT {ORDER_COLUMNS} FROM trade_order WHERE number = $1"
        ))
        .bind(number.get())
        .fetch_optional(self.db())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (user, mut order, _) = order_from(&row)?;
        order.fills = fills_of(self.db().into(), number).await?;
        Ok(Some(OwnedOrder { user, order }))
    }

    async fn order_by_client_id(
        &self,
        user: &str,
        client_order_id: &str,
    ) -> Result<Option<tickpulse_core::trade::Order>, StoreError> {
        let number: Option<i64> =
            sql("SELECT number FROM trade_order WHERE user_id = $1 AND client_order_id = $2")
                .bind(user)
                .bind(client_order_id)
                .fetch_optional(self.db())
                .await?
                .map(|row| row.first())
                .transpose()?;
        let Some(number) = number else {
            return Ok(None);
        };
        let number = tickpulse_core::trade::OrderNumber::new(number);
        Ok(crate::store::TradeStore::order(self, number)
            .await?
            .map(|o| o.order))
    }

    async fn orders(
        &self,
        user: &str,
        query: &OrderQuery,
    ) -> Result<Vec<tickpulse_core::trade::Order>, StoreError> {
        use StatusFilter;
        let status = match query.status {
            StatusFilter::Open => " AND status IN ('new', 'partially_filled')",
            StatusFilter::Closed => " AND status NOT IN ('new', 'partially_filled')",
            StatusFilter::All => "",
        };
        let rows = sql(format!(
            "SELECT {} FROM trade_order WHERE user_id = $1 AND number < $2{status} ORDER BY number DESC LIMIT $3",
            ORDER_COLUMNS
        ))
        .bind(user)
        .bind(query.before.map_or(i64::MAX, |n| n.get()))
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(self.db())
        .await?;
        rows.iter()
            .map(|r| order_from(&r).map(|(_, o, _)| o))
            .collect()
    }

    async fn open_limit_orders(
        &self,
        symbols: &[tickpulse_core::Symbol],
    ) -> Result<Vec<OwnedOrder>, StoreError> {
        if symbols.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for chunk in symbols.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let statement = chunk.iter().fold(
                sql(format!(
                    "SELECT {ORDER_COLUMNS} FROM trade_order WHERE status IN ('new', 'partially_filled') AND type = 'limit' AND symbol IN ({list}) ORDER BY number"
                )),
                |q, s| q.bind(s.as_str()),
            );
            for row in statement.fetch_all(self.db()).await? {
                let (user, order, _) = order_from(&row)?;
                out.push(OwnedOrder { user, order });
            }
        }
        out.sort_by_key(|o| o.order.number);
        Ok(out)
    }

    async fn expiring_orders(
        &self,
        now: tickpulse_core::Timestamp,
    ) -> Result<Vec<tickpulse_core::trade::OrderNumber>, StoreError> {
        sql("SELECT number FROM trade_order WHERE status IN ('new', 'partially_filled') AND expires_at <= $1 ORDER BY number")
            .bind(now.as_millis())
            .fetch_all(self.db())
            .await?
            .iter()
            .map(|row| row.first().map(OrderNumber::new))
            .collect()
    }

    async fn add_token(
        &self,
        user: &str,
        token_hash: &str,
        at: tickpulse_core::Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sql(
            "INSERT INTO api_token (token_hash, user_id, created_at) SELECT $1, username, $2 FROM app_user WHERE username = $3",
        )
        .bind(token_hash)
        .bind(at.as_millis())
        .bind(user)
        .execute(self.db())
        .await?;
        Ok(done == 1)
    }

    async fn token_user(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        sql("SELECT user_id FROM api_token WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.db())
            .await?
            .map(|row| row.first())
            .transpose()
    }
}
