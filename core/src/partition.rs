//! Partitions of the tick stream: which partition a symbol belongs to, and a
//! [`Cursor`], the position of a reader in every partition.
//!
//! A deployment splits its tick stream into `BUS_PARTITIONS` partitions. A
//! symbol always maps to the same one ([`Partition::of`]), so each symbol's
//! ticks keep their order; ticks of different partitions have no order
//! between them, and their stream ids cannot be compared.

use crate::{StreamId, Symbol, ValueError};
use std::fmt;
use std::str::FromStr;

/// Most partitions a deployment may have.
pub const MAX_PARTITIONS: u16 = 1_024;

/// One partition of the tick stream, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Partition(pub u16);

impl Partition {
    /// The partition of `symbol` among `count`: FNV-1a (32 bits) of the
    /// symbol's bytes, modulo `count`. Stable across versions, processes and
    /// machines; changing it would move symbols between partitions.
    pub fn of(symbol: &Symbol, count: u16) -> Self {
        if count <= 1 {
            return Self(0);
        }
        let mut hash: u32 = 0x811c_9dc5;
        for byte in symbol.as_str().bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        Self((hash % u32::from(count)) as u16)
    }

    /// Every partition of `count`, in order.
    pub fn all(count: u16) -> impl Iterator<Item = Partition> {
        (0..count.max(1)).map(Partition)
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a reader stands in each partition: the last stream id it has seen
/// there (`0-0` for none).
///
/// # Format
/// The partitions' ids in order, joined by commas: `1732269600125-3` with one
/// partition (the shape of a plain stream id), `1732269600125-3,0-0,…` with
/// more. SSE event ids and the client's resume carry it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(Vec<StreamId>);

impl Cursor {
    /// The start of every one of `count` partitions.
    pub fn start(count: u16) -> Self {
        Self(vec![StreamId::ZERO; usize::from(count.max(1))])
    }

    /// How many partitions the cursor speaks of.
    pub fn partitions(&self) -> u16 {
        self.0.len() as u16
    }

    /// The last id seen in `p` (`0-0` outside the cursor).
    pub fn get(&self, p: Partition) -> StreamId {
        self.0.get(p.index()).copied().unwrap_or(StreamId::ZERO)
    }

    /// Moves the position in `p` to `id` when it is further on.
    pub fn advance(&mut self, p: Partition, id: StreamId) {
        if let Some(at) = self.0.get_mut(p.index()) {
            *at = (*at).max(id);
        }
    }

    /// Every partition with its position.
    pub fn iter(&self) -> impl Iterator<Item = (Partition, StreamId)> + '_ {
        self.0
            .iter()
            .enumerate()
            .map(|(i, id)| (Partition(i as u16), *id))
    }

    /// Reads a `Last-Event-ID` header value: surrounding blanks are ignored,
    /// and an empty value means none was sent.
    ///
    /// # Errors
    /// When the value is not UTF-8 or not a cursor.
    pub fn from_last_event_id(value: &[u8]) -> Result<Option<Self>, ValueError> {
        let text = std::str::from_utf8(value)
            .map_err(|_| ValueError::NotAStreamId(String::from_utf8_lossy(value).into_owned()))?
            .trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            id.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        let ids = s
            .split(',')
            .map(|id| id.trim().parse())
            .collect::<Result<Vec<StreamId>, _>>()?;
        if ids.len() > usize::from(MAX_PARTITIONS) {
            return Err(ValueError::NotAStreamId(format!(
                "{} positions, at most {MAX_PARTITIONS}",
                ids.len()
            )));
        }
        Ok(Self(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new_checked(s).unwrap()
    }

    #[test]
    fn a_symbols_partition_is_stable_and_spread() {
        // Fixed values: a change of the hash would move symbols.
        assert_eq!(
            Partition::of(&sym("AAPL"), 8),
            Partition::of(&sym("AAPL"), 8)
        );
        assert_eq!(Partition::of(&sym("AAPL"), 1), Partition(0));
        let mut counts = [0u32; 6];
        for i in 0..6_000 {
            counts[Partition::of(&sym(&format!("S{i}")), 6).index()] += 1;
        }
        assert!(
            counts.iter().all(|c| (800..1_200).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn one_partitions_cursor_is_a_stream_id() {
        let c: Cursor = "1732269600125-3".parse().unwrap();
        assert_eq!(c.partitions(), 1);
        assert_eq!(c.to_string(), "1732269600125-3");
        let mut c = Cursor::start(3);
        assert_eq!(c.to_string(), "0-0,0-0,0-0");
        c.advance(Partition(1), StreamId::new(5, 2));
        c.advance(Partition(1), StreamId::new(4, 9));
        assert_eq!(c.to_string(), "0-0,5-2,0-0");
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("5-2,x".parse::<Cursor>().is_err());
        assert_eq!(Cursor::from_last_event_id(b"  ").unwrap(), None);
    }
}
