//! Browser only: follows `/api/stream` and feeds the pages.
//!
//! The browser's `EventSource` reconnects by itself after network errors
//! (the server asks for 1 s), sending the id of the last event it got: the
//! server replays what was missed, or sends a reset snapshot when it no
//! longer holds it. When the browser gives up (closed), this module opens a
//! new one after a growing delay, which starts with a snapshot. Either way no
//! update is lost across a server restart. A follower stops when the page
//! that started it goes away.

use crate::dashboard::{Connection, Table};
use crate::symbol::Live;
use futures::future::{select, Either};
use futures::StreamExt;
use gloo_net::eventsource::futures::EventSource;
use gloo_net::eventsource::State;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tickpulse_core::health::{Alert, Health};
use tickpulse_core::{StreamTick, View};

/// The dashboard: every symbol's views. When the stream opens (again) or
/// resets, all views are read again: view events are not replayed on resume.
pub fn follow(table: Table, status: RwSignal<Connection>) {
    let url = "/api/stream".to_owned();
    follow_url(
        url,
        &["snapshot", "view"],
        status,
        move |kind, data| match kind {
            OPENED | "snapshot" => spawn_local(async move {
                match crate::dashboard::load_views().await {
                    Ok(views) => table.apply_all(views),
                    Err(e) => leptos::logging::warn!("views not read again: {e}"),
                }
            }),
            _ => match serde_json::from_str::<View>(data) {
                Ok(view) => table.apply_view(view),
                Err(e) => leptos::logging::warn!("unreadable view: {e}"),
            },
        },
    );
}

/// The health view: a fresh [`Health`] every second; alerts as raised. A
/// stream that ends because the session did sends the page to the login.
pub fn follow_health(
    health: RwSignal<Health>,
    latest: RwSignal<Option<Alert>>,
    status: RwSignal<Connection>,
) {
    let url = "/api/admin/stream".to_owned();
    follow_url(
        url,
        &["health", "alert", "signed_out"],
        status,
        move |kind, data| match kind {
            "health" => match serde_json::from_str::<Health>(data) {
                Ok(h) => health.set(h),
                Err(e) => leptos::logging::warn!("unreadable health: {e}"),
            },
            "alert" => match serde_json::from_str::<Vec<Alert>>(data) {
                Ok(alerts) => {
                    if let Some(last) = alerts.last() {
                        latest.set(Some(last.clone()));
                    }
                }
                Err(e) => leptos::logging::warn!("unreadable alerts: {e}"),
            },
            "signed_out" => {
                let _ = window().location().set_href("/login?next=/admin/health");
            }
            _ => {}
        },
    );
}

/// The pseudo event a follower gets each time its `EventSource` opens.
const OPENED: &str = "open";

/// How often the symbol page redraws at most.
const REDRAW_MS: u64 = 250;

/// The symbol page: ticks and views of one symbol, applied in batches of
/// at most [`REDRAW_MS`].
pub fn follow_symbol(symbol: &str, live: Live, status: RwSignal<Connection>) {
    #[derive(Default)]
    struct Pending {
        ticks: Vec<StreamTick>,
        view: Option<View>,
        scheduled: bool,
    }
    let pending = Rc::new(RefCell::new(Pending::default()));
    let url = format!("/api/stream?symbols={symbol}");
    follow_url(url, &["tick", "view"], status, move |kind, data| {
        {
            let mut p = pending.borrow_mut();
            if kind == "tick" {
                match serde_json::from_str::<StreamTick>(data) {
                    Ok(tick) => p.ticks.push(tick),
                    Err(e) => leptos::logging::warn!("unreadable tick: {e}"),
                }
            } else {
                match serde_json::from_str::<View>(data) {
                    Ok(view) => p.view = Some(view),
                    Err(e) => leptos::logging::warn!("unreadable view: {e}"),
                }
            }
            if p.scheduled {
                return;
            }
            p.scheduled = true;
        }
        let pending = pending.clone();
        set_timeout(
            move || {
                let (ticks, view) = {
                    let mut p = pending.borrow_mut();
                    p.scheduled = false;
                    (std::mem::take(&mut p.ticks), p.view.take())
                };
                live.apply(ticks, view);
            },
            Duration::from_millis(REDRAW_MS),
        );
    });
}

/// Follows `url`, handing each event of `kinds` to `on_event(kind, data)`,
/// until the reactive owner that called it is cleaned up.
fn follow_url(
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
