//! Paper trading end to end, on the real binary, in both modes: Redis +
//! Postgres with the requests spread over two processes, and the embedded
//! mode in one. Users act with personal tokens (`tickpulse user token`).
//!
//! - 50 concurrent market buys of one share against 10 available: exactly
//!   10 fill, 40 are refused `insufficient_quantity`;
//! - the same POST 20 times at once, to both processes: one order, one
//!   trade;
//! - a limit buy under the market rests (`new`), a tick at its limit fills
//!   it at the tick's price once, and the owner's order stream shows both;
//!   canceling releases what an order holds, and another user's order
//!   number is a 404;
//! - the trade process killed between the tick and the fill (and, once,
//!   between the fill and the acknowledgement) and replaced: the order is
//!   filled exactly once;
//! - every refusal code and every bad field;
//! - a trade by one client shows in another client's stock cache without
//!   a refetch (the `stock` event on `/api/stream`);
//! - after each test, the invariants: shares are conserved, cash plus what
//!   was bought minus what was sold is what the users started with, and
//!   nothing is negative.

use crate::common;

use common::eventually;
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::time::Duration;

use common::deployment::{Env, Mode, ADMIN_KEY, START};

/// What only the trading tests ask of a deployment.
impl Env {
    /// Waits until the trade group has nothing pending (a takeover claimed
    /// and acknowledged what a dead consumer held).
    async fn trade_caught_up(&self) {
        let url = format!("{}/metrics", self.base(0));
        let done = eventually(Duration::from_secs(60), || {
            let url = url.clone();
            async move {
                let text = reqwest::get(url).await.ok()?.text().await.ok()?;
                text.lines()
                    .any(|l| l == "tickpulse_stream_pending{group=\"trade\"} 0")
                    .then_some(())
            }
        })
        .await;
        assert!(done.is_some(), "the trade group kept entries pending");
    }

    async fn order(&self, node: usize, token: &str, body: &Value) -> (u16, Value) {
        self.request(
            node,
            reqwest::Method::POST,
            "/api/orders",
            token,
            Some(body),
        )
        .await
    }

    /// Checks the invariants over every user and stock.
    async fn invariants(&self) {
        let dec = |v: &Value| -> Decimal { v.as_str().unwrap().parse().unwrap() };
        let mut cash = Decimal::ZERO;
        let mut bought = Decimal::ZERO;
        let mut sold = Decimal::ZERO;
        let mut held: std::collections::HashMap<String, u64> = Default::default();
        let mut promised: std::collections::HashMap<String, u64> = Default::default();
        for (i, (user, token)) in self.users.iter().enumerate() {
            let (status, account) = self.get(i, token, "/api/account").await;
            assert_eq!(status, 200, "{account}");
            let c = dec(&account["cash"]);
            assert!(c >= Decimal::ZERO, "{user}: negative cash {account}");
            assert!(dec(&account["buying_power"]) >= Decimal::ZERO, "{account}");
            cash += c;
            for p in account["positions"].as_array().unwrap() {
                let q = p["quantity"].as_u64().expect("a quantity of 0 or more");
                assert!(p["reserved"].as_u64().unwrap() <= q, "{p}");
                *held
                    .entry(p["symbol"].as_str().unwrap().to_owned())
                    .or_default() += q;
            }
            let (_, list) = self.get(i, token, "/api/orders?limit=500").await;
            for o in list["orders"].as_array().unwrap() {
                let (status, order) = self
                    .get(i, token, &format!("/api/orders/{}", o["number"]))
                    .await;
                assert_eq!(status, 200);
                let side = order["side"].as_str().unwrap();
                let mut filled = 0;
                for fill in order["fills"].as_array().into_iter().flatten() {
                    let q = fill["quantity"].as_u64().unwrap();
                    filled += q;
                    let amount = dec(&fill["price"]) * Decimal::from(q);
                    if side == "buy" {
                        bought += amount;
                    } else {
                        sold += amount;
                    }
                }
                assert_eq!(order["filled_quantity"].as_u64(), Some(filled), "{order}");
                let open = matches!(order["status"].as_str(), Some("new" | "partially_filled"));
                if open && side == "buy" {
                    *promised
                        .entry(order["symbol"].as_str().unwrap().to_owned())
                        .or_default() += order["quantity"].as_u64().unwrap() - filled;
                }
            }
        }
        assert_eq!(
            cash + bought - sold,
            Decimal::from(START) * Decimal::from(self.users.len()),
            "cash + bought − sold = users × starting cash"
        );
        for (symbol, initial) in &self.stocks {
            let stock: Value = reqwest::get(format!("{}/api/stocks/{symbol}", self.base(0)))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let available = stock["available"].as_u64().expect("available is 0 or more");
            assert_eq!(
                available
                    + held.get(symbol).copied().unwrap_or(0)
                    + promised.get(symbol).copied().unwrap_or(0),
                *initial,
                "{symbol}: available + held + promised to open buys = the initial quantity"
            );
        }
    }
}

