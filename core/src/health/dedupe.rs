//! [`Dedupe`]: what de-duplication remembers, as the health view and the
//! monitor's alerts see it.

use serde::{Deserialize, Serialize};

/// What de-duplication remembers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dedupe {
    pub ids: u64,
    pub bytes: u64,
    /// `DEDUPE_MAX_BYTES`, when set.
    pub budget_bytes: Option<u64>,
    /// How long every id is remembered at least.
    pub window_secs: u64,
    /// `DEDUPE_TTL_SECS`: the window while the budget is not reached.
    pub ttl_secs: u64,
}

impl Dedupe {
    /// Whether the budget shortened the window below the TTL.
    pub fn shortened(&self) -> bool {
        self.window_secs < self.ttl_secs
    }
}
