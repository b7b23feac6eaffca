//! One conformance suite for every bus backend: each test below runs against
//! the Redis bus (on the real Redis), the Redis bus on a private Redis
//! Cluster with partitions, and the in-process bus of the embedded mode,
//! under the same name (`redis_backend::…`, `cluster_backend::…`,
//! `memory_backend::…`). A behaviour one backend has and the other lacks
//! fails here. Redis-only behaviour is in `redis_bus.rs`, the store's suite
//! in `store_conformance.rs`.

use crate::common;

use common::bus::*;
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Partition, StreamId, StreamTick, Symbol, Timestamp};
use tickpulse_server::bus::Bus;
use tickpulse_server::bus::{DeadLetter, Published, Read};

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod redis_backend {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Redis>().await;
            })*
        }
        mod memory_backend {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Memory>().await;
            })*
        }
        mod cluster_backend {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Cluster>().await;
            })*
        }
    };
}

conformance!(
    new_ticks_are_accepted_and_duplicates_refused,
    the_latest_tick_is_the_newest_by_event_time,
    subscribers_hear_every_append_and_every_view_write,
    a_group_hands_out_each_entry_once,
    own_pending_entries_come_again_with_their_delivery_count,
    idle_entries_are_taken_over_by_another_consumer,
    a_waiting_read_wakes_up_on_append,
    unacknowledged_lists_what_a_group_has_not_acknowledged,
    trimming_keeps_everything_some_group_has_not_acknowledged,
    retention_keeps_young_entries_even_when_acknowledged,
    a_lease_has_one_holder_until_released_or_expired,
    dead_letters_are_acknowledged_and_counted,
    views_are_kept_per_symbol,
    range_reads_the_stream_from_an_id_on,
    an_event_id_is_forgotten_after_the_dedupe_window,
    heartbeats_last_their_ttl,
    alerts_reach_every_subscriber,
    a_batch_across_partitions_keeps_each_symbols_order,
    a_dedupe_budget_bounds_memory_and_shortens_the_window,
    a_stream_byte_budget_trims_acknowledged_entries_only,
    the_latest_ticks_join_calcs_views_and_what_it_has_not_acknowledged,
);

async fn new_ticks_are_accepted_and_duplicates_refused<B: Backend>() {
    let f = plain::<B>();
    let mut batch = ticks("a", 3);
    batch.push(batch[1].clone()); // the same event id twice in one call
    let accepted = f.bus.append(&batch, Timestamp::now()).await.unwrap();
    assert_eq!(accepted, [true, true, true, false]);
    let again = f
        .bus
        .append(&ticks("a", 4), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(again, [false, false, false, true]);
    assert_eq!(in_stream(&f.bus).await, 4);
    let all = f
        .bus
        .range(part(&f.bus, "BUS"), StreamId::ZERO, 100)
        .await
        .unwrap();
    let got: Vec<String> = all
        .iter()
        .map(|d| d.tick.as_ref().unwrap().tick.event_id.to_string())
        .collect();
    assert_eq!(got, ["a0", "a1", "a2", "a3"]);
    assert!(ids(&all).windows(2).all(|w| w[0] < w[1]), "ids increase");
    for d in &all {
        assert_eq!(d.tick.as_ref().unwrap().id, d.id);
    }
}

async fn the_latest_tick_is_the_newest_by_event_time<B: Backend>() {
    let f = plain::<B>();
    let t0 = common::now_ms() - 10_000;
    let received = Timestamp::now();
    f.bus
        .append(&[tick_at("LT", "10", "lt-1", t0 + 5)], received)
        .await
        .unwrap();
    // Older event time: stored in the stream, not the latest.
    f.bus
        .append(&[tick_at("LT", "9", "lt-2", t0)], received)
        .await
        .unwrap();
    let latest = f.bus.latest_all().await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].tick.tick.event_id.as_str(), "lt-1");
    assert_eq!(latest[0].first_price.to_string(), "10");
    // Same event time: the later arrival wins.
    f.bus
        .append(&[tick_at("LT", "11", "lt-3", t0 + 5)], received)
        .await
        .unwrap();
    // Within one call too, and another symbol sorts first.
    f.bus
        .append(
            &[
                tick_at("AA", "1", "aa-1", t0 + 2),
                tick_at("AA", "2", "aa-2", t0 + 1),
            ],
            received,
        )
        .await
        .unwrap();
    let latest = f.bus.latest_all().await.unwrap();
    let got: Vec<(&str, &str, String)> = latest
        .iter()
        .map(|l| {
            (
                l.symbol().as_str(),
                l.tick.tick.event_id.as_str(),
                l.first_price.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("AA", "aa-1", "1".to_owned()),
            ("LT", "lt-3", "10".to_owned())
        ]
    );
    assert_eq!(latest[1].tick.received_at, received);
    assert_eq!(in_stream(&f.bus).await, 5);
}

