//! `/admin/health` (admins only): nodes, feeds, pipeline, the ingest rate
//! of the last 15 minutes and the alert log with filters.
//!
//! The server renders the whole view (it reads without JavaScript; the
//! filters are a GET form). After hydration the page follows
//! `/api/admin/stream`: a fresh view every second, and alerts the moment
//! the monitor raises them.

use crate::components::{Connection, StatusBadge};
use crate::error::AppError;
use crate::format::{ago, bytes, hms};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use tickpulse_core::health::{Alert, Health};

/// The health view, for an admin; otherwise why not, with the status
/// (401, 403, 503) set on the page's response.
#[server(prefix = "/auth", endpoint = "health")]
pub async fn load_health() -> Result<Box<Health>, AppError> {
    use tickpulse_core::account::Role;
    let admin = crate::ssr::services()?.admin;
    let parts = crate::ssr::request()?;
    match admin.current(&parts).await.map_err(AppError::respond)? {
        None => Err(AppError::SignInRequired.respond()),
        Some(user) if user.role != Role::Admin => Err(AppError::Forbidden.respond()),
        Some(_) => admin
            .health()
            .await
            .map(Box::new)
            .map_err(AppError::respond),
    }
}

/// The alerts the filters let through: `scope` (`node`/`feed`/`bus`),
/// `severity`, and `subject` (a part of it, any case); empty = any.
pub fn filter_alerts<'a>(
    alerts: &'a [Alert],
    scope: &str,
    severity: &str,
    subject: &str,
) -> Vec<&'a Alert> {
    let subject = subject.trim().to_lowercase();
    alerts
        .iter()
        .filter(|a| scope.is_empty() || a.scope() == scope)
        .filter(|a| severity.is_empty() || a.severity.as_str() == severity)
        .filter(|a| subject.is_empty() || a.subject.to_lowercase().contains(&subject))
        .collect()
}

/// The rows of a table body, or one row saying `empty` spanning `columns`.
fn body_rows<T, V: IntoView>(
    items: impl ExactSizeIterator<Item = T>,
    columns: u32,
    empty: &'static str,
    row: impl Fn(T) -> V,
) -> AnyView {
    if items.len() == 0 {
        return view! { <tr><td colspan=columns class="empty">{empty}</td></tr> }.into_any();
    }
    items.map(row).collect_view().into_any()
}

/// The health view: a fresh [`Health`] every second; alerts as raised. A
/// stream that ends because the session did sends the page to the login.
#[cfg(feature = "hydrate")]
fn follow_health(
    health: RwSignal<Health>,
    latest: RwSignal<Option<Alert>>,
    status: RwSignal<Connection>,
) {
    let url = "/api/admin/stream".to_owned();
    crate::live::follow_url(
        url,
        &["health", "alert", "signed_out"],
        status,
        move |kind, data| match kind {
            "health" => match serde_json::from_str::<Health>(data) {
                Ok(h) => health.set(h),
                Err(e) => leptos::logging::warn!("unreadable health: {e}"),
            },
            "alert" => match serde_json::from_str::<Vec<Alert>>(data) {
                Ok(alerts) => {
                    if let Some(last) = alerts.last() {
                        latest.set(Some(last.clone()));
                    }
                }
                Err(e) => leptos::logging::warn!("unreadable alerts: {e}"),
            },
            "signed_out" => {
                let _ = window().location().set_href("/login?next=/admin/health");
            }
            _ => {}
        },
    );
}

