//! [`StreamId`]: the position of an accepted tick in the tick stream.
//!
//! # Format
//! `<milliseconds>-<sequence>`, as Redis streams write it (`1732269600125-0`).
//! Ids grow strictly with every accepted tick, so they order ticks by arrival
//! and serve as SSE event ids.

use crate::ValueError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub millis: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { millis: 0, seq: 0 };

    /// The smallest id after this one.
    pub const fn next(self) -> Self {
        if self.seq == u64::MAX {
            // The next millisecond's first id (Redis orders ids this way).
            return Self {
                millis: self.millis.saturating_add(1),
                seq: if self.millis == u64::MAX { u64::MAX } else { 0 },
            };
        }
        Self {
            millis: self.millis,
            seq: self.seq + 1,
        }
    }

    pub const fn new(millis: u64, seq: u64) -> Self {
        Self { millis, seq }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.seq)
    }
}

impl FromStr for StreamId {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::NotAStreamId(s.to_owned());
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            millis: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for StreamId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_displays_and_orders() {
        let a: StreamId = "1732269600125-0".parse().unwrap();
        let b: StreamId = "1732269600125-10".parse().unwrap();
        let c: StreamId = "1732269600126-2".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1732269600125-10");
        assert!("12".parse::<StreamId>().is_err());
        assert!("a-1".parse::<StreamId>().is_err());
        assert_eq!(StreamId::new(5, 1).next(), StreamId::new(5, 2));
        assert_eq!(StreamId::new(5, u64::MAX).next(), StreamId::new(6, 0));
        let last = StreamId::new(u64::MAX, u64::MAX);
        assert_eq!(last.next(), last);
    }
}
