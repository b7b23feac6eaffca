//! The demo: the symbols the simulated feeder moves by default, which
//! `CATALOG_SEED=demo` puts in the stock catalog so `scripts/run.sh` can
//! trade at once.

/// The feeder's default symbols: crypto, stocks, FX and commodities.
pub const DEMO_SYMBOLS: [&str; 10] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT", "NVDA", "TSLA", "EUR-USD", "XAU-USD", "SPX",
];
