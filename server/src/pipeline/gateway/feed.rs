//! One live client's feed of the gateway, whatever its door: which symbols
//! it follows, where it stands in each partition, the snapshot it starts
//! from or the ticks it missed, and the conflation it asked for. The door
//! ([`super::sse`], [`super::ws`]) writes the feed's events in its own
//! framing through an [`Encoder`].
//!
//! # Promises
//! - **No gap, no repeat.** The feed subscribes to the gateway before it
//!   reads a snapshot or the stream, and drops ticks the snapshot already
//!   holds, so nothing falls in between.
//! - **Resume.** A tick's position is where the client stands in each
//!   partition of the tick stream (see [`tickpulse_core::Cursor`]). From a
//!   position, each partition holding some of the client's symbols replays
//!   the ticks after it, in order, then live ticks follow. When a partition
//!   no longer holds everything after it (or the position is of another
//!   number of partitions), a `snapshot` with `"reset": true` comes
//!   instead.
//! - **Bounded.** A client that falls behind the ring gets a fresh
//!   `snapshot` with `"reset": true` in place of what it missed.
//! - **Order.** A symbol's ticks come in the order they were accepted.
//!   Ticks of symbols in different partitions have no order between them.
//! - **Conflation** (on request): at most one tick and one view per symbol
//!   per interval, always the latest, with the number it stands for (see
//!   [`super::conflate`]).

use super::conflate::Conflation;
use super::encoder::{texts, Encoder};
use super::start::{holds_some, replayable, snapshot};
use super::{frames, Frame, Gateway, Kind, Update, WatchlistChange};
use crate::bus::{Appended, Bus};
use crate::error::ApiError;
use crate::platform::prometheus::Metrics;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::{Cursor, Partition, StreamId, Symbol};
use tokio::sync::{broadcast, watch};

/// Ticks read from the stream per replayed chunk (about 130 KB of frames:
/// what a resuming client holds at a time).
const REPLAY_PAGE: usize = 500;

/// What a feed heard while it waited.
pub enum Heard {
    /// A replay is under way: its next page.
    Replay,
    Update(Result<Update, broadcast::error::RecvError>),
    Change(Result<Arc<WatchlistChange>, broadcast::error::RecvError>),
    /// The conflation interval is up.
    Flush,
    KeepAlive,
    /// The server stops, or the followed list is gone.
    End,
}

/// A followed watchlist: whose, which, and where its changes arrive.
pub struct Following {
    user: String,
    id: i64,
    rx: broadcast::Receiver<Arc<WatchlistChange>>,
}

impl Following {
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl Gateway {
    /// Starts hearing the changes of `user`'s list `id`: call it before the
    /// list is read, so no change falls in between.
    pub fn follow_list(&self, user: String, id: i64) -> Following {
        Following {
            user,
            id,
            rx: self.watchlists(),
        }
    }
}

pub struct Feed {
    rx: broadcast::Receiver<Update>,
    /// The symbols followed (`None`: all).
    filter: Option<HashSet<Symbol>>,
    /// Ticks at or before these ids are already in the last snapshot.
    after: HashMap<Symbol, StreamId>,
    bus: Arc<dyn Bus>,
    keepalive: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    /// Where this client stands in each partition: every tick of its
    /// symbols up to there was sent (or, conflating, was seen).
    cursor: Cursor,
    /// `cursor`'s stream ids as text, one per partition.
    texts: Vec<Bytes>,
    /// While resuming: the partitions still to replay, and from which id.
    replay: Vec<(Partition, StreamId)>,
    /// Per partition, live ticks up to this id were (or will be)
    /// replayed: dropped.
    replayed_to: Vec<Option<StreamId>>,
    /// The watchlist this feed follows.
    following: Option<Following>,
    /// The followed list was deleted: the feed ends after its event.
    ending: bool,
    conflation: Option<Conflation>,
}

impl Feed {
    /// A feed of `filter`'s symbols that starts with a snapshot (written to
    /// `enc`), or, from `resume`, with the ticks after it. Subscribe to the
    /// list's changes (`following`) before reading the list.
    ///
    /// # Errors
    /// The bus's failure.
    pub async fn open(
        gateway: &Gateway,
        filter: Option<HashSet<Symbol>>,
        following: Option<Following>,
        resume: Option<Cursor>,
        conflate: Option<Duration>,
        enc: &mut impl Encoder,
    ) -> Result<Self, ApiError> {
        let rx = gateway.subscribe();
        let mut feed = Self::new(
            gateway,
            rx,
            filter,
            following,
            Cursor::start(gateway.bus.partitions()),
        );
        feed.set_conflation(conflate, enc);
        feed.start(resume, enc).await?;
        Ok(feed)
    }

