//! [`RedisBus`]: the bus on Redis.
//!
//! # Keys (all behind the configured prefix)
//! - `ticks.received` — stream of accepted ticks in packs: one entry holds up
//!   to [`PACK_MAX`] ticks of one append in its field `ticks`, their JSON
//!   bodies (a `StreamTick` without its id) joined by newlines. Tick `k` of
//!   entry `ms-s` has the stream id `ms-(s * SLOTS + k)` (see [`tick_id`]),
//!   so tick ids stay unique and increasing, and the entry of a tick is
//!   found from its id alone. Consumer groups hand out, track and
//!   acknowledge whole entries: acknowledging any tick of an entry
//!   acknowledges the entry. Stream length, pending and lag count entries.
//! - `ticks:latest` — hash symbol → newest `StreamTick` JSON (compacted view)
//! - `ticks:latest:ts` — hash symbol → event time of that tick, sortable
//! - `ticks:first` — hash symbol → first price seen
//! - `seen:{n}` — set of the event ids appended in the n-th de-dupe window
//!   (`floor(time / DEDUPE_TTL_SECS)`), expiring two windows after it
//!   starts. One set per window (rather than one `seen:{event_id}` key per
//!   tick) replaces a command and a key with its own expiry per tick by two
//!   `SMISMEMBER` and one `SADD` per batch, and an id is still remembered
//!   for at least one window
//! - `realtime:updates` — channel; one message per stream entry (pack) an
//!   append wrote (see [`decode_update`])
//! - `views` — hash symbol → `View` JSON, written by the calc stage
//! - `realtime:views` — channel; a JSON array of the views of one calc batch
//! - `realtime:alerts` — channel; a JSON array of the monitor's alerts
//! - `lease:{name}` — holder of a lease (e.g. the active calc consumer), with a TTL
//! - `node:{id}` — a node's last heartbeat (JSON), with a TTL
//! - `ticks.dead` — dead-letter stream: entries a consumer group gave up on,
//!   with fields `source_id`, `group`, `reason` and the original fields;
//!   capped at about [`super::policy::DEAD_LETTER_CAP`] entries
//!
//! One append is one `EVALSHA` (`append.lua`): de-dupe, `XADD`, view update
//! and `PUBLISH` in a single round trip, atomically.

mod pack;

pub use self::pack::{decode_update, entry_of, tick_id, PACK_MAX, SLOTS};
use self::pack::{decode_views, entries_holding, unpack_entry, StreamEntry, Wanted};

use super::{
    Accepted, BusError, Coordination, DeadLetter, Delivered, Failure, GroupStats, Published, Read,
    StreamStats, TickStream, UpdateChannel, Updates, Views,
};
use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;
use tickpulse_core::{LatestTick, Price, StreamId, StreamTick, Symbol, Tick, Timestamp, View};

const BACKEND: &str = "redis";
/// Most entries one read asks for: at most this many packs (100,000 ticks)
/// arrive at once.
const ENTRIES_PER_READ: usize = 100;

pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    append: redis::Script,
    dead_letter: redis::Script,
    lease: redis::Script,
    release: redis::Script,
    prefix: String,
    timeout: Duration,
    dedupe_ttl_secs: u64,
    stream_retain: Duration,
    /// Average ticks per entry of the last read, to size the next one.
    ticks_per_entry: std::sync::atomic::AtomicUsize,
}

/// Settings of a [`RedisBus`].
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub timeout: Duration,
    pub dedupe_ttl_secs: u64,
    /// Acknowledged entries younger than this stay in the stream (for
    /// late readers); older ones are trimmed by [`Bus::trim`].
    pub stream_retain: Duration,
}

