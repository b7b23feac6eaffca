//! Property tests: parsing never panics, and an accepted tick survives a
//! round trip through its own JSON unchanged.

use proptest::prelude::*;
use tickpulse_core::{parse_batch, parse_one, BodyFormat, Tick, Timestamp};

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap()
}

/// JSON-ish values for one field: valid ones, wrong types and junk.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f}")),
        "[0-9]{1,30}(\\.[0-9]{0,30})?(e-?[0-9]{1,3})?".prop_map(|s| format!("\"{s}\"")),
        "[-+]?[0-9]{1,20}(\\.[0-9]{1,10})?",
        "[A-Za-z0-9._:/ -]{0,40}".prop_map(|s| format!("\"{s}\"")),
        Just("null".to_owned()),
        Just("NaN".to_owned()),
        Just("true".to_owned()),
        Just("\"2026-11-22T09:00:00.123456789Z\"".to_owned()),
        (0i64..1_900_000_000_000).prop_map(|ms| ms.to_string()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ]
}

fn tick_object() -> impl Strategy<Value = String> {
    let names = prop::sample::select(vec![
        "symbol", "price", "volume", "source", "ts", "event_id", "extra",
    ]);
    prop::collection::vec((names, field_value()), 0..8).prop_map(|fields| {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

fn valid_tick() -> impl Strategy<Value = String> {
    (
        "[A-Za-z0-9._:/-]{1,32}",
        "[1-9][0-9]{0,12}(\\.[0-9]{1,8})?",
        "[0-9]{1,10}(\\.[0-9]{1,8})?",
        "[A-Za-z0-9._-]{1,64}",
        0i64..1_790_000_000_000,
        "[!-~]{1,128}",
    )
        .prop_map(|(s, p, v, src, ts, id)| {
            serde_json::json!({
                "symbol": s, "price": p, "volume": v, "source": src, "ts": ts, "event_id": id
            })
            .to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_one(&bytes, now());
        let _ = parse_batch(&bytes, BodyFormat::Detect, now());
    }

    #[test]
    fn arbitrary_tick_objects_never_panic(obj in tick_object()) {
        let _ = parse_one(obj.as_bytes(), now());
        let _ = parse_batch(format!("[{obj}]").as_bytes(), BodyFormat::Detect, now());
        let _ = parse_batch(obj.as_bytes(), BodyFormat::Ndjson, now());
    }

    #[test]
    fn accepted_ticks_round_trip(obj in prop_oneof![tick_object(), valid_tick()]) {
        if let Ok(tick) = parse_one(obj.as_bytes(), now()) {
            let json = serde_json::to_string(&tick).unwrap();
            let again = parse_one(json.as_bytes(), now()).expect("re-serialised tick is valid");
            prop_assert_eq!(&again, &tick);
            let via_serde: Tick = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(via_serde, tick);
        }
    }

    #[test]
    fn generated_valid_ticks_are_accepted(obj in valid_tick()) {
        prop_assert!(parse_one(obj.as_bytes(), now()).is_ok(), "{}", obj);
    }
}
