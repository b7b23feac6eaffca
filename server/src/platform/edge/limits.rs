//! Request rate limits, by the `governor` crate's keyed GCRA limiters.
//!
//! | route | kept per | settings |
//! | --- | --- | --- |
//! | `/ingest/*` | client address, then ingest credential | `INGEST_RATE_PER_SEC`, `INGEST_RATE_BURST` |
//! | `/api/*` | client address | `API_RATE_PER_SEC`, `API_RATE_BURST` |
//! | `/auth/*` | client address | `AUTH_RATE_PER_SEC`, `AUTH_RATE_BURST` |
//!
//! The address limit is checked before anything else ([`guard`]); the
//! credential limit only once the credential is verified, so nobody can use
//! up a feeder's allowance by sending its name with a wrong password. A
//! limited request gets 429 with `Retry-After` and counts in
//! `tickpulse_rate_limited_total{route}`. Keys not seen for a while are
//! forgotten by [`Limits::forget_idle`], so memory stays bounded however
//! many addresses come by.

use crate::error::ApiError;
use crate::platform::config::Config;
use crate::platform::edge::conn::client_addr;
use crate::platform::prometheus::{Metrics, Rejection};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The groups of routes with a limit of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Ingest,
    Api,
    Auth,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Ingest, Route::Api, Route::Auth];

    /// The group a path belongs to; `None` for pages, files and probes.
    pub fn of(path: &str) -> Option<Route> {
        if path.starts_with("/ingest/") {
            Some(Route::Ingest)
        } else if path.starts_with("/api/") {
            Some(Route::Api)
        } else if path.starts_with("/auth/") {
            Some(Route::Auth)
        } else {
            None
        }
    }

    /// Its `route` label in the metrics.
    pub fn label(self) -> &'static str {
        match self {
            Route::Ingest => "ingest",
            Route::Api => "api",
            Route::Auth => "auth",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Route::Ingest => "INGEST_RATE_PER_SEC",
            Route::Api => "API_RATE_PER_SEC",
            Route::Auth => "AUTH_RATE_PER_SEC",
        }
    }
}

/// Every limiter of the process.
pub struct Limits {
    /// Per client address, by [`Route`] (in `Route::ALL` order).
    by_addr: [Option<DefaultKeyedRateLimiter<IpAddr>>; 3],
    by_credential: Option<DefaultKeyedRateLimiter<String>>,
    /// The configured ingest user, the key its requests are counted under
    /// (kept here so a request costs no allocation).
    ingest_user: String,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
    /// Whether the client address is read from `X-Forwarded-For`.
    trust_forwarded_for: bool,
}

fn quota(per_sec: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_sec)?;
    Some(Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate)))
}

impl Limits {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        let ingest = quota(config.ingest_rate_per_sec, config.ingest_rate_burst);
        let api = quota(config.api_rate_per_sec, config.api_rate_burst);
        let auth = quota(config.auth_rate_per_sec, config.auth_rate_burst);
        Self {
            by_addr: [ingest, api, auth].map(|q| q.map(DefaultKeyedRateLimiter::keyed)),
            by_credential: ingest.map(DefaultKeyedRateLimiter::keyed),
            ingest_user: config.ingest_username.clone().unwrap_or_default(),
            clock: DefaultClock::default(),
            metrics,
            trust_forwarded_for: config.trust_forwarded_for,
        }
    }

    /// Takes one request of `route` from `addr`'s allowance.
    ///
    /// # Errors
    /// `RateLimited` when it is spent.
    pub fn check_addr(&self, route: Route, addr: IpAddr) -> Result<(), ApiError> {
        let index = Route::ALL.iter().position(|r| *r == route).unwrap_or(0);
        let Some(limiter) = &self.by_addr[index] else {
            return Ok(());
        };
        limiter
            .check_key(&addr)
            .map_err(|until| self.refused(route, "address", until.wait_time_from(self.clock.now())))
    }

    /// Takes one ingest request from a verified credential's allowance.
    ///
    /// # Errors
    /// `RateLimited` when it is spent.
    pub fn check_credential(&self, user: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.by_credential else {
            return Ok(());
        };
        let owned;
        let key = if user == self.ingest_user {
            &self.ingest_user
        } else {
            owned = user.to_owned();
            &owned
        };
        limiter.check_key(key).map_err(|until| {
            self.refused(
                Route::Ingest,
                "credential",
                until.wait_time_from(self.clock.now()),
            )
        })
    }

    fn refused(&self, route: Route, per: &'static str, wait: std::time::Duration) -> ApiError {
        self.metrics.rate_limited(route.label());
        ApiError::RateLimited {
            route: route.label(),
            per,
            setting: route.setting(),
            // Whole seconds, rounded up: never "retry after 0".
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    }

    /// Forgets keys whose allowance is full again (nothing to remember).
    pub fn forget_idle(&self) {
        for limiter in self.by_addr.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.by_credential {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Refuses a request over its address's limit before anything else runs.
pub async fn guard(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    if let Some(route) = Route::of(request.uri().path()) {
        if let Some(addr) = client_addr(&request, limits.trust_forwarded_for) {
            if let Err(refused) = limits.check_addr(route, addr) {
                if route == Route::Ingest {
                    limits.metrics.reject(Rejection::RateLimited);
                }
                return refused.into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(tweak: impl FnOnce(&mut Config)) -> Limits {
        let mut config = Config::defaults();
        tweak(&mut config);
        Limits::new(&config, Arc::new(Metrics::default()))
    }

    #[test]
    fn paths_fall_in_their_group() {
        assert_eq!(Route::of("/ingest/ticks"), Some(Route::Ingest));
        assert_eq!(Route::of("/api/stream"), Some(Route::Api));
        assert_eq!(Route::of("/auth/login"), Some(Route::Auth));
        assert_eq!(Route::of("/"), None);
        assert_eq!(Route::of("/pkg/tickpulse.wasm"), None);
        assert_eq!(Route::of("/apix"), None);
    }

    #[test]
    fn a_spent_allowance_says_when_to_come_back_and_others_are_unaffected() {
        let l = limits(|c| {
            c.api_rate_per_sec = 1;
            c.api_rate_burst = 2;
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check_addr(Route::Api, a).is_ok());
        assert!(l.check_addr(Route::Api, a).is_ok());
        match l.check_addr(Route::Api, a) {
            Err(ApiError::RateLimited {
                route: "api",
                retry_after,
                setting: "API_RATE_PER_SEC",
                ..
            }) => assert_eq!(retry_after, 1),
            other => panic!("{other:?}"),
        }
        assert!(l.check_addr(Route::Api, b).is_ok(), "another address");
        assert!(l.check_addr(Route::Ingest, a).is_ok(), "another route");
        let page = l.metrics.render(&crate::platform::prometheus::Gauges {
            stream: Err(String::new()),
            sse_clients: 0,
        });
        assert!(
            page.contains("tickpulse_rate_limited_total{route=\"api\"} 1\n"),
            "{page}"
        );
        assert!(
            page.contains("tickpulse_rate_limited_total{route=\"auth\"} 0\n"),
            "{page}"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let l = limits(|c| c.auth_rate_per_sec = 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..1_000 {
            assert!(l.check_addr(Route::Auth, a).is_ok());
        }
    }
}
