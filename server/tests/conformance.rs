//! One conformance suite for every bus backend: each test below runs against
//! the Redis bus (on the real Redis) and against the in-process bus of the
//! embedded mode, under the same name (`redis_backend::…`,
//! `memory_backend::…`). A behaviour one backend has and the other lacks
//! fails here.

mod common;

use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{StreamId, StreamTick, Symbol, Tick, Timestamp};
use tickpulse_server::bus::redis::RedisSettings;
use tickpulse_server::bus::{
    Bus, DeadLetter, MemoryBus, MemorySettings, Published, Read, RedisBus,
};

/// A bus for one test, and whatever cleans up after it.
struct Fixture {
    bus: Arc<dyn Bus>,
    _cleanup: Option<Cleanup>,
}

trait Backend {
    fn bus(retain: Duration, dedupe_ttl: Duration) -> Fixture;
}

struct Redis;
struct Memory;

impl Backend for Redis {
    fn bus(retain: Duration, dedupe_ttl: Duration) -> Fixture {
        let prefix = format!(
            "test:conformance:{}:{}:",
            std::process::id(),
            Timestamp::now().as_nanos()
        );
        let bus = RedisBus::new(RedisSettings {
            url: common::redis_url(),
            prefix: prefix.clone(),
            timeout: Duration::from_secs(2),
            dedupe_ttl_secs: dedupe_ttl.as_secs().max(1),
            stream_retain: retain,
        })
        .unwrap();
        Fixture {
            bus: Arc::new(bus),
            _cleanup: Some(Cleanup(prefix)),
        }
    }
}

impl Backend for Memory {
    fn bus(retain: Duration, dedupe_ttl: Duration) -> Fixture {
        Fixture {
            bus: Arc::new(MemoryBus::new(MemorySettings {
                dedupe_ttl,
                stream_retain: retain,
            })),
            _cleanup: None,
        }
    }
}

/// Deletes the keys of a prefix when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::delete_keys(&common::redis_url(), &self.0);
    }
}

fn plain<B: Backend>() -> Fixture {
    B::bus(Duration::ZERO, Duration::from_secs(60))
}

fn tick_at(symbol: &str, price: &str, event_id: &str, ts_ms: i64) -> Tick {
    let mut t = common::tick(symbol, price, event_id);
    t["ts"] = ts_ms.into();
    serde_json::from_value(t).unwrap()
}

fn ticks(prefix: &str, n: usize) -> Vec<Tick> {
    (0..n)
        .map(|i| serde_json::from_value(common::tick("BUS", "1", &format!("{prefix}{i}"))).unwrap())
        .collect()
}

fn ids(entries: &[tickpulse_server::bus::Delivered]) -> Vec<StreamId> {
    entries.iter().map(|d| d.id).collect()
}

const SHORT: Duration = Duration::from_millis(10);

/// Appends `n` new ticks with event ids `{prefix}0…`, one call each: the
/// group tests below act on single ticks, and a backend may hand out the
/// ticks of one call together (the Redis bus packs them into one entry;
/// see the `redis_…` tests at the end).
async fn fill(bus: &Arc<dyn Bus>, prefix: &str, n: usize) {
    for tick in ticks(prefix, n) {
        let accepted = bus.append(&[tick], Timestamp::now()).await.unwrap();
        assert_eq!(accepted, [true], "a new tick");
    }
}