#[component]
pub fn HealthPage() -> impl IntoView {
    let answer = Resource::new(|| (), |_| load_health());
    let status = RwSignal::new(Connection::Connecting);
    view! {
        <main class="page wide">
            <header class="top">
                <h1 class="brand">"Health"</h1>
                <a href="/admin/report">"Performance report"</a>
                <StatusBadge status/>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        Ok(h) => view! { <LiveHealth initial=*h status/> }.into_any(),
                        Err(AppError::SignInRequired) => view! {
                            <p class="error" role="alert">
                                "Sign in as an admin to see this page. "
                                <a href="/login?next=/admin/health" rel="external">"Sign in"</a>
                            </p>
                        }.into_any(),
                        Err(AppError::Forbidden) => view! {
                            <p class="error" role="alert">"This page is for admins."</p>
                        }.into_any(),
                        Err(e) => view! {
                            <p class="error" role="alert">"Health is unavailable right now: " {e.to_string()}</p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn LiveHealth(initial: Health, status: RwSignal<Connection>) -> impl IntoView {
    let health = RwSignal::new(initial);
    let latest = RwSignal::new(None::<Alert>);
    #[cfg(feature = "hydrate")]
    {
        follow_health(health, latest, status);
        crate::echarts::draw_series(health);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = status;
    view! {
        {move || {
            latest
                .get()
                .map(|a| {
                    view! {
                        <p class=format!("banner {}", a.severity.as_str()) role="alert" id="latest-alert">
                            {hms(a.at)} " · " <strong>{a.kind.clone()}</strong> " · " {a.subject.clone()}
                            " — " {a.message.clone()}
                        </p>
                    }
                })
        }}
        <section class="panel">
            <h2>"Anomalies"</h2>
            <Anomalies health/>
        </section>
        <section class="panel">
            <h2>"Nodes"</h2>
            <Nodes health/>
        </section>
        <div class="columns">
            <section class="panel">
                <h2>"Pipeline"</h2>
                <Pipeline health/>
            </section>
            <section class="panel">
                <h2>"Feeds"</h2>
                <Feeds health/>
            </section>
        </div>
        <leptos_meta::Link rel="preload" href=crate::assets::echarts_path() as_="script"/>
        <section class="panel">
            <h2>"Ingest rate, last 15 minutes (ticks/s)"</h2>
            <div id="ingest-chart" class="chart small" role="img" aria-label="Ingest rate over the last 15 minutes">
                <p class="muted chart-fallback">
                    {move || format!("Now: {:.0} ticks/s", health.with(|h| h.pipeline.ingest_rate))}
                </p>
            </div>
        </section>
        <section class="panel">
            <h2>"Alerts"</h2>
            <Alerts health/>
        </section>
    }
}

/// The anomalies raised and not cleared yet, from the alert log the view
/// carries (so they appear and go within a second of the monitor's word).
#[component]
fn Anomalies(health: RwSignal<Health>) -> impl IntoView {
    view! {
        <table class="quotes anomalies">
            <thead>
                <tr>
                    <th scope="col">"Since (UTC)"</th>
                    <th scope="col">"Anomaly"</th>
                    <th scope="col">"Subject"</th>
                    <th scope="col">"Figures"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    health.with(|h| {
                        let active = tickpulse_core::health::active_anomalies(&h.alerts);
                        body_rows(active.into_iter(), 4, "None: every figure is within its bounds.", |a| {
                            view! {
                                <tr data-kind=a.kind.clone() data-subject=a.subject.clone()>
                                    <td>{hms(a.at)}</td>
                                    <th scope="row">{a.kind.clone()}</th>
                                    <td>{a.subject.clone()}</td>
                                    <td>{a.message.clone()}</td>
                                </tr>
                            }
                        })
                    })
                }}
            </tbody>
        </table>
    }
}

/// Values a node's sparkline keeps: two minutes of health views.
const TREND_POINTS: usize = 120;

/// A small line of `values` (oldest first), scaled to their own range.
fn sparkline(values: &[f64], label: String) -> impl IntoView {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let range = (hi - lo).max(f64::EPSILON);
    let step = 60.0 / (TREND_POINTS - 1) as f64;
    let start = TREND_POINTS.saturating_sub(values.len());
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                (start + i) as f64 * step,
                15.0 - (v - lo) / range * 14.0
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <svg class="spark" viewBox="0 0 60 16" role="img" aria-label=label data-points=values.len()>
            <polyline points=points/>
        </svg>
    }
}

#[component]
fn Nodes(health: RwSignal<Health>) -> impl IntoView {
    // Per node, its CPU and memory at each view since the page opened.
    let trends = RwSignal::new(std::collections::BTreeMap::<
        String,
        std::collections::VecDeque<(f64, f64)>,
    >::new());
    Effect::new(move |_| {
        health.with(|h| {
            trends.update(|t| {
                t.retain(|node, _| h.nodes.iter().any(|n| &n.beat.node == node));
                for n in &h.nodes {
                    let points = t.entry(n.beat.node.clone()).or_default();
                    points.push_back((n.beat.cpu_pct, n.beat.rss_bytes as f64));
                    if points.len() > TREND_POINTS {
                        points.pop_front();
                    }
                }
            });
        });
    });
    let trend = move |node: &str| {
        trends.with(|t| {
            let points = t.get(node).map(|p| p.iter().copied().collect::<Vec<_>>()).unwrap_or_default();
            let cpu: Vec<f64> = points.iter().map(|p| p.0).collect();
            let rss: Vec<f64> = points.iter().map(|p| p.1).collect();
            view! {
                <td class="trend cpu">{sparkline(&cpu, format!("CPU of {node}, last two minutes"))}</td>
                <td class="trend memory">{sparkline(&rss, format!("memory of {node}, last two minutes"))}</td>
            }
        })
    };
    view! {
        <table class="quotes nodes">
            <thead>
                <tr>
                    <th scope="col">"Node"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Last beat"</th>
                    <th scope="col" class="num">"CPU"</th>
                    <th scope="col" class="num">"Memory"</th>
                    <th scope="col">"CPU trend"</th>
                    <th scope="col">"Memory trend"</th>
                    <th scope="col">"Roles"</th>
                    <th scope="col">"Version"</th>
                    <th scope="col">"Up since (UTC)"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    health.with(|h| {
                        body_rows(h.nodes.iter(), 10, "No node has sent a heartbeat yet.", |n| {
                                let status = n.status.as_str();
                                view! {
                                    <tr class=format!("node {status}") data-node=n.beat.node.clone() data-status=status>
                                        <th scope="row">{n.beat.node.clone()}</th>
                                        <td><span class=format!("pill {status}")>{status}</span></td>
                                        <td>{ago(n.silent_ms)}</td>
                                        <td class="num">{format!("{:.1} %", n.beat.cpu_pct)}</td>
                                        <td class="num">{bytes(n.beat.rss_bytes)}</td>
                                        {trend(&n.beat.node)}
                                        <td>{n.beat.roles.join(", ")}</td>
                                        <td>{n.beat.version.clone()}</td>
                                        <td>{hms(n.beat.started_at)}</td>
                                    </tr>
                                }
                        })
                    })
                }}
            </tbody>
        </table>
    }
}

