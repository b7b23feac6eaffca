//! Times (tick `ts`, `before`, `from`, `to`): RFC 3339 and epoch
//! milliseconds. Never a panic; an accepted time, written out as RFC 3339,
//! is read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::Timestamp;

fuzz_target!(|text: &str| {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t));
    }
    if let Ok(t) = Timestamp::parse_flexible(text) {
        assert_eq!(Timestamp::parse_flexible(&t.to_rfc3339()), Ok(t));
    }
    let _ = serde_json::from_str::<Timestamp>(text);
});
