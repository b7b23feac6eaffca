//! Prices and volumes as text and as JSON. Never a panic; an accepted value,
//! written out, is read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::{Price, Volume};

fuzz_target!(|text: &str| {
    if let Ok(p) = Price::parse(text) {
        assert_eq!(Price::parse(&p.to_string()), Ok(p));
        assert!(p.value().is_sign_positive() && !p.value().is_zero());
    }
    if let Ok(v) = Volume::parse(text) {
        assert_eq!(Volume::parse(&v.to_string()), Ok(v));
    }
    if let Ok(p) = serde_json::from_str::<Price>(text) {
        let json = serde_json::to_string(&p).expect("a price serialises");
        assert_eq!(serde_json::from_str::<Price>(&json).ok(), Some(p));
    }
});
