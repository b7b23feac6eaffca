//! Every setting of the `tickpulse` server, from flags or environment
//! variables. Defaults run on a laptop; `.env.sample` lists them all.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "tickpulse",
    version,
    about = "Real-time market data: ingest, stream, dashboard."
)]
pub struct Config {
    /// Without a command, the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address the HTTP server listens on.
    #[arg(long, env = "TICKPULSE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Redis connection URL. Unset: the bus runs inside this process
    /// (embedded mode), journaled under `DATA_DIR`; set it when several
    /// processes share the work. A comma-separated list of addresses is a
    /// Redis Cluster's seed nodes (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// `REDIS_URL` is a Redis Cluster even though it names one address.
    #[arg(long, env = "REDIS_CLUSTER", default_value_t = false)]
    pub redis_cluster: bool,

    /// Partitions of the tick stream on Redis, each under its own hash tag
    /// (so a cluster spreads them over its masters). Fixed per deployment:
    /// a process started with another number than the bus holds refuses to
    /// run. The embedded mode has one.
    #[arg(long, env = "BUS_PARTITIONS", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(tickpulse_core::partition::MAX_PARTITIONS)))]
    pub bus_partitions: u16,

    /// Folder for what the embedded mode keeps on disk (the bus journal).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Prefix for every Redis key and channel, so several deployments (or
    /// test runs) can share one Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "")]
    pub redis_key_prefix: String,

    /// How long a Redis call may take before the request fails with 503.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 2_000)]
    pub redis_timeout_ms: u64,

    /// How long the process waits for a Postgres connection from its pool
    /// before a request fails with 503 (a commit already running is not cut
    /// short).
    #[arg(long, env = "DATABASE_TIMEOUT_MS", default_value_t = 2_000)]
    pub database_timeout_ms: u64,

    /// How long a stopping process waits for its background tasks (after
    /// the last request was answered) before it aborts them.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Fault injection for tests only, comma-separated: `calc-panic` makes
    /// the calc task panic at its first batch (once per process). Never set
    /// it in production.
    #[arg(long, env = "FAULT_INJECTION", hide = true)]
    pub fault_injection: Option<String>,

