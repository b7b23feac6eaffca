//! The tick stream on Redis: the append script, consumer-group reads,
//! claims, acknowledgements, trimming and dead letters.

use super::*;

/// The tick as stored: a `StreamTick` without its id (Redis assigns it).
#[derive(serde::Serialize)]
struct StoredTick<'a> {
    #[serde(flatten)]
    tick: &'a Tick,
    received_at: Timestamp,
}

impl RedisBus {
    /// Adds partition `keys`' de-duplication figures to `sum` (see
    /// `append.lua`): its two sets' ids and bytes, and the span of its last
    /// full generation when shorter than the window.
    async fn add_dedupe(
        &self,
        conn: &mut Conn,
        keys: &PartKeys,
        sum: &mut crate::bus::DedupeStats,
    ) -> Result<(), BusError> {
        let gen_key = format!("{}seen:gen", keys.base);
        let (gen, bytes, prev_bytes, span): (Option<u64>, Option<u64>, Option<u64>, Option<u64>) =
            self.bounded(
                redis::cmd("HMGET")
                    .arg(&gen_key)
                    .arg("g")
                    .arg("bytes")
                    .arg("prev_bytes")
                    .arg("span")
                    .query_async(conn),
            )
            .await?;
        let Some(gen) = gen else { return Ok(()) };
        let set = |g: u64| format!("{}seen:{g}", keys.base);
        let mut pipe = redis::pipe();
        pipe.cmd("SCARD").arg(set(gen));
        pipe.cmd("SCARD").arg(set(gen.wrapping_sub(1)));
        let (current, previous): (u64, u64) = self.bounded(pipe.query_async(conn)).await?;
        sum.ids += current + previous;
        sum.bytes += bytes.unwrap_or(0) + prev_bytes.unwrap_or(0);
        if let Some(span) = span {
            sum.window = sum.window.min(Duration::from_millis(span));
        }
        Ok(())
    }

    /// Appends `ticks` (all of partition `p`) with one call of the append
    /// script; returns a flag per tick, as [`TickStream::append`].
    async fn append_part(
        &self,
        p: Partition,
        ticks: &[&Tick],
        received_at: Timestamp,
    ) -> Result<Accepted, BusError> {
        let keys = self.part(p)?;
        // The bodies, joined per chunk of PACK_MAX ticks (a chunk of new
        // ticks is appended as it is).
        let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(ticks.len().div_ceil(PACK_MAX));
        for part in ticks.chunks(PACK_MAX) {
            let mut chunk = Vec::with_capacity(part.len() * 200);
            for (i, tick) in part.iter().enumerate() {
                if i > 0 {
                    chunk.push(b'\n');
                }
                serde_json::to_writer(&mut chunk, &StoredTick { tick, received_at })
                    .map_err(|e| corrupt("tick", e))?;
            }
            chunks.push(chunk);
        }
        let mut inv = self.append.key(&keys.stream);
        inv.arg(&keys.base)
            .arg(self.dedupe_ttl_secs)
            .arg(ticks.len())
            .arg(PACK_MAX)
            .arg(SLOTS)
            .arg(chunks.len())
            .arg(self.conns.publish_command())
            .arg(self.dedupe_budget)
            .arg(BYTES_PER_ID);
        for chunk in &chunks {
            inv.arg(chunk.as_slice());
        }
        for tick in ticks {
            inv.arg(tick.event_id.as_str());
        }
        let mut conn = self.conn().await?;
        let flags: String = self.bounded(inv.invoke_async(&mut conn)).await?;
        if flags.len() != ticks.len() {
            return Err(corrupt(
                "append result",
                format!("{} flags for {} ticks", flags.len(), ticks.len()),
            ));
        }
        Ok(flags.bytes().map(|b| b == b'1').collect())
    }
}