async fn subscribers_hear_every_append_and_every_view_write<B: Backend>() {
    use futures::StreamExt;
    let f = plain::<B>();
    let mut updates = f.bus.subscribe().await.unwrap();
    let accepted = f
        .bus
        .append(&ticks("s", 3), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(accepted, [true; 3]);
    let next = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .expect("an update within 5 s")
        .expect("subscription open");
    let Published::Ticks(appended) = next else {
        panic!("expected ticks, got {next:?}");
    };
    let stored = f
        .bus
        .range(part(&f.bus, "BUS"), StreamId::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(
        appended.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids(&stored)
    );
    for (a, d) in appended.iter().zip(&stored) {
        let tick: StreamTick = serde_json::from_str(&a.json).unwrap();
        assert_eq!(&tick, d.tick.as_ref().unwrap());
        assert_eq!(a.symbol.as_str(), "BUS");
    }
    // A call with only duplicates publishes nothing; a view write does.
    let dup = f
        .bus
        .append(&ticks("s", 1), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(dup, [false]);
    let view = view_of("BUS", stored[2].tick.as_ref().unwrap());
    f.bus
        .write_views(std::slice::from_ref(&view))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .expect("an update within 5 s")
        .expect("subscription open");
    let Published::Views(views) = next else {
        panic!("expected views, got {next:?}");
    };
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].id, view.stream_id);
    assert_eq!(
        serde_json::from_str::<tickpulse_core::View>(&views[0].json).unwrap(),
        view
    );
}

fn view_of(symbol: &str, last: &StreamTick) -> tickpulse_core::View {
    let mut w = tickpulse_core::SymbolWindow::default();
    let mut t = last.clone();
    t.tick.symbol = Symbol::new(symbol);
    w.apply(&t, &tickpulse_core::WindowSettings::default());
    w.view(Timestamp::now())
        .expect("a window with a tick has a view")
}

async fn a_group_hands_out_each_entry_once<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "g", 5).await;
    f.bus.create_group("calc").await.unwrap();
    f.bus.create_group("persist").await.unwrap();
    f.bus.create_group("calc").await.unwrap(); // idempotent
    let first = read_new(&f.bus, "calc", "c1", 3).await;
    let second = read_new(&f.bus, "calc", "c2", 10).await;
    assert_eq!(first.len(), 3);
    assert_eq!(second.len(), 2);
    assert!(first.iter().chain(&second).all(|d| d.deliveries == 1));
    let none = read_new(&f.bus, "calc", "c1", 10).await;
    assert!(none.is_empty());
    // Another group reads the same entries independently.
    let persist = read_new(&f.bus, "persist", "p1", 10).await;
    assert_eq!(
        ids(&persist),
        [ids(&first), ids(&second)].concat(),
        "every group sees every entry, in order"
    );
    let stats = f.bus.stream_stats().await.unwrap();
    let pending: Vec<(&str, u64, Option<u64>)> = stats
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.pending, g.lag))
        .collect();
    let mut pending = pending;
    pending.sort_unstable();
    assert_eq!(pending, [("calc", 5, Some(0)), ("persist", 5, Some(0))]);
}