/// Up to `count` entries never delivered to `group`, for `consumer`.
async fn read_new(
    bus: &Arc<dyn Bus>,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<tickpulse_server::bus::Delivered> {
    bus.read_group(group, consumer, Read::New(SHORT), count)
        .await
        .unwrap()
}

/// Up to `count` entries pending for `consumer` of `group`, delivered again.
async fn read_own(
    bus: &Arc<dyn Bus>,
    group: &str,
    consumer: &str,
    count: usize,
) -> Vec<tickpulse_server::bus::Delivered> {
    bus.read_group(group, consumer, Read::OwnPending, count)
        .await
        .unwrap()
}

/// Entries in the stream (one per tick when appended one at a time).
async fn length(bus: &Arc<dyn Bus>) -> u64 {
    bus.stream_stats().await.unwrap().length
}

/// Ticks in the stream.
async fn in_stream(bus: &Arc<dyn Bus>) -> usize {
    bus.range(StreamId::ZERO, 10_000).await.unwrap().len()
}

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
    let all = f.bus.range(StreamId::ZERO, 100).await.unwrap();
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
    let stored = f.bus.range(StreamId::ZERO, 10).await.unwrap();
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
    f.bus.ack("persist", &ids(&read)[..1]).await.unwrap();
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
        .claim_idle("persist", "p2", Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "not idle long enough");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let claimed = f
        .bus
        .claim_idle("persist", "p2", Duration::from_millis(100), 10)
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
        bus.read_group("calc", "c1", Read::New(Duration::from_secs(10)), 10)
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
    let all = f.bus.unacknowledged("persist", 100).await.unwrap();
    assert_eq!(all.len(), 5, "no group yet: everything");
    f.bus.create_group("persist").await.unwrap();
    let read = read_new(&f.bus, "persist", "p1", 3).await;
    f.bus.ack("persist", &ids(&read)[..2]).await.unwrap();
    let left = f.bus.unacknowledged("persist", 100).await.unwrap();
    assert_eq!(ids(&left), ids(&all)[2..], "pending and undelivered");
    let capped = f.bus.unacknowledged("persist", 2).await.unwrap();
    assert_eq!(ids(&capped), ids(&all)[2..4]);
}

async fn trimming_keeps_everything_some_group_has_not_acknowledged<B: Backend>() {
    let f = plain::<B>();
    let bus = &f.bus;
    assert_eq!(bus.trim().await.unwrap(), 0, "no stream yet");
    fill(bus, "t", 10).await;
    bus.create_group("persist").await.unwrap();
    bus.create_group("calc").await.unwrap();
    let persist = read_new(&bus, "persist", "p1", 6).await;
    assert_eq!(persist.len(), 6);
    let persist_ids = ids(&persist);
    bus.ack("persist", &persist_ids[..3]).await.unwrap();
    let calc = read_new(&bus, "calc", "c1", 100).await;
    assert_eq!(calc.len(), 10);
    bus.ack("calc", &ids(&calc)).await.unwrap();

    // persist still holds entries 4–6: only 1–3 may go.
    assert_eq!(bus.trim().await.unwrap(), 3);
    assert_eq!(length(bus).await, 7);
    // Acknowledged: 4–6 may go; 7–10 were never delivered to persist and stay.
    bus.ack("persist", &persist_ids[3..]).await.unwrap();
    assert_eq!(bus.trim().await.unwrap(), 3);
    assert_eq!(length(bus).await, 4);
    assert_eq!(bus.trim().await.unwrap(), 0);
}

