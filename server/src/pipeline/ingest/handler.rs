//! The ingest webhook: `POST /ingest/tick` and `POST /ingest/ticks`.
//!
//! Order of checks: credentials, content type, size, then every tick; only a
//! fully valid request reaches the writer, and the answer (202) is sent only
//! after the bus confirmed the write.

use super::auth::check_basic;
use super::writer::AppendCounts;
use super::Ingest;
use crate::error::{ApiError, ErrorBody, IngestRefusals};
use crate::platform::edge::extract::Query;
use crate::platform::prometheus::Rejection;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use bytes::BytesMut;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tickpulse_core::{parse_batch, parse_one, BodyFormat, Tick, Timestamp};

/// Bodies larger than this are parsed off the async worker threads.
const BLOCKING_PARSE_BYTES: usize = 64 * 1024;

type Answer = Result<(StatusCode, Json<Acknowledged>), ApiError>;

/// `POST /ingest/tick`: one JSON tick.
#[utoipa::path(
    post, path = "/ingest/tick", tag = "ingest",
    params(IngestParams),
    request_body(content = Tick, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: in the stream (with `ack=durable`, also committed in the database)", body = Acknowledged),
        (status = 400, description = "A field is missing or invalid; `details` names it", body = ErrorBody),
        IngestRefusals,
    ),
    security(("ingest" = []))
)]
pub async fn one(
    State(state): State<Arc<Ingest>>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    counted(&state, accept_one(&state, params, headers, body).await)
}

/// `POST /ingest/ticks`: a JSON array or NDJSON, up to 10,000 ticks.
#[utoipa::path(
    post, path = "/ingest/ticks", tag = "ingest",
    params(IngestParams),
    request_body(
        description = "Up to 10,000 ticks: a JSON array, or NDJSON (one tick per line). All are accepted or none.",
        content(
            (Vec<Tick> = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 202, description = "Accepted: in the stream (with `ack=durable`, also committed in the database)", body = Acknowledged),
        (status = 400, description = "A tick is invalid, or there are more than 10,000; `details` names it by index and field, and nothing was accepted", body = ErrorBody),
        IngestRefusals,
    ),
    security(("ingest" = []))
)]
pub async fn many(
    State(state): State<Arc<Ingest>>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    counted(&state, accept_many(&state, params, headers, body).await)
}

/// The credentials, then the credential's rate limit.
fn authorize(state: &Ingest, headers: &HeaderMap) -> Result<(), ApiError> {
    let credentials = state.config.ingest_credentials();
    check_basic(headers, credentials)?;
    match credentials {
        Some((user, _)) => state.limits.check_credential(user),
        None => Ok(()),
    }
}

/// Counts a refused request by its reason.
fn counted(state: &Ingest, answer: Answer) -> Answer {
    if let Err(e) = &answer {
        state.metrics.reject(rejection(e));
    }
    answer
}

/// How the refusal of an ingest request is counted in the metrics.
fn rejection(error: &ApiError) -> Rejection {
    match error {
        ApiError::Unauthorized | ApiError::SignInRequired(_) | ApiError::Forbidden(_) => {
            Rejection::Unauthorized
        }
        ApiError::BadBody(_) | ApiError::BadParam { .. } => Rejection::Invalid,
        ApiError::TooLarge { .. } => Rejection::TooLarge,
        ApiError::UnsupportedMediaType { .. } => Rejection::UnsupportedMediaType,
        ApiError::Unavailable(_)
        | ApiError::Store(_)
        | ApiError::NotDurable(_)
        | ApiError::SessionUnavailable(_) => Rejection::Unavailable,
        ApiError::IngestDisabled | ApiError::NoStore(_) => Rejection::Disabled,
        ApiError::RateLimited { .. } => Rejection::RateLimited,
        ApiError::NotFound(_)
        | ApiError::Conflict(_)
        | ApiError::Refused(_)
        | ApiError::OverLimit { .. }
        | ApiError::Internal(_) => Rejection::Other,
    }
}

