//! Reading every order back after a phase: by number and by client id,
//! compared with what was sent (see [`super::verify`]), and the checks
//! that nothing was executed twice and that the trade role caught up.

use super::api::{Answer, Api};
use super::shared::{now_ms, Shared};
use super::stats::Recorder;
use super::verify::{self, Ledger, Outcome, PriceLog, Sent};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Orders read back at once, per phase and at the end.
const READERS: usize = 8;

/// What reading one order back found.
#[derive(Default)]
struct ReadBack {
    wrong: Vec<String>,
    reads: Recorder,
    /// Its answer was lost, and reading back settled it.
    resolved: bool,
    /// The order as read, when terminal (it never changes again).
    settled: Option<(i64, Value)>,
}

/// The order read by number, kept when it is terminal.
fn settled(number: i64, order: &Value) -> Option<(i64, Value)> {
    serde_json::from_value::<tickpulse_core::trade::OrderStatus>(order["status"].clone())
        .is_ok_and(|s| s.is_terminal())
        .then(|| (number, order.clone()))
}

/// Reads every order of `sent` back, [`READERS`] at a time; what is wrong,
/// the read latencies, how many lost answers it settled, and the terminal
/// orders as read (by number).
pub(super) async fn read_back(
    shared: &Shared,
    sent: &[Sent],
) -> (Vec<String>, Recorder, u64, HashMap<i64, Value>) {
    use futures::StreamExt;
    let prices = shared.prices.lock().unwrap().clone();
    // Collected first: a closure kept inside the future would make it
    // fail `Send` in callers that spawn it.
    let reads: Vec<_> = sent.iter().map(|s| read_one(shared, s, &prices)).collect();
    let mut all = futures::stream::iter(reads).buffered(READERS);
    let (mut wrong, mut reads, mut resolved) = (Vec::new(), Recorder::default(), 0);
    let mut terminal = HashMap::new();
    while let Some(one) = all.next().await {
        wrong.extend(one.wrong);
        reads.merge(one.reads);
        resolved += u64::from(one.resolved);
        terminal.extend(one.settled);
    }
    (wrong, reads, resolved, terminal)
}

/// Reads one order back, by client id and by number, and checks it.
async fn read_one(shared: &Shared, s: &Sent, prices: &PriceLog) -> ReadBack {
    let mut out = ReadBack::default();
    let token = &shared.tokens[s.user];
    if let (Outcome::Placed { number, .. }, Some(again)) = (&s.outcome, &s.resend) {
        match again {
            Outcome::Placed {
                number: n,
                created: false,
            } if n == number => {}
            Outcome::Unknown(_) => {}
            other => out.wrong.push(format!(
                "order {number} ({}): resending it answered {other:?}, not the same order",
                s.client_order_id
            )),
        }
    }
    let by_id = shared
        .api
        .get(
            token,
            &format!("/api/orders/by-client-id/{}", s.client_order_id),
        )
        .await;
    out.reads.record(
        by_id.elapsed,
        by_id.retries,
        matches!(by_id.answer, Answer::Failed(_)),
    );
    let name = |number: Option<i64>| match number {
        Some(n) => format!("order {n} ({})", s.client_order_id),
        None => format!("order {}", s.client_order_id),
    };
    match (&s.outcome, &by_id.answer) {
        (Outcome::Placed { number, .. }, Answer::Http(200, order)) => {
            if order["number"].as_i64() != Some(*number) {
                out.wrong.push(format!(
                    "{}: its client id reads back as order {}",
                    name(Some(*number)),
                    order["number"]
                ));
                return out;
            }
            let one = shared
                .api
                .get(token, &format!("/api/orders/{number}"))
                .await;
            out.reads.record(
                one.elapsed,
                one.retries,
                matches!(one.answer, Answer::Failed(_)),
            );
            match &one.answer {
                Answer::Http(200, order) => {
                    for w in verify::check(s, order, prices) {
                        out.wrong.push(format!("{}: {w}", name(Some(*number))));
                    }
                    out.settled = settled(*number, order);
                }
                other => out.wrong.push(format!(
                    "{}: reading it back answered {other:?}",
                    name(Some(*number))
                )),
            }
        }
        (Outcome::Placed { number, .. }, other) => {
            out.wrong.push(format!(
                "{}: acknowledged, but lost ({other:?})",
                name(Some(*number))
            ));
        }
        (Outcome::Refused(_), Answer::Http(404, _)) => {}
        (Outcome::Refused(code), other) => {
            out.wrong.push(format!(
                "{}: refused ({code}), but it exists ({other:?})",
                name(None)
            ));
        }
        (Outcome::Unknown(_), Answer::Http(200 | 404, order)) => {
            out.resolved = true;
            if let Some(n) = order["number"].as_i64() {
                let one = shared.api.get(token, &format!("/api/orders/{n}")).await;
                if let Answer::Http(200, order) = &one.answer {
                    // Placed while its answer was lost: it must still be what was sent.
                    let mut late = s.clone();
                    late.answered_ms = now_ms();
                    for w in verify::check(&late, order, prices) {
                        out.wrong.push(format!("{}: {w}", name(Some(n))));
                    }
                    out.settled = settled(n, order);
                }
            }
        }
        (Outcome::Unexpected(status, body), _) => {
            out.wrong
                .push(format!("{}: answered {status} {body}", name(None)));
        }
        (Outcome::Unknown(e), other) => {
            out.wrong.push(format!(
                "{}: no answer ({e}) and cannot be read back ({other:?})",
                name(None)
            ));
        }
    }
    out
}

