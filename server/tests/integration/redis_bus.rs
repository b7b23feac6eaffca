//! What only the Redis bus does: refused appends, and packs of up to
//! `PACK_MAX` ticks per stream entry.

use crate::common;

use common::bus::*;
use std::time::Duration;
use tickpulse_core::{StreamId, Timestamp};
use tickpulse_server::bus::{DeadLetter, Published};

/// An append Redis refuses records nothing, so resending it appends the ticks.
#[tokio::test]
async fn redis_a_refused_append_can_be_resent() {
    let f = Redis::bus(Duration::ZERO, Duration::from_secs(60));
    let Some(Cleanup::Redis(prefix)) = &f._cleanup else {
        unreachable!("a Redis fixture")
    };
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
    let all = bus.range(P0, StreamId::ZERO, 10_000).await.unwrap();
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
    let mid = bus.range(P0, all[PACK_MAX - 1].id, 3).await.unwrap();
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
    bus.ack(P0, "persist", &ids(&rest)[..1]).await.unwrap();
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
    bus.dead_letter(P0, "persist", &letters).await.unwrap();
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
    let now = bus.range(P0, StreamId::ZERO, 10_000).await.unwrap();
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

/// The bytes the Redis bus counts for its remembered ids match what Redis
/// says the sets take (`MEMORY USAGE`), and stay within the budget.
#[tokio::test]
async fn redis_remembered_ids_take_what_the_budget_counts() {
    use crate::bus_conformance::DEDUPE_BUDGET;
    let f = Redis::bus_with(Limits {
        dedupe_max_bytes: DEDUPE_BUDGET,
        ..Limits::new(Duration::ZERO, Duration::from_secs(3_600))
    });
    let Some(Cleanup::Redis(prefix)) = &f._cleanup else {
        unreachable!("a Redis fixture")
    };
    for b in 0..100 {
        let batch: Vec<_> = (0..2_000)
            .map(|i| tick_at("MEM", "1", &format!("feeder-7:{b:05}{i:07}"), 1_000))
            .collect();
        f.bus.append(&batch, Timestamp::now()).await.unwrap();
    }
    let stats = f.bus.stream_stats().await.unwrap().dedupe;
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let sets: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}seen:[0-9]*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut used = 0u64;
    for set in &sets {
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(set)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await
            .unwrap();
        used += bytes;
    }
    println!(
        "Redis: {} ids of 21 characters take {used} bytes in {} sets, {} each (counted: {} bytes)",
        stats.ids,
        sets.len(),
        used / stats.ids.max(1),
        stats.bytes
    );
    assert!(sets.len() <= 2, "{sets:?}");
    assert!(used <= DEDUPE_BUDGET, "{used} bytes over the budget");
    assert!(used <= stats.bytes, "counted {} < used {used}", stats.bytes);
    assert!(
        used >= stats.bytes / 2,
        "counted {} far over used {used}",
        stats.bytes
    );
}

/// What Redis says the stream takes (`MEMORY USAGE`) after a trim with a
/// byte budget: within the budget, and not far below it (the estimate the
/// trim makes of an entry's bytes is close).
#[tokio::test]
async fn redis_a_stream_byte_budget_holds_by_memory_usage() {
    use crate::bus_conformance::{acknowledge_all, spread_ticks, STREAM_BUDGET};
    let f = Redis::bus_with(Limits {
        stream_max_bytes: STREAM_BUDGET,
        ..Limits::new(Duration::from_secs(3_600), Duration::from_secs(3_600))
    });
    let Some(Cleanup::Redis(prefix)) = &f._cleanup else {
        unreachable!("a Redis fixture")
    };
    f.bus.create_group("calc").await.unwrap();
    // Appends of 100 ticks: packs of about 20 kB, as a busy feed sends.
    for b in 0..100 {
        f.bus
            .append(&spread_ticks(&format!("mu{b}"), 100), Timestamp::now())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    acknowledge_all(&f.bus, "calc").await;
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let usage = |conn: &mut redis::aio::MultiplexedConnection| {
        let key = format!("{prefix}ticks.received");
        let mut conn = conn.clone();
        async move {
            let bytes: u64 = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut conn)
                .await
                .unwrap();
            bytes
        }
    };
    let before = usage(&mut conn).await;
    f.bus.trim(P0).await.unwrap();
    let after = usage(&mut conn).await;
    println!("Redis: the stream took {before} bytes, {after} after a trim to {STREAM_BUDGET}");
    assert!(before > 4 * STREAM_BUDGET, "filled well past the budget");
    assert!(after <= STREAM_BUDGET, "{after} bytes over the budget");
    assert!(
        after >= STREAM_BUDGET / 2,
        "{after} bytes: trimmed far too much"
    );
}
