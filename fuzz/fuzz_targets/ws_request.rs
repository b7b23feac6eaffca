//! A WebSocket client's message (`/api/ws`): never a panic; an accepted
//! message, written out and read again, is the same request, and it keeps
//! the rules (a conflation within its bounds, at most so many symbols).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickpulse_core::live::{request, Follow, Request, MAX_CONFLATE, MIN_CONFLATE, MAX_SUBSCRIBE_SYMBOLS};

fuzz_target!(|message: &[u8]| {
    if let Ok(r) = request(message) {
        let subscription = match &r {
            Request::Subscribe(s) | Request::Resume { subscription: s, .. } => Some(s),
            _ => None,
        };
        if let Some(s) = subscription {
            assert!(s.conflate.is_none_or(|c| (MIN_CONFLATE..=MAX_CONFLATE).contains(&c)));
            if let Follow::Symbols(list) = &s.follow {
                assert!(list.len() <= MAX_SUBSCRIBE_SYMBOLS);
            }
        }
        let again = request(r.to_json().as_bytes()).expect("a request written out is accepted again");
        assert_eq!(again, r);
    }
});