async fn own_pending_entries_come_again_with_their_delivery_count<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "p", 3).await;
    f.bus.create_group("persist").await.unwrap();
    let read = read_new(&f.bus, "persist", "p1", 10).await;
    let again = read_own(&f.bus, "persist", "p1", 10).await;
    assert_eq!(ids(&again), ids(&read));
    assert!(again.iter().all(|d| d.deliveries == 2), "{again:?}");
    assert!(again.iter().all(|d| d.tick.is_ok()));
    let other = read_own(&f.bus, "persist", "p2", 10).await;
    assert!(other.is_empty(), "another consumer has none of them");
    f.bus
        .ack(part(&f.bus, "BUS"), "persist", &ids(&read)[..1])
        .await
        .unwrap();
    let third = read_own(&f.bus, "persist", "p1", 10).await;
    assert_eq!(ids(&third), ids(&read)[1..]);
    assert!(third.iter().all(|d| d.deliveries == 3));
    let limited = read_own(&f.bus, "persist", "p1", 1).await;
    assert_eq!(ids(&limited), ids(&read)[1..2]);
}

async fn idle_entries_are_taken_over_by_another_consumer<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "i", 4).await;
    f.bus.create_group("persist").await.unwrap();
    let held = read_new(&f.bus, "persist", "dead", 3).await;
    let early = f
        .bus
        .claim_idle(
            part(&f.bus, "BUS"),
            "persist",
            "p2",
            Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert!(early.is_empty(), "not idle long enough");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let claimed = f
        .bus
        .claim_idle(
            part(&f.bus, "BUS"),
            "persist",
            "p2",
            Duration::from_millis(100),
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ids(&held));
    assert!(claimed.iter().all(|d| d.deliveries == 2 && d.tick.is_ok()));
    let own = read_own(&f.bus, "persist", "p2", 10).await;
    assert_eq!(ids(&own), ids(&held), "they belong to the new consumer now");
    let dead = read_own(&f.bus, "persist", "dead", 10).await;
    assert!(dead.is_empty());
}

async fn a_waiting_read_wakes_up_on_append<B: Backend>() {
    let f = plain::<B>();
    f.bus.create_group("calc").await.unwrap();
    let bus = f.bus.clone();
    let reader = tokio::spawn(async move {
        bus.read_group(
            part(&bus, "BUS"),
            "calc",
            "c1",
            Read::New(Duration::from_secs(10)),
            10,
        )
        .await
        .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    fill(&f.bus, "w", 2).await;
    let got = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the read returns")
        .unwrap();
    assert!(!got.is_empty(), "the read returns the new entries");
}

async fn unacknowledged_lists_what_a_group_has_not_acknowledged<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "u", 5).await;
    let all = f
        .bus
        .unacknowledged(part(&f.bus, "BUS"), "persist", 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "no group yet: everything");
    f.bus.create_group("persist").await.unwrap();
    let read = read_new(&f.bus, "persist", "p1", 3).await;
    f.bus
        .ack(part(&f.bus, "BUS"), "persist", &ids(&read)[..2])
        .await
        .unwrap();
    let left = f
        .bus
        .unacknowledged(part(&f.bus, "BUS"), "persist", 100)
        .await
        .unwrap();
    assert_eq!(ids(&left), ids(&all)[2..], "pending and undelivered");
    let capped = f
        .bus
        .unacknowledged(part(&f.bus, "BUS"), "persist", 2)
        .await
        .unwrap();
    assert_eq!(ids(&capped), ids(&all)[2..4]);
}

async fn trimming_keeps_everything_some_group_has_not_acknowledged<B: Backend>() {
    let f = plain::<B>();
    let bus = &f.bus;
    assert_eq!(
        bus.trim(part(&bus, "BUS")).await.unwrap(),
        0,
        "no stream yet"
    );
    fill(bus, "t", 10).await;
    bus.create_group("persist").await.unwrap();
    bus.create_group("calc").await.unwrap();
    let persist = read_new(&bus, "persist", "p1", 6).await;
    assert_eq!(persist.len(), 6);
    let persist_ids = ids(&persist);
    bus.ack(part(&bus, "BUS"), "persist", &persist_ids[..3])
        .await
        .unwrap();
    let calc = read_new(&bus, "calc", "c1", 100).await;
    assert_eq!(calc.len(), 10);
    bus.ack(part(&bus, "BUS"), "calc", &ids(&calc))
        .await
        .unwrap();

    // persist still holds entries 4–6: only 1–3 may go.
    assert_eq!(bus.trim(part(&bus, "BUS")).await.unwrap(), 3);
    assert_eq!(length(bus).await, 7);
    // Acknowledged: 4–6 may go; 7–10 were never delivered to persist and stay.
    bus.ack(part(&bus, "BUS"), "persist", &persist_ids[3..])
        .await
        .unwrap();
    assert_eq!(bus.trim(part(&bus, "BUS")).await.unwrap(), 3);
    assert_eq!(length(bus).await, 4);
    assert_eq!(bus.trim(part(&bus, "BUS")).await.unwrap(), 0);
}