fn market(symbol: &str, side: &str, quantity: u64) -> Value {
    json!({"symbol": symbol, "side": side, "quantity": quantity, "type": "market"})
}

async fn fifty_buys_fill_exactly_ten(env: &mut Env) {
    let tokens: Vec<String> = (0..5).map(|i| env.user(&format!("buyer{i}"))).collect();
    env.stock("TEN", 10, "25.5").await;
    let env = &*env;
    let answers = join_all((0..50).map(|i| {
        let token = tokens[i % tokens.len()].clone();
        async move { env.order(i, &token, &market("TEN", "buy", 1)).await }
    }))
    .await;
    let filled = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == 422 && b["code"] == "insufficient_quantity")
        .count();
    assert_eq!((filled, refused), (10, 40), "{answers:?}");
    for (status, order) in &answers {
        if *status == 201 {
            assert_eq!(order["status"], "filled");
            assert_eq!(order["avg_fill_price"], "25.5");
        } else {
            assert!(
                order["error"].as_str().unwrap().contains("shares"),
                "{order}"
            );
        }
    }
    let numbers: std::collections::HashSet<_> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, o)| o["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers.len(), 10, "every fill is its own order");
    let stock: Value = reqwest::get(format!("{}/api/stocks/TEN", env.base(1)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["available"], 0);
    // Every answer is counted, on the process that gave it.
    let (mut filled, mut refused, mut fills, mut timed) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..env.nodes.len() {
        let page = reqwest::get(format!("{}/metrics", env.base(i)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in page.lines() {
            let value = || line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
            if line.starts_with(r#"tickpulse_orders_total{type="market",side="buy",status="filled"}"#) {
                filled += value();
            } else if line.starts_with(r#"tickpulse_orders_total{type="market",side="buy",status="refused_insufficient_quantity"}"#) {
                refused += value();
            } else if line.starts_with("tickpulse_fills_total ") {
                fills += value();
            } else if line.starts_with("tickpulse_order_seconds_count ") {
                timed += value();
            }
        }
    }
    assert_eq!((filled, refused, fills, timed), (10.0, 40.0, 10.0, 50.0));
    env.invariants().await;
}

async fn the_same_post_twenty_times_is_one_order(env: &mut Env) {
    let token = env.user("repeater");
    env.stock("IDEM", 50, "10").await;
    let env = &*env;
    let body = json!({"symbol": "IDEM", "side": "buy", "quantity": 2, "type": "market", "client_order_id": "same-order-1"});
    let answers = join_all((0..20).map(|i| {
        let (token, body) = (token.clone(), body.clone());
        async move { env.order(i, &token, &body).await }
    }))
    .await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let repeated = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, repeated), (1, 19), "{answers:?}");
    let numbers: std::collections::HashSet<_> =
        answers.iter().map(|(_, o)| o["number"].clone()).collect();
    assert_eq!(numbers.len(), 1, "{answers:?}");
    let (_, account) = env.get(0, &token, "/api/account").await;
    assert_eq!(account["positions"][0]["quantity"], 2, "{account}");
    assert_eq!(account["cash"], "99980");
    let (_, list) = env.get(1, &token, "/api/orders").await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    let (status, by_id) = env
        .get(1, &token, "/api/orders/by-client-id/same-order-1")
        .await;
    assert_eq!(
        (status, &by_id["number"]),
        (200, numbers.iter().next().unwrap())
    );
    env.invariants().await;
}

async fn limit_orders_rest_fill_once_and_cancel(env: &mut Env) {
    let ann = env.user("ann");
    let bob = env.user("bob");
    env.stock("LIM", 20, "100").await;
    let mut stream = common::SseReader::new(
        env.http
            .get(format!("{}/api/orders/stream", env.base(1)))
            .bearer_auth(&ann)
            .send()
            .await
            .unwrap(),
    );
    let (_, _, snapshot) = stream
        .next_of("snapshot", Duration::from_secs(10))
        .await
        .expect("a snapshot first");
    assert_eq!(snapshot, r#"{"orders":[]}"#);

    let limit = json!({"symbol": "LIM", "side": "buy", "quantity": 3, "type": "limit", "limit_price": "95.125", "time_in_force": "gtc"});
    let (status, order) = env.order(0, &ann, &limit).await;
    assert_eq!(
        (status, order["status"].as_str()),
        (201, Some("new")),
        "{order}"
    );
    assert_eq!(order["limit_price"], "95.125");
    let number = order["number"].as_i64().unwrap();
    let (_, account) = env.get(0, &ann, "/api/account").await;
    assert_eq!(
        (
            account["reserved_cash"].as_str(),
            account["buying_power"].as_str()
        ),
        (Some("285.375"), Some("99714.625"))
    );
    let (_, _, event) = stream
        .next_of("order", Duration::from_secs(10))
        .await
        .expect("the new order on the stream");
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        (
            event["order"]["number"].as_i64(),
            event["order"]["status"].as_str()
        ),
        (Some(number), Some("new"))
    );

    // A tick above the limit does nothing; one under it fills, at its price.
    env.tick("LIM", "96").await;
    env.priced("LIM", "96").await;
    env.tick("LIM", "95.1").await;
    let (_, _, event) = stream
        .next_of("order", Duration::from_secs(30))
        .await
        .expect("the fill on the stream");
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["order"]["status"], "filled", "{event}");
    assert_eq!(event["order"]["filled_quantity"], 3);
    assert_eq!(event["order"]["avg_fill_price"], "95.1");
    assert_eq!(
        (
            event["fill"]["price"].as_str(),
            event["fill"]["quantity"].as_u64()
        ),
        (Some("95.1"), Some(3))
    );
    env.tick("LIM", "94").await;
    env.priced("LIM", "94").await;
    let (_, order) = env.get(1, &ann, &format!("/api/orders/{number}")).await;
    assert_eq!(
        order["fills"].as_array().unwrap().len(),
        1,
        "filled once: {order}"
    );
    assert!(order["filled_at"].is_string());
    let (_, account) = env.get(1, &ann, "/api/account").await;
    assert_eq!(account["cash"], "99714.7");
    assert_eq!(account["reserved_cash"], "0");
    let position = &account["positions"][0];
    assert_eq!(
        (position["quantity"].as_u64(), position["price"].as_str()),
        (Some(3), Some("94"))
    );
    assert_eq!(position["unrealized_pnl"], "-3.3");

    // Another user's order number says nothing.
    let (status, _) = env.get(0, &bob, &format!("/api/orders/{number}")).await;
    assert_eq!(status, 404);
    let (status, _) = env
        .request(
            1,
            reqwest::Method::DELETE,
            &format!("/api/orders/{number}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A limit sell above the market rests holding the shares; canceling
    // gives them back; canceling again is a conflict.
    let sell = json!({"symbol": "LIM", "side": "sell", "quantity": 2, "type": "limit", "limit_price": "150"});
    let (status, order) = env.order(1, &ann, &sell).await;
    assert_eq!((status, order["status"].as_str()), (201, Some("new")));
    let sell_number = order["number"].as_i64().unwrap();
    let (_, account) = env.get(0, &ann, "/api/account").await;
    assert_eq!(account["positions"][0]["reserved"], 2);
    let (status, open) = env.get(0, &ann, "/api/orders?status=open").await;
    assert_eq!(status, 200);
    assert_eq!(open["orders"][0]["number"].as_i64(), Some(sell_number));
    let path = format!("/api/orders/{sell_number}");
    let (status, canceled) = env
        .request(0, reqwest::Method::DELETE, &path, &ann, None)
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("canceled"))
    );
    assert!(canceled["canceled_at"].is_string());
    let (status, again) = env
        .request(1, reqwest::Method::DELETE, &path, &ann, None)
        .await;
    assert_eq!(status, 409, "{again}");
    let (_, account) = env.get(0, &ann, "/api/account").await;
    assert_eq!(account["positions"][0]["reserved"], 0);
    let (_, _, event) = stream
        .next_of("order", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(event.contains("\"status\":\"new\""), "{event}");
    let (_, _, event) = stream
        .next_of("order", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(event.contains("\"status\":\"canceled\""), "{event}");

    // An ioc order that cannot fill now is canceled at once; a buy that
    // rests holds the catalog's shares until it is canceled.
    let ioc = json!({"symbol": "LIM", "side": "buy", "quantity": 1, "type": "limit", "limit_price": "50", "time_in_force": "ioc"});
    let (status, order) = env.order(0, &bob, &ioc).await;
    assert_eq!(
        (
            status,
            order["status"].as_str(),
            order["filled_quantity"].as_u64()
        ),
        (201, Some("canceled"), Some(0))
    );
    let rest = json!({"symbol": "LIM", "side": "buy", "quantity": 4, "type": "limit", "limit_price": "10"});
    let (_, order) = env.order(1, &bob, &rest).await;
    assert_eq!(order["status"], "new");
    let stock: Value = reqwest::get(format!("{}/api/stocks/LIM", env.base(0)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["available"], 13, "20 − 3 bought − 4 promised");
    env.invariants().await;
    let path = format!("/api/orders/{}", order["number"]);
    let (status, _) = env
        .request(0, reqwest::Method::DELETE, &path, &bob, None)
        .await;
    assert_eq!(status, 200);
    let stock: Value = reqwest::get(format!("{}/api/stocks/LIM", env.base(1)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stock["available"], 17);
    env.invariants().await;
}

async fn refusals_and_bad_fields_are_named(env: &mut Env) {
    let token = env.user("careful");
    env.stock("REF", 5, "30000").await;
    let add = env
        .http
        .put(format!("{}/api/admin/catalog/NOPRICE", env.base(0)))
        .header("x-api-key", ADMIN_KEY)
        .json(&json!({"available": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 201);
    env.stocks.push(("NOPRICE".into(), 5));
    let code = |(status, body): (u16, Value)| {
        assert_eq!(status, 422, "{body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
        body["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        code(env.order(0, &token, &market("REF", "buy", 4)).await),
        "insufficient_cash"
    );
    assert_eq!(
        code(env.order(1, &token, &market("REF", "buy", 6)).await),
        "insufficient_quantity"
    );
    assert_eq!(
        code(env.order(0, &token, &market("REF", "sell", 1)).await),
        "insufficient_position"
    );
    assert_eq!(
        code(env.order(1, &token, &market("NOPRICE", "buy", 1)).await),
        "no_live_price"
    );
    assert_eq!(
        code(env.order(0, &token, &market("NOSUCH", "buy", 1)).await),
        "unknown_symbol"
    );
    let limit_cash = json!({"symbol": "REF", "side": "buy", "quantity": 5, "type": "limit", "limit_price": "29000"});
    assert_eq!(
        code(env.order(1, &token, &limit_cash).await),
        "insufficient_cash"
    );
    // A price older than TRADE_STALE_SECS is not traded on.
    let old = json!({"symbol": "STALE", "price": "5", "ts": common::now_ms() - 120_000, "event_id": "trading-stale"});
    let add = env
        .http
        .put(format!("{}/api/admin/catalog/STALE", env.base(0)))
        .header("x-api-key", ADMIN_KEY)
        .json(&json!({"available": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 201);
    env.stocks.push(("STALE".into(), 1));
    let r = env
        .http
        .post(format!("{}/ingest/tick", env.base(0)))
        .basic_auth(common::USER, Some(common::PASSWORD))
        .json(&old)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    env.priced("STALE", "5").await;
    assert_eq!(
        code(env.order(0, &token, &market("STALE", "buy", 1)).await),
        "no_live_price"
    );
    let (_, list) = env.get(0, &token, "/api/orders").await;
    assert!(
        list["orders"].as_array().unwrap().is_empty(),
        "refusals write nothing: {list}"
    );

    // Each bad field is a 400 that names it.
    let field = |(status, body): (u16, Value)| {
        assert_eq!(status, 400, "{body}");
        body["details"][0]["field"].as_str().unwrap().to_owned()
    };
    let base =
        json!({"symbol": "REF", "side": "buy", "quantity": 1, "type": "limit", "limit_price": "1"});
    for (name, value, expected) in [
        ("symbol", json!("a b"), "symbol"),
        ("side", json!("hold"), "side"),
        ("quantity", json!(0), "quantity"),
        ("quantity", json!(1.5), "quantity"),
        ("type", json!("stop"), "type"),
        ("limit_price", json!("-1"), "limit_price"),
        ("limit_price", json!(null), "limit_price"),
        ("time_in_force", json!("week"), "time_in_force"),
        ("client_order_id", json!("has space"), "client_order_id"),
        ("colour", json!("red"), "colour"),
    ] {
        let mut body = base.clone();
        body[name] = value;
        assert_eq!(field(env.order(0, &token, &body).await), expected, "{body}");
    }
    for missing in ["symbol", "side", "quantity", "type"] {
        let mut body = base.clone();
        body.as_object_mut().unwrap().remove(missing);
        assert_eq!(field(env.order(1, &token, &body).await), missing);
    }
    let r = env
        .http
        .post(format!("{}/api/orders", env.base(0)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("[1]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .post(format!("{}/api/orders", env.base(0)))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    for (path, name) in [
        ("/api/orders?status=done", "status"),
        ("/api/orders?limit=0", "limit"),
        ("/api/orders?before=x", "before"),
        ("/api/orders/abc", "number"),
        ("/api/orders/by-client-id/a%20b", "client_order_id"),
    ] {
        assert_eq!(field(env.get(0, &token, path).await), name, "{path}");
    }
    // Without a user, or with a bad token: 401.
    let r = env
        .http
        .get(format!("{}/api/account", env.base(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _) = env.get(0, "tp_not-a-token", "/api/account").await;
    assert_eq!(status, 401);

    // Exact decimals, both ways.
    let exact = json!({"symbol": "REF", "side": "buy", "quantity": 1, "type": "limit", "limit_price": 123.4567});
    let (status, order) = env.order(1, &token, &exact).await;
    assert_eq!(
        (status, order["limit_price"].as_str()),
        (201, Some("123.4567"))
    );
    let (_, back) = env
        .get(0, &token, &format!("/api/orders/{}", order["number"]))
        .await;
    assert_eq!(back["limit_price"], "123.4567");
    env.invariants().await;
}

async fn a_trade_shows_in_another_clients_cache(env: &mut Env) {
    use tickpulse_client::stocks::fetch_stock;
    use tickpulse_client::StockCache;
    use tickpulse_core::Symbol;
    let token = env.user("pusher");
    env.stock("PUSH", 30, "7").await;
    let symbol = Symbol::new("PUSH");
    // A client (on the last process) caches the lookup and follows the stream.
    let watcher = env.base(1).to_owned();
    let mut cache = StockCache::new();
    let stock = fetch_stock(&env.http, &watcher, &symbol)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stock.available.get(), 30);
    cache.put(stock);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let url = format!("{watcher}/api/stream?symbols=PUSH");
    let follower = tokio::spawn(async move {
        tickpulse_client::sse::follow(&url, |event| tx.send(event).is_ok()).await;
    });
    let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.event, "snapshot");

    // Another client trades through the first process.
    let (status, _) = env.order(0, &token, &market("PUSH", "buy", 4)).await;
    assert_eq!(status, 201);
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = rx.recv().await {
            cache.on_event(&event);
            if cache.get(&symbol).map(|s| s.available.get()) == Some(26) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(seen, Ok(true), "the stock event reached the cache");
    assert_eq!(cache.counts().1, 1, "fetched once: the change was pushed");
    follower.abort();
    env.invariants().await;
}

/// The order of `token` numbered `number`, once it is filled.
async fn filled(env: &Env, token: &str, number: i64, limit: Duration) -> Value {
    let path = format!("/api/orders/{number}");
    eventually(limit, || {
        let path = path.clone();
        async move {
            let (_, order) = env.get(0, token, &path).await;
            (order["status"] == "filled").then_some(order)
        }
    })
    .await
    .unwrap_or_else(|| panic!("order {number} was not filled"))
}

/// Places a limit buy under the market and sends the tick that fills it;
/// its number.
async fn buy_under_the_market(env: &Env, token: &str, node: usize, price: &str) -> i64 {
    let body = json!({"symbol": "KILL", "side": "buy", "quantity": 1, "type": "limit", "limit_price": price, "time_in_force": "gtc"});
    let (status, order) = env.order(node, token, &body).await;
    assert_eq!(
        (status, order["status"].as_str()),
        (201, Some("new")),
        "{order}"
    );
    env.tick("KILL", price).await;
    order["number"].as_i64().unwrap()
}

#[tokio::test]
async fn shared_fifty_concurrent_buys() {
    fifty_buys_fill_exactly_ten(&mut Env::standard(Mode::Shared).await).await;
}

#[tokio::test]
async fn embedded_fifty_concurrent_buys() {
    fifty_buys_fill_exactly_ten(&mut Env::standard(Mode::Embedded).await).await;
}

#[tokio::test]
async fn shared_idempotent_orders() {
    the_same_post_twenty_times_is_one_order(&mut Env::standard(Mode::Shared).await).await;
}

#[tokio::test]
async fn embedded_idempotent_orders() {
    the_same_post_twenty_times_is_one_order(&mut Env::standard(Mode::Embedded).await).await;
}

#[tokio::test]
async fn shared_limit_orders() {
    limit_orders_rest_fill_once_and_cancel(&mut Env::standard(Mode::Shared).await).await;
}

#[tokio::test]
async fn embedded_limit_orders() {
    limit_orders_rest_fill_once_and_cancel(&mut Env::standard(Mode::Embedded).await).await;
}

#[tokio::test]
async fn shared_refusals_and_fields() {
    refusals_and_bad_fields_are_named(&mut Env::standard(Mode::Shared).await).await;
}

#[tokio::test]
async fn embedded_refusals_and_fields() {
    refusals_and_bad_fields_are_named(&mut Env::standard(Mode::Embedded).await).await;
}

#[tokio::test]
async fn shared_stock_cache_follows_pushed_changes() {
    a_trade_shows_in_another_clients_cache(&mut Env::standard(Mode::Shared).await).await;
}

#[tokio::test]
async fn embedded_stock_cache_follows_pushed_changes() {
    a_trade_shows_in_another_clients_cache(&mut Env::standard(Mode::Embedded).await).await;
}

#[tokio::test]
async fn shared_trade_process_killed_between_tick_and_fill() {
    let mut env = Env::new(Mode::Shared).await;
    let no_trade = [("ROLES", "api,calc,persist,monitor")];
    env.start("api", &no_trade).await;
    let token = env.user("survivor");
    env.stock("KILL", 10, "100").await;

    // Dies before committing the fill: the next trade process fills it.
    let doomed = env
        .start(
            "trade-1",
            &[
                ("ROLES", "trade"),
                ("FAULT_INJECTION", "trade-exit-before-fill"),
            ],
        )
        .await;
    let first = buy_under_the_market(&env, &token, 0, "90").await;
    assert_eq!(env.nodes[doomed].exited(Duration::from_secs(30)), Some(75));
    let (_, order) = env.get(0, &token, &format!("/api/orders/{first}")).await;
    assert_eq!(
        order["status"], "new",
        "not filled by the process that died"
    );
    let heir = env.start("trade-2", &[("ROLES", "trade")]).await;
    let order = filled(&env, &token, first, Duration::from_secs(60)).await;
    assert_eq!(order["fills"].as_array().unwrap().len(), 1, "{order}");
    assert_eq!(order["avg_fill_price"], "90");
    env.nodes[heir].stop();

    // Dies after committing it, before acknowledging the tick: the next one
    // reads the tick again and does not fill twice.
    let doomed = env
        .start(
            "trade-3",
            &[
                ("ROLES", "trade"),
                ("FAULT_INJECTION", "trade-exit-after-fill"),
            ],
        )
        .await;
    let second = buy_under_the_market(&env, &token, 0, "80").await;
    assert_eq!(env.nodes[doomed].exited(Duration::from_secs(30)), Some(75));
    let order = filled(&env, &token, second, Duration::from_secs(5)).await;
    env.start("trade-4", &[("ROLES", "trade")]).await;
    env.trade_caught_up().await;
    let (_, again) = env.get(0, &token, &format!("/api/orders/{second}")).await;
    assert_eq!(again["fills"], order["fills"], "filled exactly once");
    env.invariants().await;
}

#[tokio::test]
async fn embedded_process_killed_between_tick_and_fill() {
    let mut env = Env::new(Mode::Embedded).await;
    env.start("one", &[("FAULT_INJECTION", "trade-exit-before-fill")])
        .await;
    let token = env.user("survivor");
    env.stock("KILL", 10, "100").await;
    let first = buy_under_the_market(&env, &token, 0, "90").await;
    assert_eq!(env.nodes[0].exited(Duration::from_secs(30)), Some(75));
    env.nodes.clear();
    // The restart reads the tick again and fills the order, then dies right
    // after the fill, before the acknowledgement.
    env.spawn("one", &[("FAULT_INJECTION", "trade-exit-after-fill")]);
    assert_eq!(env.nodes[0].exited(Duration::from_secs(60)), Some(75));
    env.nodes.clear();
    // The next one reads it once more, and does not fill again.
    env.start("one", &[]).await;
    let order = filled(&env, &token, first, Duration::from_secs(10)).await;
    assert_eq!(order["fills"].as_array().unwrap().len(), 1, "{order}");
    assert_eq!(order["avg_fill_price"], "90");
    env.trade_caught_up().await;
    let (_, again) = env.get(0, &token, &format!("/api/orders/{first}")).await;
    assert_eq!(again["fills"], order["fills"], "filled exactly once");
    env.invariants().await;
}
