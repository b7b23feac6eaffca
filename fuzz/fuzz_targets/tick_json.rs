//! One tick's JSON body (`POST /ingest/tick`): never a panic; an accepted
//! tick, written out and read again, is the same tick.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::{parse_one, Timestamp};

/// The "now" every body is checked against (2027-01-15).
const NOW: Timestamp = Timestamp::from_nanos(1_800_000_000_000_000_000);

fuzz_target!(|body: &[u8]| {
    if let Ok(tick) = parse_one(body, NOW) {
        let json = serde_json::to_vec(&tick).expect("a tick serialises");
        let again = parse_one(&json, NOW).expect("a tick written out is accepted again");
        assert_eq!(again, tick);
    }
});
