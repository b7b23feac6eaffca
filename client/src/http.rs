//! [`HttpViews`]: the native [`ViewSource`], `GET /api/symbols/{id}` over
//! HTTP with reqwest. (In the browser the pages fetch with gloo-net.)

use crate::views::{FetchError, ViewSource};
use tickpulse_core::{Symbol, View};

#[derive(Clone)]
pub struct HttpViews {
    client: reqwest::Client,
    base: String,
}

impl HttpViews {
    /// Views from the tickpulse server at `base` (e.g. `http://127.0.0.1:3000`).
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }
}

impl ViewSource for HttpViews {
    async fn fetch(&self, symbol: &Symbol) -> Result<Option<View>, FetchError> {
        let url = format!("{}/api/symbols/{}", self.base, symbol.as_str());
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| FetchError::Unavailable(format!("GET {url}: {e}")))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => response
                .json::<View>()
                .await
                .map(Some)
                .map_err(|e| FetchError::Unreadable(format!("GET {url}: {e}"))),
            status => Err(FetchError::Unavailable(format!(
                "GET {url}: {status} {}",
                response.text().await.unwrap_or_default()
            ))),
        }
    }
}
