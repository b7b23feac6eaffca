//! `/admin/report`: how the system performed over a period, from the
//! metric history: per node uptime, alerts, the busiest minute and the main
//! figures, charts of CPU, memory and ingest rate per step, a period picker
//! (last hour, day, week, or a range of your own) and the CSV download of
//! `GET /api/admin/report`.

use crate::error::AppError;
use crate::format::{bytes, hms};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use tickpulse_core::health::{NodeReport, Report};

/// The periods offered, by their query value.
pub const PERIODS: [(&str, &str, i64); 3] = [
    ("1h", "Last hour", 3_600),
    ("1d", "Last day", 86_400),
    ("1w", "Last week", 7 * 86_400),
];

/// The report, for an admin. `period` (`1h`, `1d`, `1w`) ends now; without
/// it, `from` and `to` (RFC 3339 or epoch ms) give the range.
#[server(prefix = "/auth", endpoint = "report")]
pub async fn load_report(
    period: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<Box<Report>, AppError> {
    use tickpulse_core::account::Role;
    let admin = crate::ssr::services()?.admin;
    let parts = crate::ssr::request()?;
    match admin.current(&parts).await.map_err(AppError::respond)? {
        None => return Err(AppError::SignInRequired.respond()),
        Some(user) if user.role != Role::Admin => return Err(AppError::Forbidden.respond()),
        Some(_) => {}
    }
    let custom = from.as_deref().is_some_and(|f| !f.trim().is_empty());
    let (from, to) = match PERIODS.iter().find(|p| Some(p.0) == period.as_deref()) {
        Some(p) if !custom => {
            let now = tickpulse_core::Timestamp::now().as_millis();
            (Some((now - p.2 * 1_000).to_string()), Some(now.to_string()))
        }
        _ if custom => (from, to),
        _ => (None, None),
    };
    admin
        .report(from, to, None)
        .await
        .map(Box::new)
        .map_err(AppError::respond)
}

#[component]
pub fn ReportPage() -> impl IntoView {
    let query = use_query_map();
    let param =
        move |name: &'static str| query.with(|q| q.get(name).filter(|v| !v.trim().is_empty()));
    let answer = Resource::new(
        move || (param("period"), param("from"), param("to")),
        |(period, from, to)| load_report(period, from, to),
    );
    let current = move || {
        param("period").unwrap_or_else(|| {
            if param("from").is_some() {
                String::new()
            } else {
                "1h".into()
            }
        })
    };
    view! {
        <main class="page wide">
            <header class="top">
                <h1 class="brand">"Performance report"</h1>
                <a href="/admin/health">"Health view"</a>
            </header>
            <nav class="periods" aria-label="period">
                {PERIODS
                    .into_iter()
                    .map(|(value, label, _)| {
                        let is = move || (current() == value).then_some("page");
                        view! { <a href=format!("/admin/report?period={value}") aria-current=is>{label}</a> }
                    })
                    .collect_view()}
            </nav>
            <form method="get" action="/admin/report" class="filters range">
                <label>"From " <input type="text" name="from" placeholder="2026-12-01T09:00:00Z" prop:value=move || param("from").unwrap_or_default()/></label>
                <label>"To " <input type="text" name="to" placeholder="now" prop:value=move || param("to").unwrap_or_default()/></label>
                <button type="submit">"Show"</button>
            </form>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        Ok(report) => view! { <Figures report=*report/> }.into_any(),
                        Err(AppError::SignInRequired) => view! {
                            <p class="error" role="alert">
                                "Sign in as an admin to see this page. "
                                <a href="/login?next=/admin/report" rel="external">"Sign in"</a>
                            </p>
                        }.into_any(),
                        Err(AppError::BadParam { field, message }) => view! {
                            <p class="error" role="alert">{format!("{field}: {message}")}</p>
                        }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">"The report is unavailable right now: " {e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

/// A figure's mean over the period, formatted, or a dash.
fn mean(node: &NodeReport, figure: &str, format: impl Fn(f64) -> String) -> String {
    node.period
        .figures
        .get(figure)
        .map_or_else(|| "–".to_owned(), |s| format(s.mean))
}

fn peak(node: &NodeReport, figure: &str, format: impl Fn(f64) -> String) -> String {
    node.period
        .figures
        .get(figure)
        .map_or_else(|| "–".to_owned(), |s| format(s.max))
}

#[component]
fn Figures(report: Report) -> impl IntoView {
    let csv = format!(
        "/api/admin/report?from={}&to={}&step={}&format=csv",
        report.from, report.to, report.step_secs
    );
    let rows: Vec<NodeReport> = report
        .nodes
        .iter()
        .cloned()
        .chain(std::iter::once(report.total.clone()))
        .collect();
    let empty = report.nodes.is_empty();
    #[cfg(feature = "hydrate")]
    crate::echarts::draw_report(report.clone());
    let pct = |v: f64| format!("{v:.1} %");
    let rate = |v: f64| format!("{v:.0}/s");
    let mem = |v: f64| bytes(v.max(0.0) as u64);
    let ms = |v: f64| format!("{v:.0} ms");
    view! {
        <p class="muted">
            {format!("{} to {} (UTC), in steps of {} s. ", hms(report.from), hms(report.to), report.step_secs)}
            <a href=csv class="csv" download>"Download CSV"</a>
        </p>
        {empty.then(|| view! { <p class="muted">"No figures were recorded in this period."</p> })}
        <table class="quotes report">
            <thead>
                <tr>
                    <th scope="col">"Node"</th>
                    <th scope="col" class="num">"Uptime"</th>
                    <th scope="col" class="num">"Alerts"</th>
                    <th scope="col">"Busiest minute"</th>
                    <th scope="col" class="num">"CPU mean / max"</th>
                    <th scope="col" class="num">"Memory max"</th>
                    <th scope="col" class="num">"Ingest mean / max"</th>
                    <th scope="col" class="num">"Persist lag p99 max"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|n| {
                        let busiest = n.busiest_minute.map_or_else(|| "–".to_owned(), |b| format!("{} ({:.0}/s)", hms(b.at), b.ingest_rate));
                        view! {
                            <tr data-node=n.node.clone()>
                                <th scope="row">{n.node.clone()}</th>
                                <td class="num">{format!("{:.0} %", n.uptime_pct)}</td>
                                <td class="num">{n.alerts}</td>
                                <td>{busiest}</td>
                                <td class="num">{format!("{} / {}", mean(&n, "cpu_pct", pct), peak(&n, "cpu_pct", pct))}</td>
                                <td class="num">{peak(&n, "rss_bytes", mem)}</td>
                                <td class="num">{format!("{} / {}", mean(&n, "ingest_rate", rate), peak(&n, "ingest_rate", rate))}</td>
                                <td class="num">{peak(&n, "persist_lag_p99_ms", ms)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        <leptos_meta::Link rel="preload" href=crate::assets::echarts_path() as_="script"/>
        <div class="columns">
            <section class="panel"><h2>"CPU (% of one core)"</h2><div id="report-cpu" class="chart small"></div></section>
            <section class="panel"><h2>"Memory (MB)"</h2><div id="report-memory" class="chart small"></div></section>
        </div>
        <section class="panel"><h2>"Ingest rate (ticks/s)"</h2><div id="report-ingest" class="chart small"></div></section>
    }
}
