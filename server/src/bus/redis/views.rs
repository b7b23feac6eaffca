//! The compacted views, leases, heartbeats and the update channel on Redis.

use super::*;
use crate::bus::policy::Latest;
use crate::bus::Group;

/// Ticks read per call while catching up on calc's views.
const CATCH_UP_PAGE: usize = 2_000;

impl RedisBus {
    /// The stored views of one partition.
    async fn views_of(&self, keys: &keys::PartKeys) -> Result<Vec<View>, BusError> {
        let mut conn = self.conn().await?;
        let all: HashMap<String, String> = self.bounded(conn.hgetall(&keys.views)).await?;
        all.values()
            .map(|j| serde_json::from_str(j).map_err(|e| corrupt("view", e)))
            .collect()
    }

    /// The keys of `symbol`'s partition.
    fn part_of(&self, symbol: &Symbol) -> &keys::PartKeys {
        &self.parts[Partition::of(symbol, self.parts.len() as u16).index()]
    }

    /// Stores `views` (all of one partition) and publishes them, in one
    /// transaction: two commands, whatever the number of views.
    async fn write_part(&self, keys: &keys::PartKeys, views: &[&View]) -> Result<(), BusError> {
        let mut hset = redis::cmd("HSET");
        hset.arg(&keys.views);
        let mut all = String::with_capacity(views.len() * 256 + 2);
        all.push('[');
        for (i, view) in views.iter().enumerate() {
            let json = serde_json::to_string(view).map_err(|e| corrupt("view", e))?;
            hset.arg(view.symbol.as_str()).arg(&json);
            if i > 0 {
                all.push(',');
            }
            all.push_str(&json);
        }
        all.push(']');
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.add_command(hset).ignore();
        pipe.cmd(self.conns.publish_command())
            .arg(&keys.views_channel)
            .arg(all)
            .ignore();
        let mut conn = self.conn().await?;
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }
}

#[async_trait]
impl Views for RedisBus {
    /// Per partition: calc's position, then its views, then the ticks from
    /// that position on (see [`Latest`]). Reading the position first keeps
    /// this exact: views written meanwhile only include more, and the ticks
    /// they include are skipped.
    async fn latest_all(&self) -> Result<Vec<LatestTick>, BusError> {
        let mut all = Vec::new();
        for p in Partition::all(self.partitions()) {
            let mut from = self
                .first_unacknowledged_tick(p, Group::Calc.name())
                .await?;
            let mut latest = Latest::from_views(self.views_of(&self.parts[p.index()]).await?);
            loop {
                let page = self.range(p, from, CATCH_UP_PAGE).await?;
                for tick in page.iter().filter_map(|d| d.tick.as_ref().ok()) {
                    latest.add(tick);
                }
                match page.last() {
                    Some(last) if page.len() == CATCH_UP_PAGE => from = last.id.next(),
                    _ => break,
                }
            }
            all.extend(latest.into_ticks());
        }
        all.sort_by(|a, b| a.symbol().cmp(b.symbol()));
        Ok(all)
    }

    async fn write_views(&self, views: &[View]) -> Result<(), BusError> {
        let mut parts: HashMap<usize, Vec<&View>> = HashMap::new();
        for view in views {
            let p = Partition::of(&view.symbol, self.parts.len() as u16);
            parts.entry(p.index()).or_default().push(view);
        }
        futures::future::try_join_all(
            parts
                .iter()
                .map(|(p, views)| self.write_part(&self.parts[*p], views)),
        )
        .await?;
        Ok(())
    }

    async fn view(&self, symbol: &Symbol) -> Result<Option<View>, BusError> {
        let mut conn = self.conn().await?;
        let json: Option<String> = self
            .bounded(conn.hget(&self.part_of(symbol).views, symbol.as_str()))
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| corrupt("view", e)))
            .transpose()
    }

    async fn views(&self) -> Result<Vec<View>, BusError> {
        let mut out = Vec::new();
        for keys in &self.parts {
            out.extend(self.views_of(keys).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Coordination for RedisBus {
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, BusError> {
        let mut conn = self.conn().await?;
        let mut inv = self.lease.key(self.key(&format!("lease:{name}")));
        inv.arg(holder).arg(ttl.as_millis().max(1) as u64);
        let held: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(held == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let mut inv = self.release.key(self.key(&format!("lease:{name}")));
        inv.arg(holder);
        let _: i64 = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn heartbeat(&self, node: &str, beat: &str, ttl: Duration) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let until = Timestamp::now().as_millis().max(0) as u64 + ttl_ms;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(self.key("{nodes}beats"), node, beat)
            .ignore()
            .zadd(self.key("{nodes}until"), node, until)
            .ignore();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    async fn heartbeats(&self) -> Result<Vec<(String, String)>, BusError> {
        let mut conn = self.conn().await?;
        let (beats, until) = (self.key("{nodes}beats"), self.key("{nodes}until"));
        let now = Timestamp::now().as_millis().max(0) as u64;
        // Nodes whose beat expired are dropped as they are found.
        let expired: Vec<String> = self
            .bounded(conn.zrangebyscore(&until, "-inf", format!("({now}")))
            .await?;
        if !expired.is_empty() {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hdel(&beats, &expired)
                .ignore()
                .zrem(&until, &expired)
                .ignore();
            self.bounded(pipe.query_async::<()>(&mut conn)).await?;
        }
        let mut all: Vec<(String, String)> = self.bounded(conn.hgetall(&beats)).await?;
        all.retain(|(node, _)| !expired.contains(node));
        all.sort();
        Ok(all)
    }
}

#[async_trait]
impl UpdateChannel for RedisBus {
    async fn subscribe(&self) -> Result<Updates, BusError> {
        self.check().await?;
        // Per channel, what its messages are.
        #[derive(Clone, Copy)]
        enum Carries {
            Ticks,
            Views,
            Topic(Topic),
        }
        let mut channels: HashMap<String, Carries> = HashMap::new();
        for keys in &self.parts {
            channels.insert(keys.updates.clone(), Carries::Ticks);
            channels.insert(keys.views_channel.clone(), Carries::Views);
        }
        for topic in Topic::ALL {
            channels.insert(self.topic_channel(topic), Carries::Topic(topic));
        }
        let messages = self
            .conns
            .subscribe(channels.keys().cloned().collect())
            .await?;
        let stream = messages.filter_map(move |(channel, payload)| {
            let decoded = match channels.get(&channel) {
                Some(Carries::Ticks) => decode_update(&payload).map(Published::Ticks),
                Some(Carries::Views) => decode_views(&payload).map(Published::Views),
                Some(Carries::Topic(topic)) => String::from_utf8(payload)
                    .map(|json| topic.message(json))
                    .map_err(|e| e.to_string()),
                None => Err(format!("a message on an unknown channel {channel:?}")),
            };
            std::future::ready(
                decoded
                    .map_err(|e| tracing::error!(error = %e, "unreadable update message skipped"))
                    .ok(),
            )
        });
        Ok(stream.boxed())
    }

    async fn publish(&self, topic: Topic, json: &str) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        self.bounded(
            redis::cmd(self.conns.publish_command())
                .arg(self.topic_channel(topic))
                .arg(json)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn().await?;
        let _: String = self.bounded(conn.ping()).await?;
        Ok(())
    }
}

impl RedisBus {
    /// The channel of `topic` (`realtime:<name>`).
    fn topic_channel(&self, topic: Topic) -> String {
        self.key(&format!("realtime:{}", topic.name()))
    }
}