async fn retention_keeps_young_entries_even_when_acknowledged<B: Backend>() {
    let f = B::bus(Duration::from_secs(300), Duration::from_secs(60));
    fill(&f.bus, "r", 5).await;
    f.bus.create_group("calc").await.unwrap();
    let all = read_new(&f.bus, "calc", "c", 10).await;
    f.bus
        .ack(part(&f.bus, "BUS"), "calc", &ids(&all))
        .await
        .unwrap();
    assert_eq!(f.bus.trim(part(&f.bus, "BUS")).await.unwrap(), 0);
    assert_eq!(length(&f.bus).await, 5);
}

async fn a_lease_has_one_holder_until_released_or_expired<B: Backend>() {
    let f = plain::<B>();
    let bus = &f.bus;
    let ttl = Duration::from_millis(300);
    assert!(bus.lease("x", "a", ttl).await.unwrap());
    assert!(!bus.lease("x", "b", ttl).await.unwrap());
    assert!(bus.lease("x", "a", ttl).await.unwrap(), "the holder renews");
    bus.release("x", "b").await.unwrap(); // not the holder: no effect
    assert!(!bus.lease("x", "b", ttl).await.unwrap());
    bus.release("x", "a").await.unwrap();
    assert!(
        bus.lease("x", "b", ttl).await.unwrap(),
        "free after release"
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(bus.lease("x", "a", ttl).await.unwrap(), "free after expiry");
}

async fn dead_letters_are_acknowledged_and_counted<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "d", 3).await;
    f.bus.create_group("persist").await.unwrap();
    let read = read_new(&f.bus, "persist", "p1", 10).await;
    f.bus
        .dead_letter(
            part(&f.bus, "BUS"),
            "persist",
            &[DeadLetter {
                id: read[1].id,
                reason: "refused".into(),
            }],
        )
        .await
        .unwrap();
    let stats = f.bus.stream_stats().await.unwrap();
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(stats.length, 3, "the entry stays in the stream");
    assert_eq!(stats.groups[0].pending, 2);
    let pending = read_own(&f.bus, "persist", "p1", 10).await;
    assert_eq!(ids(&pending), [read[0].id, read[2].id]);
}

async fn views_are_kept_per_symbol<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "v", 2).await;
    let all = f
        .bus
        .range(part(&f.bus, "BUS"), StreamId::ZERO, 10)
        .await
        .unwrap();
    assert!(f.bus.view(&Symbol::new("VA")).await.unwrap().is_none());
    let a1 = view_of("VA", all[0].tick.as_ref().unwrap());
    let a2 = view_of("VA", all[1].tick.as_ref().unwrap());
    let b = view_of("VB", all[0].tick.as_ref().unwrap());
    f.bus.write_views(&[a1, b.clone()]).await.unwrap();
    f.bus.write_views(std::slice::from_ref(&a2)).await.unwrap();
    assert_eq!(
        f.bus.view(&Symbol::new("VA")).await.unwrap(),
        Some(a2.clone())
    );
    let mut views = f.bus.views().await.unwrap();
    views.sort_by(|x, y| x.symbol.cmp(&y.symbol));
    assert_eq!(views, [a2, b]);
}

async fn range_reads_the_stream_from_an_id_on<B: Backend>() {
    let f = plain::<B>();
    fill(&f.bus, "g", 6).await;
    let all = f
        .bus
        .range(part(&f.bus, "BUS"), StreamId::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 6);
    let from_third = f
        .bus
        .range(part(&f.bus, "BUS"), all[2].id, 2)
        .await
        .unwrap();
    assert_eq!(
        ids(&from_third),
        ids(&all)[2..4],
        "inclusive, at most count"
    );
    assert!(all.iter().all(|d| d.deliveries == 0), "outside any group");
}