#[component]
fn Pipeline(health: RwSignal<Health>) -> impl IntoView {
    let row = |label: String, value: String| {
        view! { <tr><th scope="row">{label}</th><td class="num">{value}</td></tr> }
    };
    view! {
        <table class="quotes pipeline">
            <tbody>
                {move || {
                    health.with(|h| {
                        let p = &h.pipeline;
                        let opt = |v: Option<u64>| v.map_or_else(|| "–".to_owned(), |n| n.to_string());
                        let mut rows = vec![
                            row("Ingest rate".into(), format!("{:.0} ticks/s", p.ingest_rate)),
                            row("Stream length".into(), opt(p.stream_length)),
                            row("Dead letters".into(), opt(p.dead_letters)),
                            row(
                                "Persist lag (last batch)".into(),
                                p.persist_lag_secs.map_or_else(|| "–".into(), |s| format!("{:.0} ms", s * 1000.0)),
                            ),
                            row("SSE clients".into(), p.sse_clients.to_string()),
                        ];
                        for g in &p.groups {
                            rows.push(row(format!("Pending: {}", g.group), g.pending.to_string()));
                        }
                        if let Some(d) = &p.dedupe {
                            let mib = |b: u64| format!("{:.1} MiB", b as f64 / 1_048_576.0);
                            rows.push(row(
                                "De-dupe memory".into(),
                                match d.budget_bytes {
                                    Some(budget) => format!("{} of {} ({} ids)", mib(d.bytes), mib(budget), d.ids),
                                    None => format!("{} ({} ids)", mib(d.bytes), d.ids),
                                },
                            ));
                            rows.push(row(
                                "De-dupe window".into(),
                                if d.shortened() {
                                    format!("{} s, shortened by the budget (DEDUPE_TTL_SECS {} s)", d.window_secs, d.ttl_secs)
                                } else {
                                    format!("{} s", d.window_secs)
                                },
                            ));
                        }
                        rows.collect_view()
                    })
                }}
            </tbody>
        </table>
    }
}