impl RedisBus {
    /// Prepares the bus without connecting, so the server can start (and
    /// report "not ready") while Redis is down; it connects on first use and
    /// reconnects by itself.
    ///
    /// # Errors
    /// When the URL is malformed.
    pub fn new(settings: RedisSettings) -> Result<Self, BusError> {
        let client = redis::Client::open(settings.url.as_str()).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(unavailable)?;
        Ok(Self {
            client,
            conn,
            append: redis::Script::new(include_str!("scripts/append.lua")),
            dead_letter: redis::Script::new(include_str!("scripts/dead_letter.lua")),
            // Renews the lease for its holder, or takes it when free.
            lease: redis::Script::new(
                "local cur = redis.call('GET', KEYS[1])
                 if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
                 if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
                 return 0",
            ),
            release: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            ),
            prefix: settings.prefix,
            timeout: settings.timeout,
            dedupe_ttl_secs: settings.dedupe_ttl_secs,
            stream_retain: settings.stream_retain,
            ticks_per_entry: std::sync::atomic::AtomicUsize::new(1),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs one Redis call under the configured timeout, handing back the
    /// call's own result so the caller can inspect Redis errors.
    async fn bounded_raw<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<redis::RedisResult<T>, BusError> {
        tokio::time::timeout(self.timeout, call).await.map_err(|_| {
            BusError::new(
                BACKEND,
                Failure::Timeout,
                format!("no answer within {:?}", self.timeout),
            )
        })
    }

    /// Runs one Redis call under the configured timeout.
    async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BusError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(BusError::new(
                BACKEND,
                Failure::Timeout,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }
}

fn unavailable(e: redis::RedisError) -> BusError {
    let kind = if e.is_timeout() {
        Failure::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        Failure::Unavailable
    } else if e.kind() == redis::ErrorKind::Parse {
        Failure::Corrupt
    } else {
        // The server answered with an error: the call as it stands.
        Failure::Refused
    };
    BusError::new(BACKEND, kind, e.to_string())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> BusError {
    BusError::new(BACKEND, Failure::Corrupt, format!("unreadable {what}: {e}"))
}

/// The tick as stored: a `StreamTick` without its id (Redis assigns it).
#[derive(serde::Serialize)]
struct StoredTick<'a> {
    #[serde(flatten)]
    tick: &'a Tick,
    received_at: Timestamp,
}

#[async_trait]
impl TickStream for RedisBus {
    async fn append(&self, ticks: &[Tick], received_at: Timestamp) -> Result<Accepted, BusError> {
        // The bodies, joined per chunk of PACK_MAX ticks (a chunk of new
        // ticks is appended as it is), and where each body sits in its chunk.
        let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(ticks.len().div_ceil(PACK_MAX));
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(ticks.len());
        for part in ticks.chunks(PACK_MAX) {
            let mut chunk = Vec::with_capacity(part.len() * 200);
            for (i, tick) in part.iter().enumerate() {
                if i > 0 {
                    chunk.push(b'\n');
                }
                let at = chunk.len();
                serde_json::to_writer(&mut chunk, &StoredTick { tick, received_at })
                    .map_err(|e| corrupt("tick", e))?;
                spans.push((at + 1, chunk.len() - at));
            }
            chunks.push(chunk);
        }
        // Per symbol, its ticks newest first (event time, then arrival), so
        // the script takes the first new one for the latest-tick view.
        let mut by_symbol: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut symbols: Vec<&str> = Vec::new();
        for (i, tick) in ticks.iter().enumerate() {
            let list = by_symbol.entry(tick.symbol.as_str()).or_insert_with(|| {
                symbols.push(tick.symbol.as_str());
                Vec::new()
            });
            list.push(i);
        }
        let mut inv = self.append.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(self.dedupe_ttl_secs)
            .arg(ticks.len())
            .arg(PACK_MAX)
            .arg(SLOTS)
            .arg(chunks.len());
        for chunk in &chunks {
            inv.arg(chunk.as_slice());
        }
        for tick in ticks {
            inv.arg(tick.event_id.as_str());
        }
        for symbol in symbols {
            let mut list = by_symbol.remove(symbol).unwrap_or_default();
            let first = list[0];
            list.sort_unstable_by(|a, b| (ticks[*b].ts, b).cmp(&(ticks[*a].ts, a)));
            let mut candidates = String::with_capacity(list.len() * 48);
            for i in list {
                use std::fmt::Write as _;
                let (offset, length) = spans[i];
                // The event time as `Timestamp::sortable_key` writes it.
                let _ = write!(
                    candidates,
                    "{}:{:020}:{offset}:{length};",
                    i + 1,
                    ticks[i].ts.as_nanos()
                );
            }
            inv.arg(symbol)
                .arg(ticks[first].price.to_string())
                .arg(candidates);
        }
        let mut conn = self.conn.clone();
        let flags: String = self.bounded(inv.invoke_async(&mut conn)).await?;
        if flags.len() != ticks.len() {
            return Err(corrupt(
                "append result",
                format!("{} flags for {} ticks", flags.len(), ticks.len()),
            ));
        }
        Ok(flags.bytes().map(|b| b == b'1').collect())
    }

    async fn range(&self, from: StreamId, count: usize) -> Result<Vec<Delivered>, BusError> {
        let mut conn = self.conn.clone();
        let mut out: Vec<Delivered> = Vec::new();
        // The first entry may hold ticks before `from`; they are skipped.
        let mut start = entry_of(from).to_string();
        while out.len() < count.max(1) {
            let want = self.entries_for(count.max(1) - out.len());
            let page: Vec<StreamEntry> = self
                .bounded(
                    redis::cmd("XRANGE")
                        .arg(self.key("ticks.received"))
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(want)
                        .query_async(&mut conn),
                )
                .await?;
            let Some(last) = page
                .last()
                .map(|e| String::from_utf8_lossy(&e.id).into_owned())
            else {
                break;
            };
            let full = page.len() == want;
            let wanted = Wanted {
                from,
                limit: count.max(1) - out.len(),
            };
            out.extend(self.unpack(page, 0, wanted));
            if !full {
                break;
            }
            start = format!("({last}");
        }
        out.truncate(count.max(1));
        Ok(out)
    }

    async fn create_group(&self, group: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let created: redis::RedisResult<()> = self
            .bounded_raw(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(self.key("ticks.received"))
                    .arg(group)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut conn),
            )
            .await?;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(unavailable),
        }
    }

    async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        read: Read,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(self.entries_for(count));
        let (start, wait) = match read {
            Read::New(wait) => {
                cmd.arg("BLOCK").arg(wait.as_millis().max(1) as u64);
                (">", wait)
            }
            Read::OwnPending => ("0", Duration::ZERO),
        };
        cmd.arg("STREAMS")
            .arg(self.key("ticks.received"))
            .arg(start);
        // A blocking read may legitimately take `wait`; the usual timeout
        // comes on top of it. It uses its own connection so it never holds
        // up the shared one.
        let mut conn = self
            .bounded(self.client.get_multiplexed_async_connection())
            .await?;
        let reply: Option<Vec<(String, Vec<StreamEntry>)>> =
            match tokio::time::timeout(self.timeout + wait, cmd.query_async(&mut conn)).await {
                Ok(r) => r.map_err(unavailable)?,
                Err(_) => {
                    return Err(BusError::new(
                        BACKEND,
                        Failure::Timeout,
                        "XREADGROUP timed out",
                    ))
                }
            };
        let entries: Vec<StreamEntry> = reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries)
            .collect();
        let mut entries = self.unpack(entries, 1, Wanted::ALL);
        if read == Read::OwnPending {
            self.count_deliveries(group, consumer, &mut entries).await?;
        }
        Ok(entries)
    }

    async fn claim_idle(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let mut conn = self.conn.clone();
        let (_next, entries, _deleted): (String, Vec<Option<StreamEntry>>, Vec<String>) = self
            .bounded(
                redis::cmd("XAUTOCLAIM")
                    .arg(self.key("ticks.received"))
                    .arg(group)
                    .arg(consumer)
                    .arg(min_idle.as_millis() as u64)
                    .arg("0")
                    .arg("COUNT")
                    .arg(self.entries_for(count))
                    .query_async(&mut conn),
            )
            .await?;
        let mut entries = self.unpack(entries.into_iter().flatten().collect(), 1, Wanted::ALL);
        self.count_deliveries(group, consumer, &mut entries).await?;
        Ok(entries)
    }

    async fn ack(&self, group: &str, ids: &[StreamId]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.key("ticks.received")).arg(group);
        for entry in entries_holding(ids.iter().copied()) {
            cmd.arg(entry.to_string());
        }
        let _: u64 = self.bounded(cmd.query_async(&mut conn)).await?;
        Ok(())
    }

    async fn unacknowledged(&self, group: &str, max: usize) -> Result<Vec<Delivered>, BusError> {
        let from = self
            .first_unacknowledged()
            .await?
            .and_then(|g| g.get(group).copied())
            .map_or(StreamId::ZERO, |entry| tick_id(entry, 0));
        let mut out = Vec::new();
        let mut from = from;
        while out.len() < max {
            let page = self.range(from, (max - out.len()).min(10_000)).await?;
            let Some(last) = page.last().map(|d| d.id) else {
                break;
            };
            let full = page.len() == (max - out.len()).min(10_000);
            out.extend(page);
            if !full {
                break;
            }
            from = last.next();
        }
        Ok(out)
    }

    async fn trim(&self) -> Result<u64, BusError> {
        let Some(groups) = self.first_unacknowledged().await? else {
            return Ok(0);
        };
        let keep_from = super::policy::trim_floor(groups.into_values(), self.stream_retain);
        let mut conn = self.conn.clone();
        self.bounded(
            redis::cmd("XTRIM")
                .arg(self.key("ticks.received"))
                .arg("MINID")
                .arg(keep_from.to_string())
                .query_async(&mut conn),
        )
        .await
    }

    async fn dead_letter(&self, group: &str, entries: &[DeadLetter]) -> Result<(), BusError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut inv = self.dead_letter.key(self.key("ticks.received"));
        inv.key(self.key("ticks.dead"))
            .arg(group)
            .arg(super::policy::DEAD_LETTER_CAP);
        // One copy per stream entry, with the reason given for its first tick.
        let mut done = std::collections::HashSet::new();
        for letter in entries {
            let entry = entry_of(letter.id);
            if done.insert(entry) {
                inv.arg(entry.to_string()).arg(&letter.reason);
            }
        }
        let mut conn = self.conn.clone();
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn stream_stats(&self) -> Result<StreamStats, BusError> {
        let mut conn = self.conn.clone();
        let (length, dead_letters): (u64, u64) = self
            .bounded(
                redis::pipe()
                    .cmd("XLEN")
                    .arg(self.key("ticks.received"))
                    .cmd("XLEN")
                    .arg(self.key("ticks.dead"))
                    .query_async(&mut conn),
            )
            .await?;
        let groups = self
            .groups()
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|g| GroupStats {
                name: g.name,
                pending: g.pending,
                lag: g.lag,
            })
            .collect();
        Ok(StreamStats {
            length,
            dead_letters,
            groups,
        })
    }
}