async fn retention_keeps_young_entries_even_when_acknowledged<B: Backend>() {
    let f = B::bus(Duration::from_secs(300), Duration::from_secs(60));
    fill(&f.bus, "r", 5).await;
    f.bus.create_group("calc").await.unwrap();
    let all = read_new(&f.bus, "calc", "c", 10).await;
    f.bus.ack("calc", &ids(&all)).await.unwrap();
    assert_eq!(f.bus.trim().await.unwrap(), 0);
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
    let all = f.bus.range(StreamId::ZERO, 10).await.unwrap();
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
    let all = f.bus.range(StreamId::ZERO, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    let from_third = f.bus.range(all[2].id, 2).await.unwrap();
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

/// An append Redis refuses records nothing, so resending it appends the ticks.
#[tokio::test]
async fn redis_a_refused_append_can_be_resent() {
    let f = Redis::bus(Duration::ZERO, Duration::from_secs(60));
    let prefix = &f._cleanup.as_ref().unwrap().0;
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stream = format!("{prefix}ticks.received");
    // A string where the stream should be: every XADD fails.
    let _: () = redis::cmd("SET")
        .arg(&stream)
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    let batch = ticks("r", 3);
    assert!(f.bus.append(&batch, Timestamp::now()).await.is_err());
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        f.bus.append(&batch, Timestamp::now()).await.unwrap(),
        [true, true, true],
        "nothing of the refused append was remembered"
    );
    assert_eq!(
        f.bus.append(&batch, Timestamp::now()).await.unwrap(),
        [false, false, false]
    );
}

/// The Redis bus packs the ticks of one append into stream entries of at
/// most `PACK_MAX` ticks; groups hand them out, and take them back, whole.
#[tokio::test]
async fn redis_an_append_is_packed_and_handed_out_whole() {
    use futures::StreamExt;
    use tickpulse_server::bus::redis::{entry_of, PACK_MAX};
    let f = Redis::bus(Duration::from_secs(60), Duration::from_secs(60));
    let bus = &f.bus;
    let mut updates = bus.subscribe().await.unwrap();
    let big = PACK_MAX * 2 + 500;
    assert_eq!(
        bus.append(&ticks("p", big), Timestamp::now())
            .await
            .unwrap(),
        vec![true; big]
    );
    assert_eq!(
        bus.append(&ticks("q", 2), Timestamp::now()).await.unwrap(),
        [true; 2]
    );
    assert_eq!(length(bus).await, 4, "three packs, then one");
    let all = bus.range(StreamId::ZERO, 10_000).await.unwrap();
    assert_eq!(all.len(), big + 2);
    assert!(ids(&all).windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert!(all.iter().all(|d| d.tick.as_ref().unwrap().id == d.id));
    let mut sizes: Vec<usize> = Vec::new();
    for pair in ids(&all).windows(2) {
        if sizes.is_empty() {
            sizes.push(1);
        }
        if entry_of(pair[0]) == entry_of(pair[1]) {
            *sizes.last_mut().unwrap() += 1;
        } else {
            sizes.push(1);
        }
    }
    assert_eq!(sizes, [PACK_MAX, PACK_MAX, 500, 2]);
    let events: Vec<String> = all
        .iter()
        .map(|d| d.tick.as_ref().unwrap().tick.event_id.to_string())
        .collect();
    assert_eq!(events[0], "p0");
    assert_eq!(events[big], "q0");
    // A range may start and end inside a pack.
    let mid = bus.range(all[PACK_MAX - 1].id, 3).await.unwrap();
    assert_eq!(ids(&mid), ids(&all)[PACK_MAX - 1..PACK_MAX + 2]);
    // One update message per pack, with the same ids as the stream.
    let mut heard = Vec::new();
    while heard.len() < all.len() {
        match tokio::time::timeout(Duration::from_secs(5), updates.next()).await {
            Ok(Some(Published::Ticks(t))) => heard.extend(t.into_iter().map(|a| a.id)),
            Ok(Some(_)) => {}
            other => panic!("update stream ended: {other:?}"),
        }
    }
    assert_eq!(heard, ids(&all));
    // The latest tick carries its stream id.
    let latest = bus.latest_all().await.unwrap();
    assert_eq!(latest[0].tick.id, all.last().unwrap().id);

    // Groups deal in whole packs.
    bus.create_group("persist").await.unwrap();
    let first = read_new(bus, "persist", "p1", 1).await;
    assert_eq!(
        ids(&first),
        ids(&all)[..PACK_MAX],
        "a read of one tick gets its whole pack"
    );
    let rest = read_new(bus, "persist", "p1", 10_000).await;
    assert_eq!(ids(&rest), ids(&all)[PACK_MAX..]);
    // Acknowledging a tick acknowledges its pack.
    bus.ack("persist", &ids(&rest)[..1]).await.unwrap();
    let pending = read_own(bus, "persist", "p1", 10_000).await;
    assert_eq!(
        ids(&pending),
        [ids(&first), ids(&rest)[PACK_MAX..].to_vec()].concat()
    );
    assert!(
        pending.iter().all(|d| d.deliveries == 2),
        "counted per pack"
    );
    // A dead letter moves the whole pack aside, once.
    let q = &pending[pending.len() - 2..];
    let letters: Vec<DeadLetter> = q
        .iter()
        .map(|d| DeadLetter {
            id: d.id,
            reason: "refused".into(),
        })
        .collect();
    bus.dead_letter("persist", &letters).await.unwrap();
    let stats = bus.stream_stats().await.unwrap();
    assert_eq!(stats.dead_letters, 1);
    assert_eq!(stats.groups[0].pending, 2, "two packs of p left");
    // New ticks among duplicates make a pack of their own, ids and all.
    let mut mixed = ticks("p", 2);
    mixed.insert(1, ticks("r", 1).remove(0));
    mixed.push(ticks("q", 1).remove(0));
    assert_eq!(
        bus.append(&mixed, Timestamp::now()).await.unwrap(),
        [false, true, false, false]
    );
    let now = bus.range(StreamId::ZERO, 10_000).await.unwrap();
    let r0 = now.last().unwrap();
    assert_eq!(r0.tick.as_ref().unwrap().tick.event_id.as_str(), "r0");
    assert_eq!(entry_of(r0.id), r0.id, "first and only tick of its pack");
    match tokio::time::timeout(Duration::from_secs(5), updates.next()).await {
        Ok(Some(Published::Ticks(t))) => {
            assert_eq!(t.iter().map(|a| a.id).collect::<Vec<_>>(), [r0.id]);
        }
        other => panic!("expected the pack of r0: {other:?}"),
    }
    let latest = bus.latest_all().await.unwrap();
    assert_eq!(latest[0].tick.id, r0.id);
    assert_eq!(latest[0].tick.tick.event_id.as_str(), "r0");
}

// ---------------------------------------------------------------------------
// The store: every test below runs against Postgres (a database of its own)
// and against SQLite (a file of its own), under the same name
// (`postgres_store::…`, `sqlite_store::…`).

use tickpulse_core::{candles, Interval};
use tickpulse_server::store::{PgStore, SqliteStore, Store};

struct StoreFixture {
    store: Arc<dyn Store>,
    _db: Option<common::TestDb>,
    dir: Option<std::path::PathBuf>,
}

impl Drop for StoreFixture {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

trait StoreBackend {
    async fn store() -> StoreFixture;
}

struct Postgres;
struct Sqlite;

impl StoreBackend for Postgres {
    async fn store() -> StoreFixture {
        let db = common::TestDb::create().await;
        let store = PgStore::new(&db.url, Duration::from_secs(5)).unwrap();
        store.migrate().await.unwrap();
        StoreFixture {
            store: Arc::new(store),
            _db: Some(db),
            dir: None,
        }
    }
}

impl StoreBackend for Sqlite {
    async fn store() -> StoreFixture {
        let dir = std::env::temp_dir().join(format!(
            "tickpulse-store-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanos()
        ));
        let store = SqliteStore::open(&dir.join("ticks.db")).await.unwrap();
        store.migrate().await.unwrap();
        StoreFixture {
            store: Arc::new(store),
            _db: None,
            dir: Some(dir),
        }
    }
}

macro_rules! store_conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres_store {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Postgres>().await;
            })*
        }
        mod sqlite_store {
            $(#[tokio::test]
            async fn $name() {
                super::$name::<super::Sqlite>().await;
            })*
        }
    };
}

