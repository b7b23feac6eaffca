//! Batch bodies (`POST /ingest/ticks`): the first byte picks the format
//! (JSON array, NDJSON, or detected), the rest is the body. Never a panic;
//! an accepted batch, written out as a JSON array and as NDJSON, is read
//! back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::{parse_batch, BodyFormat, Timestamp};

const NOW: Timestamp = Timestamp::from_nanos(1_800_000_000_000_000_000);

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let format = match pick % 3 {
        0 => BodyFormat::JsonArray,
        1 => BodyFormat::Ndjson,
        _ => BodyFormat::Detect,
    };
    let Ok(ticks) = parse_batch(body, format, NOW) else {
        return;
    };
    let array = serde_json::to_vec(&ticks).expect("ticks serialise");
    assert_eq!(parse_batch(&array, BodyFormat::JsonArray, NOW).as_ref(), Ok(&ticks));
    let mut lines = Vec::new();
    for tick in &ticks {
        lines.extend(serde_json::to_vec(tick).expect("a tick serialises"));
        lines.push(b'\n');
    }
    if !ticks.is_empty() {
        assert_eq!(parse_batch(&lines, BodyFormat::Ndjson, NOW).as_ref(), Ok(&ticks));
    }
});
