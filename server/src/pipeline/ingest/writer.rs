//! The tick writer: coalesces concurrent ingest requests into few bus appends.
//!
//! Each request hands its validated ticks over and waits. A fixed number of
//! writer tasks each take every request waiting at that moment (up to
//! [`MAX_COALESCED_TICKS`]), append them in one bus call, and answer each
//! request with its own counts. Under light load a request is written alone
//! and at once; under heavy load one Redis round trip serves many requests.
//! A request is never split, so its ticks are appended atomically.

use crate::bus::{Bus, BusError, Failure};
use crate::platform::tasks::Tasks;
use std::sync::Arc;
use tickpulse_core::{Tick, Timestamp};
use tokio::sync::{mpsc, oneshot, watch, Mutex};

/// Upper bound of ticks per coalesced append (one batch request may alone
/// reach it).
pub const MAX_COALESCED_TICKS: usize = 10_000;

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AppendCounts {
    /// Ticks new to the stream.
    pub accepted: usize,
    pub duplicates: usize,
}

struct Job {
    ticks: Vec<Tick>,
    reply: oneshot::Sender<Result<AppendCounts, BusError>>,
}

#[derive(Clone)]
pub struct TickWriter {
    jobs: mpsc::Sender<Job>,
}

impl TickWriter {
    /// Starts `writers` writer tasks (`writer-0`, `writer-1`…) on `bus`.
    /// They stop on the tasks' shutdown, which comes after the last request
    /// was answered.
    pub fn start(bus: Arc<dyn Bus>, writers: usize, tasks: &Tasks) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(4_096);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..writers.max(1) {
            let (bus, rx, shutdown) = (bus.clone(), rx.clone(), tasks.shutdown());
            tasks.supervise(format!("writer-{i}"), move || {
                run(bus.clone(), rx.clone(), shutdown.clone())
            });
        }
        Self { jobs }
    }

    /// Appends the ticks of one request and waits for the bus to confirm.
    ///
    /// # Errors
    /// When the bus failed; then nothing of this request was confirmed and
    /// the same request may be sent again (duplicates are recognised).
    pub async fn write(&self, ticks: Vec<Tick>) -> Result<AppendCounts, BusError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || BusError::new("writer", Failure::Refused, "shutting down");
        self.jobs
            .send(Job { ticks, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    bus: Arc<dyn Bus>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let batch = {
            let mut rx = tokio::select! {
                rx = rx.lock() => rx,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let first = tokio::select! {
                job = rx.recv() => job,
                _ = shutdown.wait_for(|s| *s) => None,
            };
            let Some(first) = first else { return };
            let mut total = first.ticks.len();
            let mut batch = vec![first];
            while total < MAX_COALESCED_TICKS {
                match rx.try_recv() {
                    Ok(job) => {
                        total += job.ticks.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        write_batch(bus.as_ref(), batch).await;
    }
}

async fn write_batch(bus: &dyn Bus, batch: Vec<Job>) {
    let (ticks, replies): (Vec<Vec<Tick>>, Vec<_>) =
        batch.into_iter().map(|j| (j.ticks, j.reply)).unzip();
    let lens: Vec<usize> = ticks.iter().map(Vec::len).collect();
    let all: Vec<Tick> = if ticks.len() == 1 {
        ticks.into_iter().flatten().collect()
    } else {
        ticks.concat()
    };
    match bus.append(&all, Timestamp::now()).await {
        Ok(flags) => {
            let mut start = 0;
            for (reply, len) in replies.into_iter().zip(lens) {
                let accepted = flags[start..start + len].iter().filter(|f| **f).count();
                start += len;
                let _ = reply.send(Ok(AppendCounts {
                    accepted,
                    duplicates: len - accepted,
                }));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, ticks = all.len(), "append failed");
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
