//! The compacted views, leases, heartbeats and the update channel on Redis.

use super::*;

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
        // One HSET of every view and one PUBLISH of them all, in one
        // transaction: two commands per calc batch, whatever its size.
        let mut hset = redis::cmd("HSET");
        hset.arg(self.key("views"));
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
        pipe.publish(self.key("realtime:views"), all).ignore();
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
        let topics: Vec<(String, Topic)> = Topic::ALL
            .iter()
            .map(|t| (self.key(&format!("realtime:{}", t.name())), *t))
            .collect();
        let mut channels = vec![self.key("realtime:updates"), views_channel.clone()];
        channels.extend(topics.iter().map(|(c, _)| c.clone()));
        self.bounded(pubsub.subscribe(&channels)).await?;
        let stream = pubsub.into_on_message().filter_map(move |msg| {
            let channel = msg.get_channel_name();
            let topic = topics.iter().find(|(c, _)| c == channel).map(|(_, t)| *t);
            let decoded = if channel == views_channel {
                decode_views(msg.get_payload_bytes()).map(Published::Views)
            } else if let Some(topic) = topic {
                String::from_utf8(msg.get_payload_bytes().to_vec())
                    .map(|json| topic.message(json))
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

    async fn publish(&self, topic: Topic, json: &str) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        self.bounded(
            conn.publish::<_, _, ()>(self.key(&format!("realtime:{}", topic.name())), json),
        )
        .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let _: String = self.bounded(conn.ping()).await?;
        Ok(())
    }
}

fn to_latest(tick: &str, first: &str) -> Result<LatestTick, BusError> {
    let tick: StreamTick = serde_json::from_str(tick).map_err(|e| corrupt("latest tick", e))?;
    let first_price = Price::parse(first).map_err(|e| corrupt("first price", e))?;
    Ok(LatestTick { tick, first_price })
}
