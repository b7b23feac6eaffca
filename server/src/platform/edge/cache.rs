//! Caching headers. The site's content-hashed build files (see
//! [`Assets`]) are cached for good: a new build has new names. Every other
//! answer (pages, the API, unhashed files) gets `no-cache` unless its
//! handler chose otherwise, so a browser revalidates it each time. Static
//! files carry an `ETag` (size, modification time and encoding), and a
//! matching `If-None-Match` gets a `304` without the body.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, LAST_MODIFIED,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use tickpulse_app::assets::Assets;

/// For the hashed build files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For everything else: use it, but ask first.
pub const REVALIDATE: &str = "no-cache";

pub async fn headers(State(assets): State<Arc<Assets>>, request: Request, next: Next) -> Response {
    let immutable = assets.immutable(request.uri().path());
    let if_none_match = request.headers().get(IF_NONE_MATCH).cloned();
    let mut response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let etag = static_etag(response.headers());
    let headers = response.headers_mut();
    if immutable {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    } else if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    }
    let Some(etag) = etag else {
        return response;
    };
    headers.insert(ETAG, etag.clone());
    if if_none_match.is_some_and(|wanted| matches(&wanted, &etag)) {
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    }
    response
}

/// The tag of a file the static file service answered with (it alone sets
/// `Last-Modified`): one per file version and encoding.
fn static_etag(headers: &HeaderMap) -> Option<HeaderValue> {
    let modified = headers.get(LAST_MODIFIED)?;
    let length = headers.get(CONTENT_LENGTH)?.to_str().ok()?;
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|e| e.to_str().ok())
        .unwrap_or("identity");
    let mut hasher = DefaultHasher::new();
    modified.as_bytes().hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{:016x}-{length}-{encoding}\"", hasher.finish())).ok()
}

/// Whether an `If-None-Match` list names `etag` (weak comparison, as the
/// header asks).
fn matches(wanted: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(wanted) = wanted.to_str() else {
        return false;
    };
    let etag = etag.to_str().unwrap_or_default();
    wanted
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_differs_by_encoding_and_matches_in_a_list() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Tue, 01 Dec 2026 10:00:00 GMT"),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1234"));
        let plain = static_etag(&headers).unwrap();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        let br = static_etag(&headers).unwrap();
        assert_ne!(plain, br);
        assert!(br.to_str().unwrap().ends_with("-1234-br\""));
        let list = HeaderValue::from_str(&format!("\"x\", W/{}", br.to_str().unwrap())).unwrap();
        assert!(matches(&list, &br));
        assert!(!matches(&list, &plain));
        assert!(matches(&HeaderValue::from_static("*"), &plain));
        headers.remove(LAST_MODIFIED);
        assert_eq!(static_etag(&headers), None, "only static files carry a tag");
    }
}