    /// Which parts this process runs: `api` (HTTP ingest, read API, SSE and
    /// pages), `calc` (window statistics; one process at a time is active),
    /// `persist` (writes ticks to Postgres; needs DATABASE_URL), `monitor`
    /// (watches heartbeats and feeds, raises alerts; one process at a time
    /// is active), `trade` (fills resting limit orders from the tick
    /// stream and expires day orders; needs DATABASE_URL; one process at a
    /// time is active). Health endpoints and heartbeats come from every
    /// process.
    #[arg(
        long,
        env = "ROLES",
        value_delimiter = ',',
        default_value = "api,calc,persist,monitor,trade"
    )]
    pub roles: Vec<Role>,

    /// N of the last-N prices and SMA(N) of each symbol's view.
    #[arg(long, env = "SMA_LEN", default_value_t = 20)]
    pub sma_len: usize,

    /// Postgres connection URL. When set, accepted ticks are persisted to
    /// `md_ticks` (migrations are applied on start).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// This process's name among the processes sharing Redis (its consumer
    /// name in consumer groups); keep it stable across restarts.
    /// Default: `<hostname>-<port>`.
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,

    /// Most ticks written to Postgres in one transaction.
    #[arg(long, env = "PERSIST_BATCH_MAX", default_value_t = 5_000)]
    pub persist_batch_max: usize,

    /// Longest a tick waits for its persist batch to fill, in milliseconds.
    #[arg(long, env = "PERSIST_BATCH_WAIT_MS", default_value_t = 200)]
    pub persist_batch_wait_ms: u64,

    /// Persist batches written at the same time, each in its own
    /// transaction on its own connection (1 writes them one after another).
    #[arg(long, env = "PERSIST_WRITERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub persist_writers: u16,

    /// How long a `?ack=durable` request waits for its ticks to be committed
    /// in Postgres before it answers 503 (the ticks stay accepted), in ms.
    #[arg(long, env = "DURABLE_TIMEOUT_MS", default_value_t = 10_000)]
    pub durable_timeout_ms: u64,

    /// Entries another consumer has held this long unacknowledged are taken
    /// over (that consumer is presumed dead), in seconds.
    #[arg(long, env = "CLAIM_IDLE_SECS", default_value_t = 30)]
    pub claim_idle_secs: u64,

    /// User name feeders must send (HTTP Basic Auth) to the ingest webhook.
    /// Ingest answers 503 while it or the password is unset.
    #[arg(long, env = "INGEST_USERNAME")]
    pub ingest_username: Option<String>,

    /// Password feeders must send to the ingest webhook.
    #[arg(long, env = "INGEST_PASSWORD", hide_env_values = true)]
    pub ingest_password: Option<String>,

    /// How long an `event_id` is remembered for de-duplication, in seconds
    /// (at least this long, at most twice as long).
    /// Memory grows with ticks/s times this window.
    #[arg(long, env = "DEDUPE_TTL_SECS", default_value_t = 3_600)]
    pub dedupe_ttl_secs: u64,

    /// Most bytes the remembered event ids may take, over all partitions
    /// (0: no bound). Past it ids are remembered for less than
    /// `DEDUPE_TTL_SECS` (as long as the budget allows at the current
    /// rate); `/metrics`, the health view and an alert say so. A duplicate
    /// is never guessed: an id is either remembered exactly or forgotten.
    #[arg(long, env = "DEDUPE_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub dedupe_max_bytes: u64,

    /// Seconds an entry stays in the tick stream after every consumer
    /// group acknowledged it (entries not yet acknowledged always stay).
    #[arg(long, env = "STREAM_RETAIN_SECS", default_value_t = 300)]
    pub stream_retain_secs: u64,

    /// Most bytes the tick stream's entries may take, over all partitions
    /// (0: no bound). Past it the oldest acknowledged entries go before
    /// `STREAM_RETAIN_SECS`; entries a consumer group has not acknowledged
    /// always stay, so a stalled consumer can still hold more.
    #[arg(long, env = "STREAM_RETAIN_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub stream_retain_bytes: u64,

    /// Largest accepted ingest request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Concurrent Redis writes of the ingest writer; requests arriving while
    /// all are busy are coalesced into the next write.
    #[arg(long, env = "INGEST_WRITERS", default_value_t = 4)]
    pub ingest_writers: usize,

    /// Seconds between SSE keep-alive comments.
    #[arg(long, env = "SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub sse_keepalive_secs: u64,

    /// The cash a user's trading account opens with.
    #[arg(long, env = "STARTING_CASH", default_value = "100000", value_parser = parse_cash)]
    pub starting_cash: rust_decimal::Decimal,

    /// A market order is refused (`no_live_price`) when the stock's last
    /// price is older than this many seconds.
    #[arg(long, env = "TRADE_STALE_SECS", default_value_t = 60)]
    pub trade_stale_secs: u64,

    /// The most symbols one watchlist holds.
    #[arg(long, env = "WATCHLIST_MAX_SYMBOLS", default_value_t = tickpulse_core::watchlist::DEFAULT_MAX_SYMBOLS as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub watchlist_max_symbols: u64,

    /// Stocks put in the catalog on start with 100 shares each, when not
    /// there yet: comma-separated symbols, or `demo` for the feeder's
    /// default ones (`scripts/run.sh` sets it).
    #[arg(long, env = "CATALOG_SEED", value_delimiter = ',')]
    pub catalog_seed: Vec<String>,

    /// Ingest requests per second allowed per ingest credential, and
    /// separately per client address (0: no limit). Past the burst, a
    /// request gets 429 with `Retry-After`.
    #[arg(long, env = "INGEST_RATE_PER_SEC", default_value_t = 100_000)]
    pub ingest_rate_per_sec: u32,

    /// Ingest requests a credential or an address may send at once before
    /// `INGEST_RATE_PER_SEC` applies.
    #[arg(long, env = "INGEST_RATE_BURST", default_value_t = 200_000)]
    pub ingest_rate_burst: u32,

    /// `/api/*` requests per second allowed per client address (0: no
    /// limit); opening an SSE stream counts as one.
    #[arg(long, env = "API_RATE_PER_SEC", default_value_t = 1_000)]
    pub api_rate_per_sec: u32,

    /// `/api/*` requests an address may send at once (5,000 streams opened
    /// together fit).
    #[arg(long, env = "API_RATE_BURST", default_value_t = 10_000)]
    pub api_rate_burst: u32,

    /// `/auth/*` requests (sign-in, sign-out, the session's calls) per
    /// second per client address (0: no limit). Wrong passwords are also
    /// throttled per account and address, whatever this says.
    #[arg(long, env = "AUTH_RATE_PER_SEC", default_value_t = 10)]
    pub auth_rate_per_sec: u32,

    /// `/auth/*` requests an address may send at once.
    #[arg(long, env = "AUTH_RATE_BURST", default_value_t = 50)]
    pub auth_rate_burst: u32,

    /// Take the client address for rate limits and sign-in throttling from
    /// the last `X-Forwarded-For` entry (what the nearest proxy saw). Only
    /// behind a proxy that sets it: otherwise clients could pick their own.
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,

    /// Seconds a connection's socket may accept nothing while there is
    /// something to send (an SSE client that stopped reading) before the
    /// connection is closed.
    #[arg(long, env = "SSE_STALL_SECS", default_value_t = 30)]
    pub sse_stall_secs: u64,

    /// Folder holding the built site (`pkg/` with the WASM, JS and CSS, plus
    /// the files of `public/`).
    #[arg(long, env = "SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// The first admin, created on start when there is no account yet
    /// (with ADMIN_PASSWORD). There is never a default password.
    #[arg(long, env = "ADMIN_USERNAME")]
    pub admin_username: Option<String>,

    /// The first admin's password (at least 8 characters).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// When set, `/api/*` answers only requests with this `x-api-key`
    /// header or the session cookie of a signed-in user.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Key for scripts reading `/api/admin/*` (`x-api-key` header) without
    /// an admin session. Unset: only admins signed in can.
    #[arg(long, env = "ADMIN_API_KEY", hide_env_values = true)]
    pub admin_api_key: Option<String>,

    /// Mark the session cookie `Secure`: set it when users reach tickpulse
    /// over HTTPS (e.g. behind a TLS proxy).
    #[arg(long, env = "SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// A session ends after this many hours without a request.
    #[arg(long, env = "SESSION_IDLE_HOURS", default_value_t = 12)]
    pub session_idle_hours: i64,

    /// How often this process sends its heartbeat, in milliseconds.
    #[arg(long, env = "HEARTBEAT_MS", default_value_t = 2_000)]
    pub heartbeat_ms: u64,

    /// Silence after which the monitor marks a node `down`, in seconds
    /// (`suspect` comes after 3 missed heartbeats).
    #[arg(long, env = "NODE_DOWN_SECS", default_value_t = 10)]
    pub node_down_secs: u64,

    /// Silence of a feed source after which it is stale, in seconds.
    #[arg(long, env = "FEED_STALE_SECS", default_value_t = 30)]
    pub feed_stale_secs: u64,

    /// The monitor lease: if the active monitor dies, another process with
    /// the `monitor` role takes over within this many seconds.
    #[arg(long, env = "MONITOR_LEASE_SECS", default_value_t = 5)]
    pub monitor_lease_secs: u64,

    /// How long a node that stopped beating stays listed, in seconds.
    #[arg(long, env = "NODE_FORGET_SECS", default_value_t = 3_600)]
    pub node_forget_secs: u64,

    /// How often the monitor writes a row of figures per node to the metric
    /// history (`node_metric`) and runs the anomaly rules, in seconds.
    #[arg(long, env = "METRICS_SAMPLE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub metrics_sample_secs: u64,

    /// Days the metric history is kept (10-second rows for a day, 1-minute
    /// rows for a week, 1-hour rows after that).
    #[arg(long, env = "METRICS_RETAIN_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_650))]
    pub metrics_retain_days: u64,

    /// `feed.rate_anomaly`: how far a feed's rate may leave its baseline, in
    /// standard deviations.
    #[arg(long, env = "ANOMALY_K_SIGMA", default_value_t = 4.0)]
    pub anomaly_k_sigma: f64,

    /// `feed.rate_anomaly`: samples in a row out of bounds before it is
    /// raised (and back inside before it clears).
    #[arg(long, env = "ANOMALY_INTERVALS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub anomaly_intervals: u32,

    /// `feed.rate_anomaly`: the span a feed's rate baseline remembers, in
    /// seconds.
    #[arg(long, env = "ANOMALY_BASELINE_SECS", default_value_t = 3_600)]
    pub anomaly_baseline_secs: u64,

    /// How long persist lag or CPU must stay high before an alert (and low
    /// again before it clears), in seconds.
    #[arg(long, env = "ANOMALY_HOLD_SECS", default_value_t = 60)]
    pub anomaly_hold_secs: u64,

    /// `pipeline.backlog_growing`: how long a group's lag must grow.
    #[arg(long, env = "ANOMALY_BACKLOG_SECS", default_value_t = 300)]
    pub anomaly_backlog_secs: u64,

    /// `pipeline.persist_lag`: the p99 of receive → commit that warns, ms.
    #[arg(long, env = "PERSIST_LAG_WARN_MS", default_value_t = 2_000)]
    pub persist_lag_warn_ms: u64,

    /// `node.cpu_high`: the CPU (% of one core) that warns.
    #[arg(long, env = "CPU_HIGH_PCT", default_value_t = 90.0)]
    pub cpu_high_pct: f64,

    /// `node.memory_growth`: the span the RSS trend is fitted over, seconds.
    #[arg(long, env = "MEMORY_WINDOW_SECS", default_value_t = 600)]
    pub memory_window_secs: u64,

    /// `node.memory_growth`: the RSS slope that warns, MB per minute.
    #[arg(long, env = "MEMORY_SLOPE_MB_PER_MIN", default_value_t = 1.0)]
    pub memory_slope_mb_per_min: f64,

    /// The memory a node may use, MB: the growth alert says when, at its
    /// slope, the node reaches it.
    #[arg(long, env = "MEMORY_LIMIT_MB", default_value_t = 1_024)]
    pub memory_limit_mb: u64,

    /// `sse.resets`: reset snapshots in one sample that make a burst.
    #[arg(long, env = "SSE_RESET_BURST", default_value_t = 20)]
    pub sse_reset_burst: u64,

    /// Test hook: persist waits this long before each commit (to see
    /// `pipeline.persist_lag` raised). Never set it in production.
    #[arg(long, env = "TEST_PERSIST_DELAY_MS", default_value_t = 0, hide = true)]
    pub test_persist_delay_ms: u64,

    /// Test hook: the process holds this many more MB of memory every
    /// minute (to see `node.memory_growth` raised). Never set it in
    /// production.
    #[arg(long, env = "TEST_LEAK_MB_PER_MIN", default_value_t = 0, hide = true)]
    pub test_leak_mb_per_min: u64,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Api,
    Calc,
    Persist,
    Monitor,
    Trade,
}