impl RedisBus {
    /// The first entry of partition `p` to keep for its stream to take at
    /// most the byte budget: `XINFO STREAM` gives the number of entries and
    /// the first and last of them, whose sizes stand for the average pack
    /// (packs of one append rate are alike), and the entries are taken as
    /// spread evenly in time between the first and the last. An estimate:
    /// each trim measures again, so an error does not add up.
    async fn byte_floor(&self, p: Partition) -> Result<StreamId, BusError> {
        if self.stream_budget == 0 {
            return Ok(StreamId::ZERO);
        }
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let info: redis::RedisResult<HashMap<String, redis::Value>> = self
            .bounded_raw(
                redis::cmd("XINFO")
                    .arg("STREAM")
                    .arg(stream)
                    .query_async(&mut conn),
            )
            .await?;
        let Ok(mut info) = info else {
            return Ok(StreamId::ZERO); // no stream yet
        };
        let length: u64 = info
            .remove("length")
            .map(redis::from_redis_value)
            .transpose()
            .map_err(|e| corrupt("XINFO STREAM length", e))?
            .unwrap_or(0);
        let mut ends = ["first-entry", "last-entry"].map(|name| {
            let entry = info.remove(name)?;
            let entry: StreamEntry = redis::from_redis_value(entry).ok()?;
            let id: StreamId = std::str::from_utf8(&entry.id).ok()?.parse().ok()?;
            Some((id, entry.ticks.map_or(0, |t| t.len() as u64)))
        });
        let (Some((first, first_len)), Some((last, last_len))) = (ends[0].take(), ends[1].take())
        else {
            return Ok(StreamId::ZERO);
        };
        let per_entry = stream_entry_bytes((first_len + last_len) / 2);
        let held = length * per_entry;
        if held <= self.stream_budget {
            return Ok(StreamId::ZERO);
        }
        let keep = self.stream_budget / per_entry;
        let drop_share = (length - keep) as f64 / length as f64;
        let span = last.millis.saturating_sub(first.millis) as f64;
        Ok(StreamId::new(
            first.millis + (span * drop_share).round() as u64,
            0,
        ))
    }
}

#[async_trait]
impl TickStream for RedisBus {
    fn partitions(&self) -> u16 {
        self.parts.len() as u16
    }

    async fn append(&self, ticks: &[Tick], received_at: Timestamp) -> Result<Accepted, BusError> {
        let count = self.partitions();
        if count == 1 {
            let all: Vec<&Tick> = ticks.iter().collect();
            return self.append_part(Partition(0), &all, received_at).await;
        }
        // Split by partition (keeping each symbol's order), append the parts
        // at the same time, and answer only when every part is confirmed.
        let mut parts: Vec<(Vec<usize>, Vec<&Tick>)> = vec![Default::default(); count.into()];
        for (i, tick) in ticks.iter().enumerate() {
            let (at, part) = &mut parts[Partition::of(&tick.symbol, count).index()];
            at.push(i);
            part.push(tick);
        }
        let results = futures::future::try_join_all(
            parts
                .iter()
                .enumerate()
                .filter(|(_, (at, _))| !at.is_empty())
                .map(|(p, (at, part))| async move {
                    let flags = self
                        .append_part(Partition(p as u16), part, received_at)
                        .await?;
                    Ok::<_, BusError>((at, flags))
                }),
        )
        .await?;
        let mut accepted = vec![false; ticks.len()];
        for (at, flags) in results {
            for (i, flag) in at.iter().zip(flags) {
                accepted[*i] = flag;
            }
        }
        Ok(accepted)
    }

    async fn range(
        &self,
        p: Partition,
        from: StreamId,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let mut out: Vec<Delivered> = Vec::new();
        // The first entry may hold ticks before `from`; they are skipped.
        let mut start = entry_of(from).to_string();
        while out.len() < count.max(1) {
            let want = self.entries_for(count.max(1) - out.len());
            let page: Vec<StreamEntry> = self
                .bounded(
                    redis::cmd("XRANGE")
                        .arg(stream)
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

    async fn last_id(&self, p: Partition) -> Result<StreamId, BusError> {
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let last: Vec<StreamEntry> = self
            .bounded(
                redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn),
            )
            .await?;
        let mut ticks = Vec::new();
        for entry in last {
            unpack_entry(entry, 0, Wanted::ALL, &mut ticks);
        }
        Ok(ticks.iter().map(|d| d.id).max().unwrap_or(StreamId::ZERO))
    }

    async fn create_group(&self, group: &str) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        for keys in &self.parts {
            let created: redis::RedisResult<()> = self
                .bounded_raw(
                    redis::cmd("XGROUP")
                        .arg("CREATE")
                        .arg(&keys.stream)
                        .arg(group)
                        .arg("0")
                        .arg("MKSTREAM")
                        .query_async(&mut conn),
                )
                .await?;
            match created {
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                other => other.map_err(unavailable)?,
            }
        }
        Ok(())
    }

    async fn read_group(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        read: Read,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let stream = &self.part(p)?.stream;
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
        cmd.arg("STREAMS").arg(stream).arg(start);
        // A blocking read may legitimately take `wait`; the usual timeout
        // comes on top of it. It uses a connection of its own so it never
        // holds up the shared one.
        self.check().await?;
        let mut conn = self.conns.dedicated().await?;
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
        self.conns.give_back(conn);
        let entries: Vec<StreamEntry> = reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries)
            .collect();
        let mut entries = self.unpack(entries, 1, Wanted::ALL);
        if read == Read::OwnPending {
            self.count_deliveries(p, group, consumer, &mut entries)
                .await?;
        }
        Ok(entries)
    }

