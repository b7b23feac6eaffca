//! The metric history and the anomaly rules on the real binary, in both
//! modes, with the sample interval and the rules' spans shortened:
//! - a feed at 200 ticks/s that drops to 5 raises `feed.rate_anomaly`, and
//!   it clears once the feed is back;
//! - persist made slow (a test hook) raises `pipeline.persist_lag`;
//! - memory held on purpose (a test hook) raises `node.memory_growth`,
//!   saying when the node reaches its limit;
//! - the report over the run has a row per node whose figures match the
//!   rows written, and its CSV parses.

use crate::common;

use common::deployment::{Env, Mode, ADMIN_KEY};
use common::eventually;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings that make the rules answer in seconds.
const QUICK: &[(&str, &str)] = &[
    ("METRICS_SAMPLE_SECS", "1"),
    ("HEARTBEAT_MS", "500"),
    ("ANOMALY_INTERVALS", "3"),
    ("ANOMALY_BASELINE_SECS", "60"),
    ("ANOMALY_HOLD_SECS", "3"),
    ("ANOMALY_K_SIGMA", "5"),
];

/// Posts `rate` ticks a second (read each round) of source `feed`, in
/// batches every 100 ms, until the returned flag is set.
fn feed(
    env: &Env,
    source: &'static str,
    rate: Arc<AtomicU64>,
) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (http, url, done) = (
        env.http.clone(),
        format!("{}/ingest/ticks", env.base(0)),
        stop.clone(),
    );
    tokio::spawn(async move {
        let mut n = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut owed = 0.0;
        while !done.load(Ordering::Relaxed) {
            tick.tick().await;
            owed += rate.load(Ordering::Relaxed) as f64 / 10.0;
            let count = owed.floor() as u64;
            owed -= count as f64;
            if count == 0 {
                continue;
            }
            let batch: Vec<Value> = (0..count)
                .map(|_| {
                    n += 1;
                    json!({"symbol": "ANOM", "price": "10", "source": source, "event_id": format!("{source}-{n}"), "ts": common::now_ms()})
                })
                .collect();
            let r = http
                .post(&url)
                .basic_auth(common::USER, Some(common::PASSWORD))
                .json(&batch)
                .send()
                .await;
            if let Ok(r) = r {
                assert_eq!(r.status(), 202, "{:?}", r.text().await);
            }
        }
    });
    stop
}

