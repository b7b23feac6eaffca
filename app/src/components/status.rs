//! The live connection's state and the badge that shows it in a page's
//! header.

use leptos::prelude::*;

/// State of the live connection, shown in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

#[component]
pub fn StatusBadge(status: RwSignal<Connection>) -> impl IntoView {
    let label = move || match status.get() {
        Connection::Connecting => "Connecting…",
        Connection::Live => "Live",
        Connection::Reconnecting => "Reconnecting…",
    };
    let class = move || match status.get() {
        Connection::Connecting => "status connecting",
        Connection::Live => "status live",
        Connection::Reconnecting => "status reconnecting",
    };
    view! { <span class=class role="status" aria-live="polite" data-status=label>{label}</span> }
}
