//! Conflation a client asked for: of each symbol, only its latest tick
//! and its latest view are held, and what is held is sent once per
//! interval, each with `skipped`, the number of the symbol's updates of
//! that kind it replaces.
//!
//! # Positions
//! A conflated tick's position must still promise that every tick of the
//! client's symbols up to it was sent or replaced by a later one that was.
//! So the held ticks go out in stream order per partition, and each moves
//! the position of its partition only to its own id, except the last of
//! the partition, which moves it to the furthest id the feed has seen
//! there; partitions with nothing held move to the furthest id at once. A
//! client that reconnects from any of these positions is replayed every
//! tick it did not get the latest price from.

use super::encoder::{texts, Encoder};
use super::Frame;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tickpulse_core::{Cursor, Partition, StreamId, Symbol};
use tokio::time::{Interval, MissedTickBehavior};

pub struct Conflation {
    interval: Duration,
    timer: Interval,
    ticks: HashMap<Symbol, Held>,
    views: HashMap<Symbol, Held>,
    /// The position the client was last told.
    reported: Cursor,
}

/// The latest update of one symbol, and how many it replaced.
struct Held {
    partition: Partition,
    id: StreamId,
    json: Bytes,
    skipped: u64,
}

impl Conflation {
    pub fn new(interval: Duration, cursor: &Cursor) -> Self {
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            interval,
            timer,
            ticks: HashMap::new(),
            views: HashMap::new(),
            reported: cursor.clone(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Resolves when something is held and the interval is up; never
    /// without conflation or with nothing held.
    pub async fn due(conflation: &mut Option<Self>) {
        match conflation {
            Some(c) if !c.ticks.is_empty() || !c.views.is_empty() => {
                c.timer.tick().await;
            }
            _ => std::future::pending().await,
        }
    }

    pub fn hold_tick(&mut self, f: &Frame) {
        hold(&mut self.ticks, f);
    }

    pub fn hold_view(&mut self, f: &Frame) {
        hold(&mut self.views, f);
    }

    /// Forgets what is held: the client got a snapshot standing at
    /// `cursor`, or resumes from it.
    pub fn reset(&mut self, cursor: &Cursor) {
        self.ticks.clear();
        self.views.clear();
        self.reported = cursor.clone();
    }

    /// Forgets what is held of symbols outside `filter`.
    pub fn retain(&mut self, filter: Option<&HashSet<Symbol>>) {
        let keep = |s: &Symbol, _: &mut Held| filter.is_none_or(|f| f.contains(s));
        self.ticks.retain(keep);
        self.views.retain(keep);
    }

    /// Sends what is held (see the module docs); `seen` is the furthest
    /// the feed has seen in each partition.
    pub fn flush(&mut self, seen: &Cursor, enc: &mut impl Encoder) {
        let mut ticks: Vec<Held> = self.ticks.drain().map(|(_, h)| h).collect();
        ticks.sort_unstable_by_key(|h| (h.partition, h.id));
        let held: HashSet<Partition> = ticks.iter().map(|h| h.partition).collect();
        for (p, id) in seen.iter() {
            if !held.contains(&p) {
                self.reported.advance(p, id);
            }
        }
        for (i, h) in ticks.iter().enumerate() {
            let last = ticks.get(i + 1).is_none_or(|n| n.partition != h.partition);
            self.reported
                .advance(h.partition, if last { seen.get(h.partition) } else { h.id });
            enc.tick(&texts(&self.reported), &h.json, Some(h.skipped));
        }
        let mut views: Vec<Held> = self.views.drain().map(|(_, h)| h).collect();
        views.sort_unstable_by_key(|h| (h.partition, h.id));
        for h in views {
            enc.event("view", &h.json, Some(h.skipped));
        }
    }
}

fn hold(map: &mut HashMap<Symbol, Held>, f: &Frame) {
    match map.get_mut(&f.symbol) {
        Some(h) => {
            h.skipped += 1;
            h.id = f.id;
            h.json = f.json.clone();
        }
        None => {
            map.insert(
                f.symbol.clone(),
                Held {
                    partition: f.partition,
                    id: f.id,
                    json: f.json.clone(),
                    skipped: 0,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Appended;
    use crate::pipeline::gateway::{frames, Kind};

    /// Events as text: `tick <position> <json> <skipped>`.
    #[derive(Default)]
    struct Written(Vec<String>);

    impl Encoder for Written {
        fn tick(&mut self, position: &[Bytes], json: &[u8], skipped: Option<u64>) {
            let position: Vec<&str> = position
                .iter()
                .map(|p| std::str::from_utf8(p).unwrap())
                .collect();
            self.0.push(format!(
                "tick {} {} {}",
                position.join(","),
                std::str::from_utf8(json).unwrap(),
                skipped.unwrap()
            ));
        }
        fn event(&mut self, name: &'static str, json: &[u8], skipped: Option<u64>) {
            self.0.push(format!(
                "{name} {} {}",
                std::str::from_utf8(json).unwrap(),
                skipped.unwrap()
            ));
        }
        fn snapshot(&mut self, _: bool, _: Option<&Cursor>, _: &[u8]) {
            unreachable!()
        }
        fn keepalive(&mut self) {}
        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    fn frame(kind: Kind, symbol: &str, millis: u64, partitions: u16) -> Frame {
        frames(
            kind,
            vec![Appended {
                id: StreamId::new(millis, 0),
                symbol: Symbol::new(symbol),
                json: format!("{symbol}@{millis}"),
            }],
            partitions,
        )
        .pop()
        .unwrap()
    }

    #[tokio::test]
    async fn the_latest_of_each_symbol_goes_out_with_what_it_replaced() {
        let mut seen = Cursor::start(1);
        let mut c = Conflation::new(Duration::from_millis(250), &seen);
        for (symbol, millis) in [("A", 1), ("B", 2), ("A", 3), ("A", 4), ("C", 5)] {
            let f = frame(Kind::Tick, symbol, millis, 1);
            seen.advance(f.partition, f.id);
            c.hold_tick(&f);
        }
        c.hold_view(&frame(Kind::View, "A", 3, 1));
        c.hold_view(&frame(Kind::View, "A", 4, 1));
        c.retain(Some(
            &[Symbol::new("A"), Symbol::new("B")].into_iter().collect(),
        ));
        let mut out = Written::default();
        c.flush(&seen, &mut out);
        // B (2) then A (4): A's position is the furthest seen (C's tick at
        // 5 is no longer wanted).
        assert_eq!(out.0, ["tick 2-0 B@2 0", "tick 5-0 A@4 2", "view A@4 1"]);
        let mut again = Written::default();
        c.flush(&seen, &mut again);
        assert!(again.is_empty(), "nothing held, nothing sent");
    }

    #[tokio::test]
    async fn positions_never_pass_a_held_tick_of_another_partition() {
        // Find symbols of partitions 0 and 1 of 2.
        let of = |p: u16| {
            (0..)
                .map(|i| format!("S{i}"))
                .find(|s| Partition::of(&Symbol::new(s), 2) == Partition(p))
                .unwrap()
        };
        let (a, b) = (of(0), of(1));
        let mut seen = Cursor::start(2);
        let mut c = Conflation::new(Duration::from_millis(250), &seen);
        for (symbol, millis) in [(&a, 10), (&b, 11), (&a, 12), (&b, 13)] {
            let f = frame(Kind::Tick, symbol, millis, 2);
            seen.advance(f.partition, f.id);
            c.hold_tick(&f);
        }
        // Partition 1 has seen further than its held tick.
        seen.advance(Partition(1), StreamId::new(20, 0));
        let mut out = Written::default();
        c.flush(&seen, &mut out);
        assert_eq!(
            out.0,
            [
                format!("tick 12-0,0-0 {a}@12 1"),
                format!("tick 12-0,20-0 {b}@13 1")
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn it_is_due_once_per_interval_and_only_with_something_held() {
        let seen = Cursor::start(1);
        let mut c = Some(Conflation::new(Duration::from_millis(250), &seen));
        let start = tokio::time::Instant::now();
        let idle = tokio::time::timeout(Duration::from_secs(5), Conflation::due(&mut c)).await;
        assert!(idle.is_err(), "nothing held: never due");
        c.as_mut().unwrap().hold_tick(&frame(Kind::Tick, "A", 1, 1));
        Conflation::due(&mut c).await;
        c.as_mut().unwrap().flush(&seen, &mut Written::default());
        c.as_mut().unwrap().hold_tick(&frame(Kind::Tick, "A", 2, 1));
        let before = tokio::time::Instant::now();
        Conflation::due(&mut c).await;
        assert_eq!(
            tokio::time::Instant::now() - before,
            Duration::from_millis(250)
        );
        assert!(tokio::time::Instant::now() - start >= Duration::from_secs(5));
        let mut none = None;
        assert!(
            tokio::time::timeout(Duration::from_secs(1), Conflation::due(&mut none))
                .await
                .is_err()
        );
    }
}
