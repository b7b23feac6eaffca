//! What browsers are told and what they may not do.
//!
//! Every response but the webhook's (it answers programs, is the hot path,
//! and is routed outside this layer; see `crate::router`) gets
//! `X-Content-Type-Options: nosniff`, a `Referrer-Policy` and
//! `X-Frame-Options: DENY`. Each page gets the Content Security Policy of
//! `tickpulse_app::security` with a script nonce made here, per request:
//! the nonce goes to the page's render in the request's extensions (see
//! [`page_nonce`]), and the policy naming it onto the HTML answer, so
//! the header never depends on what the render did. A page the server
//! writes by hand sets its policy (without a nonce) itself. Any other
//! response gets a policy that allows nothing, so a file opened directly
//! (an SVG) runs no script and nothing can be framed.
//!
//! A state-changing request (anything but GET, HEAD and OPTIONS) from a
//! browser must come from this site: `Sec-Fetch-Site` says `same-origin`
//! (or `none`, typed by the user), or, from a browser that does not send
//! it, `Origin` names this host. Anything else is refused with 403 before it
//! runs. Requests without either header (programs, `curl`) are not
//! browsers' cross-site posts and pass.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::nonce::Nonce;

/// The policy of responses that are not pages.
const NOTHING: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

pub async fn guard(mut request: Request, next: Next) -> Response {
    let checked = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // Only a GET or HEAD renders a page.
    let nonce = (!checked && *request.method() != Method::OPTIONS).then(|| {
        let nonce = Nonce::new();
        request.extensions_mut().insert(nonce.clone());
        nonce
    });
    let mut response = match checked.then(|| cross_site(request.headers())).flatten() {
        Some(why) => ApiError::Forbidden(why).into_response(),
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let html = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
        let policy = if html {
            HeaderValue::from_str(&tickpulse_app::security::policy(nonce.as_deref()))
                .unwrap_or(HeaderValue::from_static(NOTHING))
        } else {
            HeaderValue::from_static(NOTHING)
        };
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Gives the page being rendered the nonce [`guard`] made for its request
/// (it replaces the one the renderer made itself): call it in the render's
/// context.
pub fn page_nonce() {
    let nonce = leptos::prelude::use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Nonce>().cloned());
    if let Some(nonce) = nonce {
        leptos::prelude::provide_context(nonce);
    }
}

/// Why a state-changing request is a cross-site one, if it is.
pub fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    const REFUSED: &str = "cross-site requests are refused: post from this site's own pages";
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" | b"none" => None,
            _ => Some(REFUSED),
        };
    }
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => None,
        _ => Some(REFUSED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_site_may_post() {
        assert_eq!(cross_site(&headers(&[])), None, "not a browser");
        assert_eq!(
            cross_site(&headers(&[("sec-fetch-site", "same-origin")])),
            None
        );
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])).is_some());
        let host = ("host", "example.com:3000");
        assert_eq!(
            cross_site(&headers(&[host, ("origin", "http://example.com:3000")])),
            None
        );
        assert!(cross_site(&headers(&[host, ("origin", "http://evil.test")])).is_some());
        assert!(cross_site(&headers(&[host, ("origin", "null")])).is_some());
        assert!(cross_site(&headers(&[("origin", "http://example.com:3000")])).is_some());
    }
}
