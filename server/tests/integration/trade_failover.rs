//! Trading under failure, on real processes, with the load client
//! (`tickpulse_feeder::trade`) verifying every order:
//! - three processes share Redis and Postgres; while the client trades
//!   through all three URLs, one is SIGKILLed and restarted, then the one
//!   holding the `trade` lease is SIGKILLed while limit orders rest;
//! - the embedded mode: one process, SIGKILLed and restarted twice.
//!
//! The client's verdict must be clean: every order answered 200/201 reads
//! back once and as sent, every client_order_id maps to at most one order,
//! refused ones left nothing, no resting limit order stayed open though a
//! price crossed it, and the invariants hold. The client must also have
//! lived through the failures (resends happened).

use crate::common;

use common::TestDb;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tickpulse_feeder::trade::{run, TradeConfig, TradeReport};

const ADMIN_KEY: &str = "failover-admin-key";

struct Proc {
    child: Option<Child>,
    port: u16,
    name: String,
}

impl Proc {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where the processes keep their state.
enum Place<'a> {
    Shared { db: &'a TestDb, prefix: &'a str },
    Embedded { dir: &'a std::path::Path },
}

fn start(place: &Place<'_>, p: &mut Proc) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
    cmd.env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("ROLES")
        .env_remove("FAULT_INJECTION")
        .env("TICKPULSE_ADDR", format!("127.0.0.1:{}", p.port))
        .env("NODE_ID", &p.name)
        .env("INGEST_USERNAME", common::USER)
        .env("INGEST_PASSWORD", common::PASSWORD)
        .env("ADMIN_API_KEY", ADMIN_KEY)
        .env("CLAIM_IDLE_SECS", "1")
        .env("RUST_LOG", "error");
    match place {
        Place::Shared { db, prefix } => {
            cmd.env("REDIS_URL", common::redis_url())
                .env("REDIS_KEY_PREFIX", prefix)
                .env("DATABASE_URL", &db.url);
        }
        Place::Embedded { dir } => {
            cmd.env("DATA_DIR", dir);
        }
    }
    p.child = Some(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tickpulse"),
    );
}

async fn ready(p: &Proc) {
    let url = format!("{}/health/readiness", p.url());
    let ok = common::eventually(Duration::from_secs(60), || {
        let url = url.clone();
        async move {
            let body: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
            (body["status"] == "ready").then_some(())
        }
    })
    .await;
    assert!(ok.is_some(), "{} did not become ready", p.name);
}

fn config(urls: Vec<String>, seed: u64) -> TradeConfig {
    TradeConfig {
        urls,
        clients: 8,
        iterations: 150,
        probabilities: vec![0.8],
        caches: vec![false],
        seed,
        // About 15 s of trading: long enough for a kill, a restart and a
        // lease takeover in the middle of it.
        think: Duration::from_millis(80),
        admin_key: Some(ADMIN_KEY.into()),
        ingest: (common::USER.into(), common::PASSWORD.into()),
        tokens_file: None,
        stocks: 6,
        quantity: 100_000,
        timeout: Duration::from_secs(2),
        // Every fifth order is sent twice, as after a lost answer.
        resend_every: 5,
        progress: false,
    }
}

fn verdict(report: &TradeReport) {
    assert!(
        report.mismatches.is_empty(),
        "{} mismatches:\n{}",
        report.mismatches.len(),
        report.mismatches.join("\n")
    );
    assert!(report.placed > 100, "the load placed orders: {report}");
    let retries: u64 = report
        .phases
        .iter()
        .map(|p| p.orders.retries + p.lookups.retries)
        .sum();
    assert!(retries > 0, "the client lived through the kills: {report}");
}

#[tokio::test]
async fn shared_processes_killed_mid_run_lose_and_double_nothing() {
    let db = TestDb::create().await;
    let prefix = format!("test:failover:{}:{}:", std::process::id(), common::now_ms());
    let place = Place::Shared {
        db: &db,
        prefix: &prefix,
    };
    let mut procs: Vec<Proc> = ["a", "b", "c"]
        .iter()
        .map(|n| Proc {
            child: None,
            port: common::free_port(),
            name: format!("failover-{n}"),
        })
        .collect();
    for p in procs.iter_mut() {
        start(&place, p);
    }
    for p in &procs {
        ready(p).await;
    }
    let urls: Vec<String> = procs.iter().map(Proc::url).collect();
    let load = tokio::spawn(run(config(urls, 7)));

    tokio::time::sleep(Duration::from_secs(4)).await;
    procs[0].kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    start(&place, &mut procs[0]);
    ready(&procs[0]).await;
    // The process that holds the trade lease, while limit orders rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let holder: String = redis::cmd("GET")
        .arg(format!("{prefix}lease:trade"))
        .query(
            &mut redis::Client::open(common::redis_url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
    let i = procs
        .iter()
        .position(|p| p.name == holder)
        .unwrap_or_else(|| panic!("the trade lease is held by {holder:?}"));
    procs[i].kill();

    let report = load.await.unwrap().expect("the load client runs");
    verdict(&report);
    common::delete_keys(&common::redis_url(), &prefix);
}

#[tokio::test]
async fn an_embedded_process_killed_twice_loses_and_doubles_nothing() {
    let dir = std::env::temp_dir().join(format!(
        "tickpulse-failover-{}-{}",
        std::process::id(),
        common::now_ms()
    ));
    let place = Place::Embedded { dir: &dir };
    let mut p = Proc {
        child: None,
        port: common::free_port(),
        name: "failover-one".into(),
    };
    start(&place, &mut p);
    ready(&p).await;
    let load = tokio::spawn(run(config(vec![p.url()], 11)));
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        p.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        start(&place, &mut p);
        ready(&p).await;
    }
    let report = load.await.unwrap().expect("the load client runs");
    verdict(&report);
    p.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
