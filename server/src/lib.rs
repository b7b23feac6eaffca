//! The tickpulse server as a library: [`router`] builds the whole HTTP
//! surface from an [`AppState`], [`serve`] runs it until a shutdown future
//! completes. The binary (`main.rs`) only parses config and calls [`serve`];
//! tests call the same functions with their own config.

pub mod accounts;
pub mod bus;
pub mod error;
pub mod http;
pub mod market;
pub mod monitor;
pub mod pipeline;
pub mod platform;
pub mod site;
pub mod state;
pub mod store;
pub mod trading;
pub mod watchlists;

use crate::accounts::Accounts;
use crate::bus::redis::RedisSettings;
use crate::bus::{Bus, MemoryBus, MemorySettings, RedisBus};
use crate::pipeline::calc::CalcSettings;
use crate::pipeline::gateway::Gateway;
use crate::pipeline::ingest::{Durability, Ingest, TickWriter};
use crate::pipeline::persist::PersistSettings;
use crate::platform::config::{Config, Role};
use crate::platform::prometheus::Metrics;
use crate::platform::tasks::Tasks;
use crate::state::{AppState, Shared};
use crate::store::Store;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Every route of the server with its state. With a database, requests
/// carry a session (cookie `tickpulse_session`).
pub fn router(state: AppState) -> Router {
    if state.config.runs(Role::Api) {
        let routes = site::routes(http::api_routes(&state), &state)
            .layer(axum::middleware::from_fn_with_state(
                state.gate.clone(),
                accounts::extract::page_guard,
            ))
            .with_state(state.clone());
        let site = match &state.store {
            Some(store) => routes.layer(accounts::layer(
                store.sessions(),
                state.config.secure_cookies,
                state.config.session_idle_hours.max(1),
            )),
            None => routes,
        }
        .layer(axum::middleware::from_fn(platform::edge::browser::guard))
        .layer(axum::middleware::from_fn_with_state(
            state.assets.clone(),
            platform::edge::cache::headers,
        ))
        .layer(platform::edge::compress::layer())
        // Outermost: a refused request costs no session lookup.
        .layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            platform::edge::limits::guard,
        ));
        // The webhook has the rate limits alone.
        let webhook = http::webhook_routes().with_state(state.clone()).layer(
            axum::middleware::from_fn_with_state(
                state.limits.clone(),
                platform::edge::limits::guard,
            ),
        );
        site.merge(webhook)
    } else {
        http::health_routes().with_state(state)
    }
}

