//! Retry delays for failures that may pass (throttling, unavailable stores).

use std::time::Duration;

/// The first retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The delay before retry number `attempt` (0 for the first retry): 5s doubling up to 5m.
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX)
}

/// `d` moved by a uniformly random fraction in `[-fraction, +fraction]`, so that many policies
/// created together do not hit the store in lockstep. `unit` is a random number in `[0, 1)`.
pub fn jitter(d: Duration, fraction: f64, unit: f64) -> Duration {
    let factor = 1.0 + fraction * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    d.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(6), Duration::from_secs(300));
        assert_eq!(backoff(1000), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_within_the_fraction() {
        let d = Duration::from_secs(100);
        assert_eq!(jitter(d, 0.1, 0.0), Duration::from_secs(90));
        assert_eq!(jitter(d, 0.1, 0.5), Duration::from_secs(100));
        assert!(jitter(d, 0.1, 0.999_999) <= Duration::from_secs(110));
    }
}
