//! How the value newtypes look in the HTTP API's OpenAPI document (with the
//! `openapi` feature; the server builds the document).
//!
//! Each one is a JSON string with the rules its checked constructor
//! enforces, so a client generated from the document sends what tickpulse
//! accepts.

use crate::trade::{ClientOrderId, OrderNumber, Shares};
use crate::{EventId, Money, Price, Source, StreamId, Symbol, Timestamp, Volume};
use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

fn string(description: &str, pattern: Option<&str>, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .examples([json!(example)])
}

macro_rules! schema {
    ($t:ty, $build:expr) => {
        impl PartialSchema for $t {
            fn schema() -> RefOr<Schema> {
                $build.into()
            }
        }
        impl ToSchema for $t {}
    };
}

schema!(
    Symbol,
    string(
        "A market symbol: 1–32 characters of A-Z 0-9 . _ : / - (lower case is upper-cased)",
        Some("^[A-Za-z0-9._:/-]{1,32}$"),
        "BTC-USD"
    )
);
schema!(
    Source,
    string(
        "Where a tick comes from: 1–64 letters, digits and . _ : / -",
        Some("^[A-Za-z0-9._:/-]{1,64}$"),
        "sim"
    )
);
schema!(
    EventId,
    string(
        "The feeder's idempotency key: 1–128 characters, no control characters; a second tick with the same id is a duplicate",
        Some("^[^\\u0000-\\u001f\\u007f-\\u009f]{1,128}$"),
        "sim-1-42"
    )
);
schema!(
    StreamId,
    string(
        "A stream id, `<milliseconds>-<sequence>`, increasing in stream order",
        Some("^[0-9]+-[0-9]+$"),
        "1732269600125-0"
    )
);
schema!(
    Price,
    OneOfBuilder::new()
        .description(Some(
            "An exact positive decimal, as a string (answers always are) or a number"
        ))
        .item(string(
            "",
            Some("^[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?$"),
            "64000.5"
        ))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .exclusive_minimum(Some(0))
        )
);
schema!(
    Volume,
    OneOfBuilder::new()
        .description(Some(
            "An exact decimal ≥ 0, as a string (answers always are) or a number"
        ))
        .item(string(
            "",
            Some("^[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?$"),
            "0.25"
        ))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0))
        )
);
schema!(
    Money,
    string(
        "An exact amount of money, any sign, as a decimal string",
        Some("^-?[0-9]*\\.?[0-9]+$"),
        "100000.25"
    )
);
schema!(
    Timestamp,
    OneOfBuilder::new()
        .description(Some(
            "A time: RFC 3339 (answers always are, in UTC) or epoch milliseconds"
        ))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::DateTime
                )))
                .examples([json!("2026-11-22T10:00:00.125Z")])
        )
        .item(ObjectBuilder::new().schema_type(Type::Integer))
);
schema!(
    Shares,
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some("A whole number of shares"))
        .minimum(Some(0))
);
schema!(
    OrderNumber,
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some("The house's number of an order"))
        .minimum(Some(1))
);
schema!(
    ClientOrderId,
    string(
        "The client's key of an order: 1–64 of A-Z a-z 0-9 . _ : -; a second order with the same key is the first one again",
        Some("^[A-Za-z0-9._:-]{1,64}$"),
        "my-order-1"
    )
);
