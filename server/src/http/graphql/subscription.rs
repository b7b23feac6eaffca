//! The subscriptions (`graphql-transport-ws`): the live feed of the SSE
//! and WebSocket doors ([`crate::pipeline::gateway::feed`]: no gap or
//! repeat, resume, conflation, bounded memory), and a user's order events.
//! Their arguments are read by the WebSocket door's rule
//! ([`tickpulse_core::live::request`]).

use super::{Answer, Caller};
use crate::error::ApiError;
use crate::http::watchlists::follow as follow_list;
use crate::pipeline::gateway::encoder::Encoder;
use crate::pipeline::gateway::feed::Feed;
use crate::state::AppState;
use async_graphql::{Context, Result, SimpleObject};
use bytes::Bytes;
use futures::Stream;
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use tickpulse_core::live::{request, Follow, Request, Subscription as Asked};
use tickpulse_core::trade::{OrderEvent, StockEvent};
use tickpulse_core::watchlist::WatchlistEvent;
use tickpulse_core::{Cursor, Snapshot, StreamTick, View};

pub struct Subscription;

/// One event of the live feed: `event` names it as the SSE stream does,
/// and the field of that name holds its data.
#[derive(SimpleObject, Default)]
#[graphql(rename_fields = "snake_case")]
pub struct MarketEvent {
    /// snapshot, tick, view, stock or watchlist.
    pub event: String,
    /// The position to resume from (`from`): on ticks, and on snapshots of
    /// everything followed.
    pub id: Option<String>,
    /// With conflation: how many updates of the symbol this one replaces.
    pub skipped: Option<u64>,
    pub snapshot: Option<Snapshot>,
    pub tick: Option<StreamTick>,
    pub view: Option<View>,
    pub stock: Option<StockEvent>,
    pub watchlist: Option<WatchlistEvent>,
}

/// The feed's events as GraphQL objects.
#[derive(Default)]
struct Collect(VecDeque<MarketEvent>);

fn read<T: serde::de::DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json)
        .map_err(|e| tracing::error!(error = %e, "an event the feed wrote could not be read"))
        .ok()
}

impl Encoder for Collect {
    fn tick(&mut self, position: &[Bytes], json: &[u8], skipped: Option<u64>) {
        let id = position
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect::<Vec<_>>()
            .join(",");
        self.0.push_back(MarketEvent {
            event: "tick".into(),
            id: Some(id),
            skipped,
            tick: read(json),
            ..MarketEvent::default()
        });
    }

    fn event(&mut self, name: &'static str, json: &[u8], skipped: Option<u64>) {
        let mut event = MarketEvent {
            event: name.into(),
            skipped,
            ..MarketEvent::default()
        };
        match name {
            "view" => event.view = read(json),
            "stock" => event.stock = read(json),
            "watchlist" => event.watchlist = read(json),
            _ => return,
        }
        self.0.push_back(event);
    }

    fn snapshot(&mut self, _reset: bool, position: Option<&Cursor>, json: &[u8]) {
        self.0.push_back(MarketEvent {
            event: "snapshot".into(),
            id: position.map(ToString::to_string),
            snapshot: read(json),
            ..MarketEvent::default()
        });
    }

    fn keepalive(&mut self) {}

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The signed-in user's name.
fn username(ctx: &Context<'_>) -> Result<String> {
    Ok(ctx
        .data_unchecked::<Caller>()
        .user()
        .answer()?
        .username
        .clone())
}

#[async_graphql::Subscription(rename_fields = "snake_case", rename_args = "snake_case")]
impl Subscription {
    /// Ticks and views of `symbols` (none: every symbol) or of your
    /// `watchlist` (followed as it changes): a snapshot first, or, `from` a
    /// position, the ticks after it. `conflate` (10ms to 60s): at most one
    /// tick and one view per symbol per interval, the latest.
    async fn market(
        &self,
        ctx: &Context<'_>,
        symbols: Option<Vec<String>>,
        watchlist: Option<i64>,
        conflate: Option<String>,
        from: Option<String>,
    ) -> Result<impl Stream<Item = MarketEvent>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let mut asked = json!({ "action": if from.is_some() { "resume" } else { "subscribe" } });
        for (name, value) in [
            ("symbols", symbols.map(|s| json!(s))),
            ("watchlist", watchlist.map(|w| json!(w))),
            ("conflate", conflate.map(|c| json!(c))),
            ("from", from.map(|f| json!(f))),
        ] {
            if let Some(v) = value {
                asked[name] = v;
            }
        }
        let (Asked { follow, conflate }, resume) = match request(asked.to_string().as_bytes())
            .map_err(ApiError::fields)
            .answer()?
        {
            Request::Subscribe(s) => (s, None),
            Request::Resume { from, subscription } => (subscription, Some(from)),
            _ => unreachable!("a subscribe or a resume was written"),
        };
        let (filter, following) = match follow {
            Follow::All => (None, None),
            Follow::Symbols(list) => (Some(list.into_iter().collect::<HashSet<_>>()), None),
            Follow::Watchlist(id) => {
                let (symbols, following) =
                    follow_list(&state, &username(ctx)?, id).await.answer()?;
                (Some(symbols), Some(following))
            }
        };
        let mut first = Collect::default();
        let feed = Feed::open(
            &state.gateway,
            filter,
            following,
            resume,
            conflate,
            &mut first,
        )
        .await
        .answer()?;
        Ok(futures::stream::unfold(
            (feed, first),
            |(mut feed, mut out)| async move {
                loop {
                    if let Some(event) = out.0.pop_front() {
                        return Some((event, (feed, out)));
                    }
                    match feed.next(&mut out).await {
                        Ok(true) => {}
                        // The subscription ends; the client subscribes again
                        // from its last position.
                        Ok(false) | Err(_) => return None,
                    }
                }
            },
        ))
    }

    /// Changes of your orders (`GET /api/orders/stream`'s `order` events).
    async fn orders(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = OrderEvent>> {
        let state = ctx.data_unchecked::<AppState>();
        let user = username(ctx)?;
        let rx = state.gateway.orders();
        Ok(futures::stream::unfold(
            (rx, user),
            |(mut rx, user)| async move {
                loop {
                    match rx.recv().await {
                        Ok(frame) if frame.user == user => {
                            if let Some(event) = read::<OrderEvent>(&frame.json) {
                                return Some((event, (rx, user)));
                            }
                        }
                        Ok(_) => {}
                        // Missed changes end the subscription: the client
                        // reads its orders afresh and subscribes again.
                        Err(_) => return None,
                    }
                }
            },
        ))
    }
}
