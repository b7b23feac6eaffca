//! Background work: the [`Tasks`] supervisor every background task is
//! started through, and pausing, backing off and retrying against a backend
//! that may be down, so a Redis or Postgres outage delays work and never
//! ends it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Waits `d`, or less when shutdown comes first; `false` means shutting down.
pub(crate) async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shutdown.wait_for(|s| *s) => false,
    }
}

/// Exponential backoff for retrying an unavailable backend: 100 ms,
/// doubling, at most 5 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    /// The delay to wait now; the next one is twice as long.
    pub(crate) fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        d
    }
}

/// Runs `op` until it succeeds, backing off between attempts and logging
/// each failure as "cannot `what`"; `None` when shutdown comes first.
pub(crate) async fn retry<
    T,
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<T, E>>,
>(
    shutdown: &mut watch::Receiver<bool>,
    what: &str,
    mut op: impl FnMut() -> F,
) -> Option<T> {
    let mut backoff = Backoff::new();
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "cannot {what}; retrying");
                if !pause(shutdown, backoff.next()).await {
                    return None;
                }
            }
        }
    }
}

/// How a supervised task is doing, as readiness and the logs tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Running,
    /// It failed (panicked) and waits to be started again.
    Restarting,
    /// It ended: on shutdown, or because its work was done.
    Stopped,
}

/// The first wait before a failed task is started again; it doubles with
/// each failure in a row, up to [`RESTART_MAX`].
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(30);
/// A task that ran this long before failing starts again after the first
/// wait, not after a longer one.
const RESTART_RESET: Duration = Duration::from_secs(60);

/// Every background task of the process, by name: started through it,
/// watched (a panic is logged with the task's name and the task is started
/// again with backoff), and awaited on shutdown.
///
/// Tasks get the shutdown signal and must return soon after it turns true;
/// [`Tasks::join`] names and aborts those that do not.
#[derive(Clone)]
pub struct Tasks(Arc<Inner>);

struct Inner {
    shutdown: watch::Receiver<bool>,
    states: Mutex<BTreeMap<String, TaskState>>,
    handles: Mutex<Vec<(String, tokio::task::JoinHandle<()>)>>,
}

impl Tasks {
    pub fn new(shutdown: watch::Receiver<bool>) -> Self {
        Self(Arc::new(Inner {
            shutdown,
            states: Mutex::new(BTreeMap::new()),
            handles: Mutex::new(Vec::new()),
        }))
    }

    /// The signal every task stops on.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.0.shutdown.clone()
    }

    /// Runs the future `start` makes as the task `name`, and makes it again
    /// when it panics (after 1 s, doubling up to 30 s), until shutdown. A
    /// future that returns has stopped for good.
    pub fn supervise<F, Fut>(&self, name: impl Into<String>, mut start: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let tasks = self.clone();
        let task_name = name.clone();
        let handle = tokio::spawn(async move {
            let name = task_name;
            let mut shutdown = tasks.shutdown();
            let mut wait = RESTART_FIRST;
            loop {
                tasks.set(&name, TaskState::Running);
                // The runtime's clock, so a test with paused time can
                // check the restart waits exactly.
                let began = tokio::time::Instant::now();
                // Aborted with this supervisor (by `join`), not left behind.
                let mut attempt = AbortOnDrop(tokio::spawn(start()));
                let outcome = (&mut attempt.0).await;
                match outcome {
                    Ok(()) => {
                        let why = if *shutdown.borrow() {
                            "shutdown"
                        } else {
                            "its work is done"
                        };
                        tracing::info!(task = %name, why, "task stopped");
                        tasks.set(&name, TaskState::Stopped);
                        return;
                    }
                    Err(e) => {
                        let reason = if e.is_panic() {
                            panic_message(e.into_panic())
                        } else {
                            "cancelled".to_owned()
                        };
                        if *shutdown.borrow() {
                            tracing::error!(task = %name, reason = %reason, "task failed while shutting down");
                            tasks.set(&name, TaskState::Stopped);
                            return;
                        }
                        if began.elapsed() >= RESTART_RESET {
                            wait = RESTART_FIRST;
                        }
                        tracing::error!(task = %name, reason = %reason, restart_in_ms = wait.as_millis() as u64, "task panicked; starting it again");
                        tasks.set(&name, TaskState::Restarting);
                        if !pause(&mut shutdown, wait).await {
                            tracing::info!(task = %name, why = "shutdown", "task stopped");
                            tasks.set(&name, TaskState::Stopped);
                            return;
                        }
                        wait = (wait * 2).min(RESTART_MAX);
                    }
                }
            }
        });
        self.0
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name, handle));
    }

    fn set(&self, name: &str, state: TaskState) {
        self.0
            .states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), state);
    }

    /// Every task by name and how it is doing.
    pub fn states(&self) -> Vec<(String, TaskState)> {
        self.0
            .states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(n, s)| (n.clone(), *s))
            .collect()
    }

    /// The tasks that failed and wait to start again: while there is one,
    /// the process does not do all the work of its roles.
    pub fn down(&self) -> Vec<String> {
        self.states()
            .into_iter()
            .filter(|(_, s)| *s == TaskState::Restarting)
            .map(|(n, _)| n)
            .collect()
    }

    /// After shutdown: waits up to `grace` for every task (also those
    /// started meanwhile), then aborts and names the ones still running.
    /// Returns their names; empty when everything stopped in time.
    pub async fn join(&self, grace: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + grace;
        let mut late = Vec::new();
        loop {
            let batch = std::mem::take(
                &mut *self
                    .0
                    .handles
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            if batch.is_empty() {
                break;
            }
            for (name, mut handle) in batch {
                if tokio::time::timeout_at(deadline, &mut handle)
                    .await
                    .is_err()
                {
                    handle.abort();
                    tracing::error!(task = %name, grace_ms = grace.as_millis() as u64, "task did not stop within the grace period; aborted");
                    late.push(name);
                }
            }
        }
        late
    }
}