async fn heartbeats_last_their_ttl<B: Backend>() {
    let f = plain::<B>();
    assert!(f.bus.heartbeats().await.unwrap().is_empty());
    let long = Duration::from_secs(60);
    f.bus.heartbeat("node-b", r#"{"n":1}"#, long).await.unwrap();
    f.bus
        .heartbeat("node-a", r#"{"n":2}"#, Duration::from_millis(300))
        .await
        .unwrap();
    f.bus.heartbeat("node-b", r#"{"n":3}"#, long).await.unwrap();
    assert_eq!(
        f.bus.heartbeats().await.unwrap(),
        [
            ("node-a".to_owned(), r#"{"n":2}"#.to_owned()),
            ("node-b".to_owned(), r#"{"n":3}"#.to_owned())
        ],
        "ordered by node, the last beat of each"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        f.bus.heartbeats().await.unwrap(),
        [("node-b".to_owned(), r#"{"n":3}"#.to_owned())],
        "node-a stopped beating"
    );
}

async fn alerts_reach_every_subscriber<B: Backend>() {
    use futures::StreamExt;
    let f = plain::<B>();
    let mut a = f.bus.subscribe().await.unwrap();
    let mut b = f.bus.subscribe().await.unwrap();
    let json =
        r#"[{"at":1,"kind":"node.down","subject":"n1","severity":"critical","message":"m"}]"#;
    f.bus.publish_alerts(json).await.unwrap();
    for sub in [&mut a, &mut b] {
        let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("alert heard in time");
        assert_eq!(got, Some(Published::Alerts(json.to_owned())));
    }
}

async fn an_event_id_is_forgotten_after_the_dedupe_window<B: Backend>() {
    let f = B::bus(Duration::ZERO, Duration::from_secs(1));
    let one = ticks("f", 1);
    assert_eq!(f.bus.append(&one, Timestamp::now()).await.unwrap(), [true]);
    assert_eq!(f.bus.append(&one, Timestamp::now()).await.unwrap(), [false]);
    // Remembered for at least one window and at most two.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(
        f.bus.append(&one, Timestamp::now()).await.unwrap(),
        [true],
        "remembered only for the window"
    );
}

/// A batch of many symbols is split by partition: every tick is answered
/// in its place, each partition holds exactly its symbols' ticks, each
/// symbol's in the order they came, and subscribers hear every one.
async fn a_batch_across_partitions_keeps_each_symbols_order<B: Backend>() {
    use futures::StreamExt;
    use std::collections::HashMap;
    let f = plain::<B>();
    let mut updates = f.bus.subscribe().await.unwrap();
    let symbols: Vec<String> = (0..40).map(|i| format!("P{i}")).collect();
    let mut batch = Vec::new();
    for round in 0..5 {
        for s in &symbols {
            batch.push(tick_at(s, "1", &format!("{s}-{round}"), 1_000 + round));
        }
    }
    // Duplicates: one within the batch, and the batch's first tick again.
    batch.push(batch[7].clone());
    let first = f.bus.append(&batch[..1], Timestamp::now()).await.unwrap();
    assert_eq!(first, [true]);
    let accepted = f.bus.append(&batch, Timestamp::now()).await.unwrap();
    let mut expected = vec![true; batch.len()];
    expected[0] = false;
    expected[batch.len() - 1] = false;
    assert_eq!(accepted, expected);
    let count = f.bus.partitions();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for p in Partition::all(count) {
        for d in f.bus.range(p, StreamId::ZERO, 1_000).await.unwrap() {
            let tick = d.tick.unwrap();
            assert_eq!(
                Partition::of(&tick.tick.symbol, count),
                p,
                "in its partition"
            );
            seen.entry(tick.tick.symbol.to_string())
                .or_default()
                .push(tick.tick.event_id.to_string());
        }
    }
    assert_eq!(seen.len(), symbols.len());
    for s in &symbols {
        let order: Vec<String> = (0..5).map(|r| format!("{s}-{r}")).collect();
        assert_eq!(seen[s], order, "{s} in the order it came");
    }
    let mut heard = 0;
    while heard < 200 {
        let next = tokio::time::timeout(Duration::from_secs(5), updates.next())
            .await
            .expect("every tick heard within 5 s")
            .expect("subscription open");
        if let Published::Ticks(ticks) = next {
            heard += ticks.len();
        }
    }
    assert_eq!(heard, 200);
}

/// The de-duplication budget of the tests: a few MB.
pub const DEDUPE_BUDGET: u64 = 4 * 1024 * 1024;

/// Ticks far past a small budget (about four times what it holds): the
/// remembered ids stay within it and the window shortens (and says so), yet
/// duplicates within the shortened window are still refused and no genuine
/// tick is refused.
async fn a_dedupe_budget_bounds_memory_and_shortens_the_window<B: Backend>() {
    let f = B::bus_with(Limits {
        dedupe_max_bytes: DEDUPE_BUDGET,
        ..Limits::new(Duration::ZERO, Duration::from_secs(3_600))
    });
    let batch = |b: usize| -> Vec<tickpulse_core::Tick> {
        (0..2_000)
            .map(|i| {
                tick_at(
                    &format!("D{}", i % 30),
                    "1",
                    &format!("dd-{b:04}-{i:06}"),
                    1_000,
                )
            })
            .collect()
    };
    let batches = 100;
    for b in 0..batches {
        let accepted = f.bus.append(&batch(b), Timestamp::now()).await.unwrap();
        assert!(
            accepted.iter().all(|a| *a),
            "batch {b}: no genuine tick refused"
        );
    }
    let stats = f.bus.stream_stats().await.unwrap().dedupe;
    assert!(stats.bytes <= DEDUPE_BUDGET, "{stats:?}");
    assert!(
        stats.ids < (batches * 2_000) as u64 / 2,
        "most ids forgotten: {stats:?}"
    );
    assert!(
        stats.shortened(),
        "the window is said to be shortened: {stats:?}"
    );
    assert_eq!(stats.budget, Some(DEDUPE_BUDGET));
    // The last batch again: within the shortened window, all duplicates.
    let again = f
        .bus
        .append(&batch(batches - 1), Timestamp::now())
        .await
        .unwrap();
    assert!(again.iter().all(|a| !*a), "recent duplicates refused");
    // A new batch is all new.
    let new = f
        .bus
        .append(&batch(batches), Timestamp::now())
        .await
        .unwrap();
    assert!(new.iter().all(|a| *a));
}

/// The stream byte budget of the tests.
pub const STREAM_BUDGET: u64 = 256 * 1024;

/// `n` ticks of 50 symbols (spread over every partition) with event ids
/// `{prefix}…`, about 200 bytes each as stored.
pub fn spread_ticks(prefix: &str, n: usize) -> Vec<tickpulse_core::Tick> {
    (0..n)
        .map(|i| {
            tick_at(
                &format!("S{}", i % 50),
                "1",
                &format!("{prefix}-{i:06}"),
                1_000,
            )
        })
        .collect()
}

/// Hands every entry of every partition to `group` and acknowledges it.
pub async fn acknowledge_all(bus: &Arc<dyn Bus>, group: &str) {
    for p in Partition::all(bus.partitions()) {
        loop {
            let got = bus
                .read_group(p, group, "c", Read::New(SHORT), 100_000)
                .await
                .unwrap();
            if got.is_empty() {
                break;
            }
            bus.ack(p, group, &ids(&got)).await.unwrap();
        }
    }
}

/// Ten times the stream byte budget in ticks, a few milliseconds apart (as
/// appends come under load): nothing unacknowledged goes, whatever the
/// budget; once acknowledged, the oldest go until the rest fit, though the
/// retention period would keep them all; the newest stay.
async fn a_stream_byte_budget_trims_acknowledged_entries_only<B: Backend>() {
    let f = B::bus_with(Limits {
        stream_max_bytes: STREAM_BUDGET,
        ..Limits::new(Duration::from_secs(3_600), Duration::from_secs(3_600))
    });
    let bus = &f.bus;
    bus.create_group("calc").await.unwrap();
    for b in 0..20 {
        let accepted = bus
            .append(&spread_ticks(&format!("sb{b}"), 500), Timestamp::now())
            .await
            .unwrap();
        assert!(accepted.iter().all(|a| *a));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for p in Partition::all(bus.partitions()) {
        bus.trim(p).await.unwrap();
    }
    assert_eq!(in_stream(bus).await, 10_000, "none acknowledged, none gone");
    acknowledge_all(bus, "calc").await;
    for p in Partition::all(bus.partitions()) {
        bus.trim(p).await.unwrap();
    }
    let kept = in_stream(bus).await;
    // No backend counts a tick of about 200 bytes as less than 150.
    assert!(kept as u64 * 150 <= STREAM_BUDGET, "{kept} ticks kept");
    assert!(kept >= 50, "the newest stay: {kept} ticks kept");
    let newest = bus
        .range(part(bus, "S49"), StreamId::ZERO, 10_000)
        .await
        .unwrap();
    assert!(
        newest
            .iter()
            .any(|d| d.tick.as_ref().unwrap().tick.event_id.as_str() == "sb19-000499"),
        "the last tick appended stays"
    );
    // New ticks nobody has acknowledged stay, over the budget.
    bus.append(&spread_ticks("sb-new", 2_000), Timestamp::now())
        .await
        .unwrap();
    for p in Partition::all(bus.partitions()) {
        bus.trim(p).await.unwrap();
    }
    assert!(in_stream(bus).await >= 2_000);
    let mut new = 0;
    for p in Partition::all(bus.partitions()) {
        new += bus
            .range(p, StreamId::ZERO, 10_000)
            .await
            .unwrap()
            .iter()
            .filter(|d| {
                d.tick
                    .as_ref()
                    .unwrap()
                    .tick
                    .event_id
                    .as_str()
                    .starts_with("sb-new")
            })
            .count();
    }
    assert_eq!(new, 2_000, "unacknowledged entries are never trimmed");
}

/// The latest ticks once calc has views of some of them: the views, and
/// the ticks after what each view counted, by the latest-tick rule; the
/// same on every backend, however it keeps them.
async fn the_latest_ticks_join_calcs_views_and_what_it_has_not_acknowledged<B: Backend>() {
    let f = plain::<B>();
    let bus = &f.bus;
    let t0 = common::now_ms() - 10_000;
    let received = Timestamp::now();
    bus.create_group("calc").await.unwrap();
    bus.append(
        &[
            tick_at("JA", "10", "ja-1", t0 + 5),
            tick_at("JB", "20", "jb-1", t0 + 5),
        ],
        received,
    )
    .await
    .unwrap();
    // calc counts both and acknowledges them.
    let mut windows: std::collections::HashMap<String, tickpulse_core::SymbolWindow> =
        Default::default();
    let settings = tickpulse_core::WindowSettings::default();
    for p in Partition::all(bus.partitions()) {
        let got = bus
            .read_group(p, "calc", "c", Read::New(SHORT), 100)
            .await
            .unwrap();
        for d in &got {
            let t = d.tick.as_ref().unwrap();
            windows
                .entry(t.tick.symbol.to_string())
                .or_default()
                .apply(t, &settings);
        }
        let views: Vec<_> = windows
            .values()
            .filter_map(|w| w.view(Timestamp::now()))
            .filter(|v| Partition::of(&v.symbol, bus.partitions()) == p)
            .collect();
        bus.write_views(&views).await.unwrap();
        bus.ack(p, "calc", &ids(&got)).await.unwrap();
    }
    // Not counted yet: JA's newer tick wins, JB's older one does not, and
    // JC has no view at all.
    bus.append(
        &[
            tick_at("JA", "11", "ja-2", t0 + 6),
            tick_at("JB", "19", "jb-2", t0 + 1),
            tick_at("JC", "30", "jc-1", t0),
            tick_at("JC", "31", "jc-2", t0 + 1),
        ],
        received,
    )
    .await
    .unwrap();
    let got: Vec<(String, String, String)> = bus
        .latest_all()
        .await
        .unwrap()
        .iter()
        .map(|l| {
            (
                l.symbol().to_string(),
                l.tick.tick.event_id.as_str().to_owned(),
                l.first_price.to_string(),
            )
        })
        .collect();
    let want = [
        ("JA", "ja-2", "10"),
        ("JB", "jb-1", "20"),
        ("JC", "jc-2", "30"),
    ]
    .map(|(s, e, p)| (s.to_owned(), e.to_owned(), p.to_owned()));
    assert_eq!(got, want);
}
