//! The heartbeat every process sends: who it is, its load, its counters,
//! the feeds it saw and its ingest series, every `HEARTBEAT_MS`.

use crate::bus::Bus;
use crate::pipeline::gateway::Gateway;
use crate::platform::config::Config;
use crate::platform::prometheus::Metrics;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickpulse_core::health::{Beat, Counters, FeedBeat, Load, SERIES_BUCKETS, SERIES_BUCKET_MS};
use tickpulse_core::Timestamp;
use tokio::sync::watch;

/// What a beat needs from the process.
#[derive(Clone)]
pub struct Beater {
    pub bus: Arc<dyn Bus>,
    pub metrics: Arc<Metrics>,
    pub gateway: Gateway,
    pub node: String,
    pub roles: Vec<String>,
    pub every: Duration,
    /// How long the beat is kept after the node stops beating.
    pub keep: Duration,
    /// The metric history's sample interval (the persist lag p99 covers it).
    pub sample: Duration,
}

/// Builds beats from the process's counters; keeps what the next beat
/// needs (CPU time, counts) between beats.
struct Sampler {
    started_at: i64,
    cpu: Option<(Instant, f64)>,
    /// Ticks accepted per bucket, the last one being `series_end`.
    series: Vec<u64>,
    series_end: i64,
    last_ingested: u64,
    /// Per source: ticks at the previous beat and when.
    feed_counts: std::collections::HashMap<String, (u64, Instant)>,
    /// The machine's network interfaces, refreshed each beat.
    networks: sysinfo::Networks,
    networks_read: Instant,
}

impl Sampler {
    fn new() -> Self {
        Self {
            started_at: Timestamp::now().as_millis(),
            cpu: None,
            series: Vec::new(),
            series_end: 0,
            last_ingested: 0,
            feed_counts: Default::default(),
            networks: sysinfo::Networks::new_with_refreshed_list(),
            networks_read: Instant::now(),
        }
    }

    /// Network bytes per second in and out since the previous reading.
    fn network(&mut self) -> (f64, f64) {
        self.networks.refresh(true);
        let secs = self.networks_read.elapsed().as_secs_f64();
        self.networks_read = Instant::now();
        let (rx, tx) = self.networks.values().fold((0, 0), |(rx, tx), n| {
            (rx + n.received(), tx + n.transmitted())
        });
        if secs > 0.0 {
            (rx as f64 / secs, tx as f64 / secs)
        } else {
            (0.0, 0.0)
        }
    }

    fn load(&mut self, b: &Beater, sched_delay: Duration) -> Load {
        let m = &b.metrics;
        let (net_in_bps, net_out_bps) = self.network();
        Load {
            net_in_bps,
            net_out_bps,
            connections: m.connections.get().max(0) as u64,
            tasks: tokio::runtime::Handle::try_current()
                .map_or(0, |h| h.metrics().num_alive_tasks() as u64),
            sched_delay_ms: sched_delay.as_secs_f64() * 1_000.0,
            persist_lag_p99_ms: m.persist_lags.p99(b.sample),
            dead_lettered: m.dead_lettered_total(),
            sse_resets: m.sse_resets.get(),
        }
    }

    fn beat(&mut self, b: &Beater, stopping: bool, sched_delay: Duration) -> Beat {
        let now = Timestamp::now().as_millis();
        let m = &b.metrics;
        let ingested = m.ingested.get();
        self.add_to_series(now, ingested - self.last_ingested.min(ingested));
        self.last_ingested = ingested;
        // One reading of the process per beat (about 75 µs with sysinfo).
        let (cpu_seconds, rss_bytes) =
            this_process(|p| (p.accumulated_cpu_time() as f64 / 1_000.0, p.memory())).unzip();
        let cpu_pct = self.cpu_pct(cpu_seconds);
        let mut feeds = Vec::new();
        let at = Instant::now();
        for (source, last_tick, ticks) in m.feeds.snapshot() {
            let rate = match self.feed_counts.get(&source) {
                Some((before, when)) => {
                    let secs = at.duration_since(*when).as_secs_f64();
                    if secs > 0.0 {
                        (ticks - before.min(&ticks)) as f64 / secs
                    } else {
                        0.0
                    }
                }
                None => 0.0,
            };
            self.feed_counts.insert(source.clone(), (ticks, at));
            feeds.push(FeedBeat {
                source,
                last_tick,
                ticks,
                rate,
            });
        }
        let lag = m.persist_lag_last_micros.load(Relaxed);
        let load = self.load(b, sched_delay);
        let gauges = &m.load;
        gauges.cpu_percent.set(cpu_pct);
        gauges.rss_bytes.set(rss_bytes.unwrap_or(0) as i64);
        gauges.net_in_bps.set(load.net_in_bps);
        gauges.net_out_bps.set(load.net_out_bps);
        gauges.tasks.set(load.tasks as i64);
        gauges
            .sched_delay_seconds
            .set(load.sched_delay_ms / 1_000.0);
        gauges
            .persist_lag_p99_seconds
            .set(load.persist_lag_p99_ms.unwrap_or(0.0) / 1_000.0);
        Beat {
            node: b.node.clone(),
            roles: b.roles.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at,
            at: now,
            cpu_pct,
            rss_bytes: rss_bytes.unwrap_or(0),
            stopping,
            counters: Counters {
                ingested,
                duplicates: m.duplicates.get(),
                rejected: crate::platform::prometheus::Rejection::ALL
                    .iter()
                    .map(|r| m.rejected(*r))
                    .sum(),
                persisted: m.persisted.get(),
                views_written: m.views_written.get(),
                sse_clients: b.gateway.clients() as u64,
                persist_lag_secs: (lag > 0).then(|| lag as f64 / 1e6),
            },
            feeds,
            series: self.series.clone(),
            series_end: self.series_end,
            load,
        }
    }

