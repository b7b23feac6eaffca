//! `GET /health/liveness` (the process answers), `GET /health/readiness`
//! (it can do its work: the bus answers, and the store if there is one) and
//! `GET /metrics` (Prometheus text format).

use crate::metrics::Gauges;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::Json;
use serde_json::{json, Value};

pub async fn liveness() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `ready` (200) when everything answers and every task runs; `degraded`
/// (200) when Redis answers but Postgres does not (ingest goes on and
/// persistence catches up later), or a background task failed and waits to
/// start again (`tasks_down` names it); `unavailable` (503) when Redis does
/// not answer.
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
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
    let tasks: serde_json::Map<String, Value> = state
        .tasks
        .states()
        .into_iter()
        .map(|(name, s)| (name, json!(s)))
        .collect();
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
        Json(json!({
            "status": status, "bus": bus, "redis": redis, "store": store, "database": database,
            "tasks": tasks, "tasks_down": tasks_down,
        })),
    )
}

/// `GET /metrics`: this process's counters, and the stream figures read
/// from the bus now (left out, with `tickpulse_bus_up 0`, when it is down).
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
