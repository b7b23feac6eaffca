//! [`ViewSource`]s over HTTP, `GET /api/symbols/{id}`: [`HttpViews`] with
//! reqwest natively, [`BrowserViews`] with gloo-net in WASM. Both read the
//! answer the same way ([`decode`]).

use crate::views::{FetchError, ViewSource};
use tickpulse_core::{Symbol, View};

/// The value in an answer to `GET url`: 404 is none (yet), another
/// failure status is unavailable.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    url: &str,
    status: u16,
    body: Result<String, String>,
) -> Result<Option<T>, FetchError> {
    let body = body.map_err(|e| FetchError::Unavailable(format!("GET {url}: {e}")))?;
    match status {
        404 => Ok(None),
        200..=299 => serde_json::from_str::<T>(&body)
            .map(Some)
            .map_err(|e| FetchError::Unreadable(format!("GET {url}: {e}"))),
        _ => Err(FetchError::Unavailable(format!(
            "GET {url}: {status} {body}"
        ))),
    }
}

fn url(base: &str, symbol: &Symbol) -> String {
    format!(
        "{}/api/symbols/{}",
        base.trim_end_matches('/'),
        symbol.as_str()
    )
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
pub struct HttpViews {
    client: reqwest::Client,
    base: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl HttpViews {
    /// Views from the tickpulse server at `base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.to_owned(),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ViewSource for HttpViews {
    async fn fetch(&self, symbol: &Symbol) -> Result<Option<View>, FetchError> {
        let url = url(&self.base, symbol);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| FetchError::Unavailable(format!("GET {url}: {e}")))?;
        let status = response.status().as_u16();
        decode(
            &url,
            status,
            response.text().await.map_err(|e| e.to_string()),
        )
    }
}

/// Views fetched by the browser (gloo-net), from the page's own origin
/// when `base` is empty.
#[cfg(target_arch = "wasm32")]
#[derive(Clone)]
pub struct BrowserViews {
    base: String,
}

#[cfg(target_arch = "wasm32")]
impl BrowserViews {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
        }
    }
}

#[cfg(target_arch = "wasm32")]
impl ViewSource for BrowserViews {
    async fn fetch(&self, symbol: &Symbol) -> Result<Option<View>, FetchError> {
        let url = url(&self.base, symbol);
        let response = gloo_net::http::Request::get(&url)
            .send()
            .await
            .map_err(|e| FetchError::Unavailable(format!("GET {url}: {e}")))?;
        let status = response.status();
        decode(
            &url,
            status,
            response.text().await.map_err(|e| e.to_string()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_the_same_way_on_every_transport() {
        let view = crate::test_view("AAPL", 3);
        let body = serde_json::to_string(&view).unwrap();
        assert_eq!(decode::<View>("u", 200, Ok(body)), Ok(Some(view)));
        assert_eq!(decode::<View>("u", 404, Ok("no view".into())), Ok(None));
        assert!(
            matches!(decode::<View>("u", 503, Ok("down".into())), Err(FetchError::Unavailable(m)) if m.contains("503 down"))
        );
        assert!(matches!(
            decode::<View>("u", 200, Ok("{".into())),
            Err(FetchError::Unreadable(_))
        ));
        assert!(
            matches!(decode::<View>("u", 0, Err("refused".into())), Err(FetchError::Unavailable(m)) if m.contains("refused"))
        );
    }
}
