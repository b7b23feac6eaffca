//! The pack codec of the Redis tick stream: tick ids inside entries, stream
//! entries and update messages read back into ticks. Pure code, no I/O.

use crate::bus::{Appended, Delivered};
use tickpulse_core::{StreamId, StreamTick, Symbol};

/// Most ticks in one stream entry.
pub const PACK_MAX: usize = 1_000;
/// Stream ids per entry: tick `k` of entry `ms-s` is `ms-(s * SLOTS + k)`.
pub const SLOTS: u64 = 10_000;
const _: () = assert!((PACK_MAX as u64) < SLOTS);
/// The id of tick `k` of the entry `entry`.
pub fn tick_id(entry: StreamId, k: u64) -> StreamId {
    StreamId::new(entry.millis, entry.seq * SLOTS + k)
}

/// The entry holding the tick `tick`.
pub fn entry_of(tick: StreamId) -> StreamId {
    StreamId::new(tick.millis, tick.seq / SLOTS)
}
/// Decodes one `realtime:views` message: a JSON array of views.
pub(super) fn decode_views(message: &[u8]) -> Result<Vec<Appended>, String> {
    #[derive(serde::Deserialize)]
    struct Head {
        symbol: Symbol,
        stream_id: StreamId,
    }
    let items: Vec<&serde_json::value::RawValue> =
        serde_json::from_slice(message).map_err(|e| e.to_string())?;
    items
        .into_iter()
        .map(|raw| {
            let head: Head = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
            Ok(Appended {
                id: head.stream_id,
                symbol: head.symbol,
                json: raw.get().to_owned(),
            })
        })
        .collect()
}

/// A stream entry as Redis returns it: its id and the value of its `ticks`
/// field (or `tick`, one tick per entry, as streams written by earlier
/// versions hold), read straight from the reply without a map of fields.
pub(super) struct StreamEntry {
    pub(super) id: Vec<u8>,
    pub(super) ticks: Option<Vec<u8>>,
}

impl redis::FromRedisValue for StreamEntry {
    fn from_redis_value(v: redis::Value) -> Result<Self, redis::ParsingError> {
        use redis::Value;
        let Value::Array(mut parts) = v else {
            return Err(format!("a stream entry is an array, not {v:?}").into());
        };
        let (Some(fields), Some(Value::BulkString(id)), None) =
            (parts.pop(), parts.pop(), parts.pop())
        else {
            return Err("a stream entry is an id and its fields".to_owned().into());
        };
        let pairs: Vec<(Value, Value)> = match fields {
            Value::Array(flat) => {
                let mut flat = flat.into_iter();
                std::iter::from_fn(|| Some((flat.next()?, flat.next()?))).collect()
            }
            Value::Map(pairs) => pairs,
            Value::Nil => Vec::new(),
            other => return Err(format!("unexpected entry fields {other:?}").into()),
        };
        let ticks = pairs
            .into_iter()
            .find_map(|(name, value)| match (name, value) {
                (Value::BulkString(name), Value::BulkString(value))
                    if name == b"ticks" || name == b"tick" =>
                {
                    Some(value)
                }
                _ => None,
            });
        Ok(Self { id, ticks })
    }
}

/// The distinct stream entries holding `ticks`, in order.
pub(super) fn entries_holding(ticks: impl IntoIterator<Item = StreamId>) -> Vec<StreamId> {
    let mut entries: Vec<StreamId> = ticks.into_iter().map(entry_of).collect();
    entries.sort_unstable();
    entries.dedup();
    entries
}

/// Which ticks of the entries read are wanted: those from `from` on, until
/// `out` holds `limit` (a range may start and stop inside a pack; the
/// ticks around it are not even parsed).
#[derive(Clone, Copy)]
pub(super) struct Wanted {
    pub(super) from: StreamId,
    pub(super) limit: usize,
}

impl Wanted {
    /// Every tick (group reads).
    pub(super) const ALL: Wanted = Wanted {
        from: StreamId::ZERO,
        limit: usize::MAX,
    };
}

/// Reads a stream entry back into its wanted ticks; returns how many ticks
/// the entry holds (1 when it cannot tell). An entry that cannot be read
/// whole is a poison entry: each of its ticks (or, when even their number
/// is unknown, its first id) is reported with the reason, never dropped
/// silently, and none of them is handed out as readable, so moving the
/// entry aside never drops a good tick that was not processed.
pub(super) fn unpack_entry(
    StreamEntry { id, ticks }: StreamEntry,
    deliveries: u32,
    wanted: Wanted,
    out: &mut Vec<Delivered>,
) -> usize {
    let poison = |out: &mut Vec<Delivered>, id: StreamId, n: usize, reason: String| {
        let room = wanted.limit.saturating_sub(out.len());
        out.extend(
            (0..n.max(1) as u64)
                .map(|k| tick_id(id, k))
                .filter(|id| *id >= wanted.from)
                .take(room)
                .map(|id| Delivered {
                    id,
                    tick: Err(reason.clone()),
                    deliveries,
                }),
        );
        n.max(1)
    };
    let parsed: Option<StreamId> = std::str::from_utf8(&id).ok().and_then(|s| s.parse().ok());
    let Some(entry) = parsed else {
        let reason = format!("unreadable entry id {:?}", String::from_utf8_lossy(&id));
        return poison(out, StreamId::ZERO, 1, reason);
    };
    let Some(body) = ticks else {
        return poison(out, entry, 1, "entry has no ticks field".into());
    };
    let body = match std::str::from_utf8(&body) {
        Ok(body) => body,
        Err(e) => return poison(out, entry, 1, format!("entry is not UTF-8: {e}")),
    };
    let lines = body.split('\n').count();
    if lines > PACK_MAX {
        return poison(
            out,
            entry,
            1,
            format!("entry holds {lines} ticks, at most {PACK_MAX} expected"),
        );
    }
    let start = out.len();
    for (k, line) in body.split('\n').enumerate() {
        let id = tick_id(entry, k as u64);
        if id < wanted.from {
            continue;
        }
        if out.len() >= wanted.limit {
            break;
        }
        match StreamTick::from_stored_json(line, id) {
            Ok(tick) => out.push(Delivered {
                id,
                tick: Ok(tick),
                deliveries,
            }),
            Err(e) => {
                out.truncate(start);
                return poison(
                    out,
                    entry,
                    lines,
                    format!("tick {k} of the entry is unreadable: {e}"),
                );
            }
        }
    }
    lines
}

