//! What the page does once hydrated: following the stream into the table,
//! watching which rows are on screen, and the stars' instant toggle. Only
//! in the browser (`hydrate`).

use super::server::{load_views, toggle_star};
use super::table::{Controls, Table};
use crate::components::Connection;
use leptos::prelude::*;
use tickpulse_core::{Symbol, View};

/// The star, at once: the list changes on the page, then the server is
/// told; what it answers replaces the guess (or puts it back, with the
/// reason shown).
pub(super) fn toggle_now(controls: Controls, list: i64, symbol: Symbol) {
    let before = controls.lists.get_untracked();
    controls.lists.update(|lists| {
        if let Some(l) = lists
            .as_mut()
            .and_then(|ls| ls.iter_mut().find(|l| l.id == list))
        {
            if let Some(i) = l.symbols.iter().position(|s| *s == symbol) {
                l.symbols.remove(i);
            } else {
                l.symbols.push(symbol.clone());
            }
        }
    });
    leptos::task::spawn_local(async move {
        match toggle_star(list, symbol.to_string()).await {
            Ok(after) => {
                controls.problem.set(None);
                controls.replace(after);
            }
            Err(e) => {
                controls.lists.set(before);
                controls.problem.set(Some(e.to_string()));
            }
        }
    });
}

/// Tells the table when the row comes on screen and goes off it.
pub(super) fn watch_visibility(node: NodeRef<leptos::html::Tr>, table: Table, symbol: Symbol) {
    use send_wrapper::SendWrapper;
    use wasm_bindgen::JsCast;
    node.on_load(move |tr| {
        let observer = visibility_observer(table);
        observer.observe(tr.unchecked_ref());
        let observer = SendWrapper::new(observer);
        let element = SendWrapper::new(tr.clone());
        let symbol = symbol.clone();
        on_cleanup(move || {
            observer.unobserve(element.unchecked_ref());
            table.hidden.update_value(|h| {
                h.remove(&symbol);
            });
        });
    });
}

thread_local! {
    static OBSERVER: std::cell::RefCell<Option<web_sys::IntersectionObserver>> = const { std::cell::RefCell::new(None) };
}

/// One observer for every row of the page (made on first use).
fn visibility_observer(table: Table) -> web_sys::IntersectionObserver {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    OBSERVER.with(|cell| {
        if let Some(o) = cell.borrow().as_ref() {
            return o.clone();
        }
        let callback = Closure::<dyn FnMut(web_sys::js_sys::Array)>::new(
            move |entries: web_sys::js_sys::Array| {
                for entry in entries.iter() {
                    let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
                    let Some(symbol) = entry.target().get_attribute("data-symbol") else {
                        continue;
                    };
                    table.visible(Symbol::new(&symbol), entry.is_intersecting());
                }
            },
        );
        let options = web_sys::IntersectionObserverInit::new();
        // A screen's height of margin: rows about to scroll in are current.
        options.set_root_margin("100% 0px");
        let observer = web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &options,
        )
        .expect("IntersectionObserver");
        callback.forget();
        *cell.borrow_mut() = Some(observer.clone());
        observer
    })
}

/// The dashboard's stream: every symbol's views, or one list's (whose
/// changes, from anywhere, show at once). When the stream opens (again) or
/// resets, all views are read again: view events are not replayed on
/// resume.
pub(super) fn follow(table: Table, controls: Controls, status: RwSignal<Connection>) {
    let url = match controls.current.get_untracked() {
        Some(id) => format!("/api/stream?watchlist={id}"),
        None => "/api/stream".to_owned(),
    };
    crate::live::follow_url(
        url,
        &["snapshot", "view", "watchlist"],
        status,
        move |kind, data| match kind {
            crate::live::OPENED | "snapshot" => leptos::task::spawn_local(async move {
                match load_views().await {
                    Ok(views) => table.apply_all(views),
                    Err(e) => leptos::logging::warn!("views not read again: {e}"),
                }
            }),
            "watchlist" => {
                match serde_json::from_str::<tickpulse_core::watchlist::WatchlistEvent>(data) {
                    Ok(event) if !event.deleted => controls.replace(event.list),
                    Ok(_) => controls.problem.set(Some("This list was deleted.".into())),
                    Err(e) => leptos::logging::warn!("unreadable watchlist event: {e}"),
                }
            }
            _ => match serde_json::from_str::<View>(data) {
                Ok(view) => table.hold(view),
                Err(e) => leptos::logging::warn!("unreadable view: {e}"),
            },
        },
    );
}
