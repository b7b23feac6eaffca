//! The domain's values as GraphQL scalars (the `graphql` feature, for the
//! server's `/api/graphql`): each is written exactly as the JSON API writes
//! it (a symbol, a price as a decimal string, a time as RFC 3339…), so a
//! GraphQL answer and a REST answer of the same data are equal. The objects
//! (`Order`, `View`…) derive their GraphQL type beside their serde one,
//! with the JSON's field names.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The value as the JSON API writes it.
fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v)
        .ok()
        .and_then(|json| Value::from_json(json).ok())
        .unwrap_or(Value::Null)
}

/// A value read as the JSON API reads it.
fn parse<T: DeserializeOwned + async_graphql::InputType>(value: Value) -> InputValueResult<T> {
    let json = value.into_json().map_err(InputValueError::custom)?;
    serde_json::from_value(json).map_err(InputValueError::custom)
}

macro_rules! scalar {
    ($($t:ty => $name:literal: $description:literal;)+) => {$(
        #[Scalar(name = $name, use_type_description)]
        impl ScalarType for $t {
            fn parse(value: Value) -> InputValueResult<Self> {
                parse(value)
            }

            fn to_value(&self) -> Value {
                to_value(self)
            }
        }

        impl async_graphql::Description for $t {
            fn description() -> &'static str {
                $description
            }
        }
    )+};
}

scalar! {
    crate::Symbol => "Symbol": "A ticker symbol: 1-32 of A-Z 0-9 . _ : / - (upper case).";
    crate::Source => "Source": "Who sent a tick.";
    crate::EventId => "EventId": "A tick's idempotency key.";
    crate::Price => "Price": "A price, as a decimal string (exact).";
    crate::Volume => "Volume": "A volume, as a decimal string (exact).";
    crate::Money => "Money": "An amount of money, as a decimal string (exact).";
    crate::Timestamp => "Timestamp": "A time, RFC 3339 in UTC.";
    crate::StreamId => "StreamId": "A position in the tick stream: <millis>-<seq>.";
    crate::trade::Shares => "Shares": "A whole number of shares.";
    crate::trade::OrderNumber => "OrderNumber": "An order's transaction number.";
    crate::trade::Side => "Side": "buy or sell.";
    crate::trade::OrderType => "OrderType": "market or limit.";
    crate::trade::TimeInForce => "TimeInForce": "day, gtc or ioc.";
    crate::trade::OrderStatus => "OrderStatus": "new, partially_filled, filled, canceled, expired or rejected.";
}

/// The client's key of an order is read by the order rules, never as a
/// scalar argument: written only.
#[Scalar(name = "ClientOrderId", use_type_description)]
impl ScalarType for crate::trade::ClientOrderId {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Self::new_checked(&s).map_err(InputValueError::custom),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        to_value(self)
    }
}

impl async_graphql::Description for crate::trade::ClientOrderId {
    fn description() -> &'static str {
        "The client's key of an order: 1-64 of A-Z a-z 0-9 . _ : -."
    }
}
