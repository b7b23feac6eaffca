//! `tickpulse`: parse the configuration, set up logging, serve until Ctrl-C
//! or SIGTERM.

use clap::Parser;
use tickpulse_server::platform::config::{Command, Config, LogFormat};
use tickpulse_server::platform::logging::JsonLines;
use tracing_subscriber::EnvFilter;

/// mimalloc: allocation is a large share of per-request work at high rates.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .event_format(JsonLines {
                service: "tickpulse",
                node_id: config.node_id(),
            })
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    match &config.command {
        Some(Command::User { action }) => {
            return tickpulse_server::accounts::cli::run(&config, action).await;
        }
        Some(Command::Catalog { action }) => {
            return tickpulse_server::trading::catalog::run(&config, action).await;
        }
        Some(Command::Openapi) => {
            print!("{}", tickpulse_server::http::openapi::document());
            return Ok(());
        }
        Some(Command::GraphqlSchema) => {
            print!("{}", tickpulse_server::http::graphql::sdl());
            return Ok(());
        }
        None => {}
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
    tickpulse_server::serve(listener, config, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
