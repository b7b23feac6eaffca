//! How a door writes the events of a feed ([`super::feed`]): each door
//! (SSE, WebSocket) implements [`Encoder`] in its own framing.

use bytes::Bytes;
use tickpulse_core::Cursor;

/// How a door writes the feed's events.
pub trait Encoder {
    /// A tick: the client's position (each partition's id, as text), its
    /// `StreamTick` JSON, and, when conflating, how many of its symbol's
    /// ticks it stands for besides itself.
    fn tick(&mut self, position: &[Bytes], json: &[u8], skipped: Option<u64>);
    /// Any other event (`view`, `stock`, `watchlist`, `order`) with its
    /// JSON; `skipped` as for ticks (views only).
    fn event(&mut self, name: &'static str, json: &[u8], skipped: Option<u64>);
    /// A snapshot (`{"reset", "ticks"}`), with the position it stands at
    /// when it covers every symbol the client follows.
    fn snapshot(&mut self, reset: bool, position: Option<&Cursor>, json: &[u8]);
    fn keepalive(&mut self);
    /// Whether nothing was written since the door last took what was.
    fn is_empty(&self) -> bool;
}

/// Each partition's stream id as text.
pub fn texts(cursor: &Cursor) -> Vec<Bytes> {
    cursor
        .iter()
        .map(|(_, id)| Bytes::from(id.to_string()))
        .collect()
}
