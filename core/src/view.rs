//! [`View`]: everything tickpulse knows about one symbol right now, as the
//! calc stage (calc-a windows, calc-b merge) computes it.

use crate::{Price, StreamId, StreamTick, Symbol, Timestamp, Volume};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(rename_fields = "snake_case")
)]
pub struct View {
    pub symbol: Symbol,
    /// The newest tick by event time.
    pub last: StreamTick,
    /// The last N prices by event time, oldest first.
    pub last_prices: Vec<Price>,
    /// Simple moving average of `last_prices`.
    pub sma: Option<Decimal>,
    /// Volume-weighted average price over the last minute of event time;
    /// `None` when that minute holds no volume.
    pub vwap_1m: Option<Decimal>,
    pub volume_1m: Volume,
    /// Session (UTC day of event time) open, high and low.
    pub open: Price,
    pub session_open_ts: Timestamp,
    pub high: Price,
    pub low: Price,
    /// Last price minus session open, and the same in percent.
    pub change: Decimal,
    pub change_pct: Decimal,
    /// Ticks counted for this symbol, including late ones.
    pub tick_count: u64,
    /// Ticks older than the window: counted, but not in SMA/VWAP/volume.
    pub late_ticks: u64,
    /// When this view was computed.
    pub updated_at: Timestamp,
    /// The highest stream id included.
    pub stream_id: StreamId,
    /// The first price seen for this symbol (by arrival), which
    /// [`crate::LatestTick`] measures change against. Absent only in a view
    /// stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_price: Option<Price>,
}