/// Builds the state: connects nothing yet (the bus connects lazily), and
/// starts every background task of the configured roles through `tasks`.
/// `shutdown` ends the long-lived responses (SSE); the tasks stop on their
/// own signal, given once the last request was answered.
///
/// # Errors
/// When the configuration is unusable (e.g. a malformed `REDIS_URL`).
pub async fn build_state(
    config: Config,
    shutdown: watch::Receiver<bool>,
    tasks: Tasks,
) -> anyhow::Result<AppState> {
    let bus: Arc<dyn Bus> = match &config.redis_url {
        Some(url) => {
            let bus = RedisBus::new(RedisSettings {
                url: url.clone(),
                cluster: config.redis_cluster,
                partitions: config.bus_partitions,
                prefix: config.redis_key_prefix.clone(),
                timeout: Duration::from_millis(config.redis_timeout_ms),
                dedupe_ttl_secs: config.dedupe_ttl_secs,
                dedupe_max_bytes: config.dedupe_max_bytes,
                stream_retain: Duration::from_secs(config.stream_retain_secs),
                stream_max_bytes: config.stream_retain_bytes,
            })?;
            // A bus of another number of partitions refuses this process
            // now; one that cannot be reached yet is checked on first use.
            match bus.check().await {
                Err(e) if e.kind == bus::Failure::Refused => return Err(e.into()),
                Err(e) => tracing::warn!(error = %e, "cannot check the bus's partitions yet"),
                Ok(()) => {}
            }
            Arc::new(bus)
        }
        None => {
            if config.bus_partitions != 1 {
                anyhow::bail!(
                    "BUS_PARTITIONS={} needs REDIS_URL: the embedded bus has one partition",
                    config.bus_partitions
                );
            }
            if !(config.runs(Role::Api) && config.runs(Role::Calc)) {
                tracing::warn!(
                    "without REDIS_URL the bus lives in this process alone: other processes cannot take the roles it leaves out"
                );
            }
            let journal = config.data_dir.join("bus.journal");
            Arc::new(MemoryBus::with_journal(
                MemorySettings {
                    dedupe_ttl: Duration::from_secs(config.dedupe_ttl_secs),
                    dedupe_max_bytes: config.dedupe_max_bytes,
                    stream_retain: Duration::from_secs(config.stream_retain_secs),
                    stream_max_bytes: config.stream_retain_bytes,
                },
                &journal,
            )?)
        }
    };
    let metrics = Arc::new(Metrics::default());
    let writer = TickWriter::start(bus.clone(), config.ingest_writers, &tasks);
    let gateway = Gateway::start(
        bus.clone(),
        metrics.clone(),
        Duration::from_secs(config.sse_keepalive_secs.max(1)),
        shutdown.clone(),
        &tasks,
    );
    if config.runs(Role::Calc) {
        let settings = CalcSettings {
            lease: pipeline::leased::LeaseSettings::of(&config),
            window: tickpulse_core::WindowSettings {
                sma_len: config.sma_len.max(1),
                ..Default::default()
            },
            panic_once: config
                .fault_injection
                .as_deref()
                .is_some_and(|f| f.split(',').any(|f| f.trim() == "calc-panic"))
                .then(|| Arc::new(std::sync::atomic::AtomicBool::new(true))),
        };
        let (bus, metrics, stop) = (bus.clone(), metrics.clone(), tasks.shutdown());
        tasks.supervise("calc", move || {
            pipeline::calc::run(bus.clone(), settings.clone(), metrics.clone(), stop.clone())
        });
    }
    let store = store::open(&config.store_settings()).await?;
    if store.is_none() {
        tracing::info!("no DATABASE_URL: ticks are not persisted, and there are no accounts");
    }
    let accounts = store.clone().map(|s| Arc::new(Accounts::new(s)));
    let seed = trading::catalog::seed_symbols(&config.catalog_seed)
        .map_err(|e| anyhow::anyhow!("CATALOG_SEED: {e}"))?;
    if let (Some(store), Some(accounts)) = (&store, &accounts) {
        start_database(
            bus.clone(),
            store.clone(),
            accounts.clone(),
            seed,
            &config,
            metrics.clone(),
            &tasks,
        );
    } else if !seed.is_empty() {
        tracing::warn!("CATALOG_SEED is set, but there is no database to keep a catalog in");
    }
    {
        // Its last beat says the node stops.
        let beater = monitor::beat::beater(&config, bus.clone(), metrics.clone(), gateway.clone());
        let stop = tasks.shutdown();
        tasks.supervise("beat", move || {
            monitor::beat::run(beater.clone(), stop.clone())
        });
    }
    if config.runs(Role::Monitor) {
        let settings = monitor::watch::MonitorSettings {
            node: config.node_id(),
            lease_ttl: Duration::from_secs(config.monitor_lease_secs.max(1)),
            thresholds: config.thresholds(),
            anomalies: config.anomaly_settings(),
            metrics_retain_days: config.metrics_retain_days,
        };
        let (bus, store, stop) = (bus.clone(), store.clone(), tasks.shutdown());
        // It hands its lease back when it stops.
        tasks.supervise("monitor", move || {
            monitor::watch::run(bus.clone(), store.clone(), settings.clone(), stop.clone())
        });
    }
    let durability = store
        .clone()
        .map(|s| Durability::start(s, Duration::from_millis(config.durable_timeout_ms), &tasks));
    let limits = Arc::new(platform::edge::limits::Limits::new(
        &config,
        metrics.clone(),
    ));
    {
        let (limits, stop) = (limits.clone(), tasks.shutdown());
        tasks.supervise("limits-sweeper", move || {
            let (limits, mut stop) = (limits.clone(), stop.clone());
            async move {
                while platform::tasks::pause(&mut stop, Duration::from_secs(60)).await {
                    limits.forget_idle();
                }
            }
        });
    }
    if config.test_leak_mb_per_min > 0 {
        // The test hook of `node.memory_growth`: memory held and touched.
        let per_sec = (config.test_leak_mb_per_min as usize * 1024 * 1024 / 60).max(1);
        tracing::warn!(
            mb_per_min = config.test_leak_mb_per_min,
            "TEST_LEAK_MB_PER_MIN is set: this process leaks memory on purpose"
        );
        tokio::spawn(async move {
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                held.push(vec![1; per_sec]);
            }
        });
    }
    let config = Arc::new(config);
    let (leptos_options, assets) = site::load(&config).map_err(anyhow::Error::msg)?;
    let gate = Arc::new(accounts::Gate {
        accounts: accounts.clone(),
        api_key: config.api_key.clone(),
        admin_api_key: config.admin_api_key.clone(),
        css: assets.css.clone(),
    });
    let market = Arc::new(market::MarketReads::new(bus.clone(), store.clone()));
    let trading = store.clone().map(|store| {
        Arc::new(trading::Trading::new(
            store,
            bus.clone(),
            metrics.clone(),
            trading::Settings::of(&config),
        ))
    });
    let watchlists = store.clone().map(|store| {
        Arc::new(watchlists::Watchlists::new(
            store,
            bus.clone(),
            watchlists::limits(config.watchlist_max_symbols),
        ))
    });
    Ok(AppState::new(Shared {
        leptos_options,
        assets: Arc::new(assets),
        ingest: Arc::new(Ingest {
            config: config.clone(),
            writer,
            durability,
            metrics: metrics.clone(),
            limits: limits.clone(),
        }),
        limits,
        config,
        bus,
        store,
        accounts,
        gate,
        market,
        trading,
        watchlists,
        tasks,
        gateway,
        metrics,
        shutdown,
    }))
}