#[async_trait]
impl Views for RedisBus {
    async fn latest_all(&self) -> Result<Vec<LatestTick>, BusError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.hgetall(self.key("ticks:latest"))
            .hgetall(self.key("ticks:first"));
        let (ticks, firsts): (HashMap<String, String>, HashMap<String, String>) =
            self.bounded(pipe.query_async(&mut conn)).await?;
        let mut all = Vec::with_capacity(ticks.len());
        for (symbol, tick) in ticks {
            if let Some(first) = firsts.get(&symbol) {
                all.push(to_latest(&tick, first)?);
            }
        }
        all.sort_by(|a, b| a.symbol().cmp(b.symbol()));
        Ok(all)
    }

    async fn write_views(&self, views: &[View]) -> Result<(), BusError> {
        if views.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut all = Vec::with_capacity(views.len());
        for view in views {
            let json = serde_json::to_string(view).map_err(|e| corrupt("view", e))?;
            pipe.hset(self.key("views"), view.symbol.as_str(), &json)
                .ignore();
            all.push(json);
        }
        pipe.publish(self.key("realtime:views"), format!("[{}]", all.join(",")))
            .ignore();
        let mut conn = self.conn.clone();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    async fn view(&self, symbol: &Symbol) -> Result<Option<View>, BusError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = self
            .bounded(conn.hget(self.key("views"), symbol.as_str()))
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| corrupt("view", e)))
            .transpose()
    }

    async fn views(&self) -> Result<Vec<View>, BusError> {
        let mut conn = self.conn.clone();
        let all: HashMap<String, String> = self.bounded(conn.hgetall(self.key("views"))).await?;
        all.values()
            .map(|j| serde_json::from_str(j).map_err(|e| corrupt("view", e)))
            .collect()
    }
}

