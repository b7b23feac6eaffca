//! Symbols, sources and event ids. Never a panic; an accepted value is
//! normal: checking it again gives it back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::{EventId, Source, Symbol};

fuzz_target!(|text: &str| {
    if let Ok(s) = Symbol::new_checked(text) {
        assert_eq!(Symbol::new_checked(s.as_str()).as_ref(), Ok(&s));
        assert_eq!(s.as_str(), text.to_ascii_uppercase());
    }
    if let Ok(s) = Source::new_checked(text) {
        assert_eq!(Source::new_checked(s.as_str()).as_ref(), Ok(&s));
    }
    if let Ok(e) = EventId::new_checked(text) {
        assert_eq!(EventId::new_checked(e.as_str()).as_ref(), Ok(&e));
    }
});
