//! Durable acknowledgements (`?ack=durable`): a request waits until every one
//! of its ticks is committed in the store.
//!
//! The persist consumer may run in another process, so durability is
//! confirmed where it is true: in the database. One task gathers the event
//! ids of every waiting request and checks them all with one query per
//! round (about every 20 ms): many requests share one round, as their ticks
//! share one commit. A tick that was a duplicate waits for its original.

use crate::platform::tasks::Tasks;
use crate::store::Store;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Mutex};

const ROUND: Duration = Duration::from_millis(20);

struct Waiter {
    pending: Vec<String>,
    since: Instant,
    reply: oneshot::Sender<Result<(), String>>,
}

#[derive(Clone)]
pub struct Durability {
    waiters: mpsc::Sender<Waiter>,
}

impl Durability {
    /// Starts the checking task (`durability`); it stops on the tasks'
    /// shutdown.
    pub fn start(store: Arc<dyn Store>, timeout: Duration, tasks: &Tasks) -> Self {
        let (waiters, rx) = mpsc::channel(4_096);
        let rx = Arc::new(Mutex::new(rx));
        let shutdown = tasks.shutdown();
        tasks.supervise("durability", move || {
            run(store.clone(), rx.clone(), timeout, shutdown.clone())
        });
        Self { waiters }
    }

    /// Waits until all `event_ids` are committed.
    ///
    /// # Errors
    /// When they are not committed within the timeout (the ticks stay
    /// accepted and will be persisted; resending them is safe).
    pub async fn wait(&self, event_ids: Vec<String>) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter {
            pending: event_ids,
            since: Instant::now(),
            reply,
        };
        self.waiters
            .send(waiter)
            .await
            .map_err(|_| "shutting down".to_owned())?;
        answer.await.map_err(|_| "shutting down".to_owned())?
    }
}

async fn run(
    store: Arc<dyn Store>,
    rx: Arc<Mutex<mpsc::Receiver<Waiter>>>,
    timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // One task at a time takes the receiver; a restarted one takes it over.
    let mut rx = rx.lock().await;
    let mut waiting: Vec<Waiter> = Vec::new();
    loop {
        if waiting.is_empty() {
            tokio::select! {
                w = rx.recv() => match w {
                    Some(w) => waiting.push(w),
                    None => return,
                },
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
        if !crate::platform::tasks::pause(&mut shutdown, ROUND).await {
            return;
        }
        while let Ok(w) = rx.try_recv() {
            waiting.push(w);
        }
        let ids: Vec<String> = waiting
            .iter()
            .flat_map(|w| w.pending.iter().cloned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let found: HashSet<String> = match store.committed(&ids).await {
            Ok(found) => found.into_iter().collect(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot check durability this round");
                HashSet::new()
            }
        };
        waiting = waiting
            .into_iter()
            .filter_map(|mut w| {
                w.pending.retain(|id| !found.contains(id));
                if w.pending.is_empty() {
                    let _ = w.reply.send(Ok(()));
                    None
                } else if w.since.elapsed() >= timeout {
                    let _ = w.reply.send(Err(format!(
                        "{} tick(s) accepted but not yet committed after {timeout:?}",
                        w.pending.len()
                    )));
                    None
                } else {
                    Some(w)
                }
            })
            .collect();
    }
}