    fn add_to_series(&mut self, now: i64, n: u64) {
        let bucket = now.div_euclid(SERIES_BUCKET_MS);
        if self.series.is_empty() {
            self.series.push(0);
            self.series_end = bucket;
        }
        let gap = (bucket - self.series_end).clamp(0, SERIES_BUCKETS as i64);
        for _ in 0..gap {
            self.series.push(0);
        }
        self.series_end = self.series_end.max(bucket);
        if let Some(last) = self.series.last_mut() {
            *last += n;
        }
        let extra = self.series.len().saturating_sub(SERIES_BUCKETS);
        self.series.drain(..extra);
    }

    /// CPU time used since the previous call, as % of one core, from the
    /// process's CPU seconds now.
    fn cpu_pct(&mut self, cpu_seconds: Option<f64>) -> f64 {
        let now = Instant::now();
        let Some(used) = cpu_seconds else {
            return 0.0;
        };
        let pct = match self.cpu {
            Some((when, before)) => {
                let wall = now.duration_since(when).as_secs_f64();
                if wall > 0.0 {
                    ((used - before) / wall * 100.0).max(0.0)
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.cpu = Some((now, used));
        pct
    }
}

/// This process as sysinfo reads it now (CPU time and resident memory
/// only), or `None` where the platform does not say.
fn this_process<T>(read: impl FnOnce(&sysinfo::Process) -> T) -> Option<T> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
    let pid = sysinfo::get_current_pid().ok()?;
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    system.process(pid).map(read)
}

/// This process's CPU seconds (user + system) and resident bytes, read once
/// (`bench/benches/beat_readings.rs` measures it).
pub fn process_readings() -> Option<(f64, u64)> {
    this_process(|p| (p.accumulated_cpu_time() as f64 / 1_000.0, p.memory()))
}

/// User + system CPU seconds of this process.
#[cfg(test)]
fn cpu_seconds() -> Option<f64> {
    this_process(|p| p.accumulated_cpu_time() as f64 / 1_000.0)
}

/// Resident memory of this process in bytes, 0 where unknown.
#[cfg(test)]
fn rss_bytes() -> u64 {
    this_process(sysinfo::Process::memory).unwrap_or(0)
}

/// Beats until shutdown, then sends a last beat saying the node stops; the
/// task ends after that beat (await it before the process exits).
pub async fn run(b: Beater, mut shutdown: watch::Receiver<bool>) {
    let mut sampler = Sampler::new();
    let mut tick = tokio::time::interval(b.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        let beat = sampler.beat(&b, false, schedule_delay().await);
        match send(&b, &beat).await {
            Ok(()) if failing => {
                tracing::info!("heartbeats sent again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "heartbeat not sent; retrying every beat");
                failing = true;
            }
            Err(_) => {}
        }
    }
    let last = sampler.beat(&b, true, Duration::ZERO);
    if let Err(e) = send(&b, &last).await {
        tracing::warn!(error = %e, "last heartbeat not sent");
    }
}

/// How long a task just spawned waits before it runs: the runtime's
/// scheduling delay, probed once.
async fn schedule_delay() -> Duration {
    let spawned = Instant::now();
    tokio::spawn(async move { spawned.elapsed() })
        .await
        .unwrap_or_default()
}

async fn send(b: &Beater, beat: &Beat) -> Result<(), crate::bus::BusError> {
    let json = serde_json::to_string(beat).unwrap_or_default();
    b.bus.heartbeat(&b.node, &json, b.keep).await
}

/// The node ids and roles a config gives.
pub fn beater(
    config: &Config,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    gateway: Gateway,
) -> Beater {
    Beater {
        bus,
        metrics,
        gateway,
        node: config.node_id(),
        roles: config.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        every: Duration::from_millis(config.heartbeat_ms.max(100)),
        keep: Duration::from_secs(config.node_forget_secs.max(60)),
        sample: Duration::from_secs(config.metrics_sample_secs.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_keeps_fifteen_minutes_of_buckets() {
        let mut s = Sampler::new();
        let t0 = 1_000 * SERIES_BUCKET_MS;
        s.add_to_series(t0, 5);
        s.add_to_series(t0 + 1, 2);
        assert_eq!((s.series.clone(), s.series_end), (vec![7], 1_000));
        s.add_to_series(t0 + 2 * SERIES_BUCKET_MS, 3);
        assert_eq!((s.series.clone(), s.series_end), (vec![7, 0, 3], 1_002));
        s.add_to_series(t0 + 500 * SERIES_BUCKET_MS, 1);
        assert_eq!(s.series.len(), SERIES_BUCKETS);
        assert_eq!(s.series_end, 1_500);
        assert_eq!(s.series.last(), Some(&1));
        assert!(s.series[..SERIES_BUCKETS - 1].iter().all(|n| *n == 0));
    }

    #[test]
    fn process_figures_are_read() {
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
        assert!(rss_bytes() > 1 << 20);
    }
}