/// The `database` task: applies the migrations (retrying while the
/// database is down; every process with a database does, the migrator takes
/// a lock), creates the first admin, seeds the catalog (`CATALOG_SEED`),
/// then starts the `session-sweeper` and, if this process has those roles,
/// the `trade` and `persist` consumers.
fn start_database(
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    seed: Vec<tickpulse_core::Symbol>,
    config: &Config,
    metrics: Arc<Metrics>,
    tasks: &Tasks,
) {
    let persist = config.runs(Role::Persist).then(|| PersistSettings {
        consumer: config.node_id(),
        batch_max: config.persist_batch_max.max(1),
        batch_wait: Duration::from_millis(config.persist_batch_wait_ms),
        claim_idle: Duration::from_secs(config.claim_idle_secs),
        // SQLite takes one writer at a time: more would only wait for it.
        writers: if config.database_url.is_some() {
            usize::from(config.persist_writers)
        } else {
            1
        },
        test_delay: Duration::from_millis(config.test_persist_delay_ms),
    });
    let trade = config
        .runs(Role::Trade)
        .then(|| trading::role::TradeSettings {
            lease: pipeline::leased::LeaseSettings::of(&config),
            fault: trading::role::Fault::of(config.fault_injection.as_deref()),
        });
    let admin = (config.admin_username.clone(), config.admin_password.clone());
    let tasks_ = tasks.clone();
    // Set once the later tasks are started: a restart then has nothing left
    // to do (and must not start them twice).
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    tasks.supervise("database", move || {
        let (bus, store, accounts, metrics, tasks) = (
            bus.clone(),
            store.clone(),
            accounts.clone(),
            metrics.clone(),
            tasks_.clone(),
        );
        let (admin, persist, trade, started, seed) = (
            admin.clone(),
            persist.clone(),
            trade.clone(),
            started.clone(),
            seed.clone(),
        );
        async move {
            use std::sync::atomic::Ordering::SeqCst;
            if started.load(SeqCst) {
                return;
            }
            let mut shutdown = tasks.shutdown();
            let mut backoff = platform::tasks::Backoff::new();
            while let Err(e) = store.migrate().await {
                tracing::warn!(error = %e, "cannot migrate the database yet; retrying");
                if !platform::tasks::pause(&mut shutdown, backoff.next()).await {
                    return;
                }
            }
            if let Err(e) = accounts
                .bootstrap(admin.0.as_deref(), admin.1.as_deref())
                .await
            {
                tracing::error!(error = %e, "the first admin (ADMIN_USERNAME) was not created");
            }
            match trading::catalog::seed(store.as_ref(), &seed).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(stocks = n, "seeded the catalog (CATALOG_SEED)"),
                Err(e) => tracing::error!(error = %e, "the catalog was not seeded (CATALOG_SEED)"),
            }
            started.store(true, SeqCst);
            let sessions = store.sessions();
            let stop = tasks.shutdown();
            tasks.supervise("session-sweeper", move || {
                sweep_sessions(sessions.clone(), stop.clone())
            });
            if let Some(settings) = trade {
                let (bus, store, metrics, stop) = (
                    bus.clone(),
                    store.clone(),
                    metrics.clone(),
                    tasks.shutdown(),
                );
                tasks.supervise("trade", move || {
                    trading::role::run(
                        bus.clone(),
                        store.clone(),
                        settings.clone(),
                        metrics.clone(),
                        stop.clone(),
                    )
                });
            }
            if let Some(settings) = persist {
                let stop = tasks.shutdown();
                tasks.supervise("persist", move || {
                    pipeline::persist::run(
                        bus.clone(),
                        store.clone(),
                        settings.clone(),
                        metrics.clone(),
                        stop.clone(),
                    )
                });
            }
        }
    });
}