    /// A feed that follows nothing yet, standing at the end of every
    /// partition (a WebSocket before its first `subscribe`).
    ///
    /// # Errors
    /// The bus's failure.
    pub async fn idle(gateway: &Gateway) -> Result<Self, ApiError> {
        let rx = gateway.subscribe();
        let bus = gateway.bus.as_ref();
        let mut cursor = Cursor::start(bus.partitions());
        for p in Partition::all(bus.partitions()) {
            cursor.advance(p, bus.last_id(p).await?);
        }
        Ok(Self::new(gateway, rx, Some(HashSet::new()), None, cursor))
    }

    fn new(
        gateway: &Gateway,
        rx: broadcast::Receiver<Update>,
        filter: Option<HashSet<Symbol>>,
        following: Option<Following>,
        cursor: Cursor,
    ) -> Self {
        let mut keepalive = tokio::time::interval(gateway.keepalive);
        keepalive.reset();
        let mut feed = Self {
            rx,
            filter,
            after: HashMap::new(),
            bus: gateway.bus.clone(),
            keepalive,
            shutdown: gateway.shutdown.clone(),
            metrics: gateway.metrics.clone(),
            replayed_to: vec![None; usize::from(cursor.partitions())],
            texts: Vec::new(),
            cursor,
            replay: Vec::new(),
            following,
            ending: false,
            conflation: None,
        };
        feed.texts = texts(&feed.cursor);
        feed
    }

    /// From `resume` when every partition still holds what came after it,
    /// else from a snapshot (with `"reset": true` when a position was
    /// given: what the client holds is replaced).
    async fn start(
        &mut self,
        resume: Option<Cursor>,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        let sent = resume.is_some();
        let resume = match resume {
            Some(cursor)
                if replayable(self.bus.as_ref(), &cursor, self.filter.as_ref()).await? =>
            {
                Some(cursor)
            }
            _ => None,
        };
        match resume {
            Some(cursor) => {
                let count = self.bus.partitions();
                self.replay = Partition::all(count)
                    .filter(|p| holds_some(*p, count, self.filter.as_ref()))
                    .map(|p| (p, cursor.get(p).next()))
                    .collect();
                self.replayed_to = vec![None; usize::from(count)];
                self.after.clear();
                self.cursor = cursor;
                self.texts = texts(&self.cursor);
                if let Some(c) = self.conflation.as_mut() {
                    c.reset(&self.cursor);
                }
            }
            None => self.reset(sent, true, enc).await?,
        }
        Ok(())
    }

    /// Asks for conflation at `interval` from now on (`None`: every
    /// update). What the old interval still held goes out first (to `enc`),
    /// so a change loses no symbol's latest price.
    pub fn set_conflation(&mut self, interval: Option<Duration>, enc: &mut impl Encoder) {
        if self.conflation() == interval {
            return;
        }
        if let Some(mut old) = self.conflation.take() {
            old.flush(&self.cursor, enc);
        }
        self.conflation = interval.map(|i| Conflation::new(i, &self.cursor));
    }

    pub fn conflation(&self) -> Option<Duration> {
        self.conflation.as_ref().map(Conflation::interval)
    }

    /// The symbols followed (`None`: all).
    pub fn filter(&self) -> Option<&HashSet<Symbol>> {
        self.filter.as_ref()
    }

    /// The id of the watchlist followed.
    pub fn following(&self) -> Option<i64> {
        self.following.as_ref().map(Following::id)
    }

    /// Follows `symbols` too (`None`: every symbol), with a snapshot of the
    /// ones it gains; it stops following a list.
    ///
    /// # Errors
    /// The bus's failure.
    pub async fn add(
        &mut self,
        symbols: Option<HashSet<Symbol>>,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        self.following = None;
        let had_none = self.filter.as_ref().is_some_and(HashSet::is_empty);
        match symbols {
            None if self.filter.is_none() => Ok(()),
            None => {
                self.filter = None;
                self.reset(false, true, enc).await
            }
            Some(symbols) => {
                let gained: HashSet<Symbol> = symbols
                    .into_iter()
                    .filter(|s| self.filter.as_ref().is_some_and(|f| !f.contains(s)))
                    .collect();
                if gained.is_empty() {
                    return Ok(());
                }
                self.filter
                    .get_or_insert_with(HashSet::new)
                    .extend(gained.iter().cloned());
                if had_none {
                    self.reset(false, true, enc).await
                } else {
                    self.gain(&gained, enc).await
                }
            }
        }
    }

