//! Stream ids and the `Last-Event-ID` header. Never a panic; an accepted id,
//! written out, is read back the same, as text and as a header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::StreamId;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(id)) = StreamId::from_last_event_id(data) {
        let text = id.to_string();
        assert_eq!(text.parse::<StreamId>(), Ok(id));
        assert_eq!(StreamId::from_last_event_id(text.as_bytes()), Ok(Some(id)));
        assert!(id.next() > id || id == StreamId::new(u64::MAX, u64::MAX));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = text.parse::<StreamId>() {
            assert_eq!(id.to_string().parse::<StreamId>(), Ok(id));
        }
    }
});
