//! The checked order request: every field of a `POST /api/orders` body,
//! each problem named by its field.

use super::{
    ClientOrderId, OrderType, Shares, Side, TimeInForce, MAX_LIMIT_PRICE, MAX_PRICE_DECIMALS,
    MAX_QUANTITY,
};
use crate::validate::{as_decimal, as_str, kind, optional, required};
use crate::{FieldError, Price, Symbol, ValueError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A checked `POST /api/orders` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderRequest {
    pub symbol: Symbol,
    pub side: Side,
    /// Whole shares, 1 to 1,000,000,000.
    #[cfg_attr(feature = "openapi", schema(value_type = u64, minimum = 1, maximum = 1_000_000_000))]
    pub quantity: Shares,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Required for `limit`, refused for `market`: at most 1,000,000,000
    /// with at most 8 decimal places.
    pub limit_price: Option<Price>,
    /// `day` when absent.
    pub time_in_force: TimeInForce,
    /// 1–64 of A-Z a-z 0-9 . _ : -; generated when absent. A second order
    /// with the same id is the first one again.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[A-Za-z0-9._:-]{1,64}$"))]
    pub client_order_id: Option<ClientOrderId>,
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
pub fn quantity(v: &RawValue) -> Result<Shares, ValueError> {
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
    check_quantity(n)
        .map(Shares::new)
        .map_err(ValueError::BadString)
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
        |v| ClientOrderId::new_checked(&as_str(v)?).map_err(ValueError::BadString),
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

/// The trade page's order form, field by field as typed. It is checked by
/// the same rules as a `POST /api/orders` body ([`OrderForm::check`]):
/// empty fields count as absent, a market order drops the limit price and
/// time in force the form may still hold, and a quantity that reads as a
/// number is one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderForm {
    pub symbol: String,
    pub side: String,
    pub quantity: String,
    /// `market` or `limit`.
    pub order_type: String,
    pub limit_price: Option<String>,
    pub time_in_force: Option<String>,
}

impl OrderForm {
    /// The body of `POST /api/orders` these fields make.
    pub fn body(&self) -> String {
        let mut body = serde_json::Map::new();
        let mut text = |name: &str, value: &str| {
            let value = value.trim();
            if !value.is_empty() {
                body.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
            }
        };
        text("symbol", &self.symbol);
        text("side", &self.side);
        text("type", &self.order_type);
        if self.order_type.trim() != "market" {
            text("limit_price", self.limit_price.as_deref().unwrap_or(""));
            text("time_in_force", self.time_in_force.as_deref().unwrap_or(""));
        }
        let quantity = self.quantity.trim();
        if !quantity.is_empty() {
            let value = serde_json::from_str::<serde_json::Number>(quantity)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(quantity.to_owned()));
            body.insert("quantity".into(), value);
        }
        serde_json::Value::Object(body).to_string()
    }

    /// The checked order.
    ///
    /// # Errors
    /// Every problem, each naming its field (as [`order_request`] does).
    pub fn check(&self) -> Result<OrderRequest, Vec<FieldError>> {
        order_request(self.body().as_bytes())
    }
}
