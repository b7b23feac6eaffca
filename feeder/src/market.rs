//! A simulated market: one geometric random walk per symbol, each with its
//! own start price, volatility and price precision. Pure and seedable, so a
//! run can be replayed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One instrument of the simulation.
#[derive(Debug, Clone)]
pub struct Instrument {
    pub symbol: String,
    pub price: f64,
    /// Volatility per square root of a second (0.0005 ≈ a liquid large cap).
    pub volatility: f64,
    /// Decimal places of the price.
    pub decimals: u32,
}

/// The default instruments: [`tickpulse_core::DEMO_SYMBOLS`], each with
/// its profile.
pub fn default_instruments() -> Vec<Instrument> {
    instruments_for(
        &tickpulse_core::DEMO_SYMBOLS
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>(),
    )
}

/// Start price, volatility and decimals of the well-known symbols.
fn profiles() -> Vec<Instrument> {
    let spec: [(&str, f64, f64, u32); 10] = [
        ("BTC-USD", 64_000.0, 0.0010, 2),
        ("ETH-USD", 3_100.0, 0.0012, 2),
        ("SOL-USD", 145.0, 0.0018, 3),
        ("AAPL", 228.0, 0.0004, 2),
        ("MSFT", 415.0, 0.0004, 2),
        ("NVDA", 131.0, 0.0008, 2),
        ("TSLA", 251.0, 0.0010, 2),
        ("EUR-USD", 1.0845, 0.0001, 5),
        ("XAU-USD", 2_650.0, 0.0003, 2),
        ("SPX", 5_900.0, 0.0003, 2),
    ];
    spec.iter()
        .map(|&(symbol, price, volatility, decimals)| Instrument {
            symbol: symbol.into(),
            price,
            volatility,
            decimals,
        })
        .collect()
}

/// Instruments for the given symbols: known ones keep their profile, others
/// get a profile derived from their name (stable across runs).
pub fn instruments_for(symbols: &[String]) -> Vec<Instrument> {
    let known = profiles();
    symbols
        .iter()
        .map(|s| {
            let upper = s.to_ascii_uppercase();
            known
                .iter()
                .find(|i| i.symbol == upper)
                .cloned()
                .unwrap_or_else(|| {
                    let h = upper
                        .bytes()
                        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                    Instrument {
                        symbol: upper,
                        price: 10.0 + (h % 990) as f64,
                        volatility: 0.0003 + (h % 10) as f64 * 0.0001,
                        decimals: 2,
                    }
                })
        })
        .collect()
}

/// `n` generated symbols `SYM0001`… for load tests with many instruments.
pub fn generated_symbols(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("SYM{i:04}")).collect()
}

/// One simulated tick, ready to serialise as the webhook's JSON.
#[derive(Debug, Clone, Serialize)]
pub struct SimTick {
    pub symbol: String,
    pub price: String,
    pub volume: String,
    pub source: String,
    pub ts: i64,
    pub event_id: String,
}

pub struct Market {
    instruments: Vec<Instrument>,
    rng: SmallRng,
    source: String,
    run_id: String,
    seq: u64,
}

impl Market {
    pub fn new(instruments: Vec<Instrument>, source: &str, seed: u64) -> Self {
        assert!(
            !instruments.is_empty(),
            "a market needs at least one instrument"
        );
        Self {
            instruments,
            rng: SmallRng::seed_from_u64(seed),
            source: source.into(),
            run_id: format!("{seed:016x}"),
            seq: 0,
        }
    }

    /// The next tick: a random instrument moves by `dt_secs` of its walk.
    pub fn next_tick(&mut self, ts_millis: i64, dt_secs: f64) -> SimTick {
        let i = self.rng.random_range(0..self.instruments.len());
        let z = standard_normal(&mut self.rng);
        let volume_units: f64 = self.rng.random_range(1.0..100.0);
        let inst = &mut self.instruments[i];
        let sigma = inst.volatility * dt_secs.max(1e-6).sqrt();
        inst.price *= (sigma * z - 0.5 * sigma * sigma).exp();
        let floor = 10f64.powi(-(inst.decimals as i32));
        inst.price = inst.price.max(floor);
        self.seq += 1;
        SimTick {
            symbol: inst.symbol.clone(),
            price: format!("{:.*}", inst.decimals as usize, inst.price),
            volume: format!("{:.4}", volume_units / inst.price.sqrt()),
            source: self.source.clone(),
            ts: ts_millis,
            event_id: format!("{}-{}-{}", self.source, self.run_id, self.seq),
        }
    }

    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }
}

/// Box–Muller: one standard normal sample.
fn standard_normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_symbol_has_a_profile_of_its_own() {
        let known = profiles();
        for symbol in tickpulse_core::DEMO_SYMBOLS {
            assert!(known.iter().any(|p| p.symbol == symbol), "{symbol}");
        }
        assert_eq!(
            default_instruments().len(),
            tickpulse_core::DEMO_SYMBOLS.len()
        );
    }

    #[test]
    fn ticks_are_valid_and_unique() {
        let mut m = Market::new(default_instruments(), "sim", 42);
        let now = tickpulse_core::Timestamp::now();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..5_000 {
            let t = m.next_tick(now.as_millis(), 0.01);
            let json = serde_json::to_vec(&t).unwrap();
            tickpulse_core::parse_one(&json, now).expect("simulated tick is valid");
            assert!(ids.insert(t.event_id));
        }
    }

    #[test]
    fn same_seed_same_walk() {
        let mut a = Market::new(default_instruments(), "sim", 7);
        let mut b = Market::new(default_instruments(), "sim", 7);
        for _ in 0..100 {
            assert_eq!(a.next_tick(1, 0.1).price, b.next_tick(1, 0.1).price);
        }
    }

    #[test]
    fn prices_wander_but_stay_plausible() {
        let mut m = Market::new(instruments_for(&["BTC-USD".into()]), "sim", 1);
        for _ in 0..10_000 {
            m.next_tick(1, 1.0);
        }
        let p = m.instruments()[0].price;
        assert!(
            p > 30_000.0 && p < 130_000.0,
            "BTC at {p} after ~3h of simulated time"
        );
        assert_ne!(p, 64_000.0);
    }
}
