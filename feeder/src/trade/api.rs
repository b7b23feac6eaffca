//! The load client's view of the tickpulse API: several base URLs with
//! fail-over, a timeout per attempt, and resends that can never become a
//! second order (an order is resent with the same `client_order_id`).

use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one request ended.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An HTTP answer that is not a 503: status and JSON body (`Null` when
    /// the body is not JSON).
    Http(u16, Value),
    /// Every attempt failed (timeouts, connection errors, 503s): the last
    /// reason. For an order, its outcome is unknown until it is read back.
    Failed(String),
}

/// One request's answer, how long it took in all, and how many resends it
/// needed.
#[derive(Debug, Clone)]
pub struct Sent {
    pub answer: Answer,
    pub elapsed: Duration,
    pub retries: u32,
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    urls: Arc<Vec<String>>,
    /// Which URL the next request starts with: spreads requests over them.
    next: Arc<AtomicUsize>,
    timeout: Duration,
    /// Attempts per request: every URL twice, and at least 10 (about 2 s of
    /// growing pauses, what a restarting process needs).
    attempts: usize,
}

impl Api {
    /// # Panics
    /// When `urls` is empty.
    pub fn new(urls: &[String], timeout: Duration) -> Self {
        assert!(!urls.is_empty(), "at least one URL");
        Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("an HTTP client"),
            urls: Arc::new(
                urls.iter()
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .collect(),
            ),
            next: Arc::new(AtomicUsize::new(0)),
            timeout,
            attempts: (urls.len() * 2).max(10),
        }
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `build(url)` to one URL after another until one answers with
    /// something other than a 503 (the same request each time: for an
    /// order, the same body and `client_order_id`).
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Sent {
        let start = Instant::now();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for attempt in 0..self.attempts {
            let url = &self.urls[(first + attempt) % self.urls.len()];
            let result = build(&self.http, url).timeout(self.timeout).send().await;
            match result {
                Ok(r) if r.status().as_u16() != 503 => {
                    let status = r.status().as_u16();
                    let body = r.json::<Value>().await.unwrap_or(Value::Null);
                    return Sent {
                        answer: Answer::Http(status, body),
                        elapsed: start.elapsed(),
                        retries: attempt as u32,
                    };
                }
                Ok(r) => last = format!("{url}: 503 {}", r.text().await.unwrap_or_default()),
                Err(e) => last = format!("{url}: {e}"),
            }
            // A short pause before the next URL: a restart or a fail-over
            // takes a moment.
            tokio::time::sleep(Duration::from_millis(50 * (attempt as u64 + 1))).await;
        }
        Sent {
            answer: Answer::Failed(last),
            elapsed: start.elapsed(),
            retries: self.attempts.saturating_sub(1) as u32,
        }
    }

    /// `GET path` as the holder of `token`.
    pub async fn get(&self, token: &str, path: &str) -> Sent {
        self.send(|http, url| http.get(format!("{url}{path}")).bearer_auth(token))
            .await
    }

    /// `POST /api/orders` with `body` as the holder of `token`.
    pub async fn order(&self, token: &str, body: &Value) -> Sent {
        self.send(|http, url| {
            http.post(format!("{url}/api/orders"))
                .bearer_auth(token)
                .json(body)
        })
        .await
    }
}
