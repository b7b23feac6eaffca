//! The stock catalog end to end, in both modes: `tickpulse catalog …` on the
//! server's database, `GET /api/stocks/{symbol}` with the live price, and
//! `PUT /api/admin/catalog/{symbol}` for admins, each bad input a 4xx that
//! names it.

use crate::common;

use common::{TestDb, TestServer};
use serde_json::{json, Value};
use std::process::Command;

const KEY: &str = "catalog-admin-key";

/// Where the CLI finds the server's database.
enum Db {
    Postgres(String),
    Embedded(std::path::PathBuf),
}

fn cli(db: &Db, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickpulse"));
    cmd.env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .arg("catalog")
        .args(args);
    match db {
        Db::Postgres(url) => cmd.env("DATABASE_URL", url),
        Db::Embedded(dir) => cmd.env("DATA_DIR", dir),
    };
    let out = cmd.output().expect("run tickpulse catalog");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn put(s: &TestServer, symbol: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .put(s.url(&format!("/api/admin/catalog/{symbol}")))
        .json(&body);
    if let Some(key) = key {
        r = r.header("x-api-key", key);
    }
    r.send().await.unwrap()
}

async fn field_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    body["details"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The stocks `CATALOG_SEED` put in, with 100 shares each.
async fn seeded(s: &TestServer, symbols: &[&str]) {
    for symbol in symbols {
        // The seed is put in once the database is migrated.
        let stock = common::eventually(std::time::Duration::from_secs(20), || async move {
            let r = s.get(&format!("/api/stocks/{symbol}")).await;
            if r.status() == 200 {
                r.json::<Value>().await.ok()
            } else {
                None
            }
        })
        .await
        .unwrap_or_else(|| panic!("{symbol} was not seeded"));
        assert_eq!(stock["available"], 100, "{stock}");
    }
}

async fn the_catalog_is_managed_and_read(s: &TestServer, db: &Db) {
    // The CLI.
    let (ok, out) = cli(
        db,
        &["add", "doge-usd", "--quantity", "10", "--name", "Dogecoin"],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("added DOGE-USD (Dogecoin) with 10 shares"),
        "{out}"
    );
    let (ok, out) = cli(db, &["add", "DOGE-USD", "--quantity", "5"]);
    assert!(!ok && out.contains("already in the catalog"), "{out}");
    let (ok, out) = cli(db, &["add", "a b", "--quantity", "1"]);
    assert!(!ok && out.contains("SYMBOL"), "{out}");
    let (ok, out) = cli(db, &["set-quantity", "DOGE-USD", "7"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(db, &["set-quantity", "NOPE", "1"]);
    assert!(!ok && out.contains("not in the catalog"), "{out}");
    let (ok, out) = cli(db, &["list"]);
    assert!(
        ok && out
            .lines()
            .any(|l| l.starts_with("DOGE-USD") && l.contains(" 7  Dogecoin")),
        "{out}"
    );

    // The lookup, before and after the symbol's first tick.
    let stock: Value = s.get("/api/stocks/doge-usd").await.json().await.unwrap();
    assert_eq!(
        stock,
        json!({"symbol": "DOGE-USD", "name": "Dogecoin", "available": 7, "price": null, "price_ts": null})
    );
    s.accept("DOGE-USD", "64000.5", "cat", 1).await;
    s.view_when("DOGE-USD", |v| v["tick_count"] == 1).await;
    let stock: Value = s.get("/api/stocks/DOGE-USD").await.json().await.unwrap();
    assert_eq!(stock["price"], "64000.5");
    assert!(stock["price_ts"].is_string(), "{stock}");
    assert_eq!(s.get("/api/stocks/NOPE").await.status(), 404);
    assert_eq!(field_of(s.get("/api/stocks/a%20b").await).await, "symbol");

    // The admin API.
    let body = json!({"name": "Litecoin", "available": 3});
    assert_eq!(put(s, "ltc-usd", None, body.clone()).await.status(), 401);
    let r = put(s, "ltc-usd", Some(KEY), body.clone()).await;
    assert_eq!(r.status(), 201);
    let added: Value = r.json().await.unwrap();
    assert_eq!(
        (added["symbol"].as_str(), added["available"].as_u64()),
        (Some("LTC-USD"), Some(3))
    );
    let r = put(s, "LTC-USD", Some(KEY), json!({"available": 12})).await;
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(
        (updated["name"].as_str(), updated["available"].as_u64()),
        (Some("LTC-USD"), Some(12))
    );
    let bad = |body: Value| put(s, "LTC-USD", Some(KEY), body);
    assert_eq!(field_of(bad(json!({"available": -1})).await).await, "body");
    assert_eq!(
        field_of(bad(json!({"available": 1, "color": "red"})).await).await,
        "body"
    );
    assert_eq!(
        field_of(bad(json!({"available": 1, "name": " "})).await).await,
        "name"
    );
    assert_eq!(
        field_of(put(s, "a%20b", Some(KEY), json!({"available": 1})).await).await,
        "symbol"
    );
    let (ok, out) = cli(db, &["list"]);
    assert!(
        ok && out.contains("LTC-USD") && out.contains(" 12  LTC-USD"),
        "{out}"
    );
}

#[tokio::test]
async fn with_redis_and_postgres() {
    let db = TestDb::create().await;
    let url = db.url.clone();
    let s = TestServer::start_with(common::redis_url(), |c| {
        c.database_url = Some(url);
        c.admin_api_key = Some(KEY.into());
        c.catalog_seed = vec!["seed-a".into(), "SEED-B".into()];
    })
    .await;
    s.wait_ready().await;
    seeded(&s, &["SEED-A", "SEED-B"]).await;
    the_catalog_is_managed_and_read(&s, &Db::Postgres(db.url.clone())).await;
    s.stop().await;
}

#[tokio::test]
async fn embedded() {
    let dir = std::env::temp_dir().join(format!(
        "tickpulse-catalog-{}-{}",
        std::process::id(),
        common::now_ms()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.clone();
    let s = TestServer::start_with(common::redis_url(), |c| {
        c.redis_url = None;
        c.data_dir = data;
        c.admin_api_key = Some(KEY.into());
        c.catalog_seed = vec!["demo".into()];
    })
    .await;
    s.wait_ready().await;
    seeded(&s, &tickpulse_core::DEMO_SYMBOLS).await;
    the_catalog_is_managed_and_read(&s, &Db::Embedded(dir.clone())).await;
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
