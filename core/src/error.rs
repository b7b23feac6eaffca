//! [`ValueError`]: why a value is not a valid symbol, source, event id,
//! price, volume, time, stream id or interval. The messages are sentences a
//! feeder can act on; the caller names the field.

use rust_decimal::Decimal;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("contains {found:?}; allowed are {allowed}")]
    Character { found: char, allowed: &'static str },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must be a decimal number, got an empty string")]
    EmptyNumber,
    #[error("must be a finite number, got {0:?}")]
    NotFinite(String),
    #[error("{0:?} is out of range (at most 28 significant digits)")]
    TooManyDigits(String),
    #[error("must be a decimal number, got {0:?}")]
    NotANumber(String),
    #[error("must be greater than 0, got {0}")]
    NotPositive(Decimal),
    #[error("must be 0 or greater, got {0}")]
    Negative(Decimal),
    #[error("epoch milliseconds must not be negative, got {0}")]
    NegativeEpoch(i64),
    #[error("epoch milliseconds {0} is out of range")]
    EpochOutOfRange(i64),
    #[error("must be an RFC 3339 timestamp or epoch milliseconds, got {text:?} ({reason})")]
    NotATime { text: String, reason: String },
    #[error("{0:?} is out of range (1970-2262)")]
    TimeOutOfRange(String),
    #[error("{0:?} is before 1970")]
    BeforeEpoch(String),
    #[error("{0:?} is out of range")]
    NumberOutOfRange(String),
    #[error("{0:?} is not a stream id (expected <millis>-<seq>)")]
    NotAStreamId(String),
    #[error("{0:?} is not an interval; use 1s, 1m, 5m, 1h or 1d")]
    NotAnInterval(String),
    #[error("{0:?} is not a conflation interval; use 0 (none) or 10ms to 60s, as 250ms, 2s or 1m")]
    NotAConflation(String),
    /// A JSON value of the wrong kind (`expected` and `got` read "a string",
    /// "a number"…).
    #[error("must be {expected}, got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    /// A JSON string that cannot be read (a bad escape).
    #[error("{0}")]
    BadString(String),
    #[error("epoch milliseconds must be a whole number, got {0}")]
    NotWholeMillis(String),
    /// An event time too far ahead of the server's clock (both as RFC 3339).
    #[error("{ts} is more than 5 minutes in the future (server time {now})")]
    InFuture { ts: String, now: String },
}
