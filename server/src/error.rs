//! [`ApiError`]: every way a request can fail, and the one JSON shape it
//! fails with: `{"error": "...", "details": [...]}`.

use crate::bus::{BusError, Failure};
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tickpulse_core::{BodyError, FieldError, ItemError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadBody(#[from] BodyError),
    #[error("invalid {field}")]
    BadParam {
        field: &'static str,
        message: String,
    },
    #[error("missing or wrong credentials")]
    Unauthorized,
    /// No (valid) session or key; the message says what is needed.
    #[error("{0}")]
    SignInRequired(&'static str),
    /// Signed in, but not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The session or account check could not be made.
    #[error("cannot check the session: {0}")]
    SessionUnavailable(String),
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("unsupported content type {got:?}; send {expected}")]
    UnsupportedMediaType { got: String, expected: &'static str },
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state (an order that is
    /// already terminal).
    #[error("{0}")]
    Conflict(String),
    /// An order refused by the trading rules; nothing was written.
    #[error("{0}")]
    Refused(tickpulse_core::trade::Refusal),
    /// Over a limit (a watchlist's symbols, the lists of a user); nothing
    /// was written. 422 with `code`, and `details` naming `field`.
    #[error("{message}")]
    OverLimit {
        code: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("ingest is disabled: set INGEST_USERNAME and INGEST_PASSWORD")]
    IngestDisabled,
    #[error("{0}")]
    Unavailable(#[from] BusError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0} needs a database: set DATABASE_URL")]
    NoStore(&'static str),
    /// The ticks are accepted (and will be persisted), but were not committed
    /// in time; resending is safe.
    #[error("{0}; they will be persisted, resend to wait again (duplicates are recognised)")]
    NotDurable(String),
    /// Over a rate limit: the client may send again after `retry_after`
    /// seconds.
    #[error("too many {route} requests from this {per}; send again in {retry_after} s (the limit is {setting})")]
    RateLimited {
        route: &'static str,
        per: &'static str,
        setting: &'static str,
        retry_after: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every error answer: what went wrong in words, and per field (and per
/// tick of a batch) what was wrong with it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: String,
    /// A stable machine-readable reason, where there is one (an order's
    /// refusal: `insufficient_cash`, `insufficient_quantity`,
    /// `insufficient_position`, `no_live_price`, `unknown_symbol`).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    details: Vec<ItemError>,
}

/// The refusals every read of the public API can answer with, for the
/// OpenAPI document (`responses(..., ReadRefusals)`).
#[derive(utoipa::IntoResponses)]
pub enum ReadRefusals {
    /// `API_KEY` is set and neither `x-api-key` nor a session was sent.
    #[response(status = 401)]
    SignInRequired(ErrorBody),
    #[response(status = 429, description = "Over the rate limit; see `Retry-After`",
        headers(("retry-after" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
    /// The bus or the database is unavailable; retry shortly.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The refusals of every admin endpoint, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum AdminRefusals {
    /// Neither an admin session nor `x-api-key` with `ADMIN_API_KEY`.
    #[response(status = 401)]
    SignInRequired(ErrorBody),
    /// Signed in, but not as an admin.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    #[response(status = 429, description = "Over the rate limit; see `Retry-After`",
        headers(("retry-after" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
    /// The bus or the database is unavailable; retry shortly.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The refusals of every trading endpoint, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum UserRefusals {
    /// Neither a session nor a valid personal token
    /// (`Authorization: Bearer`).
    #[response(status = 401)]
    SignInRequired(ErrorBody),
    #[response(status = 429, description = "Over the rate limit; see `Retry-After`",
        headers(("retry-after" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
    /// The bus or the database is unavailable (nothing was written);
    /// retry shortly.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The refusals of both ingest endpoints, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum IngestRefusals {
    /// Missing or wrong credentials.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The body is larger than `MAX_BODY_BYTES`.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Neither JSON nor (for batches) NDJSON.
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    #[response(status = 429, description = "Over the rate limit; see `Retry-After`; nothing was written",
        headers(("retry-after" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
    /// The bus or the database is unavailable, or ingest is not configured;
    /// nothing was written, resending is safe.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

impl ApiError {
    /// A 400 for a body whose fields `errors` names.
    pub fn fields(errors: Vec<FieldError>) -> Self {
        ApiError::BadBody(BodyError::Invalid(
            errors
                .into_iter()
                .map(|error| ItemError { index: None, error })
                .collect(),
        ))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadBody(_) | ApiError::BadParam { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::SignInRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Refused(_) | ApiError::OverLimit { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::IngestDisabled
            | ApiError::Unavailable(_)
            | ApiError::Store(_)
            | ApiError::NoStore(_)
            | ApiError::SessionUnavailable(_)
            | ApiError::NotDurable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn details(&self) -> Vec<ItemError> {
        match self {
            ApiError::BadBody(e) => e.details(),
            ApiError::BadParam { field, message } => {
                vec![ItemError {
                    index: None,
                    error: FieldError::new(field, "invalid", message.clone()),
                }]
            }
            ApiError::OverLimit {
                code,
                field,
                message,
            } => vec![ItemError {
                index: None,
                error: FieldError::new(field, code, message.clone()),
            }],
            _ => Vec::new(),
        }
    }

    /// What the client reads. For a 4xx it is the error itself; for a 5xx
    /// it says in words what failed and what to do, and the cause (driver
    /// text, file names) stays in the log.
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Unavailable(e) => {
                let part = match e.backend {
                    "redis" => "the message bus (redis)",
                    "memory" => "the embedded message bus",
                    _ => "the tick writer",
                };
                match e.kind {
                    Failure::Unavailable => format!("{part} is unavailable; retry shortly"),
                    Failure::Timeout => format!("{part} did not answer in time; retry shortly (a resend is safe)"),
                    Failure::Refused => format!("{part} refused the request; retry shortly"),
                    Failure::Corrupt => format!("{part} holds data it cannot read; the operator must look at the server log"),
                }
            }
            ApiError::Store(e) => match e {
                StoreError::Unavailable(_) => "the database is unavailable; retry shortly".into(),
                StoreError::Timeout(_) => "the database did not answer in time; retry shortly".into(),
                StoreError::Rejected(_) => "the database refused the data".into(),
                StoreError::Corrupt(_) => "the database holds a row it cannot read; the operator must look at the server log".into(),
            },
            ApiError::SessionUnavailable(_) => {
                "cannot check the session right now (the database does not answer); retry shortly".into()
            }
            ApiError::Internal(_) => "internal error; the operator must look at the server log".into(),
            other => other.to_string(),
        }
    }
}

impl ApiError {
    /// The body every door answers this error with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.public_message(),
            code: match self {
                ApiError::Refused(refusal) => Some(refusal.code()),
                ApiError::OverLimit { code, .. } => Some(*code),
                _ => None,
            },
            details: self.details(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = self.body();
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tickpulse ingest\", charset=\"UTF-8\""),
                );
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RateLimited { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}