/// Decodes one `realtime:updates` message: the ticks of one stream entry.
///
/// # Format
/// A first line with the entry's id, then its `ticks` field: one line per
/// tick holding its stored JSON (a `StreamTick` without `id`, which starts
/// with its symbol). The append script publishes the pack it stored, so it
/// builds nothing per tick; the tick ids (see [`tick_id`]) are put into the
/// JSON here, once per message and process.
///
/// # Errors
/// When the message does not have that shape.
pub fn decode_update(message: &[u8]) -> Result<Vec<Appended>, String> {
    let text = std::str::from_utf8(message).map_err(|e| e.to_string())?;
    let (entry, bodies) = text.split_once('\n').ok_or("no entry id line")?;
    let entry: StreamId = entry
        .parse()
        .map_err(|e: tickpulse_core::ValueError| e.to_string())?;
    bodies
        .split('\n')
        .enumerate()
        .map(|(k, body)| {
            let id = tick_id(entry, k as u64);
            let rest = body.strip_prefix('{').ok_or("tick is not a JSON object")?;
            // Symbols are plain characters: no escapes inside the quotes.
            let symbol = rest
                .strip_prefix("\"symbol\":\"")
                .and_then(|s| s.split_once('"'))
                .map(|(symbol, _)| symbol)
                .ok_or("tick does not start with its symbol")?;
            Ok(Appended {
                id,
                symbol: Symbol::new_checked(symbol).map_err(|e| e.to_string())?,
                json: format!("{{\"id\":\"{id}\",{rest}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_ids_symbols_and_bodies() {
        let msg = b"7-2\n{\"symbol\":\"A\",\"price\":\"1\"}\n{\"symbol\":\"B\",\"price\":\"2\"}";
        let items = decode_update(msg).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].id, StreamId::new(7, 2 * SLOTS + 1));
        assert_eq!(items[1].symbol.as_str(), "B");
        assert_eq!(
            items[0].json,
            r#"{"id":"7-20000","symbol":"A","price":"1"}"#
        );
    }

    #[test]
    fn tick_ids_lead_back_to_their_entry() {
        let entry = StreamId::new(1_700_000_000_000, 3);
        let ids: Vec<StreamId> = (0..PACK_MAX as u64).map(|k| tick_id(entry, k)).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "increasing within an entry"
        );
        assert!(ids.iter().all(|id| entry_of(*id) == entry));
        let next = tick_id(entry.next(), 0);
        assert!(next > *ids.last().unwrap(), "and across entries");
        assert_eq!(
            entries_holding(ids.iter().copied().chain([next])),
            [entry, entry.next()]
        );
    }

    fn entry(id: &str, ticks: &str) -> StreamEntry {
        StreamEntry {
            id: id.as_bytes().to_vec(),
            ticks: Some(ticks.as_bytes().to_vec()),
        }
    }

    #[test]
    fn an_entry_unreadable_in_part_is_poison_whole() {
        let good = r#"{"symbol":"A","price":"1","volume":"1","source":"s","ts":"2026-11-22T10:00:00Z","event_id":"e1","received_at":"2026-11-22T10:00:00Z"}"#;
        let mut out = Vec::new();
        let held = unpack_entry(
            entry("5-1", &format!("{good}\n{good}")),
            1,
            Wanted::ALL,
            &mut out,
        );
        assert_eq!(held, 2);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|d| d.tick.is_ok()), "{out:?}");
        assert_eq!(out[1].id, StreamId::new(5, SLOTS + 1));
        out.clear();
        unpack_entry(
            entry("5-2", &format!("{good}\nnot json\n{good}")),
            2,
            Wanted::ALL,
            &mut out,
        );
        assert_eq!(out.len(), 3, "every tick of the entry is reported");
        assert!(out.iter().all(|d| d.tick.is_err() && d.deliveries == 2));
        assert!(out.iter().all(|d| entry_of(d.id) == StreamId::new(5, 2)));
        // A range inside a pack: the ticks before and after it are skipped.
        out.clear();
        let from = tick_id(StreamId::new(5, 3), 1);
        let held = unpack_entry(
            entry("5-3", &format!("{good}\n{good}\n{good}")),
            0,
            Wanted { from, limit: 1 },
            &mut out,
        );
        assert_eq!(held, 3);
        assert_eq!(out.iter().map(|d| d.id).collect::<Vec<_>>(), [from]);
    }

    #[test]
    fn rejects_malformed_messages() {
        assert!(decode_update(b"no newline").is_err());
        assert!(decode_update(b"7-0\n{}").is_err(), "no symbol");
        assert!(decode_update(b"7-0\n{\"price\":\"1\",\"symbol\":\"A\"}").is_err());
        assert!(
            decode_update(b"7-0\n{\"symbol\":\"a b\"}").is_err(),
            "bad symbol"
        );
        assert!(decode_update(b"x\n{\"symbol\":\"A\"}").is_err());
    }
}
