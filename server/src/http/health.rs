//! `GET /health/liveness` (the process answers), `GET /health/readiness`
//! (it can do its work: the bus answers, and the store if there is one) and
//! `GET /metrics` (Prometheus text format).

use crate::platform::prometheus::Gauges;
use crate::platform::tasks::TaskState;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    status: &'static str,
}

#[utoipa::path(
    get, path = "/health/liveness", tag = "operations",
    responses((status = 200, description = "The process answers", body = Liveness))
)]
pub async fn liveness() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` or `unavailable`.
    #[schema(pattern = "^(ready|degraded|unavailable)$")]
    status: &'static str,
    /// `redis` or `embedded`.
    bus: &'static str,
    /// `ok`, why Redis does not answer, or `not used`.
    redis: String,
    /// The database kind (`postgres`, `sqlite`) or `none`.
    store: &'static str,
    /// `ok`, why the database does not answer, or `not configured`.
    database: String,
    /// Every background task by name.
    tasks: BTreeMap<String, TaskState>,
    /// The tasks that failed and wait to start again.
    tasks_down: Vec<String>,
}

/// `ready` (200) when everything answers and every task runs; `degraded`
/// (200) when Redis answers but Postgres does not (ingest goes on and
/// persistence catches up later), or a background task failed and waits to
/// start again (`tasks_down` names it); `unavailable` (503) when Redis does
/// not answer.
#[utoipa::path(
    get, path = "/health/readiness", tag = "operations",
    responses(
        (status = 200, description = "`ready`, or `degraded` (the database or a task is down; ingest goes on)", body = Readiness),
        (status = 503, description = "`unavailable`: the bus does not answer", body = Readiness),
    )
)]
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let redis = state.bus.ping().await.map_err(|e| e.to_string());
    let postgres = match &state.store {
        Some(store) => Some(store.ping().await.map_err(|e| e.to_string())),
        None => None,
    };
    let tasks_down = state.tasks.down();
    let (status, code) = match (&redis, &postgres) {
        (Err(_), _) => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        (Ok(()), Some(Err(_))) => ("degraded", StatusCode::OK),
        _ if !tasks_down.is_empty() => ("degraded", StatusCode::OK),
        _ => ("ready", StatusCode::OK),
    };
    let describe =
        |r: &Result<(), String>| r.as_ref().map_or_else(Clone::clone, |()| "ok".to_owned());
    let database = postgres
        .as_ref()
        .map_or_else(|| "not configured".to_owned(), describe);
    let store = state.store.as_ref().map_or("none", |s| s.backend());
    let (bus, redis) = if state.config.redis_url.is_some() {
        ("redis", describe(&redis))
    } else {
        ("embedded", "not used".to_owned())
    };
    (
        code,
        Json(Readiness {
            status,
            bus,
            redis,
            store,
            database,
            tasks: state.tasks.states().into_iter().collect(),
            tasks_down,
        }),
    )
}

/// `GET /metrics`: this process's counters, and the stream figures read
/// from the bus now (left out, with `tickpulse_bus_up 0`, when it is down).
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let gauges = Gauges {
        stream: state.bus.stream_stats().await.map_err(|e| e.to_string()),
        sse_clients: state.gateway.clients(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&gauges),
    )
}