    /// Stops following `symbols` (`None`: everything).
    ///
    /// # Errors
    /// 400 when the feed follows every symbol and some are to be dropped:
    /// it cannot follow "all but".
    pub fn remove(&mut self, symbols: Option<&[Symbol]>) -> Result<(), ApiError> {
        match (symbols, self.filter.as_mut()) {
            (None, _) => {
                self.following = None;
                self.filter = Some(HashSet::new());
            }
            (Some(_), None) => {
                return Err(ApiError::BadParam {
                    field: "symbols",
                    message: "every symbol is followed: unsubscribe from all, then subscribe to the ones you want".into(),
                })
            }
            (Some(list), Some(filter)) => {
                if self.following.is_some() {
                    return Err(ApiError::BadParam {
                        field: "symbols",
                        message: "a watchlist is followed: change the list, or unsubscribe from all".into(),
                    });
                }
                for s in list {
                    filter.remove(s);
                }
            }
        }
        self.forget_dropped();
        Ok(())
    }

    /// Follows `filter` (and the list `following`, when given) in place of
    /// what the feed followed, from `resume` or from a fresh snapshot.
    ///
    /// # Errors
    /// The bus's failure.
    pub async fn replace(
        &mut self,
        filter: Option<HashSet<Symbol>>,
        following: Option<Following>,
        resume: Option<Cursor>,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        self.filter = filter;
        self.following = following;
        self.replay.clear();
        self.forget_dropped();
        self.start(resume, enc).await
    }

    /// Drops what conflation holds of symbols no longer followed.
    fn forget_dropped(&mut self) {
        if let Some(c) = self.conflation.as_mut() {
            c.retain(self.filter.as_ref());
        }
    }

    /// What happens next (cancel-safe: nothing heard is lost when the
    /// wait is dropped). Pass it to [`Feed::handle`].
    pub async fn wait(&mut self) -> Heard {
        if self.ending {
            return Heard::End;
        }
        if !self.replay.is_empty() {
            return Heard::Replay;
        }
        tokio::select! {
            biased;
            _ = self.shutdown.wait_for(|s| *s) => Heard::End,
            change = next_change(&mut self.following) => Heard::Change(change),
            () = Conflation::due(&mut self.conflation) => Heard::Flush,
            update = self.rx.recv() => Heard::Update(update),
            _ = self.keepalive.tick() => Heard::KeepAlive,
        }
    }

    /// Writes what `heard` brings to `enc`; `Ok(false)` when the feed ends.
    ///
    /// # Errors
    /// The bus's failure while replaying or reading a snapshot: the client
    /// should reconnect from its position.
    pub async fn handle(&mut self, heard: Heard, enc: &mut impl Encoder) -> Result<bool, ApiError> {
        match heard {
            Heard::End => return Ok(false),
            Heard::KeepAlive => enc.keepalive(),
            Heard::Flush => {
                if let Some(c) = self.conflation.as_mut() {
                    c.flush(&self.cursor, enc);
                }
            }
            Heard::Replay => {
                if let Some((p, from)) = self.replay.pop() {
                    self.replay_page(p, from, enc).await?;
                }
            }
            // Missed changes end the feed: the client reconnects and reads
            // the list afresh.
            Heard::Change(Err(_)) => return Ok(false),
            Heard::Change(Ok(change)) => self.follow(&change, enc).await?,
            Heard::Update(Ok(Update::Frames(frames))) => self.render(&frames, false, enc),
            Heard::Update(Ok(Update::Resync) | Err(broadcast::error::RecvError::Lagged(_))) => {
                if let Heard::Update(Err(broadcast::error::RecvError::Lagged(n))) = heard {
                    self.metrics.sse_skipped.inc_by(n);
                }
                self.metrics.sse_resets.inc_by(1);
                self.reset(true, true, enc).await?;
            }
            Heard::Update(Err(broadcast::error::RecvError::Closed)) => return Ok(false),
        }
        Ok(true)
    }

    /// Waits until something is written to `enc`; `Ok(false)` when the
    /// feed ends.
    ///
    /// # Errors
    /// As [`Feed::handle`].
    pub async fn next(&mut self, enc: &mut impl Encoder) -> Result<bool, ApiError> {
        loop {
            let heard = self.wait().await;
            if !self.handle(heard, enc).await? {
                return Ok(false);
            }
            if !enc.is_empty() {
                return Ok(true);
            }
        }
    }

    /// A snapshot of every symbol followed, which the client takes in place
    /// of what it holds; the feed stands where it does (`with_position`).
    async fn reset(
        &mut self,
        reset: bool,
        with_position: bool,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        let (json, after, cursor) = snapshot(
            self.bus.as_ref(),
            self.filter.as_ref(),
            reset,
            with_position,
        )
        .await?;
        self.after = after;
        self.texts = texts(&cursor);
        self.cursor = cursor;
        if let Some(c) = self.conflation.as_mut() {
            c.reset(&self.cursor);
        }
        enc.snapshot(reset, with_position.then_some(&self.cursor), &json);
        Ok(())
    }

