//! How the pages write times, sizes and durations, the same on every page.

use tickpulse_core::Timestamp;

/// Event time as `HH:MM:SS` (with `.mmm` when `millis`), UTC.
pub fn clock(ts: Timestamp, millis: bool) -> String {
    let full = ts.to_rfc3339();
    let time = full.split_once('T').map_or(full.as_str(), |(_, t)| t);
    let time = time.trim_end_matches('Z');
    if millis {
        time.get(..12).unwrap_or(time).to_owned()
    } else {
        time.get(..8).unwrap_or(time).to_owned()
    }
}

/// A wall-clock time (UTC) from ms since the epoch: `14:03:07`.
pub fn hms(ms: i64) -> String {
    clock(tickpulse_core::Timestamp::from_nanos(ms * 1_000_000), false)
}

/// `1.5 GiB`, `300 MiB`, `12 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `0.4 s ago`, `12 s ago`, `3 min ago`, `2 h ago`.
pub fn ago(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        format!("{:.1} s ago", ms as f64 / 1000.0)
    } else if ms < 120_000 {
        format!("{} s ago", ms / 1000)
    } else if ms < 7_200_000 {
        format!("{} min ago", ms / 60_000)
    } else {
        format!("{} h ago", ms / 3_600_000)
    }
}