#[async_trait]
impl Coordination for RedisBus {
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, BusError> {
        let mut conn = self.conn.clone();
        let mut inv = self.lease.key(self.key(&format!("lease:{name}")));
        inv.arg(holder).arg(ttl.as_millis().max(1) as u64);
        let held: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(held == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let mut inv = self.release.key(self.key(&format!("lease:{name}")));
        inv.arg(holder);
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn heartbeat(&self, node: &str, beat: &str, ttl: Duration) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.bounded(conn.pset_ex::<_, _, ()>(self.key(&format!("node:{node}")), beat, ttl_ms))
            .await
    }

    async fn heartbeats(&self) -> Result<Vec<(String, String)>, BusError> {
        let mut conn = self.conn.clone();
        let pattern = self.key("node:*");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, page): (u64, Vec<String>) = self
                .bounded(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1_000)
                        .query_async(&mut conn),
                )
                .await?;
            keys.extend(page);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        keys.sort();
        keys.dedup();
        let beats: Vec<Option<String>> = self.bounded(conn.mget(&keys)).await?;
        let prefix = self.key("node:");
        Ok(keys
            .iter()
            .zip(beats)
            .filter_map(|(key, beat)| Some((key.strip_prefix(&prefix)?.to_owned(), beat?)))
            .collect())
    }
}

