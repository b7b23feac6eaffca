//! `/api/graphql` on the real binary, in both modes: every query answers
//! exactly what the REST endpoint answers for the same data (the selection
//! is built from the REST answer's own fields), mutations and their
//! refusals carry the REST error's status, code and fields, and a
//! subscription over `graphql-transport-ws` sees an order fill and a tick.

use crate::common;

use common::deployment::{Env, Mode};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A selection of every field `rest` holds (objects and lists of objects
/// nested), so the GraphQL answer can be compared with it as a whole.
fn selection(rest: &Value) -> String {
    match rest {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| format!("{k}{}", selection(v)))
                .collect();
            format!(" {{ {} }}", fields.join(" "))
        }
        Value::Array(items) => items.first().map(selection).unwrap_or_default(),
        _ => String::new(),
    }
}

/// Drops the empty lists of `v` (the selection leaves them out).
fn without_empty_lists(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), without_empty_lists(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty_lists).collect()),
        other => other.clone(),
    }
}

async fn graphql(env: &Env, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut r = env
        .http
        .post(format!("{}/api/graphql", env.base(0)))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        r = r.bearer_auth(token);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Asks `field(args)` for every field of the REST answer at `path`, and
/// checks that both are the same.
async fn same_as_rest(env: &Env, token: &str, path: &str, field: &str) {
    // Every list of this test has something in it once the pipeline
    // caught up (candles come from the store).
    let rest = common::eventually(Duration::from_secs(20), || async {
        let (status, rest) = env.get(0, token, path).await;
        assert_eq!(status, 200, "{path}: {rest}");
        (!matches!(&rest, Value::Array(a) if a.is_empty())).then_some(rest)
    })
    .await
    .unwrap_or_else(|| panic!("{path} stayed empty"));
    let query = format!("{{ {field}{} }}", selection(&rest));
    let answer = graphql(env, Some(token), &query, json!({})).await;
    assert!(answer["errors"].is_null(), "{query}: {answer}");
    let name = field.split('(').next().unwrap();
    assert_eq!(answer["data"][name], without_empty_lists(&rest), "{query}");
}

async fn graphql_answers_equal_rest_answers(mode: Mode) {
    let mut env = Env::standard(mode).await;
    let ann = env.user("ann");
    env.stock("GQL", 100_000, "10").await;

    // A mutation places an order; its errors carry REST's code and fields.
    let place = "mutation ($o: OrderInput!) { place_order(order: $o) { created order { number status filled_quantity } } }";
    let order = json!({"symbol": "GQL", "side": "buy", "quantity": 3, "type": "market", "client_order_id": "gql-1"});
    let placed = graphql(&env, Some(&ann), place, json!({ "o": order })).await;
    assert!(placed["errors"].is_null(), "{placed}");
    assert_eq!(placed["data"]["place_order"]["created"], true);
    assert_eq!(placed["data"]["place_order"]["order"]["status"], "filled");
    let number = placed["data"]["place_order"]["order"]["number"].clone();
    let again = graphql(&env, Some(&ann), place, json!({ "o": order })).await;
    assert_eq!(
        again["data"]["place_order"]["created"], false,
        "the same client_order_id"
    );
    assert_eq!(again["data"]["place_order"]["order"]["number"], number);
    let poor = json!({"symbol": "GQL", "side": "buy", "quantity": 50_000, "type": "market"});
    let refused = graphql(&env, Some(&ann), place, json!({ "o": poor })).await;
    let e = &refused["errors"][0]["extensions"];
    assert_eq!(
        (e["status"].clone(), e["code"].clone()),
        (json!(422), json!("insufficient_cash")),
        "{refused}"
    );
    let bad = json!({"symbol": "GQL", "side": "hold", "quantity": 1, "type": "limit"});
    let refused = graphql(&env, Some(&ann), place, json!({ "o": bad })).await;
    let e = &refused["errors"][0]["extensions"];
    assert_eq!(e["status"], 400, "{refused}");
    let fields: Vec<&str> = e["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["side", "limit_price"], "{refused}");
    // Without a user: the API's 401.
    let anonymous = graphql(&env, None, "{ account { cash } }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["status"], 401,
        "{anonymous}"
    );
    let created = graphql(
        &env,
        Some(&ann),
        "mutation { create_watchlist(name: \"tech\", symbols: [\"GQL\"]) { id } }",
        json!({}),
    )
    .await;
    let list = created["data"]["create_watchlist"]["id"]
        .as_i64()
        .expect("a list id");

    env.tick("GQL", "11").await;
    env.priced("GQL", "11").await;
    for (path, field) in [
        ("/api/symbols".to_owned(), "symbols".to_owned()),
        ("/api/symbols/GQL".into(), "symbol(id: \"GQL\")".into()),
        (
            "/api/symbols/GQL/history?limit=5".into(),
            "history(id: \"GQL\", limit: 5)".into(),
        ),
        (
            "/api/symbols/GQL/candles?interval=1s".into(),
            "candles(id: \"GQL\", interval: \"1s\")".into(),
        ),
        ("/api/stocks/GQL".into(), "stock(symbol: \"GQL\")".into()),
        ("/api/account".into(), "account".into()),
        (
            "/api/orders?status=all".into(),
            "orders(status: \"all\")".into(),
        ),
        (
            format!("/api/orders/{number}"),
            format!("order(number: {number})"),
        ),
        ("/api/watchlists".into(), "watchlists".into()),
        (
            format!("/api/watchlists/{list}"),
            format!("watchlist(id: {list})"),
        ),
    ] {
        same_as_rest(&env, &ann, &path, &field).await;
    }
    // A bad argument is named as REST names it.
    let bad = graphql(
        &env,
        Some(&ann),
        "{ history(id: \"GQL\", limit: 0) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        bad["errors"][0]["extensions"]["details"][0]["field"], "limit",
        "{bad}"
    );
}

#[tokio::test]
async fn shared_graphql_answers_equal_rest_answers() {
    graphql_answers_equal_rest_answers(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_graphql_answers_equal_rest_answers() {
    graphql_answers_equal_rest_answers(Mode::Embedded).await;
}

/// A `graphql-transport-ws` client: connection_init, then `subscribe`.
async fn subscribe(
    env: &Env,
    token: &str,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!(
        "{}/api/graphql",
        env.base(0).replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    ws.send(Message::text(
        json!({"type": "connection_init"}).to_string(),
    ))
    .await
    .unwrap();
    let ack = next_message(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    ws.send(Message::text(subscribe.to_string())).await.unwrap();
    ws
}

async fn next_message(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message within 15 s")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(text) = m {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "ping" {
                return v;
            }
        }
    }
}

async fn a_subscription_sees_an_order_fill_and_ticks(mode: Mode) {
    let mut env = Env::standard(mode).await;
    let bea = env.user("bea");
    env.stock("GQS", 1_000, "20").await;
    let mut orders = subscribe(
        &env,
        &bea,
        "subscription { orders { order { number status symbol } fill { price quantity } } }",
    )
    .await;
    let mut market = subscribe(
        &env,
        &bea,
        "subscription { market(symbols: [\"GQS\"], conflate: \"100ms\") { event id skipped snapshot { reset ticks { symbol price } } tick { symbol price event_id } } }",
    )
    .await;
    let first = next_message(&mut market).await;
    assert_eq!(
        first["payload"]["data"]["market"]["event"], "snapshot",
        "{first}"
    );
    assert_eq!(
        first["payload"]["data"]["market"]["snapshot"]["ticks"][0]["price"],
        "20"
    );

    let (status, order) = env
        .request(
            0,
            reqwest::Method::POST,
            "/api/orders",
            &bea,
            Some(&json!({"symbol": "GQS", "side": "buy", "quantity": 2, "type": "market"})),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let event = next_message(&mut orders).await;
    let data = &event["payload"]["data"]["orders"];
    assert_eq!(data["order"]["number"], order["number"], "{event}");
    assert_eq!(data["order"]["status"], "filled");
    assert_eq!(data["fill"]["quantity"], 2);

    env.tick("GQS", "21").await;
    env.tick("GQS", "22").await;
    loop {
        let m = next_message(&mut market).await;
        let e = &m["payload"]["data"]["market"];
        if e["event"] == "tick" && e["tick"]["price"] == "22" {
            assert!(e["id"].is_string(), "a position to resume from: {m}");
            assert!(e["skipped"].is_u64(), "conflated: {m}");
            break;
        }
    }
    // A bad argument is refused with the field named.
    let mut bad = subscribe(
        &env,
        &bea,
        "subscription { market(conflate: \"1ms\") { event } }",
    )
    .await;
    let m = next_message(&mut bad).await;
    assert_eq!(m["payload"]["data"], Value::Null, "{m}");
    let e = &m["payload"]["errors"][0]["extensions"];
    assert_eq!(
        (e["status"].clone(), e["details"][0]["field"].clone()),
        (json!(400), json!("conflate")),
        "{m}"
    );
}

#[tokio::test]
async fn shared_a_subscription_sees_an_order_fill_and_ticks() {
    a_subscription_sees_an_order_fill_and_ticks(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_a_subscription_sees_an_order_fill_and_ticks() {
    a_subscription_sees_an_order_fill_and_ticks(Mode::Embedded).await;
}
