//! The one exponential backoff: `base · 2^attempt`, capped, with jitter so that many records
//! (and many boxes) do not retry in step.

use std::time::Duration;

/// Attempts beyond this double no further (the cap has long been reached).
const MAX_DOUBLINGS: u32 = 20;

/// How long to wait before retry number `attempt` (0 = the first retry).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The wait before the first retry, before jitter.
    pub base: Duration,
    /// No wait is longer than this, jitter included.
    pub cap: Duration,
    /// The wait is the capped exponential times a factor in `low..=high`, picked by the
    /// jitter unit: `(0.5, 1.0)` spreads retries over the upper half, `(0.8, 1.2)` ±20 %.
    pub spread: (f64, f64),
}

impl Backoff {
    /// `base`, doubling up to `cap`, with waits spread over the upper half of each step.
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            spread: (0.5, 1.0),
        }
    }

    /// The same doubling, with waits spread between `low` and `high` times each step.
    pub const fn with_spread(self, low: f64, high: f64) -> Backoff {
        Backoff {
            spread: (low, high),
            ..self
        }
    }

    /// The wait before retry `attempt`, with the jitter unit `unit` in `0.0..=1.0` (0 = the
    /// shortest wait of the spread, 1 = the longest). Handed in, so tests choose it.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(MAX_DOUBLINGS)))
            .min(self.cap);
        let (low, high) = self.spread;
        let unit = if unit.is_nan() {
            0.5
        } else {
            unit.clamp(0.0, 1.0)
        };
        let factor = (low + (high - low) * unit).max(0.0);
        step.mul_f64(factor).min(self.cap)
    }

    /// [`Backoff::delay`] with a random jitter unit.
    pub fn delay_jittered(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff::new(S(1), S(300));
        assert_eq!(b.delay(0, 1.0), S(1));
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(500));
        assert_eq!(b.delay(3, 1.0), S(8));
        assert_eq!(b.delay(30, 1.0), S(300));
        assert_eq!(b.delay(30, 0.0), S(150));
        assert_eq!(b.delay(u32::MAX, 1.0), S(300));
    }

    #[test]
    fn spread_around_the_step_never_passes_the_cap() {
        let b = Backoff::new(S(1), S(60)).with_spread(0.8, 1.2);
        assert_eq!(b.delay(0, 0.5), S(1));
        assert_eq!(b.delay(2, 0.5), S(4));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(3200));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(4800));
        assert_eq!(b.delay(29, 1.0), S(60));
    }

    #[test]
    fn odd_units_are_clamped() {
        let b = Backoff::new(S(2), S(100));
        assert_eq!(b.delay(1, -3.0), b.delay(1, 0.0));
        assert_eq!(b.delay(1, 7.0), b.delay(1, 1.0));
        assert_eq!(b.delay(1, f64::NAN), b.delay(1, 0.5));
    }

    #[test]
    fn jittered_waits_stay_in_the_spread() {
        let b = Backoff::new(S(1), S(60));
        for attempt in 0..10 {
            let d = b.delay_jittered(attempt);
            assert!(
                d >= b.delay(attempt, 0.0) && d <= b.delay(attempt, 1.0),
                "{d:?}"
            );
        }
    }
}