store_conformance!(
    each_event_id_is_stored_once,
    prices_and_volumes_come_back_exact,
    history_is_newest_first_before_a_time,
    candles_match_the_same_computation_in_rust,
    a_migrated_store_answers,
    accounts_are_added_once_changed_and_removed,
    alerts_are_logged_and_filtered_newest_first,
);

/// A stream tick as the stream would hand it out.
fn stored(
    n: u64,
    symbol: &str,
    price: &str,
    volume: &str,
    ts_ms: i64,
    event_id: &str,
) -> StreamTick {
    serde_json::from_value(serde_json::json!({
        "id": format!("{}-{n}", 1_795_000_000_000u64 + n / 100), "symbol": symbol,
        "price": price, "volume": volume, "source": "test", "ts": ts_ms,
        "event_id": event_id, "received_at": ts_ms + 1,
    }))
    .unwrap()
}

async fn each_event_id_is_stored_once<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let batch: Vec<StreamTick> = (0..5)
        .map(|i| stored(i, "ONCE", "1", "1", t0 + i as i64, &format!("once-{i}")))
        .collect();
    assert_eq!(f.store.insert_ticks(&batch).await.unwrap(), 5);
    // Written again, with two new ones: only those count.
    let mut again = batch[2..].to_vec();
    again.push(stored(5, "ONCE", "1", "1", t0 + 5, "once-5"));
    again.push(stored(6, "ONCE", "1", "1", t0 + 6, "once-6"));
    assert_eq!(f.store.insert_ticks(&again).await.unwrap(), 2);
    assert_eq!(f.store.insert_ticks(&[]).await.unwrap(), 0);
    let asked: Vec<String> = ["once-0", "once-6", "never"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let mut found = f.store.committed(&asked).await.unwrap();
    found.sort();
    assert_eq!(found, ["once-0", "once-6"]);
    let history = f
        .store
        .history(&Symbol::new("ONCE"), Timestamp::now(), 100)
        .await
        .unwrap();
    assert_eq!(history.len(), 7);
}