/// Deletes expired sessions hourly until shutdown; a failure (the database
/// is down) ends one round, not the cleanup.
async fn sweep_sessions(sessions: store::SessionBackend, mut shutdown: watch::Receiver<bool>) {
    use tower_sessions::session_store::ExpiredDeletion;
    loop {
        tokio::select! {
            r = sessions.clone().continuously_delete_expired(Duration::from_secs(3_600)) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "expired sessions not deleted; retrying in a minute");
                }
            }
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if !platform::tasks::pause(&mut shutdown, Duration::from_secs(60)).await {
            return;
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then lets open requests
/// finish (SSE streams end at once).
///
/// # Errors
/// When the configuration is unusable or the listener fails.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.ingest_credentials().is_none() {
        tracing::warn!(
            "INGEST_USERNAME / INGEST_PASSWORD are not set: the ingest webhook answers 503"
        );
    }
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let stall = Duration::from_secs(config.sse_stall_secs.max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stop_tasks, tasks_stop) = watch::channel(false);
    let state = build_state(config, stop_rx, Tasks::new(tasks_stop)).await?;
    if let Err(e) = state.bus.ping().await {
        tracing::warn!(error = %e, "Redis does not answer yet; readiness reports unavailable until it does");
    }
    tracing::info!(addr = %listener.local_addr()?, "tickpulse listening");
    let app =
        router(state.clone()).into_make_service_with_connect_info::<platform::edge::conn::Peer>();
    let listener = platform::edge::conn::StallListener::new(listener, stall, state.metrics.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await?;
    // Every request is answered: now the tasks stop (the writers have
    // nothing left to write, the last heartbeat says "stopping", the monitor
    // lease is handed back).
    let _ = stop_tasks.send(true);
    let late = state.tasks.join(grace).await;
    if late.is_empty() {
        tracing::info!(left_running = 0, "every task stopped");
    } else {
        tracing::error!(left_running = late.len(), tasks = ?late, "tasks left running after the grace period were aborted");
    }
    Ok(())
}
