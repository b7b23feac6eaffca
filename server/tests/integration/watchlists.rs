//! Watchlists end to end, on the real binary, in both modes (Redis +
//! Postgres with two processes, requests spread over both; embedded in
//! one):
//! - every rule of the API: a name in use is a 409; over a limit is a 422
//!   that says the limit, with nothing saved; an unknown symbol is a 404
//!   naming it; another user's list is a 404; adding twice keeps one; bad
//!   fields are 400s naming them; a list answers with its symbols' Views;
//! - `/api/stream?watchlist=` carries only the list's symbols, follows the
//!   list as it changes (a symbol added while connected arrives without a
//!   reconnect, with a snapshot of its latest tick; a removed one stops),
//!   and ends when the list is deleted. In the shared mode the list is
//!   changed through the other process than the stream's.
//! - the client package's `Watchlists` does all of it with a token.

use crate::common;

use common::deployment::{Env, Mode};
use common::SseReader;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn send(
    env: &Env,
    node: usize,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    env.request(node, method, path, token, body.as_ref()).await
}

fn symbols(list: &Value) -> Vec<&str> {
    list["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// The lists of `token`'s user.
async fn lists(env: &Env, token: &str) -> Vec<Value> {
    let (status, body) = env.get(0, token, "/api/watchlists").await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

async fn every_rule_holds(mode: Mode) {
    use reqwest::Method as M;
    let mut env = Env::new(mode).await;
    let max = [("WATCHLIST_MAX_SYMBOLS", "3")];
    env.start("a", &max).await;
    if mode == Mode::Shared {
        env.start("b", &max).await;
    }
    let ann = env.user("ann");
    let bob = env.user("bob");
    for (s, p) in [("WA", "10"), ("WB", "20"), ("WC", "30"), ("WD", "40")] {
        env.stock(s, 100, p).await;
    }
    // A symbol with ticks but no catalog entry is known too (once its View
    // is there).
    env.tick("TICKONLY", "1.5").await;
    let url = format!("{}/api/symbols/TICKONLY", env.base(0));
    let viewed = common::eventually(WAIT, || {
        let url = url.clone();
        async move {
            reqwest::get(url)
                .await
                .ok()?
                .status()
                .is_success()
                .then_some(())
        }
    })
    .await;
    assert!(viewed.is_some(), "TICKONLY got no View");

    let (status, body) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": " Tech ", "symbols": ["wa", "WB", "WA"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "Tech");
    assert_eq!(symbols(&body), ["WA", "WB"], "in order, without repeats");
    let id = body["id"].as_i64().unwrap();
    let path = format!("/api/watchlists/{id}");

    // 409: the name, whatever its case.
    let (status, body) = send(
        &env,
        1,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": "TECH"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("TECH"), "{body}");

    // 422 over the symbol limit, nothing saved, and the limit said.
    let (status, body) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": "Big", "symbols": ["WA", "WB", "WC", "WD"]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "watchlist_full");
    assert!(
        body["error"].as_str().unwrap().contains("at most 3"),
        "{body}"
    );
    assert_eq!(body["details"][0]["field"], "symbols");
    assert_eq!(lists(&env, &ann).await.len(), 1, "nothing saved");
    let (status, body) = send(
        &env,
        1,
        M::PUT,
        &path,
        &ann,
        Some(json!({"name": "Renamed", "symbols": ["WA", "WB", "WC", "WD"]})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("watchlist_full")),
        "{body}"
    );
    let (_, kept) = env.get(0, &ann, &path).await;
    assert_eq!(
        (kept["name"].as_str(), symbols(&kept)),
        (Some("Tech"), vec!["WA", "WB"]),
        "a refused PUT changes nothing"
    );

    // Adding is idempotent; the third symbol fills the list, a fourth is refused.
    for node in 0..2 {
        let (status, body) = send(
            &env,
            node,
            M::POST,
            &format!("{path}/symbols"),
            &ann,
            Some(json!({"symbol": "WC"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(symbols(&body), ["WA", "WB", "WC"]);
    }
    let (status, body) = send(
        &env,
        0,
        M::POST,
        &format!("{path}/symbols"),
        &ann,
        Some(json!({"symbol": "WD"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("watchlist_full")),
        "{body}"
    );

    // 404 naming a symbol never seen; a tick alone makes a symbol known.
    let (status, body) = send(
        &env,
        1,
        M::PUT,
        &path,
        &ann,
        Some(json!({"symbols": ["WA", "NEVERSEEN"]})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("NEVERSEEN"),
        "{body}"
    );
    let (status, body) = send(
        &env,
        1,
        M::PUT,
        &path,
        &ann,
        Some(json!({"symbols": ["TICKONLY", "WA"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(symbols(&body), ["TICKONLY", "WA"]);

    // One request fills a screen: every symbol's View, in order.
    let views = common::eventually(WAIT, || async {
        let (_, list) = env.get(0, &ann, &path).await;
        (list["views"].as_array()?.len() == 2).then_some(list)
    })
    .await
    .expect("both symbols have Views");
    assert_eq!(views["views"][0]["symbol"], "TICKONLY");
    assert_eq!(views["views"][1]["last"]["price"], "10");

    // Another user's list is a 404 for every verb; Bob may reuse the name.
    for (method, p, body) in [
        (M::GET, path.clone(), None),
        (M::PUT, path.clone(), Some(json!({"name": "Mine"}))),
        (M::DELETE, path.clone(), None),
        (
            M::POST,
            format!("{path}/symbols"),
            Some(json!({"symbol": "WB"})),
        ),
        (M::DELETE, format!("{path}/symbols/WA"), None),
    ] {
        let (status, answer) = send(&env, 0, method.clone(), &p, &bob, body).await;
        assert_eq!(status, 404, "{method} {p}: {answer}");
    }
    let (status, _) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &bob,
        Some(json!({"name": "Tech"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, still) = env.get(1, &ann, &path).await;
    assert_eq!(symbols(&still), ["TICKONLY", "WA"]);

    // Removing: a symbol not in the list is a 404 naming it.
    let (status, body) = send(
        &env,
        1,
        M::DELETE,
        &format!("{path}/symbols/WA"),
        &ann,
        None,
    )
    .await;
    assert_eq!((status, symbols(&body)), (200, vec!["TICKONLY"]), "{body}");
    let (status, body) = send(
        &env,
        0,
        M::DELETE,
        &format!("{path}/symbols/WA"),
        &ann,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("WA"), "{body}");

    // Bad fields are named; no token, no lists.
    let (status, body) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": "", "symbols": ["OK", "bad symbol"], "colour": "red"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let mut fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["colour", "name", "symbols[1]"]);
    let (status, body) = send(&env, 0, M::PUT, &path, &ann, Some(json!({}))).await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("body")),
        "{body}"
    );
    let (status, body) = send(&env, 0, M::GET, "/api/watchlists/0", &ann, None).await;
    assert_eq!(
        (status, body["details"][0]["field"].as_str()),
        (400, Some("id")),
        "{body}"
    );
    let anonymous = env
        .http
        .get(format!("{}/api/watchlists", env.base(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // 20 lists per user: the 21st is refused and not saved.
    for i in 1..20 {
        let (status, body) = send(
            &env,
            i % 2,
            M::POST,
            "/api/watchlists",
            &ann,
            Some(json!({"name": format!("List {i}")})),
        )
        .await;
        assert_eq!(status, 201, "{i}: {body}");
    }
    let (status, body) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": "One too many"})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("too_many_watchlists")),
        "{body}"
    );
    assert!(body["error"].as_str().unwrap().contains("20"), "{body}");
    assert_eq!(lists(&env, &ann).await.len(), 20);

    let (status, _) = send(&env, 1, M::DELETE, &path, &ann, None).await;
    assert_eq!(status, 204);
    assert_eq!(env.get(0, &ann, &path).await.0, 404);
}

/// Ticks of the stream, by symbol, until `until` returns true or `WAIT`.
async fn ticks_until(reader: &mut SseReader, mut until: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Some((kind, _, data)) = reader
        .next(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        if kind == "tick" {
            let tick: Value = serde_json::from_str(&data).unwrap();
            let symbol = tick["symbol"].as_str().unwrap().to_owned();
            let done = until(&symbol);
            seen.push(symbol);
            if done {
                break;
            }
        }
    }
    seen
}

async fn the_stream_follows_the_list(mode: Mode) {
    use reqwest::Method as M;
    let env = Env::standard(mode).await;
    let mut env = env;
    let ann = env.user("ann");
    for (s, p) in [("SA", "1"), ("SB", "2"), ("SC", "3")] {
        env.stock(s, 100, p).await;
    }
    let (status, list) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &ann,
        Some(json!({"name": "Live", "symbols": ["SA"]})),
    )
    .await;
    assert_eq!(status, 201, "{list}");
    let id = list["id"].as_i64().unwrap();

    // The stream is the first process's; changes go through the last one.
    let changer = env.nodes.len() - 1;
    let response = env
        .http
        .get(format!("{}/api/stream?watchlist={id}", env.base(0)))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = SseReader::new(response);
    let (_, _, first) = reader.next_of("snapshot", WAIT).await.expect("a snapshot");
    let first: Value = serde_json::from_str(&first).unwrap();
    let in_snapshot: Vec<&str> = first["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["symbol"].as_str().unwrap())
        .collect();
    assert_eq!(in_snapshot, ["SA"], "{first}");

    // Only the list's symbols: SB's tick is sent first and must not arrive.
    env.tick("SB", "2.1").await;
    env.tick("SA", "1.1").await;
    let seen = ticks_until(&mut reader, |s| s == "SA").await;
    assert_eq!(seen, ["SA"]);

    // SB added while connected: the list event, then SB's latest tick in a
    // snapshot, then SB's live ticks; no reconnect.
    let (status, body) = send(
        &env,
        changer,
        M::POST,
        &format!("/api/watchlists/{id}/symbols"),
        &ann,
        Some(json!({"symbol": "SB"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, _, event) = reader
        .next_of("watchlist", WAIT)
        .await
        .expect("a watchlist event");
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(
        (event["id"].as_i64(), symbols(&event)),
        (Some(id), vec!["SA", "SB"]),
        "{event}"
    );
    let (kind, id_line, data) = reader
        .next(WAIT)
        .await
        .expect("the added symbols' snapshot");
    assert_eq!(kind, "snapshot", "{data}");
    assert_eq!(id_line, None, "a partial snapshot moves no Last-Event-ID");
    let added: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(added["reset"], false);
    assert_eq!(added["ticks"][0]["symbol"], "SB");
    assert_eq!(added["ticks"][0]["price"], "2.1");
    env.tick("SC", "3.1").await;
    env.tick("SB", "2.2").await;
    assert_eq!(ticks_until(&mut reader, |s| s == "SB").await, ["SB"]);

    // SA removed: its ticks stop.
    let (status, _) = send(
        &env,
        changer,
        M::DELETE,
        &format!("/api/watchlists/{id}/symbols/SA"),
        &ann,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, _, event) = reader
        .next_of("watchlist", WAIT)
        .await
        .expect("a watchlist event");
    assert_eq!(symbols(&serde_json::from_str(&event).unwrap()), ["SB"]);
    env.tick("SA", "1.2").await;
    env.tick("SB", "2.3").await;
    assert_eq!(ticks_until(&mut reader, |s| s == "SB").await, ["SB"]);

    // Deleted: the stream says so and ends.
    let (status, _) = send(
        &env,
        changer,
        M::DELETE,
        &format!("/api/watchlists/{id}"),
        &ann,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, event) = reader
        .next_of("watchlist", WAIT)
        .await
        .expect("the deletion");
    assert_eq!(
        serde_json::from_str::<Value>(&event).unwrap()["deleted"],
        true
    );
    assert!(
        reader.next(Duration::from_secs(3)).await.is_none(),
        "the stream ended"
    );

    // Someone else's list, or none, cannot be streamed.
    let bob = env.user("bob");
    let (_, bobs) = send(
        &env,
        0,
        M::POST,
        "/api/watchlists",
        &bob,
        Some(json!({"name": "Bob's"})),
    )
    .await;
    let r = env
        .http
        .get(format!(
            "{}/api/stream?watchlist={}",
            env.base(0),
            bobs["id"]
        ))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = env
        .http
        .get(format!(
            "{}/api/stream?watchlist={}",
            env.base(0),
            bobs["id"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .http
        .get(format!("{}/api/stream?watchlist=1&symbols=SA", env.base(0)))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn shared_every_rule_holds() {
    every_rule_holds(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_every_rule_holds() {
    every_rule_holds(Mode::Embedded).await;
}

#[tokio::test]
async fn shared_stream_follows_the_list() {
    the_stream_follows_the_list(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_stream_follows_the_list() {
    the_stream_follows_the_list(Mode::Embedded).await;
}

/// The client package's `Watchlists` against the real server: what a
/// program does with a personal token.
async fn the_client_package_keeps_lists(mode: Mode) {
    use tickpulse_client::{WatchlistError, Watchlists};
    use tickpulse_core::Symbol;
    let mut env = Env::standard(mode).await;
    let token = env.user("carl");
    for (s, p) in [("CA", "1"), ("CB", "2")] {
        env.stock(s, 100, p).await;
    }
    let lists = Watchlists::new(env.base(0), &token);
    let made = lists.create("Mine", &[Symbol::new("CA")]).await.unwrap();
    assert_eq!(made.symbols, [Symbol::new("CA")]);
    let found = lists
        .find("MINE")
        .await
        .unwrap()
        .expect("found whatever the case");
    assert_eq!(found.id, made.id);
    let after = lists.add(made.id, &Symbol::new("CB")).await.unwrap();
    assert_eq!(after.symbols, [Symbol::new("CA"), Symbol::new("CB")]);
    let views = lists.get(made.id).await.unwrap();
    assert_eq!(views.views.len(), 2, "{views:?}");
    let after = lists.remove(made.id, &Symbol::new("CA")).await.unwrap();
    assert_eq!(after.symbols, [Symbol::new("CB")]);
    match lists.create("mine", &[]).await {
        Err(WatchlistError::Refused { status: 409, .. }) => {}
        other => panic!("a taken name: {other:?}"),
    }
    match lists.add(made.id, &Symbol::new("NOSUCH")).await {
        Err(WatchlistError::Refused {
            status: 404,
            message,
            ..
        }) => assert!(message.contains("NOSUCH"), "{message}"),
        other => panic!("an unknown symbol: {other:?}"),
    }
    match Watchlists::new(env.base(0), "tp_not-a-token").list().await {
        Err(WatchlistError::Refused { status: 401, .. }) => {}
        other => panic!("a bad token: {other:?}"),
    }
    assert_eq!(lists.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn shared_client_package_keeps_lists() {
    the_client_package_keeps_lists(Mode::Shared).await;
}

#[tokio::test]
async fn embedded_client_package_keeps_lists() {
    the_client_package_keeps_lists(Mode::Embedded).await;
}