async fn prices_and_volumes_come_back_exact<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let tick = stored(
        1,
        "EXACT",
        "64000.123456789012345678",
        "1.50",
        t0,
        r"exact\1",
    );
    f.store
        .insert_ticks(std::slice::from_ref(&tick))
        .await
        .unwrap();
    let back = f
        .store
        .history(&Symbol::new("EXACT"), Timestamp::now(), 1)
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].tick.price.to_string(), "64000.123456789012345678");
    assert_eq!(back[0].tick.volume.to_string(), "1.5");
    assert_eq!(back[0].tick.event_id, tick.tick.event_id);
    assert_eq!(back[0].id, tick.id);
    assert_eq!(back[0].tick.ts, tick.tick.ts);
    assert_eq!(back[0].received_at, tick.received_at);
    assert_eq!(back[0].tick.source, tick.tick.source);
}

async fn history_is_newest_first_before_a_time<B: StoreBackend>() {
    let f = B::store().await;
    let t0 = common::now_ms() - 60_000;
    let ticks: Vec<StreamTick> = (0..10)
        .map(|i| {
            stored(
                i,
                "HIST",
                "2",
                "1",
                t0 + 10 * i as i64,
                &format!("hist-{i}"),
            )
        })
        .collect();
    // Another symbol in between must not show.
    let mut all = ticks.clone();
    all.push(stored(50, "OTHER", "3", "1", t0 + 5, "other-1"));
    f.store.insert_ticks(&all).await.unwrap();
    let before = Timestamp::from_epoch_millis(t0 + 75).unwrap();
    let page = f
        .store
        .history(&Symbol::new("HIST"), before, 3)
        .await
        .unwrap();
    let got: Vec<&str> = page.iter().map(|t| t.tick.event_id.as_str()).collect();
    assert_eq!(got, ["hist-7", "hist-6", "hist-5"]);
}

async fn candles_match_the_same_computation_in_rust<B: StoreBackend>() {
    let f = B::store().await;
    let start = (common::now_ms() / 60_000 - 10) * 60_000;
    // 300 ticks over five minutes, prices up and down, some at one time.
    let ticks: Vec<StreamTick> = (0..300u64)
        .map(|i| {
            let ts = start + (i as i64 / 2) * 2_000;
            let price = format!("{}.{:02}", 100 + (i * 37 % 23), i % 100);
            let volume = format!("0.{}", 1 + i % 9);
            stored(i, "CNDL", &price, &volume, ts, &format!("cndl-{i}"))
        })
        .collect();
    f.store.insert_ticks(&ticks).await.unwrap();
    let from = Timestamp::from_epoch_millis(start).unwrap();
    let to = Timestamp::from_epoch_millis(start + 5 * 60_000).unwrap();
    for interval in [Interval::S1, Interval::M1, Interval::M5] {
        let got = f
            .store
            .candles(&Symbol::new("CNDL"), interval, from, to)
            .await
            .unwrap();
        assert_eq!(got, candles(&ticks, interval), "{interval}");
    }
    // Only [from, to): a window of the first minute.
    let first_minute = f
        .store
        .candles(
            &Symbol::new("CNDL"),
            Interval::M1,
            from,
            Timestamp::from_epoch_millis(start + 60_000).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first_minute.len(), 1);
    assert_eq!(first_minute[0].trades, 60);
}

