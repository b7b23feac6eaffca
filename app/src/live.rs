//! Browser only: follows `/api/stream` and feeds the dashboard [`Table`].
//!
//! The browser's `EventSource` reconnects by itself after network errors
//! (the server asks for 1 s), sending the id of the last event it got: the
//! server replays what was missed, or sends a reset snapshot when it no
//! longer holds it. When the browser gives up (closed), this module opens a
//! new one after a growing delay, which starts with a snapshot that replaces
//! the table. Either way no update is lost across a server restart.

use crate::dashboard::{Connection, Table};
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_net::eventsource::futures::EventSource;
use gloo_net::eventsource::State;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::time::Duration;
use tickpulse_core::{Snapshot, StreamTick};

const STREAM_URL: &str = "/api/stream";

pub fn follow(table: Table, status: RwSignal<Connection>) {
    spawn_local(async move {
        let mut delay_ms = 500;
        loop {
            if run(table, status).await {
                delay_ms = 500;
            }
            status.set(Connection::Reconnecting);
            sleep(delay_ms).await;
            delay_ms = (delay_ms * 2).min(10_000);
        }
    });
}

/// One `EventSource`, until the browser closes it for good. Returns whether
/// it was live at some point.
async fn run(table: Table, status: RwSignal<Connection>) -> bool {
    let Ok(mut source) = EventSource::new(STREAM_URL) else {
        return false;
    };
    let (Ok(snapshots), Ok(ticks)) = (source.subscribe("snapshot"), source.subscribe("tick"))
    else {
        return false;
    };
    let mut events = futures::stream::select(snapshots, ticks);
    let mut was_live = false;
    loop {
        match select(events.next(), Box::pin(sleep(500))).await {
            Either::Left((Some(Ok((kind, message))), _)) => {
                let Some(data) = message.data().as_string() else {
                    continue;
                };
                if kind == "snapshot" {
                    match serde_json::from_str::<Snapshot>(&data) {
                        Ok(snapshot) => table.apply_snapshot(snapshot),
                        Err(e) => leptos::logging::warn!("unreadable snapshot: {e}"),
                    }
                } else {
                    match serde_json::from_str::<StreamTick>(&data) {
                        Ok(tick) => table.apply_tick(tick),
                        Err(e) => leptos::logging::warn!("unreadable tick: {e}"),
                    }
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

async fn sleep(ms: u64) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        Duration::from_millis(ms),
    );
    let _ = wait.await;
}