/// `GET path` as a script with the admin key, asking for `accept`.
async fn admin_get(env: &Env, path: &str, accept: &str) -> reqwest::Response {
    env.http
        .get(format!("{}{path}", env.base(0)))
        .header("x-api-key", ADMIN_KEY)
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

async fn events(env: &Env, kind: &str) -> Vec<Value> {
    let r = admin_get(env, "/api/admin/events?limit=1000", "application/json").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn raised(env: &Env, kind: &str, limit: Duration) -> Value {
    eventually(limit, || async {
        events(env, kind).await.into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("{kind} was not raised in {limit:?}"))
}

async fn a_feed_that_drops_raises_a_rate_anomaly_that_clears_on_recovery(mode: Mode) {
    let mut env = Env::new(mode).await;
    env.start("a", QUICK).await;
    let rate = Arc::new(AtomicU64::new(200));
    let stop = feed(&env, "drop-feed", rate.clone());
    // The baseline learns 200 ticks/s (each beat reads the rate since the
    // one before, so with its jitter).
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(
        events(&env, "feed.rate_anomaly").await.is_empty(),
        "no alarm at a steady rate"
    );
    rate.store(5, Ordering::Relaxed);
    let alert = raised(&env, "feed.rate_anomaly", Duration::from_secs(60)).await;
    assert_eq!(alert["subject"], "drop-feed");
    assert_eq!(alert["severity"], "warning");
    let message = alert["message"].as_str().unwrap();
    assert!(message.contains("against a baseline of"), "{message}");
    rate.store(200, Ordering::Relaxed);
    let cleared = raised(&env, "feed.rate_anomaly.cleared", Duration::from_secs(60)).await;
    assert_eq!(cleared["subject"], "drop-feed");
    assert_eq!(
        events(&env, "feed.rate_anomaly").await.len(),
        1,
        "raised once"
    );
    stop.store(true, Ordering::Relaxed);

    // The report over the run: the node's figures are those of the rows
    // the monitor wrote (the test reads them from the database itself).
    let to = common::now_ms();
    let from = to - 5 * 60_000;
    let r = admin_get(
        &env,
        &format!("/api/admin/report?from={from}&to={to}&step=1m"),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{report}");
    assert_eq!(nodes[0]["node"], "e2e-a");
    let rows = stored_rates(&env, from, to).await;
    assert!(rows.len() >= 15, "a row about every second: {}", rows.len());
    let period = &nodes[0]["period"]["figures"]["ingest_rate"];
    let max = rows.iter().copied().fold(0.0, f64::max);
    let mean = rows.iter().sum::<f64>() / rows.len() as f64;
    assert!(
        (period["max"].as_f64().unwrap() - max).abs() < 1e-6,
        "{period} vs {max}"
    );
    assert!(
        (period["mean"].as_f64().unwrap() - mean).abs() < 1e-6,
        "{period} vs {mean}"
    );
    assert_eq!(nodes[0]["period"]["samples"], rows.len());
    assert!(
        report["total"]["alerts"].as_u64().unwrap() >= 2,
        "raised and cleared: {report}"
    );
    assert!(nodes[0]["busiest_minute"]["ingest_rate"].as_f64().unwrap() > 100.0);
    // The same as CSV.
    let csv = admin_get(
        &env,
        &format!("/api/admin/report?from={from}&to={to}&step=1m"),
        "text/csv",
    )
    .await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("node,step_start_ms,figure,min,mean,max,p95,samples")
    );
    let parsed: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(
        parsed
            .iter()
            .all(|f| f.len() == 8 && f[3..7].iter().all(|n| n.parse::<f64>().is_ok())),
        "{text}"
    );
    assert!(parsed
        .iter()
        .any(|f| f[0] == "e2e-a" && f[2] == "ingest_rate"));
    assert!(parsed.iter().any(|f| f[0] == "total"));
    // A bad parameter is named.
    let bad = admin_get(&env, "/api/admin/report?step=1w", "application/json").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["details"][0]["field"], "step", "{body}");
}

/// The ingest rates of the rows the monitor wrote, straight from the
/// database of the deployment.
async fn stored_rates(env: &Env, from: i64, to: i64) -> Vec<f64> {
    let sql = "SELECT ingest_rate FROM node_metric WHERE at >= $1 AND at < $2 ORDER BY at";
    match &env.db {
        Some(db) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(from)
                .bind(to)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
        None => {
            let url = format!("sqlite://{}?mode=ro", env.dir.join("ticks.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(from)
                .bind(to)
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    }
}

async fn slow_persist_raises_persist_lag_and_held_memory_raises_memory_growth(mode: Mode) {
    let mut env = Env::new(mode).await;
    let mut settings = QUICK.to_vec();
    settings.extend([
        ("TEST_PERSIST_DELAY_MS", "1500"),
        ("PERSIST_LAG_WARN_MS", "500"),
        ("TEST_LEAK_MB_PER_MIN", "240"),
        ("MEMORY_WINDOW_SECS", "15"),
        ("MEMORY_SLOPE_MB_PER_MIN", "60"),
        ("MEMORY_LIMIT_MB", "4096"),
    ]);
    env.start("a", &settings).await;
    let stop = feed(&env, "slow-feed", Arc::new(AtomicU64::new(50)));
    let lag = raised(&env, "pipeline.persist_lag", Duration::from_secs(60)).await;
    assert_eq!(lag["subject"], "persist");
    assert!(
        lag["message"]
            .as_str()
            .unwrap()
            .contains("warning over 500 ms"),
        "{lag}"
    );
    let growth = raised(&env, "node.memory_growth", Duration::from_secs(90)).await;
    assert_eq!(growth["subject"], "e2e-a");
    let message = growth["message"].as_str().unwrap();
    assert!(
        message.contains("at this rate memory is exhausted in ~"),
        "{message}"
    );
    assert!(message.contains("limit 4096 MB"), "{message}");
    stop.store(true, Ordering::Relaxed);
    // The same figures on /metrics, for an operator's Prometheus.
    let metrics = env
        .http
        .get(format!("{}/metrics", env.base(0)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exposed = |name: &str| {
        metrics.lines().any(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
    };
    for name in [
        "tickpulse_node_rss_bytes",
        "tickpulse_persist_lag_p99_seconds",
        "tickpulse_runtime_tasks",
        "tickpulse_connections_open",
    ] {
        assert!(exposed(name), "{name} in /metrics");
    }
    // Every metric the shipped Grafana dashboard charts is on the page.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/tickpulse.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "a panel per figure");
    let mut charted = Vec::new();
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("tickpulse_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                charted.push(name);
            }
        }
    }
    assert!(charted.len() >= panels.len(), "{charted:?}");
    for name in &charted {
        assert!(
            exposed(name),
            "the dashboard charts {name}, which /metrics does not have"
        );
    }
}

#[tokio::test]
async fn embedded_a_feed_that_drops_raises_a_rate_anomaly_that_clears_on_recovery() {
    a_feed_that_drops_raises_a_rate_anomaly_that_clears_on_recovery(Mode::Embedded).await;
}

#[tokio::test]
async fn shared_a_feed_that_drops_raises_a_rate_anomaly_that_clears_on_recovery() {
    a_feed_that_drops_raises_a_rate_anomaly_that_clears_on_recovery(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_slow_persist_raises_persist_lag_and_held_memory_raises_memory_growth() {
    slow_persist_raises_persist_lag_and_held_memory_raises_memory_growth(Mode::Embedded).await;
}

#[tokio::test]
async fn shared_slow_persist_raises_persist_lag_and_held_memory_raises_memory_growth() {
    slow_persist_raises_persist_lag_and_held_memory_raises_memory_growth(Mode::Shared).await;
}
