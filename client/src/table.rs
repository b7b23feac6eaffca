//! The text table `tickpulse-watch` draws: one row per symbol from its
//! [`View`], in the order asked, with a dash for a symbol without a view.

use std::fmt::Write as _;
use tickpulse_core::{Symbol, Timestamp, View};

/// Renders the rows of `symbols`; `now` ages the last tick.
pub fn render(symbols: &[Symbol], views: &[Option<View>], now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>14} {:>9} {:>14} {:>14} {:>12} {:>8} {:>7}",
        "SYMBOL", "LAST", "CHG %", "SMA", "VWAP 1m", "VOL 1m", "TICKS", "AGE"
    );
    for (symbol, view) in symbols.iter().zip(views) {
        let Some(v) = view else {
            let _ = writeln!(out, "{:<12} {:>14}", symbol.as_str(), "—");
            continue;
        };
        let age_ms = (now.as_nanos() - v.last.received_at.as_nanos()).max(0) / 1_000_000;
        let opt = |d: Option<rust_decimal::Decimal>| {
            d.map_or_else(|| "—".to_owned(), |d| d.round_dp(4).normalize().to_string())
        };
        let _ = writeln!(
            out,
            "{:<12} {:>14} {:>+9} {:>14} {:>14} {:>12} {:>8} {:>6.1}s",
            symbol.as_str(),
            v.last.tick.price.to_string(),
            v.change_pct.round_dp(2).to_string(),
            opt(v.sma),
            opt(v.vwap_1m),
            v.volume_1m.value().round_dp(4).normalize().to_string(),
            v.tick_count,
            age_ms as f64 / 1_000.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_symbol_in_the_order_asked() {
        let a = crate::test_view("AAA", 3);
        let now = Timestamp::from_nanos(a.last.received_at.as_nanos() + 2_500_000_000);
        let text = render(
            &[Symbol::new("ZZZ"), Symbol::new("AAA")],
            &[None, Some(a)],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("SYMBOL"));
        assert!(lines[1].starts_with("ZZZ") && lines[1].contains('—'));
        assert!(lines[2].starts_with("AAA"), "{}", lines[2]);
        assert!(lines[2].contains(" 10 "), "{}", lines[2]);
        assert!(lines[2].trim_end().ends_with("2.5s"), "{}", lines[2]);
    }
}
