//! Rate limits on a real server: each limited route answers 429 with
//! `Retry-After` and a message naming its setting, counts in
//! `tickpulse_rate_limited_total{route}`, and keeps other clients' allowance.

use crate::common;

use common::{tick, TestServer, PASSWORD, USER};
use serde_json::Value;

async fn limited(
    tweak: impl FnOnce(&mut tickpulse_server::platform::config::Config),
) -> TestServer {
    let s = TestServer::start_with(common::redis_url(), tweak).await;
    s.wait_ready().await;
    s
}

async fn metric(s: &TestServer, line: &str) -> u64 {
    let page = s.get("/metrics").await.text().await.unwrap();
    page.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {line} in {page}"))
}

/// A 429 with a usable `Retry-After` and the setting named in the message.
async fn assert_refused(r: reqwest::Response, setting: &str) {
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(setting), "{message}");
}

#[tokio::test]
async fn api_requests_past_the_burst_get_429_per_address() {
    let s = limited(|c| {
        c.api_rate_per_sec = 1;
        c.api_rate_burst = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(s.get("/api/symbols").await.status(), 200);
    }
    assert_refused(s.get("/api/symbols").await, "API_RATE_PER_SEC").await;
    // A forged X-Forwarded-For does not buy a new allowance by default.
    let forged = reqwest::Client::new()
        .get(s.url("/api/symbols"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 429);
    // The stream counts as an API request too.
    assert_eq!(s.get("/api/stream").await.status(), 429);
    // Pages and probes are not limited.
    assert_eq!(s.get("/health/liveness").await.status(), 200);
    assert_eq!(
        metric(&s, "tickpulse_rate_limited_total{route=\"api\"}").await,
        3
    );
    assert_eq!(
        metric(&s, "tickpulse_rate_limited_total{route=\"ingest\"}").await,
        0
    );
    s.stop().await;
}

#[tokio::test]
async fn ingest_is_limited_per_address_and_per_verified_credential() {
    let s = limited(|c| {
        c.ingest_rate_per_sec = 1;
        c.ingest_rate_burst = 2;
        c.trust_forwarded_for = true;
    })
    .await;
    let client = reqwest::Client::new();
    let post = |from: &'static str, password: &'static str, n: usize| {
        client
            .post(s.url("/ingest/tick"))
            .basic_auth(USER, Some(password))
            .header("x-forwarded-for", from)
            .json(&tick("LIM", "1", &format!("lim-{from}-{n}")))
            .send()
    };
    // Wrong passwords from many addresses spend nothing of the feeder's
    // allowance.
    for (n, from) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(post(from, "wrong", n).await.unwrap().status(), 401);
    }
    // One address: its own limit.
    assert_eq!(post("192.0.2.10", PASSWORD, 0).await.unwrap().status(), 202);
    assert_eq!(post("192.0.2.10", PASSWORD, 1).await.unwrap().status(), 202);
    let r = post("192.0.2.10", PASSWORD, 2).await.unwrap();
    assert_refused(r, "INGEST_RATE_PER_SEC").await;
    // A fresh address with the same credential: the credential's limit.
    let r = post("192.0.2.11", PASSWORD, 3).await.unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("credential"),
        "{body}"
    );
    assert_eq!(
        metric(&s, "tickpulse_rate_limited_total{route=\"ingest\"}").await,
        2
    );
    assert_eq!(
        metric(
            &s,
            "tickpulse_ingest_rejected_total{reason=\"rate_limited\"}"
        )
        .await,
        2
    );
    // Nothing refused was written.
    let latest = s.latest("LIM").await.expect("the accepted ticks");
    assert_eq!(latest["event_id"], "lim-192.0.2.10-1");
    s.stop().await;
}

#[tokio::test]
async fn sign_in_posts_past_the_burst_get_429() {
    let s = limited(|c| {
        c.auth_rate_per_sec = 1;
        c.auth_rate_burst = 2;
    })
    .await;
    let client = reqwest::Client::new();
    let login = || {
        client
            .post(s.url("/auth/login"))
            .header("origin", &s.base)
            .form(&[("username", "nobody"), ("password", "x"), ("next", "/")])
            .send()
    };
    for _ in 0..2 {
        assert_ne!(login().await.unwrap().status(), 429);
    }
    assert_refused(login().await.unwrap(), "AUTH_RATE_PER_SEC").await;
    assert_eq!(
        metric(&s, "tickpulse_rate_limited_total{route=\"auth\"}").await,
        1
    );
    s.stop().await;
}