async fn a_migrated_store_answers<B: StoreBackend>() {
    let f = B::store().await;
    f.store.ping().await.unwrap();
    // Migrating again changes nothing.
    f.store.migrate().await.unwrap();
    f.store.ping().await.unwrap();
}

async fn accounts_are_added_once_changed_and_removed<B: StoreBackend>() {
    use tickpulse_core::account::Role;
    use tickpulse_server::store::UserRecord;
    let f = B::store().await;
    let s = &f.store;
    assert_eq!(s.user_count().await.unwrap(), 0);
    let user = |name: &str, role| UserRecord {
        username: name.into(),
        password_hash: format!("$argon2id$hash-of-{name}"),
        role,
        created_at: 1_795_000_000_000,
    };
    assert!(s.add_user(&user("zoe", Role::Viewer)).await.unwrap());
    assert!(s.add_user(&user("adam", Role::Admin)).await.unwrap());
    assert!(
        !s.add_user(&user("zoe", Role::Admin)).await.unwrap(),
        "a taken name is refused and left as it was"
    );
    assert_eq!(s.user_count().await.unwrap(), 2);
    let all = s.users().await.unwrap();
    assert_eq!(all, [user("adam", Role::Admin), user("zoe", Role::Viewer)]);
    assert_eq!(
        s.user("zoe").await.unwrap(),
        Some(user("zoe", Role::Viewer))
    );
    assert_eq!(s.user("nobody").await.unwrap(), None);
    assert!(s.set_password("zoe", "$argon2id$new").await.unwrap());
    assert!(!s.set_password("nobody", "$argon2id$new").await.unwrap());
    assert_eq!(
        s.user("zoe").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(s.remove_user("zoe").await.unwrap());
    assert!(!s.remove_user("zoe").await.unwrap());
    assert_eq!(s.user_count().await.unwrap(), 1);
}

async fn alerts_are_logged_and_filtered_newest_first<B: StoreBackend>() {
    use tickpulse_core::health::{Alert, Severity};
    use tickpulse_server::store::AlertFilter;
    let f = B::store().await;
    let s = &f.store;
    let alert = |at: i64, kind: &str, subject: &str, severity| Alert {
        id: 0,
        at,
        kind: kind.into(),
        subject: subject.into(),
        severity,
        message: format!("{kind} {subject}"),
    };
    s.add_alerts(&[
        alert(1, "node.suspect", "n1", Severity::Warning),
        alert(2, "node.down", "n1", Severity::Critical),
        alert(3, "feed.stale", "sim", Severity::Warning),
    ])
    .await
    .unwrap();
    s.add_alerts(&[alert(4, "node.recovered", "n1", Severity::Info)])
        .await
        .unwrap();
    let all = s
        .alerts(&AlertFilter {
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    let at: Vec<i64> = all.iter().map(|a| a.at).collect();
    assert_eq!(at, [4, 3, 2, 1], "newest first");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "ids grow");
    assert_eq!(all[1].message, "feed.stale sim");
    let nodes = s
        .alerts(&AlertFilter {
            scope: Some("node".into()),
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(nodes.len(), 3);
    let critical = s
        .alerts(&AlertFilter {
            severity: Some(Severity::Critical),
            subject: Some("n1".into()),
            limit: 10,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(critical.len(), 1);
    assert_eq!(critical[0].kind, "node.down");
    let page = s
        .alerts(&AlertFilter {
            before_id: Some(all[1].id),
            limit: 1,
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].at, 2, "the page after the second newest");
}
