//! The Redis bus on its own, against the real Redis: consumer groups,
//! trimming only what every group acknowledged, and leases.

mod common;

use std::time::Duration;
use tickpulse_core::{StreamId, Tick, Timestamp};
use tickpulse_server::bus::redis::RedisSettings;
use tickpulse_server::bus::{Bus, Read, RedisBus};

fn bus(prefix: &str, retain: Duration) -> RedisBus {
    RedisBus::new(RedisSettings {
        url: common::redis_url(),
        prefix: prefix.into(),
        timeout: Duration::from_secs(2),
        dedupe_ttl_secs: 60,
        stream_retain: retain,
    })
    .unwrap()
}

fn ticks(n: usize) -> Vec<Tick> {
    (0..n)
        .map(|i| serde_json::from_value(common::tick("BUS", "1", &format!("b{i}"))).unwrap())
        .collect()
}

/// Deletes the keys of `prefix` when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::delete_keys(&common::redis_url(), &self.0);
    }
}

fn xlen(prefix: &str) -> usize {
    let mut conn = redis::Client::open(common::redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("XLEN")
        .arg(format!("{prefix}ticks.received"))
        .query(&mut conn)
        .unwrap()
}

#[tokio::test]
async fn trimming_keeps_everything_some_group_has_not_acknowledged() {
    let prefix = format!(
        "test:bus:{}:{}:",
        std::process::id(),
        Timestamp::now().as_nanos()
    );
    let _cleanup = Cleanup(prefix.clone());
    let bus = bus(&prefix, Duration::ZERO);
    assert_eq!(bus.trim().await.unwrap(), 0, "no stream yet");
    assert_eq!(
        bus.append(&ticks(10), Timestamp::now()).await.unwrap(),
        vec![true; 10]
    );
    bus.create_group("persist").await.unwrap();
    bus.create_group("calc").await.unwrap();
    bus.create_group("calc").await.unwrap(); // idempotent

    let persist = bus
        .read_group("persist", "p1", Read::New(Duration::from_millis(10)), 6)
        .await
        .unwrap();
    assert_eq!(persist.len(), 6);
    let ids: Vec<StreamId> = persist.iter().map(|d| d.id).collect();
    bus.ack("persist", &ids[..3]).await.unwrap();
    let calc = bus
        .read_group("calc", "c1", Read::New(Duration::from_millis(10)), 100)
        .await
        .unwrap();
    assert_eq!(calc.len(), 10);
    bus.ack("calc", &calc.iter().map(|d| d.id).collect::<Vec<_>>())
        .await
        .unwrap();

    // persist still holds entries 4–6: only 1–3 may go.
    assert_eq!(bus.trim().await.unwrap(), 3);
    assert_eq!(xlen(&prefix), 7);
    // After a restart the consumer sees its pending entries again.
    let pending = bus
        .read_group("persist", "p1", Read::OwnPending, 100)
        .await
        .unwrap();
    assert_eq!(pending.iter().map(|d| d.id).collect::<Vec<_>>(), ids[3..]);

    // Acknowledged: 4–6 may go; 7–10 were never delivered to persist and stay.
    bus.ack("persist", &ids[3..]).await.unwrap();
    assert_eq!(bus.trim().await.unwrap(), 3);
    assert_eq!(xlen(&prefix), 4);

    // A consumer that died holding entries: another takes them over.
    let held = bus
        .read_group("persist", "dead", Read::New(Duration::from_millis(10)), 2)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let claimed = bus
        .claim_idle("persist", "p2", Duration::from_millis(20), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        held.iter().map(|d| d.id).collect::<Vec<_>>()
    );
    assert!(claimed.iter().all(|d| d.tick.is_ok()));
}

#[tokio::test]
async fn retention_keeps_young_entries_even_when_acknowledged() {
    let prefix = format!(
        "test:bus:{}:{}:",
        std::process::id(),
        Timestamp::now().as_nanos()
    );
    let _cleanup = Cleanup(prefix.clone());
    let bus = bus(&prefix, Duration::from_secs(300));
    bus.append(&ticks(5), Timestamp::now()).await.unwrap();
    bus.create_group("calc").await.unwrap();
    let all = bus
        .read_group("calc", "c", Read::New(Duration::from_millis(10)), 10)
        .await
        .unwrap();
    bus.ack("calc", &all.iter().map(|d| d.id).collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(bus.trim().await.unwrap(), 0);
    assert_eq!(xlen(&prefix), 5);
}

#[tokio::test]
async fn a_lease_has_one_holder_until_released_or_expired() {
    let prefix = format!(
        "test:bus:{}:{}:",
        std::process::id(),
        Timestamp::now().as_nanos()
    );
    let _cleanup = Cleanup(prefix.clone());
    let bus = bus(&prefix, Duration::ZERO);
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
