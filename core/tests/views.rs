//! calc-a / calc-b on a known sequence: SMA, VWAP, one-minute volume,
//! session statistics and change, with out-of-order ticks, a re-delivered
//! tick and a tick older than the window.

use tickpulse_core::window::Applied;
use tickpulse_core::{StreamTick, SymbolWindow, Timestamp, View, WindowSettings};

/// 2026-11-22T10:00:00Z, the start of the sequence.
const T0_MS: i64 = 1_795_341_600_000;

fn tick(id: u64, at_secs: i64, price: &str, volume: &str) -> StreamTick {
    tickpulse_core::fixture::stream_tick("ACME")
        .id(tickpulse_core::StreamId::new(1_000 + id, 0))
        .price(price)
        .volume(volume)
        .ts_ms(T0_MS + at_secs * 1_000)
        .event_id(&format!("e{id}"))
        .received_ms(T0_MS + at_secs * 1_000 + 5)
        .build()
}

struct Step {
    tick: StreamTick,
    outcome: Applied,
    /// last, sma, vwap_1m, volume_1m, change, change %, ticks, late
    expect: (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        &'static str,
        u64,
        u64,
    ),
}

#[test]
fn known_sequence() {
    let settings = WindowSettings {
        sma_len: 3,
        span_nanos: 60_000_000_000,
    };
    let steps = [
        // The first tick opens the session.
        Step {
            tick: tick(1, 0, "10", "1"),
            outcome: Applied::Applied,
            expect: ("10", "10", Some("10"), "1", "0", "0", 1, 0),
        },
        Step {
            tick: tick(2, 10, "12", "2"),
            outcome: Applied::Applied,
            expect: ("12", "11", Some("11.33333333"), "3", "2", "20", 2, 0),
        },
        // Out of order: event time between the two; the last price stays 12.
        Step {
            tick: tick(3, 5, "11", "1"),
            outcome: Applied::Applied,
            expect: ("12", "11", Some("11.25"), "4", "2", "20", 3, 0),
        },
        // Re-delivery of tick 2 (same stream id): nothing changes.
        Step {
            tick: tick(2, 10, "12", "2"),
            outcome: Applied::Replayed,
            expect: ("12", "11", Some("11.25"), "4", "2", "20", 3, 0),
        },
        // 70 s: ticks at 0 s and 5 s leave the minute; SMA over 11, 12, 13.
        Step {
            tick: tick(4, 70, "13", "3"),
            outcome: Applied::Applied,
            expect: ("13", "12", Some("12.6"), "5", "3", "30", 4, 0),
        },
        // Older than the minute: counted as late, windows untouched, but it
        // is a trade of the session, so it sets the low.
        Step {
            tick: tick(5, 1, "9", "1"),
            outcome: Applied::Late,
            expect: ("13", "12", Some("12.6"), "5", "3", "30", 5, 1),
        },
        // Zero volume: in SMA, not in VWAP; at 71 s the 10 s tick leaves the minute.
        Step {
            tick: tick(6, 71, "14", "0"),
            outcome: Applied::Applied,
            expect: ("14", "13", Some("13"), "3", "4", "40", 6, 1),
        },
    ];
    let mut window = SymbolWindow::new();
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(
            window.apply(&step.tick, &settings),
            step.outcome,
            "step {i}"
        );
        let v = window.view(Timestamp::from_nanos(0)).unwrap();
        let (last, sma, vwap, volume, change, pct, ticks, late) = step.expect;
        let got = (
            v.last.tick.price.to_string(),
            v.sma.unwrap().to_string(),
            v.vwap_1m.map(|d| d.to_string()),
            v.volume_1m.to_string(),
            v.change.to_string(),
            v.change_pct.to_string(),
            v.tick_count,
            v.late_ticks,
        );
        let want = (
            last.to_owned(),
            sma.to_owned(),
            vwap.map(str::to_owned),
            volume.to_owned(),
            change.to_owned(),
            pct.to_owned(),
            ticks,
            late,
        );
        assert_eq!(got, want, "step {i}");
    }
    let v = window.view(Timestamp::from_nanos(0)).unwrap();
    assert_eq!(
        (v.open.to_string(), v.high.to_string(), v.low.to_string()),
        ("10".into(), "14".into(), "9".into())
    );
    assert_eq!(
        v.last_prices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["12", "13", "14"]
    );
    assert_eq!(v.stream_id.to_string(), "1006-0");
}

#[test]
fn a_new_day_opens_a_new_session() {
    let settings = WindowSettings::default();
    let mut w = SymbolWindow::new();
    w.apply(&tick(1, 0, "10", "1"), &settings);
    w.apply(&tick(2, 86_400, "20", "1"), &settings);
    let v = w.view(Timestamp::from_nanos(0)).unwrap();
    assert_eq!(
        (v.open.to_string(), v.low.to_string(), v.change.to_string()),
        ("20".into(), "20".into(), "0".into())
    );
    // A late tick of the previous day does not reopen it.
    w.apply(&tick(3, 100, "1", "1"), &settings);
    assert_eq!(
        w.view(Timestamp::from_nanos(0)).unwrap().low.to_string(),
        "20"
    );
}

#[test]
fn restoring_from_a_view_and_warming_does_not_count_twice() {
    let settings = WindowSettings {
        sma_len: 3,
        span_nanos: 60_000_000_000,
    };
    let ticks: Vec<StreamTick> = (1..=5)
        .map(|i| tick(i, i as i64, &format!("{}", 10 + i), "1"))
        .collect();
    let mut original = SymbolWindow::new();
    for t in &ticks {
        original.apply(t, &settings);
    }
    let stored: View = serde_json::from_str(
        &serde_json::to_string(&original.view(Timestamp::from_nanos(0)).unwrap()).unwrap(),
    )
    .unwrap();

    // After a restart: restore from the stored view, warm with the stream's
    // recent ticks (already counted), then go on with a new tick.
    let mut restored = SymbolWindow::from_view(&stored);
    for t in &ticks {
        restored.warm(t, &settings);
    }
    let next = tick(6, 6, "16", "1");
    original.apply(&next, &settings);
    assert_eq!(restored.apply(&next, &settings), Applied::Applied);
    assert_eq!(restored.apply(&ticks[4], &settings), Applied::Replayed);
    assert_eq!(
        restored.view(Timestamp::from_nanos(0)),
        original.view(Timestamp::from_nanos(0))
    );
}

mod order {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Within the window, the order of arrival does not matter.
        #[test]
        fn any_arrival_order_gives_the_same_view(
            raw in prop::collection::vec((0i64..59, 1u32..5_000, 0u32..50), 1..40),
            seed in any::<u64>(),
        ) {
            let settings = WindowSettings { sma_len: 5, span_nanos: 60_000_000_000 };
            let ticks: Vec<StreamTick> = raw
                .iter()
                .enumerate()
                .map(|(i, (secs, cents, vol))| tick(i as u64, *secs, &format!("{}.{:02}", cents / 100 + 1, cents % 100), &vol.to_string()))
                .collect();
            let mut shuffled = ticks.clone();
            // A deterministic shuffle from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let (mut a, mut b) = (SymbolWindow::new(), SymbolWindow::new());
            for t in &ticks { a.apply(t, &settings); }
            for t in &shuffled { b.apply(t, &settings); }
            prop_assert_eq!(a.view(Timestamp::from_nanos(0)), b.view(Timestamp::from_nanos(0)));
        }
    }
}
