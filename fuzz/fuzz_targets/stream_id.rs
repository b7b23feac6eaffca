//! Stream ids, cursors and the `Last-Event-ID` header (a cursor: one stream
//! id per partition). Never a panic; an accepted cursor or id, written out,
//! is read back the same, as text and as a header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::{Cursor, StreamId};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(cursor)) = Cursor::from_last_event_id(data) {
        let text = cursor.to_string();
        assert_eq!(text.parse::<Cursor>(), Ok(cursor.clone()));
        assert_eq!(Cursor::from_last_event_id(text.as_bytes()), Ok(Some(cursor.clone())));
        for (p, id) in cursor.iter() {
            assert_eq!(cursor.get(p), id);
            assert!(id.next() > id || id == StreamId::new(u64::MAX, u64::MAX));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = text.parse::<StreamId>() {
            assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
        }
    }
});