#[async_trait]
impl UpdateChannel for RedisBus {
    async fn subscribe(&self) -> Result<Updates, BusError> {
        let mut pubsub = self.bounded(self.client.get_async_pubsub()).await?;
        let views_channel = self.key("realtime:views");
        let alerts_channel = self.key("realtime:alerts");
        self.bounded(pubsub.subscribe(&[
            self.key("realtime:updates"),
            views_channel.clone(),
            alerts_channel.clone(),
        ]))
        .await?;
        let stream = pubsub.into_on_message().filter_map(move |msg| {
            let channel = msg.get_channel_name();
            let decoded = if channel == views_channel {
                decode_views(msg.get_payload_bytes()).map(Published::Views)
            } else if channel == alerts_channel {
                String::from_utf8(msg.get_payload_bytes().to_vec())
                    .map(Published::Alerts)
                    .map_err(|e| e.to_string())
            } else {
                decode_update(msg.get_payload_bytes()).map(Published::Ticks)
            };
            async move {
                decoded
                    .map_err(|e| tracing::error!(error = %e, "unreadable update message skipped"))
                    .ok()
            }
        });
        Ok(stream.boxed())
    }

    async fn publish_alerts(&self, json: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        self.bounded(conn.publish::<_, _, ()>(self.key("realtime:alerts"), json))
            .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let _: String = self.bounded(conn.ping()).await?;
        Ok(())
    }
}

impl RedisBus {
    /// The wanted ticks of `entries`, in order; learns their average size.
    fn unpack(&self, entries: Vec<StreamEntry>, deliveries: u32, wanted: Wanted) -> Vec<Delivered> {
        let mut out = Vec::new();
        let n = entries.len();
        let mut held = 0;
        for entry in entries {
            held += unpack_entry(entry, deliveries, wanted, &mut out);
        }
        if n > 0 {
            self.ticks_per_entry
                .store((held / n).max(1), std::sync::atomic::Ordering::Relaxed);
        }
        out
    }

    /// How many entries to ask for to get about `ticks` ticks, after the
    /// size of the entries read last: at least one, at most `ticks` and
    /// [`ENTRIES_PER_READ`], so a read after small entries cannot hand out
    /// `ticks` full packs.
    fn entries_for(&self, ticks: usize) -> usize {
        let per_entry = self
            .ticks_per_entry
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        (ticks / per_entry).clamp(1, ticks.clamp(1, ENTRIES_PER_READ))
    }