async fn accept_one(
    state: &Ingest,
    params: IngestParams,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    authorize(state, &headers)?;
    let ack = params.ack(state)?;
    match media_type(&headers).as_str() {
        "application/json" => {}
        got => {
            return Err(ApiError::UnsupportedMediaType {
                got: got.into(),
                expected: "application/json",
            })
        }
    }
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let tick = parse_one(&body, Timestamp::now())?;
    write(state, vec![tick], ack).await
}

async fn accept_many(
    state: &Ingest,
    params: IngestParams,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    authorize(state, &headers)?;
    let ack = params.ack(state)?;
    let format = match media_type(&headers).as_str() {
        "application/json" => BodyFormat::JsonArray,
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/jsonlines" => BodyFormat::Ndjson,
        got => {
            return Err(ApiError::UnsupportedMediaType {
                got: got.into(),
                expected: "application/json (an array) or application/x-ndjson",
            })
        }
    };
    let body = read_limited(body, state.config.max_body_bytes).await?;
    let ticks = if body.len() > BLOCKING_PARSE_BYTES {
        tokio::task::spawn_blocking(move || parse_batch(&body, format, Timestamp::now()))
            .await
            .map_err(|e| ApiError::Internal(format!("parser stopped: {e}")))??
    } else {
        parse_batch(&body, format, Timestamp::now())?
    };
    write(state, ticks, ack).await
}

/// When the answer is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    /// After Redis stored the ticks (default).
    Accepted,
    /// After Postgres committed them (`?ack=durable`).
    Durable,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// When to answer: `redis` (default) once the ticks are in the stream,
    /// `durable` once they are committed in the database.
    #[param(pattern = "^(redis|durable)$")]
    ack: Option<String>,
}

impl IngestParams {
    fn ack(&self, state: &Ingest) -> Result<Ack, ApiError> {
        match self.ack.as_deref() {
            None | Some("redis") => Ok(Ack::Accepted),
            Some("durable") if state.durability.is_some() => Ok(Ack::Durable),
            Some("durable") => Err(ApiError::NoStore("ack=durable")),
            Some(other) => Err(ApiError::BadParam {
                field: "ack",
                message: format!("must be redis or durable, got {other:?}"),
            }),
        }
    }
}

/// The 202 answer: the counts, and `"durable": true` when the ticks are
/// committed in Postgres.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    #[serde(flatten)]
    counts: AppendCounts,
    /// Present (and true) when the ticks are committed in the database.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    durable: bool,
}

async fn write(state: &Ingest, ticks: Vec<Tick>, ack: Ack) -> Answer {
    let event_ids: Vec<String> = match ack {
        Ack::Durable => ticks.iter().map(|t| t.event_id.to_string()).collect(),
        Ack::Accepted => Vec::new(),
    };
    let now_ms = Timestamp::now().as_millis();
    state
        .metrics
        .feeds
        .record(ticks.iter().map(|t| t.source.as_str()), now_ms);
    let counts = state.writer.write(ticks).await?;
    let m = &state.metrics;
    m.ingested.inc_by(counts.accepted as u64);
    m.duplicates.inc_by(counts.duplicates as u64);
    if let (Ack::Durable, Some(durability)) = (ack, &state.durability) {
        // Duplicates wait too: for their original to be committed.
        durability
            .wait(event_ids)
            .await
            .map_err(ApiError::NotDurable)?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Acknowledged {
            counts,
            durable: ack == Ack::Durable,
        }),
    ))
}

/// The media type without parameters, lower-cased; empty when absent.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadParam {
            field: "body",
            message: format!("could not be read: {e}"),
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        if buf.is_empty() {
            // Usual case: the body arrives in one chunk; keep it without a copy.
            buf = BytesMut::from(chunk);
        } else {
            buf.extend_from_slice(&chunk);
        }
    }
    Ok(buf.freeze())
}