    async fn claim_idle(
        &self,
        p: Partition,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let (_next, entries, _deleted): (String, Vec<Option<StreamEntry>>, Vec<String>) = self
            .bounded(
                redis::cmd("XAUTOCLAIM")
                    .arg(stream)
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
        self.count_deliveries(p, group, consumer, &mut entries)
            .await?;
        Ok(entries)
    }

    async fn ack(&self, p: Partition, group: &str, ids: &[StreamId]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let stream = &self.part(p)?.stream;
        let mut conn = self.conn().await?;
        let mut cmd = redis::cmd("XACK");
        cmd.arg(stream).arg(group);
        for entry in entries_holding(ids.iter().copied()) {
            cmd.arg(entry.to_string());
        }
        let _: u64 = self.bounded(cmd.query_async(&mut conn)).await?;
        Ok(())
    }

    async fn unacknowledged(
        &self,
        p: Partition,
        group: &str,
        max: usize,
    ) -> Result<Vec<Delivered>, BusError> {
        let mut from = self.first_unacknowledged_tick(p, group).await?;
        let mut out = Vec::new();
        while out.len() < max {
            let page = self.range(p, from, (max - out.len()).min(10_000)).await?;
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

    async fn trim(&self, p: Partition) -> Result<u64, BusError> {
        let stream = &self.part(p)?.stream;
        let Some(groups) = self.first_unacknowledged(p, None).await? else {
            return Ok(0);
        };
        let byte_floor = self.byte_floor(p).await?;
        let keep_from =
            crate::bus::policy::trim_floor(groups.into_values(), self.stream_retain, byte_floor);
        let mut conn = self.conn().await?;
        self.bounded(
            redis::cmd("XTRIM")
                .arg(stream)
                .arg("MINID")
                .arg(keep_from.to_string())
                .query_async(&mut conn),
        )
        .await
    }

    async fn dead_letter(
        &self,
        p: Partition,
        group: &str,
        entries: &[DeadLetter],
    ) -> Result<(), BusError> {
        if entries.is_empty() {
            return Ok(());
        }
        let keys = self.part(p)?;
        let mut inv = self.dead_letter.key(&keys.stream);
        inv.key(&keys.dead)
            .arg(group)
            .arg(crate::bus::policy::DEAD_LETTER_CAP);
        // One copy per stream entry, with the reason given for its first tick.
        let mut done = std::collections::HashSet::new();
        for letter in entries {
            let entry = entry_of(letter.id);
            if done.insert(entry) {
                inv.arg(entry.to_string()).arg(&letter.reason);
            }
        }
        let mut conn = self.conn().await?;
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn stream_stats(&self) -> Result<StreamStats, BusError> {
        let mut conn = self.conn().await?;
        let mut stats = StreamStats::default();
        let ttl = Duration::from_secs(self.dedupe_ttl_secs);
        stats.dedupe.ttl = ttl;
        stats.dedupe.window = ttl;
        stats.dedupe.budget = (self.dedupe_max_bytes > 0).then_some(self.dedupe_max_bytes);
        for (p, keys) in self.parts.iter().enumerate() {
            let (length, dead_letters): (u64, u64) = self
                .bounded(
                    redis::pipe()
                        .cmd("XLEN")
                        .arg(&keys.stream)
                        .cmd("XLEN")
                        .arg(&keys.dead)
                        .query_async(&mut conn),
                )
                .await?;
            stats.length += length;
            stats.dead_letters += dead_letters;
            self.add_dedupe(&mut conn, keys, &mut stats.dedupe).await?;
            for g in self.groups(Partition(p as u16)).await?.unwrap_or_default() {
                match stats.groups.iter_mut().find(|s| s.name == g.name) {
                    Some(sum) => {
                        sum.pending += g.pending;
                        sum.lag = sum.lag.zip(g.lag).map(|(a, b)| a + b);
                    }
                    None => stats.groups.push(GroupStats {
                        name: g.name,
                        pending: g.pending,
                        lag: g.lag,
                    }),
                }
            }
        }
        Ok(stats)
    }
}
