//! [`Watchlists`]: a signed-in user's watchlists over the JSON API
//! (`/api/watchlists…`), acting with a personal token (`tickpulse user
//! token NAME` prints one). The rules (names, limits, known symbols) are
//! the server's; a refusal comes back as [`WatchlistError::Refused`] with
//! the server's status, code and words.

#[cfg(not(target_arch = "wasm32"))]
use tickpulse_core::watchlist::{Watchlist, WatchlistViews};
#[cfg(not(target_arch = "wasm32"))]
use tickpulse_core::Symbol;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchlistError {
    /// The server could not be reached, or is unavailable (5xx): retry.
    #[error("watchlists unavailable: {0}")]
    Unavailable(String),
    /// The server said no: 401 (no or a bad token), 404 (no such list or
    /// symbol), 409 (the name is taken), 422 (over a limit, `code` says
    /// which), 400 (a bad field).
    #[error("{status}: {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The answer could not be read.
    #[error("unreadable answer: {0}")]
    Unreadable(String),
}

/// The watchlists of the user whose token this is, on the server at `base`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone)]
pub struct Watchlists {
    client: reqwest::Client,
    base: String,
    token: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl Watchlists {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, WatchlistError> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| WatchlistError::Unavailable(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| WatchlistError::Unavailable(format!("{method} {url}: {e}")))?;
        answer(status, &text)
    }

    /// The user's lists, oldest first.
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn list(&self) -> Result<Vec<Watchlist>, WatchlistError> {
        self.call(reqwest::Method::GET, "/api/watchlists", None)
            .await
    }

    /// The list named `name` (whatever its case), if the user has one.
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn find(&self, name: &str) -> Result<Option<Watchlist>, WatchlistError> {
        let key = tickpulse_core::watchlist::name_key(name.trim());
        Ok(self
            .list()
            .await?
            .into_iter()
            .find(|l| tickpulse_core::watchlist::name_key(&l.name) == key))
    }

    /// One list with the latest View of each of its symbols.
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn get(&self, id: i64) -> Result<WatchlistViews, WatchlistError> {
        self.call(reqwest::Method::GET, &format!("/api/watchlists/{id}"), None)
            .await
    }

    /// A new list.
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn create(
        &self,
        name: &str,
        symbols: &[Symbol],
    ) -> Result<Watchlist, WatchlistError> {
        self.call(
            reqwest::Method::POST,
            "/api/watchlists",
            Some(serde_json::json!({ "name": name, "symbols": symbols })),
        )
        .await
    }

    /// Adds a symbol (adding one that is there changes nothing).
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn add(&self, id: i64, symbol: &Symbol) -> Result<Watchlist, WatchlistError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/watchlists/{id}/symbols"),
            Some(serde_json::json!({ "symbol": symbol })),
        )
        .await
    }

    /// Removes a symbol.
    ///
    /// # Errors
    /// See [`WatchlistError`].
    pub async fn remove(&self, id: i64, symbol: &Symbol) -> Result<Watchlist, WatchlistError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/watchlists/{id}/symbols/{}", symbol.as_str()),
            None,
        )
        .await
    }

    /// The stream URL of one list (`/api/stream?watchlist=`), for
    /// [`crate::sse::follow_with`] with this token.
    pub fn stream_url(&self, id: i64) -> String {
        format!("{}/api/stream?watchlist={id}", self.base)
    }

    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The value in an answer: a 2xx body, or the refusal it says.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn answer<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
) -> Result<T, WatchlistError> {
    match status {
        200..=299 => {
            serde_json::from_str(body).map_err(|e| WatchlistError::Unreadable(e.to_string()))
        }
        400..=499 => {
            let error: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            Err(WatchlistError::Refused {
                status,
                code: error["code"].as_str().map(str::to_owned),
                message: error["error"].as_str().unwrap_or(body).to_owned(),
            })
        }
        _ => Err(WatchlistError::Unavailable(format!("{status}: {body}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_lists_or_the_refusal_they_say() {
        let list: Watchlist = answer(200, r#"{"id":1,"name":"Tech","symbols":["A"]}"#).unwrap();
        assert_eq!((list.id, list.symbols.len()), (1, 1));
        assert_eq!(
            answer::<Watchlist>(
                422,
                r#"{"error":"full","code":"watchlist_full","details":[]}"#
            ),
            Err(WatchlistError::Refused {
                status: 422,
                code: Some("watchlist_full".into()),
                message: "full".into()
            })
        );
        assert!(matches!(
            answer::<Watchlist>(503, "down"),
            Err(WatchlistError::Unavailable(m)) if m.contains("down")
        ));
        assert!(matches!(
            answer::<Watchlist>(200, "{"),
            Err(WatchlistError::Unreadable(_))
        ));
    }
}
