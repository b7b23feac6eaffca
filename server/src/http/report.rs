//! `GET /api/admin/report`: how the system performed over a period, from
//! the metric history (`node_metric`) and the alert log, as JSON or, with
//! `Accept: text/csv`, as CSV.

use super::admin::{require_admin, MaybeSession};
use crate::error::{AdminRefusals, ApiError, ErrorBody};
use crate::platform::edge::extract::Query;
use crate::state::AppState;
use crate::store::AlertFilter;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tickpulse_core::health::{report, report_csv, Report};

/// The report of `[from, to)` in steps of `step` seconds, of one node or
/// all, from the metric history and the alert log (the JSON API's and the
/// report page's).
pub async fn report_of(
    state: &AppState,
    from: i64,
    to: i64,
    node: Option<&str>,
    step: i64,
) -> Result<Report, ApiError> {
    let store = state
        .store
        .as_ref()
        .ok_or(ApiError::NoStore("the metric history"))?;
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
use tickpulse_core::Timestamp;

/// The most steps one report may have.
pub const MAX_STEPS: i64 = 10_000;
/// The longest step: 366 days.
pub const MAX_STEP_SECS: i64 = 366 * 86_400;
/// Alerts a report counts at most.
const MAX_ALERTS: usize = 100_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start (RFC 3339 or epoch ms); default: an hour before `to`.
    #[param(value_type = Option<Timestamp>)]
    pub from: Option<String>,
    /// End, exclusive (RFC 3339 or epoch ms); default: now.
    #[param(value_type = Option<Timestamp>)]
    pub to: Option<String>,
    /// Only this node.
    pub node: Option<String>,
    /// Width of a step: seconds, or a number with `s`, `m`, `h` or `d`
    /// (default: the period in 60 steps, at least 10 s).
    pub step: Option<String>,
    /// `csv` for CSV whatever `Accept` says (for a download link).
    #[param(value_type = Option<String>, pattern = "^(csv|json)$")]
    pub format: Option<String>,
}

fn bad(field: &'static str, message: String) -> ApiError {
    ApiError::BadParam { field, message }
}

/// An optional time parameter (empty = absent), in ms.
fn time(field: &'static str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| super::symbols::time_param(field, t).map(|ts| ts.as_millis()))
        .transpose()
}

/// `90`, `90s`, `15m`, `1h`, `1d` → seconds.
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

impl ReportParams {
    /// `(from, to, step_secs)`, checked.
    pub fn period(&self, now: i64) -> Result<(i64, i64, i64), ApiError> {
        let to = time("to", self.to.as_deref())?.unwrap_or(now);
        let from = time("from", self.from.as_deref())?.unwrap_or(to.saturating_sub(3_600_000));
        if from >= to {
            return Err(bad(
                "from",
                format!("must be before to ({from} is not before {to})"),
            ));
        }
        let span = i128::from(to) - i128::from(from);
        let step = match self
            .step
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(text) => step_secs(text).map_err(|m| bad("step", m))?,
            None => i64::try_from(span / 60_000).unwrap_or(i64::MAX).max(10),
        };
        if span / (i128::from(step) * 1_000) > i128::from(MAX_STEPS) {
            return Err(bad(
                "step",
                format!(
                    "the period holds more than {MAX_STEPS} steps of {step} s; use a longer step"
                ),
            ));
        }
        Ok((from, to, step))
    }
}

/// Whether the caller asked for CSV.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/csv")))
}

/// `GET /api/admin/report?from=&to=&node=&step=`: per node and in total,
/// min/mean/max/p95 of every figure per step and over the period, uptime %,
/// alerts raised and the busiest minute. `Accept: text/csv` gets one line per
/// node, step and figure.
#[utoipa::path(
    get, path = "/api/admin/report", tag = "admin",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (JSON, or CSV when asked for with Accept: text/csv)",
            content((Report = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A parameter is invalid; `details` names it", body = ErrorBody),
        AdminRefusals,
    ),
    security(("admin_key" = []), ("session" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeSession(session): MaybeSession,
    Query(params): Query<ReportParams>,
) -> Result<Response, ApiError> {
    require_admin(&state, &headers, session).await?;
    let csv = match params.format.as_deref().map(str::trim) {
        None | Some("") => wants_csv(&headers),
        Some("csv") => true,
        Some("json") => false,
        Some(other) => return Err(bad("format", format!("{other:?} is not csv or json"))),
    };
    let (from, to, step) = params.period(Timestamp::now().as_millis())?;
    let node = params
        .node
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    let report = report_of(&state, from, to, node, step).await?;
    if csv {
        let name = format!("attachment; filename=\"tickpulse-report-{from}-{to}.csv\"");
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, name),
            ],
            report_csv(&report),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
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

    #[test]
    fn a_period_is_checked_and_defaults_to_the_last_hour() {
        let p = |from: &str, to: &str, step: &str| ReportParams {
            from: Some(from.into()),
            to: Some(to.into()),
            node: None,
            step: Some(step.into()),
            format: None,
        };
        let now = 10_000_000;
        let none = ReportParams {
            from: None,
            to: None,
            node: None,
            step: None,
            format: None,
        };
        assert_eq!(none.period(now).unwrap(), (now - 3_600_000, now, 60));
        assert_eq!(
            p("1000", "61000", "10s").period(now).unwrap(),
            (1_000, 61_000, 10)
        );
        let ApiError::BadParam { field, .. } = p("5000", "1000", "").period(now).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(field, "from");
        let ApiError::BadParam { field, .. } = p("0", "86400000000", "1s").period(now).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(field, "step");
    }
}