#[component]
fn Feeds(health: RwSignal<Health>) -> impl IntoView {
    view! {
        <table class="quotes feeds">
            <thead>
                <tr>
                    <th scope="col">"Source"</th>
                    <th scope="col">"Last tick"</th>
                    <th scope="col" class="num">"Ticks/s"</th>
                    <th scope="col">"State"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    health.with(|h| {
                        body_rows(h.feeds.iter(), 4, "No feed has sent ticks since the nodes started.", |f| {
                                let state = if f.stale { "stale" } else { "live" };
                                view! {
                                    <tr data-feed=f.source.clone() data-state=state>
                                        <th scope="row">{f.source.clone()}</th>
                                        <td>{ago(h.at - f.last_tick)}</td>
                                        <td class="num">{format!("{:.1}", f.rate)}</td>
                                        <td><span class=format!("pill {}", if f.stale { "down" } else { "up" })>{state}</span></td>
                                    </tr>
                                }
                        })
                    })
                }}
            </tbody>
        </table>
    }
}

#[component]
fn Alerts(health: RwSignal<Health>) -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.with(|q| q.get(name).unwrap_or_default());
    let selected = |current: String, value: &'static str| current == value;
    view! {
        <form method="get" action="/admin/health" class="filters">
            <label>
                "Kind "
                <select name="scope">
                    <option value="" selected=move || selected(param("scope"), "")>"all"</option>
                    <option value="node" selected=move || selected(param("scope"), "node")>"nodes"</option>
                    <option value="feed" selected=move || selected(param("scope"), "feed")>"feeds"</option>
                    <option value="bus" selected=move || selected(param("scope"), "bus")>"bus"</option>
                </select>
            </label>
            <label>
                "Severity "
                <select name="severity">
                    <option value="" selected=move || selected(param("severity"), "")>"all"</option>
                    <option value="critical" selected=move || selected(param("severity"), "critical")>"critical"</option>
                    <option value="warning" selected=move || selected(param("severity"), "warning")>"warning"</option>
                    <option value="info" selected=move || selected(param("severity"), "info")>"info"</option>
                </select>
            </label>
            <label>
                "Subject " <input name="subject" prop:value=move || param("subject") value=move || param("subject") placeholder="node or source"/>
            </label>
            <button type="submit">"Filter"</button>
        </form>
        {move || health.with(|h| h.alerts_error.clone()).map(|e| view! { <p class="error">{e}</p> })}
        <table class="quotes alerts">
            <thead>
                <tr>
                    <th scope="col">"Time (UTC)"</th>
                    <th scope="col">"Severity"</th>
                    <th scope="col">"Event"</th>
                    <th scope="col">"Subject"</th>
                    <th scope="col">"What"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    let (scope, severity, subject) = (param("scope"), param("severity"), param("subject"));
                    health.with(|h| {
                        let shown = filter_alerts(&h.alerts, &scope, &severity, &subject);
                        body_rows(shown.into_iter(), 5, "No alerts.", |a| {
                                view! {
                                    <tr class="alert" data-kind=a.kind.clone() data-subject=a.subject.clone()>
                                        <td class="time">{hms(a.at)}</td>
                                        <td><span class=format!("pill {}", a.severity.as_str())>{a.severity.as_str()}</span></td>
                                        <td>{a.kind.clone()}</td>
                                        <td>{a.subject.clone()}</td>
                                        <td>{a.message.clone()}</td>
                                    </tr>
                                }
                        })
                    })
                }}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickpulse_core::health::Severity;

    #[test]
    fn figures_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(300 * 1024 * 1024), "300 MiB");
        assert_eq!(ago(400), "0.4 s ago");
        assert_eq!(ago(12_000), "12 s ago");
        assert_eq!(ago(180_000), "3 min ago");
        assert_eq!(ago(-5), "0.0 s ago");
    }

    #[test]
    fn alert_filters_combine() {
        let alert = |kind: &str, subject: &str, severity| Alert {
            id: 0,
            at: 0,
            kind: kind.into(),
            subject: subject.into(),
            severity,
            message: String::new(),
        };
        let all = [
            alert("node.down", "api-1", Severity::Critical),
            alert("node.recovered", "api-1", Severity::Info),
            alert("feed.stale", "sim", Severity::Warning),
        ];
        assert_eq!(filter_alerts(&all, "", "", "").len(), 3);
        assert_eq!(filter_alerts(&all, "node", "", "").len(), 2);
        assert_eq!(filter_alerts(&all, "node", "critical", "").len(), 1);
        assert_eq!(filter_alerts(&all, "", "", "SI").len(), 1);
        assert_eq!(filter_alerts(&all, "feed", "critical", "").len(), 0);
    }
}
