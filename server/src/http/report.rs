//! `GET /api/admin/report`: how the system performed over a period, from
//! the metric history (`node_metric`) and the alert log, as JSON or, with
//! `Accept: text/csv`, as CSV.

use crate::accounts::Admin;
use crate::error::{AdminRefusals, ApiError, ErrorBody};
use crate::market::report;
use crate::platform::edge::extract::Query;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tickpulse_core::health::{report_csv, Report};

use tickpulse_core::Timestamp;

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

impl ReportParams {
    /// `(from, to, step_secs)`, checked (the rule is the report's own,
    /// [`report::period`]).
    pub fn period(&self, now: i64) -> Result<(i64, i64, i64), ApiError> {
        Ok(report::period(
            self.from.as_deref(),
            self.to.as_deref(),
            self.step.as_deref(),
            now,
        )?)
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
    Query(params): Query<ReportParams>,
    _: Admin,
) -> Result<Response, ApiError> {
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
    let report = state.market.report(from, to, node, step).await?;
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
