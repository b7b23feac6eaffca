//! HTTP Basic Auth for the ingest webhook, compared in constant time.

use crate::error::ApiError;
use axum::http::{header, HeaderMap};
use base64::Engine;
use subtle::ConstantTimeEq;

/// Checks the `Authorization` header against the configured credentials.
///
/// # Errors
/// `IngestDisabled` when no credentials are configured, `Unauthorized` when
/// the header is missing, malformed or wrong.
pub fn check_basic(headers: &HeaderMap, expected: Option<(&str, &str)>) -> Result<(), ApiError> {
    let (user, password) = expected.ok_or(ApiError::IngestDisabled)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .ok_or(ApiError::Unauthorized)?;
    let expected = format!("{user}:{password}");
    // Both sides are compared in full whatever their content; only a length
    // mismatch returns early, which reveals nothing about the secret itself.
    if bool::from(given.as_slice().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn accepts_only_the_right_pair() {
        let creds = Some(("feeder", "s3cret"));
        // "feeder:s3cret"
        assert!(check_basic(&with("Basic ZmVlZGVyOnMzY3JldA=="), creds).is_ok());
        // "feeder:wrong"
        assert!(matches!(
            check_basic(&with("Basic ZmVlZGVyOndyb25n"), creds),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            check_basic(&with("Bearer x"), creds),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            check_basic(&HeaderMap::new(), creds),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            check_basic(&HeaderMap::new(), None),
            Err(ApiError::IngestDisabled)
        ));
    }
}
