//! A client-side token bucket per endpoint, so a burst of reconciles cannot flood a store.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Governor};

use crate::api::RateLimit;

/// Waits before each request until the endpoint's quota allows it. Without a configured limit
/// it never waits.
pub struct RateLimiter(Option<DefaultDirectRateLimiter>);

impl RateLimiter {
    /// A limiter for `limit` (`None`: unlimited). A zero rate or burst (the schema forbids them)
    /// is read as 1.
    pub fn new(limit: Option<&RateLimit>) -> Self {
        Self(limit.map(|limit| {
            // The schema keeps both at least 1; clamp anyway so a hand-built config cannot panic.
            let positive = |v: i32| NonZeroU32::new(u32::try_from(v).unwrap_or(0));
            let rate = positive(limit.requests_per_second).unwrap_or(NonZeroU32::MIN);
            let burst = limit.burst.and_then(positive).unwrap_or(rate);
            Governor::direct(Quota::per_second(rate).allow_burst(burst))
        }))
    }

    /// Returns once one more request may be sent.
    pub async fn acquire(&self) {
        if let Some(limiter) = &self.0 {
            limiter.until_ready().await;
        }
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RateLimiter(limited)"
        } else {
            "RateLimiter(unlimited)"
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[tokio::test]
    async fn burst_passes_then_rate_applies() {
        let limiter = RateLimiter::new(Some(&RateLimit {
            requests_per_second: 10,
            burst: Some(3),
        }));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "burst of 3 should not wait"
        );
        // Two more at 10/s need about 200 ms.
        limiter.acquire().await;
        limiter.acquire().await;
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "waited only {elapsed:?}"
        );
    }

    #[tokio::test]
    async fn unlimited_never_waits() {
        let limiter = RateLimiter::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