    /// Per consumer group, the first entry it has not acknowledged: its
    /// oldest pending entry, or the one after the last delivered. `None`
    /// when the stream does not exist yet.
    async fn first_unacknowledged(&self) -> Result<Option<HashMap<String, StreamId>>, BusError> {
        let Some(groups) = self.groups().await? else {
            return Ok(None);
        };
        let key = self.key("ticks.received");
        let mut conn = self.conn.clone();
        let mut first = HashMap::new();
        for group in groups {
            let oldest_pending = if group.pending > 0 {
                let (_, oldest, _, _): (u64, Option<String>, Option<String>, redis::Value) = self
                    .bounded(
                        redis::cmd("XPENDING")
                            .arg(&key)
                            .arg(&group.name)
                            .query_async(&mut conn),
                    )
                    .await?;
                Some(
                    oldest
                        .ok_or_else(|| corrupt("XPENDING reply", "no oldest id"))?
                        .parse()
                        .map_err(|e| corrupt("stream id", e))?,
                )
            } else {
                None
            };
            let id = super::policy::first_unacknowledged(oldest_pending, group.last_delivered);
            first.insert(group.name, id);
        }
        Ok(Some(first))
    }

    /// The consumer groups of the tick stream (`XINFO GROUPS`); `None`
    /// when the stream does not exist yet.
    async fn groups(&self) -> Result<Option<Vec<GroupInfo>>, BusError> {
        let mut conn = self.conn.clone();
        let groups: redis::RedisResult<Vec<HashMap<String, redis::Value>>> = self
            .bounded_raw(
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(self.key("ticks.received"))
                    .query_async(&mut conn),
            )
            .await?;
        let groups = match groups {
            Ok(groups) => groups,
            Err(e) if e.to_string().contains("no such key") => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        groups
            .into_iter()
            .map(|group| {
                let field = |name: &str| {
                    group
                        .get(name)
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                };
                let (Some(name), Some(pending), Some(last)) =
                    (field("name"), field("pending"), field("last-delivered-id"))
                else {
                    return Err(corrupt(
                        "XINFO GROUPS reply",
                        "missing name, pending or last-delivered-id",
                    ));
                };
                Ok(GroupInfo {
                    name,
                    pending: pending.parse().map_err(|e| corrupt("pending count", e))?,
                    last_delivered: last.parse().map_err(|e| corrupt("stream id", e))?,
                    // Redis 7 reports the lag; it is nil when it cannot tell.
                    lag: field("lag").and_then(|l| l.parse().ok()),
                })
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// Fills in how often each entry was delivered to `group`, from
    /// `XPENDING` over the entries' range for `consumer` (who holds them now).
    async fn count_deliveries(
        &self,
        group: &str,
        consumer: &str,
        entries: &mut [Delivered],
    ) -> Result<(), BusError> {
        let (Some(first), Some(last)) = (
            entries.iter().map(|e| entry_of(e.id)).min(),
            entries.iter().map(|e| entry_of(e.id)).max(),
        ) else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let pending: Vec<(String, String, u64, u64)> = self
            .bounded(
                redis::cmd("XPENDING")
                    .arg(self.key("ticks.received"))
                    .arg(group)
                    .arg(first.to_string())
                    .arg(last.to_string())
                    .arg(entries.len() * 2 + 1_000)
                    .arg(consumer)
                    .query_async(&mut conn),
            )
            .await?;
        let counts: HashMap<String, u64> = pending
            .into_iter()
            .map(|(id, _, _, count)| (id, count))
            .collect();
        for delivered in entries {
            if let Some(n) = counts.get(&entry_of(delivered.id).to_string()) {
                delivered.deliveries = u32::try_from(*n).unwrap_or(u32::MAX);
            }
        }
        Ok(())
    }
}

struct GroupInfo {
    name: String,
    pending: u64,
    last_delivered: StreamId,
    lag: Option<u64>,
}

fn to_latest(tick: &str, first: &str) -> Result<LatestTick, BusError> {
    let tick: StreamTick = serde_json::from_str(tick).map_err(|e| corrupt("latest tick", e))?;
    let first_price = Price::parse(first).map_err(|e| corrupt("first price", e))?;
    Ok(LatestTick { tick, first_price })
}
