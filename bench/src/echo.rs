//! `bench-echo`: the baseline of the ingest benchmark, a bare axum server
//! that answers every POST with its body. Whatever tickpulse does beyond
//! this (auth, validation, Redis) is the cost the benchmark shows.

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use clap::Parser;

/// The same allocator as the server, so the comparison shows only the work
/// tickpulse adds.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3999")]
    addr: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = Router::new().route("/{*path}", post(|body: Bytes| async move { body }));
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("bench-echo listening on {}", args.addr);
    axum::serve(listener, app).await?;
    Ok(())
}
