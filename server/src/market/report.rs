//! The performance report: its period (checked, with defaults) and the
//! report itself, from the metric history (`node_metric`) and the alert
//! log.

use super::{MarketError, MarketReads};
use crate::store::AlertFilter;
use tickpulse_core::health::{report, Report};
use tickpulse_core::Timestamp;

/// The most steps one report may have.
pub const MAX_STEPS: i64 = 10_000;
/// The longest step: 366 days.
pub const MAX_STEP_SECS: i64 = 366 * 86_400;
/// Alerts a report counts at most.
const MAX_ALERTS: usize = 100_000;

fn bad(field: &'static str, message: String) -> MarketError {
    MarketError::BadParam { field, message }
}

/// A time parameter (RFC 3339 or epoch ms).
///
/// # Errors
/// `BadParam` naming `field`.
pub fn time_param(field: &'static str, text: &str) -> Result<Timestamp, MarketError> {
    Timestamp::parse_flexible(text).map_err(|e| bad(field, e.to_string()))
}

/// An optional time parameter (empty = absent), in ms.
fn time(field: &'static str, text: Option<&str>) -> Result<Option<i64>, MarketError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| time_param(field, t).map(|ts| ts.as_millis()))
        .transpose()
}

/// `90`, `90s`, `15m`, `1h`, `1d` → seconds.
///
/// # Errors
/// What is wrong with `text`, in words.
pub fn step_secs(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], &text[i..]),
        _ => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    match number.parse::<i64>() {
        Ok(n) if n > 0 => n
            .checked_mul(scale)
            .filter(|secs| *secs <= MAX_STEP_SECS)
            .ok_or_else(|| format!("{text:?} is longer than 366 days")),
        _ => Err(format!(
            "{text:?} is not a positive number of seconds (or 15m, 1h, 1d)"
        )),
    }
}

/// `(from, to, step_secs)` of a report asked for with these parameters
/// (each absent or empty one takes its default: `to` now, `from` an hour
/// before `to`, the period in 60 steps of at least 10 s).
///
/// # Errors
/// `BadParam` naming `from`, `to` or `step`.
pub fn period(
    from: Option<&str>,
    to: Option<&str>,
    step: Option<&str>,
    now: i64,
) -> Result<(i64, i64, i64), MarketError> {
    let to = time("to", to)?.unwrap_or(now);
    let from = time("from", from)?.unwrap_or(to.saturating_sub(3_600_000));
    if from >= to {
        return Err(bad(
            "from",
            format!("must be before to ({from} is not before {to})"),
        ));
    }
    let span = i128::from(to) - i128::from(from);
    let step = match step.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => step_secs(text).map_err(|m| bad("step", m))?,
        None => i64::try_from(span / 60_000).unwrap_or(i64::MAX).max(10),
    };
    if span / (i128::from(step) * 1_000) > i128::from(MAX_STEPS) {
        return Err(bad(
            "step",
            format!("the period holds more than {MAX_STEPS} steps of {step} s; use a longer step"),
        ));
    }
    Ok((from, to, step))
}

impl MarketReads {
    /// The report of `[from, to)` in steps of `step` seconds, of one node
    /// or all, from the metric history and the alert log.
    ///
    /// # Errors
    /// `NoStore` without a database, or the store's failure.
    pub async fn report(
        &self,
        from: i64,
        to: i64,
        node: Option<&str>,
        step: i64,
    ) -> Result<Report, MarketError> {
        let store = self.store("the metric history")?;
        let rows = store.node_metrics(from, to, node).await?;
        let alerts = store
            .alerts(&AlertFilter {
                subject: node.map(str::to_owned),
                from_at: Some(from),
                to_at: Some(to),
                limit: MAX_ALERTS,
                ..AlertFilter::default()
            })
            .await?;
        Ok(report(&rows, &alerts, from, to, step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_seconds_and_units() {
        assert_eq!(step_secs("90"), Ok(90));
        assert_eq!(step_secs("15m"), Ok(900));
        assert_eq!(step_secs("1h"), Ok(3_600));
        assert_eq!(step_secs("2d"), Ok(172_800));
        assert!(step_secs("0").is_err());
        assert!(step_secs("1w").unwrap_err().contains("unit"));
        assert!(step_secs("m").is_err());
    }
}