/// `STARTING_CASH`: an exact decimal of 0 or more.
fn parse_cash(text: &str) -> Result<rust_decimal::Decimal, String> {
    tickpulse_core::Money::parse(text)
        .map_err(|e| e.to_string())
        .and_then(|m| {
            if m.value().is_sign_negative() {
                Err("must be 0 or more".to_owned())
            } else {
                Ok(m.value())
            }
        })
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Calc => "calc",
            Self::Persist => "persist",
            Self::Monitor => "monitor",
            Self::Trade => "trade",
        }
    }
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Manage accounts, in the database of DATABASE_URL (or the embedded
    /// one under DATA_DIR).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage the stock catalog, in the database of DATABASE_URL (or the
    /// embedded one under DATA_DIR).
    Catalog {
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Prints the HTTP API's OpenAPI document (what `GET /api/openapi.json`
    /// serves) and exits.
    Openapi,
    /// Prints the GraphQL schema (`/api/graphql`'s, `docs/schema.graphql`)
    /// and exits.
    GraphqlSchema,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserAction {
    /// Adds an account. The password is asked for on the terminal, or read
    /// as the first line of standard input when that is not a terminal.
    Add {
        name: String,
        /// Make it an admin (may open the health view); default: viewer.
        #[arg(long)]
        admin: bool,
    },
    /// Sets a new password (asked for like `add`); the user's sessions end.
    Passwd { name: String },
    /// Lists the accounts.
    List,
    /// Removes an account; its sessions end.
    Remove { name: String },
    /// Prints a new personal token for the user, once (only its hash is
    /// kept). Programs send it as `Authorization: Bearer <token>`.
    Token { name: String },
}

#[derive(Debug, Clone, Subcommand)]
pub enum CatalogAction {
    /// Adds a stock with the shares the house can sell.
    Add {
        symbol: String,
        #[arg(long)]
        quantity: u64,
        /// What people call it; the symbol when absent.
        #[arg(long)]
        name: Option<String>,
    },
    /// Sets how many shares the house can still sell.
    SetQuantity { symbol: String, quantity: u64 },
    /// Lists the catalog.
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["tickpulse"])
    }

    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// This node's id: `NODE_ID`, or `<hostname>-<port>`.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into());
            format!("{host}-{}", self.addr.port())
        })
    }

    /// Which database this process keeps its ticks, accounts and trading
    /// in: `DATABASE_URL`, else the embedded SQLite file under `DATA_DIR`
    /// when there is no `REDIS_URL` either, else none.
    pub fn store_settings(&self) -> crate::store::StoreSettings {
        crate::store::StoreSettings {
            database_url: self.database_url.clone(),
            embedded_path: self
                .redis_url
                .is_none()
                .then(|| self.data_dir.join("ticks.db")),
            timeout: std::time::Duration::from_millis(self.database_timeout_ms),
        }
    }

    /// When nodes and feeds change state.
    pub fn thresholds(&self) -> tickpulse_core::health::Thresholds {
        tickpulse_core::health::Thresholds {
            beat_ms: self.heartbeat_ms.max(100) as i64,
            suspect_after_missed: 3,
            down_after_ms: (self.node_down_secs.max(1) * 1_000) as i64,
            feed_stale_ms: (self.feed_stale_secs.max(1) * 1_000) as i64,
        }
    }

    pub fn anomaly_settings(&self) -> tickpulse_core::health::AnomalySettings {
        tickpulse_core::health::AnomalySettings {
            sample_secs: self.metrics_sample_secs.max(1),
            k_sigma: self.anomaly_k_sigma.max(0.5),
            rate_intervals: self.anomaly_intervals.max(1),
            baseline_secs: self.anomaly_baseline_secs.max(1),
            persist_lag_warn_ms: self.persist_lag_warn_ms as f64,
            hold_secs: self.anomaly_hold_secs,
            backlog_secs: self.anomaly_backlog_secs,
            cpu_high_pct: self.cpu_high_pct,
            memory_window_secs: self.memory_window_secs.max(1),
            memory_slope_mb_per_min: self.memory_slope_mb_per_min,
            memory_limit_mb: self.memory_limit_mb as f64,
            sse_reset_burst: self.sse_reset_burst.max(1),
        }
    }

    /// The ingest credentials, when both are set.
    pub fn ingest_credentials(&self) -> Option<(&str, &str)> {
        match (&self.ingest_username, &self.ingest_password) {
            (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Some((u, p)),
            _ => None,
        }
    }
}