/// The text a panic was raised with.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(_) => "a panic without a message".to_owned(),
        },
    }
}

/// A task handle that aborts its task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// A task that panics `run_for` after each start, recording when it
    /// started.
    fn panicking(
        starts: Arc<Mutex<Vec<Instant>>>,
        run_for: Duration,
    ) -> impl FnMut() -> futures::future::BoxFuture<'static, ()> {
        move || {
            let starts = starts.clone();
            Box::pin(async move {
                starts.lock().unwrap().push(Instant::now());
                tokio::time::sleep(run_for).await;
                panic!("on purpose");
            })
        }
    }

    /// The waits between one failure and the next start.
    fn gaps(starts: &[Instant], run_for: Duration) -> Vec<Duration> {
        starts.windows(2).map(|w| w[1] - w[0] - run_for).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_after_waits_that_double_up_to_the_cap() {
        let (_stop, shutdown) = watch::channel(false);
        let tasks = Tasks::new(shutdown);
        let starts = Arc::new(Mutex::new(Vec::new()));
        tasks.supervise("flaky", panicking(starts.clone(), Duration::ZERO));
        // 1 + 2 + 4 + 8 + 16 + 30 + 30 s of waits: eight starts.
        tokio::time::sleep(Duration::from_millis(91_500)).await;
        let starts = starts.lock().unwrap().clone();
        let secs: Vec<u64> = gaps(&starts, Duration::ZERO)
            .iter()
            .map(Duration::as_secs)
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(tasks.down(), ["flaky"], "it waits to start again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ran_long_before_failing_restarts_after_the_first_wait() {
        let (_stop, shutdown) = watch::channel(false);
        let tasks = Tasks::new(shutdown);
        let starts = Arc::new(Mutex::new(Vec::new()));
        let run_for = RESTART_RESET;
        tasks.supervise("long", panicking(starts.clone(), run_for));
        tokio::time::sleep(run_for * 3 + Duration::from_secs(2)).await;
        let starts = starts.lock().unwrap().clone();
        assert!(starts.len() >= 3, "{} starts", starts.len());
        for gap in gaps(&starts, run_for) {
            assert_eq!(gap, RESTART_FIRST);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_a_task_waiting_to_restart_and_join_finds_none_late() {
        let (stop, shutdown) = watch::channel(false);
        let tasks = Tasks::new(shutdown);
        let starts = Arc::new(Mutex::new(Vec::new()));
        tasks.supervise("flaky", panicking(starts.clone(), Duration::ZERO));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(starts.lock().unwrap().len(), 2);
        stop.send(true).unwrap();
        assert!(tasks.join(Duration::from_secs(5)).await.is_empty());
        assert_eq!(tasks.states(), [("flaky".to_owned(), TaskState::Stopped)]);
        assert_eq!(starts.lock().unwrap().len(), 2, "not started again");
    }

    #[test]
    fn backoff_doubles_from_100_ms_up_to_5_s() {
        let mut b = Backoff::new();
        let ms: Vec<u128> = (0..8).map(|_| b.next().as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    }
}