/// Every order of each user exists once and was sent by this client, and
/// no resting limit order stayed open though a price crossed it. Orders
/// `terminal` already holds (read back terminal) are not read again.
pub(super) async fn no_doubles(
    shared: &Shared,
    sent: &[Sent],
    terminal: &HashMap<i64, Value>,
) -> (Vec<String>, Ledger) {
    use futures::StreamExt;
    let mut wrong = Vec::new();
    let mut ledger = Ledger::default();
    let by_id: HashMap<&str, &Sent> = sent
        .iter()
        .map(|s| (s.client_order_id.as_str(), s))
        .collect();
    let prices = shared.prices.lock().unwrap().clone();
    for token in &shared.tokens {
        if let Answer::Http(200, account) = shared.api.get(token, "/api/account").await.answer {
            ledger.account(&account);
        }
        let mut seen: HashMap<String, i64> = HashMap::new();
        let mut before: Option<i64> = None;
        loop {
            let path = match before {
                Some(b) => format!("/api/orders?limit=500&before={b}"),
                None => "/api/orders?limit=500".to_owned(),
            };
            let Answer::Http(200, page) = shared.api.get(token, &path).await.answer else {
                wrong.push(format!("cannot list the orders ({path})"));
                break;
            };
            let listed = page["orders"].as_array().cloned().unwrap_or_default();
            let mut numbers = Vec::with_capacity(listed.len());
            for o in &listed {
                let id = o["client_order_id"].as_str().unwrap_or("").to_owned();
                let number = o["number"].as_i64().unwrap_or(0);
                if !by_id.contains_key(id.as_str()) {
                    wrong.push(format!(
                        "order {number} ({id}) was never sent by this client"
                    ));
                }
                if let Some(first) = seen.insert(id.clone(), number) {
                    wrong.push(format!(
                        "orders {first} and {number} share the client id {id}: executed twice"
                    ));
                }
                numbers.push((number, id));
            }
            let reads: Vec<_> = numbers
                .into_iter()
                .map(|(number, id)| async move {
                    let order = match terminal.get(&number) {
                        Some(known) => Some(known.clone()),
                        None => match shared
                            .api
                            .get(token, &format!("/api/orders/{number}"))
                            .await
                            .answer
                        {
                            Answer::Http(200, order) => Some(order),
                            _ => None,
                        },
                    };
                    (number, id, order)
                })
                .collect();
            let mut full = futures::stream::iter(reads).buffered(READERS);
            while let Some((number, id, order)) = full.next().await {
                let Some(order) = order else {
                    wrong.push(format!("order {number} ({id}) cannot be read"));
                    continue;
                };
                ledger.order(&order);
                if let Some(p) = by_id
                    .get(id.as_str())
                    .and_then(|s| verify::crossed_but_open(s, &order, &prices))
                {
                    wrong.push(format!(
                        "order {number} ({id}) is still open though {p} crossed its limit"
                    ));
                }
            }
            match page["next_before"].as_i64() {
                Some(b) => before = Some(b),
                None => break,
            }
        }
    }
    (wrong, ledger)
}

/// Waits until some process reports the `trade` group with nothing pending
/// and nothing unread (`/metrics`); `false` after `limit`.
pub(super) async fn trade_caught_up(api: &Api, limit: Duration) -> bool {
    let start = Instant::now();
    let mut zero_rounds = 0;
    while start.elapsed() < limit {
        for url in api.urls() {
            let Ok(r) = api
                .http()
                .get(format!("{url}/metrics"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            else {
                continue;
            };
            let Ok(text) = r.text().await else { continue };
            let value = |name: &str| {
                text.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.rsplit(' ').next())
                    .and_then(|v| v.parse::<f64>().ok())
            };
            let pending = value("tickpulse_stream_pending{group=\"trade\"}");
            let lag = value("tickpulse_stream_lag{group=\"trade\"}").unwrap_or(0.0);
            if pending == Some(0.0) && lag == 0.0 {
                zero_rounds += 1;
                // Twice in a row, a moment apart: not a read in flight.
                if zero_rounds >= 2 {
                    return true;
                }
            } else {
                zero_rounds = 0;
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
