//! Browser only: the generic follower of a server-sent event stream. Each
//! page owns its own `follow_*`, which says what the events mean.
//!
//! The browser's `EventSource` reconnects by itself after network errors
//! (the server asks for 1 s), sending the id of the last event it got: the
//! server replays what was missed, or sends a reset snapshot when it no
//! longer holds it. When the browser gives up (closed), this module opens a
//! new one after a growing delay, which starts with a snapshot. Either way no
//! update is lost across a server restart. A follower stops when the page
//! that started it goes away.

use crate::components::Connection;
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_net::eventsource::futures::EventSource;
use gloo_net::eventsource::State;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The pseudo event a follower gets each time its `EventSource` opens.
pub const OPENED: &str = "open";

/// Follows `url`, handing each event of `kinds` to `on_event(kind, data)`,
/// until the reactive owner that called it is cleaned up.
pub fn follow_url(
    url: String,
    kinds: &'static [&'static str],
    status: RwSignal<Connection>,
    on_event: impl Fn(&str, &str) + 'static,
) {
    let alive = Arc::new(AtomicBool::new(true));
    let flag = alive.clone();
    on_cleanup(move || flag.store(false, Ordering::Relaxed));
    spawn_local(async move {
        let mut delay_ms = 500;
        while alive.load(Ordering::Relaxed) {
            if run(&url, kinds, &alive, status, &on_event).await {
                delay_ms = 500;
            }
            if !alive.load(Ordering::Relaxed) {
                break;
            }
            status.set(Connection::Reconnecting);
            sleep(delay_ms).await;
            delay_ms = (delay_ms * 2).min(10_000);
        }
    });
}

/// One `EventSource`, until the browser closes it for good or the page goes
/// away (dropping it closes it). Returns whether it was live at some point.
async fn run(
    url: &str,
    kinds: &'static [&'static str],
    alive: &AtomicBool,
    status: RwSignal<Connection>,
    on_event: &impl Fn(&str, &str),
) -> bool {
    let Ok(mut source) = EventSource::new(url) else {
        return false;
    };
    let mut streams = Vec::new();
    for kind in kinds {
        match source.subscribe(*kind) {
            Ok(s) => streams.push(s),
            Err(_) => return false,
        }
    }
    let mut events = futures::stream::select_all(streams);
    let mut was_live = false;
    let mut open = false;
    loop {
        if !alive.load(Ordering::Relaxed) {
            return was_live;
        }
        // Tell the page each time the source opens: first, and after the
        // browser reconnected it by itself.
        let now_open = matches!(source.state(), State::Open);
        if now_open && !open {
            on_event(OPENED, "");
        }
        open = now_open;
        match select(events.next(), Box::pin(sleep(500))).await {
            Either::Left((Some(Ok((kind, message))), _)) => {
                if let Some(data) = message.data().as_string() {
                    on_event(&kind, &data);
                }
                was_live = true;
                status.set(Connection::Live);
            }
            // The subscription ended or errored: the source is closed.
            Either::Left((Some(Err(_)) | None, _)) => return was_live,
            Either::Right(_) => match source.state() {
                // Resumed: open again, with nothing missed (or nothing yet).
                State::Open => {
                    was_live = true;
                    status.set(Connection::Live);
                }
                State::Connecting => status.set(Connection::Reconnecting),
                State::Closed => return was_live,
            },
        }
    }
}

pub async fn sleep(ms: u64) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        Duration::from_millis(ms),
    );
    let _ = wait.await;
}
