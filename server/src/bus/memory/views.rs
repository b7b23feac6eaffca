//! The memory bus's shared views and coordination: latest ticks, stored
//! views, leases, heartbeats and the update channel (the tick stream and
//! its groups are in `mod.rs`).

use super::journal::Record;
use super::{json, MemoryBus};
use crate::bus::{
    Appended, BusError, Coordination, Published, Topic, UpdateChannel, Updates, Views,
};
use async_trait::async_trait;
use futures::StreamExt;
use std::time::{Duration, Instant};
use tickpulse_core::{LatestTick, Symbol, View};

#[async_trait]
impl Views for MemoryBus {
    async fn latest_all(&self) -> Result<Vec<LatestTick>, BusError> {
        Ok(self
            .state()
            .latest
            .values()
            .map(|(tick, first)| LatestTick {
                tick: tick.clone(),
                first_price: *first,
            })
            .collect())
    }

    async fn write_views(&self, views: &[View]) -> Result<(), BusError> {
        if views.is_empty() {
            return Ok(());
        }
        let mut published = Vec::with_capacity(views.len());
        for view in views {
            published.push(Appended {
                id: view.stream_id,
                symbol: view.symbol.clone(),
                json: json("view", view)?,
            });
        }
        {
            let mut state = self.state();
            state.journal(&[Record::Views {
                views: views.to_vec(),
            }])?;
            for view in views {
                state.views.insert(view.symbol.clone(), view.clone());
            }
        }
        let _ = self.updates.send(Published::Views(published));
        Ok(())
    }

    async fn view(&self, symbol: &Symbol) -> Result<Option<View>, BusError> {
        Ok(self.state().views.get(symbol).cloned())
    }

    async fn views(&self) -> Result<Vec<View>, BusError> {
        Ok(self.state().views.values().cloned().collect())
    }
}

#[async_trait]
impl Coordination for MemoryBus {
    async fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool, BusError> {
        // The runtime's clock, so lease takeover can be tested on paused
        // time.
        let now = tokio::time::Instant::now();
        let mut state = self.state();
        match state.leases.get_mut(name) {
            Some((h, until)) if *until > now && h != holder => Ok(false),
            Some((h, until)) => {
                holder.clone_into(h);
                *until = now + ttl;
                Ok(true)
            }
            None => {
                state
                    .leases
                    .insert(name.to_owned(), (holder.to_owned(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), BusError> {
        let mut state = self.state();
        if state.leases.get(name).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }

    async fn heartbeat(&self, node: &str, beat: &str, ttl: Duration) -> Result<(), BusError> {
        let until = Instant::now() + ttl;
        self.state()
            .beats
            .insert(node.to_owned(), (beat.to_owned(), until));
        Ok(())
    }

    async fn heartbeats(&self) -> Result<Vec<(String, String)>, BusError> {
        let now = Instant::now();
        let mut state = self.state();
        state.beats.retain(|_, (_, until)| *until > now);
        Ok(state
            .beats
            .iter()
            .map(|(node, (beat, _))| (node.clone(), beat.clone()))
            .collect())
    }
}

#[async_trait]
impl UpdateChannel for MemoryBus {
    async fn subscribe(&self) -> Result<Updates, BusError> {
        let rx = self.updates.subscribe();
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(p) => Some((p, rx)),
                // Fell behind or the bus is gone: the subscription ends and
                // the subscriber resubscribes (and resynchronises).
                Err(_) => None,
            }
        });
        Ok(stream.boxed())
    }

    async fn publish(&self, topic: Topic, json: &str) -> Result<(), BusError> {
        let _ = self.updates.send(topic.message(json.to_owned()));
        Ok(())
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