    /// A snapshot of symbols the feed just gained (no position: resuming
    /// from it could skip ticks of the others).
    async fn gain(
        &mut self,
        gained: &HashSet<Symbol>,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        let (json, after, _) = snapshot(self.bus.as_ref(), Some(gained), false, false).await?;
        enc.snapshot(false, None, &json);
        self.after.extend(after);
        Ok(())
    }

    /// The events of a change of the followed list (nothing for another
    /// list's): the filter becomes the list's symbols; the ones it gained
    /// get a snapshot of their latest ticks.
    async fn follow(
        &mut self,
        change: &WatchlistChange,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        let Some(f) = self.following.as_ref() else {
            return Ok(());
        };
        if change.user != f.user || change.event.list.id != f.id {
            return Ok(());
        }
        let data =
            serde_json::to_vec(&change.event).map_err(|e| ApiError::Internal(e.to_string()))?;
        enc.event("watchlist", &data, None);
        if change.event.deleted {
            self.ending = true;
            return Ok(());
        }
        let now: HashSet<Symbol> = change.event.list.symbols.iter().cloned().collect();
        let gained: HashSet<Symbol> = now
            .iter()
            .filter(|s| self.filter.as_ref().is_none_or(|old| !old.contains(*s)))
            .cloned()
            .collect();
        self.filter = Some(now);
        self.forget_dropped();
        if !gained.is_empty() {
            self.gain(&gained, enc).await?;
        }
        Ok(())
    }

    /// One page of partition `p`'s replayed ticks from `from` on; the
    /// partition's replay ends with its first page that is not full.
    async fn replay_page(
        &mut self,
        p: Partition,
        from: StreamId,
        enc: &mut impl Encoder,
    ) -> Result<(), ApiError> {
        let page = self.bus.range(p, from, REPLAY_PAGE).await?;
        if let Some(last) = page.last().filter(|_| page.len() == REPLAY_PAGE) {
            self.replay.push((p, last.id.next()));
        }
        let mut items = Vec::with_capacity(page.len());
        for entry in page {
            let to = &mut self.replayed_to[p.index()];
            *to = Some(to.map_or(entry.id, |r| r.max(entry.id)));
            let Ok(tick) = entry.tick else { continue };
            items.push(Appended {
                id: tick.id,
                json: serde_json::to_string(&tick)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                symbol: tick.tick.symbol,
            });
        }
        let frames = frames(Kind::Tick, items, self.cursor.partitions());
        self.render(&frames, true, enc);
        Ok(())
    }

    /// This client's events of one update (or of a replayed page). Every
    /// tick moves the cursor, the client's or not: its position says every
    /// tick of its symbols up to there was sent.
    fn render(&mut self, frames: &[Frame], replayed: bool, enc: &mut impl Encoder) {
        for f in frames {
            let wanted = self
                .filter
                .as_ref()
                .is_none_or(|set| set.contains(&f.symbol));
            // The snapshot holds ticks, not views or stock changes: only
            // ticks can repeat it.
            if f.kind != Kind::Tick {
                if wanted {
                    match self.conflation.as_mut() {
                        Some(c) if f.kind == Kind::View => c.hold_view(f),
                        _ => enc.event(f.kind.event(), &f.json, None),
                    }
                }
                continue;
            }
            let p = f.partition.index();
            if !replayed
                && self
                    .replayed_to
                    .get(p)
                    .copied()
                    .flatten()
                    .is_some_and(|r| f.id <= r)
            {
                continue;
            }
            match self.after.get(&f.symbol) {
                Some(seen) if f.id <= *seen => continue,
                Some(_) => {
                    self.after.remove(&f.symbol);
                }
                None => {}
            }
            if f.id > self.cursor.get(f.partition) {
                self.cursor.advance(f.partition, f.id);
                if let Some(text) = self.texts.get_mut(p) {
                    *text = f.id_text.clone();
                }
            }
            if !wanted {
                continue;
            }
            match self.conflation.as_mut() {
                Some(c) => c.hold_tick(f),
                None => enc.tick(&self.texts, &f.json, None),
            }
        }
    }
}

/// The next change any user made to any list; never, without a list.
async fn next_change(
    following: &mut Option<Following>,
) -> Result<Arc<WatchlistChange>, broadcast::error::RecvError> {
    match following {
        Some(f) => f.rx.recv().await,
        None => std::future::pending().await,
    }
}
