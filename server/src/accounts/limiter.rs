//! Login throttling: failed attempts are counted per user name and per
//! client address over a sliding window; past the limit, attempts are
//! refused without checking the password until old failures age out.
//!
//! Pure: callers pass `now`. The counts live in the process, so with
//! several API processes each throttles what it sees.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures of one user name allowed within `window`.
    pub per_user: usize,
    /// Failures from one address allowed within `window`.
    pub per_ip: usize,
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_ip: 20,
            window: Duration::from_secs(5 * 60),
        }
    }
}

/// Most keys tracked; the oldest are dropped beyond it.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Limiter {
    limits: Limits,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            failures: HashMap::new(),
        }
    }

    fn keys(user: &str, ip: &str) -> [(String, bool); 2] {
        [(format!("u:{user}"), true), (format!("ip:{ip}"), false)]
    }

    /// `Some(wait)` while attempts for `user` from `ip` are refused.
    pub fn throttled(&mut self, user: &str, ip: &str, now: Instant) -> Option<Duration> {
        let window = self.limits.window;
        let mut wait = None::<Duration>;
        for (key, is_user) in Self::keys(user, ip) {
            let limit = if is_user {
                self.limits.per_user
            } else {
                self.limits.per_ip
            };
            if let Some(times) = self.failures.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= window)
                {
                    times.pop_front();
                }
                if times.len() >= limit {
                    // Free again when enough failures have aged out.
                    let oldest = times[times.len() - limit];
                    let left = window.saturating_sub(now.duration_since(oldest));
                    wait = Some(wait.map_or(left, |w| w.max(left)));
                }
            }
        }
        wait
    }

    pub fn failed(&mut self, user: &str, ip: &str, now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            let window = self.limits.window;
            self.failures
                .retain(|_, t| t.back().is_some_and(|l| now.duration_since(*l) < window));
            if self.failures.len() >= MAX_KEYS {
                self.failures.clear();
            }
        }
        for (key, _) in Self::keys(user, ip) {
            self.failures.entry(key).or_default().push_back(now);
        }
    }

    /// An attempt refused while throttled still counts against its address
    /// (not its user name): hammering one name soon blocks the address.
    pub fn refused(&mut self, ip: &str, now: Instant) {
        self.failures
            .entry(format!("ip:{ip}"))
            .or_default()
            .push_back(now);
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn succeeded(&mut self, user: &str) {
        self.failures.remove(&format!("u:{user}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_throttled_after_its_limit_and_freed_by_time() {
        let mut l = Limiter::new(Limits::default());
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(l.throttled("alice", "1.1.1.1", t0), None, "attempt {i}");
            l.failed("alice", "1.1.1.1", t0);
        }
        let wait = l.throttled("alice", "2.2.2.2", t0).expect("throttled");
        assert_eq!(wait, Duration::from_secs(300));
        // Another user from the same address is not (yet).
        assert_eq!(l.throttled("bob", "1.1.1.1", t0), None);
        let later = t0 + Duration::from_secs(300);
        assert_eq!(l.throttled("alice", "1.1.1.1", later), None);
    }

    #[test]
    fn an_address_is_throttled_across_user_names() {
        let mut l = Limiter::new(Limits::default());
        let t0 = Instant::now();
        for i in 0..20 {
            l.failed(&format!("user{i}"), "9.9.9.9", t0);
        }
        assert!(l.throttled("someone-else", "9.9.9.9", t0).is_some());
        assert!(l.throttled("someone-else", "8.8.8.8", t0).is_none());
    }

    #[test]
    fn refused_attempts_count_against_the_address() {
        let mut l = Limiter::new(Limits::default());
        let t0 = Instant::now();
        for _ in 0..5 {
            l.failed("alice", "1.1.1.1", t0);
        }
        for _ in 0..15 {
            assert!(l.throttled("alice", "1.1.1.1", t0).is_some());
            l.refused("1.1.1.1", t0);
        }
        assert!(l.throttled("bob", "1.1.1.1", t0).is_some());
        assert!(l.throttled("bob", "2.2.2.2", t0).is_none());
    }

    #[test]
    fn success_clears_the_user() {
        let mut l = Limiter::new(Limits::default());
        let t0 = Instant::now();
        for _ in 0..4 {
            l.failed("alice", "1.1.1.1", t0);
        }
        l.succeeded("alice");
        l.failed("alice", "1.1.1.1", t0);
        assert_eq!(l.throttled("alice", "1.1.1.1", t0), None);
    }
}
