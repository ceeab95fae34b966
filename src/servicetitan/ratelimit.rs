//! Client-side rate limiting: at most N requests in any window of one second.
//!
//! ServiceTitan allows 60 calls per second per app per tenant. [`SlidingWindow`] is the sans-IO
//! core (it is handed the time), kept as a log of the last N send times: a request may go when
//! fewer than N went in the window before it. That bounds every window, not just aligned ones,
//! which a fixed-window counter does not (it lets 2N through across a boundary).
//! [`RateLimiter`] wraps it for tokio and also holds a shared "pause until" set by 429s.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The sliding-window log. `try_acquire(now)` must be called with non-decreasing `now`.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    max: usize,
    window: Duration,
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl SlidingWindow {
    /// `max` requests per `window`. `max` of 0 is treated as 1 (a limiter that never lets
    /// anything through would hang the sync silently).
    pub fn new(max: usize, window: Duration) -> Self {
        let max = max.max(1);
        SlidingWindow {
            max,
            window,
            sent: VecDeque::with_capacity(max),
            paused_until: None,
        }
    }

    /// Starts as if `max` requests had just been sent at `now`. A restarted process cannot know
    /// what its predecessor sent in the last second; this keeps the pair under the limit.
    pub fn prefill(&mut self, now: Instant) {
        self.sent.clear();
        self.sent.extend(std::iter::repeat_n(now, self.max));
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes a slot at `now`, or says when to try again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(until);
            }
            self.paused_until = None;
        }
        while self
            .sent
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.window)
        {
            self.sent.pop_front();
        }
        if self.sent.len() < self.max {
            self.sent.push_back(now);
            Ok(())
        } else {
            // Full: the oldest leaves the window at oldest + window.
            Err(self.sent.front().map_or(now, |&t| t + self.window))
        }
    }

    /// Holds every request until `until` (a 429's Retry-After applies to the whole app).
    pub fn pause_until(&mut self, until: Instant) {
        if self.paused_until.is_none_or(|p| p < until) {
            self.paused_until = Some(until);
        }
    }
}

/// The async limiter shared by every call of one client.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<SlidingWindow>,
}

impl RateLimiter {
    /// `prefill`: see [`SlidingWindow::prefill`]; the daemon and `sync --once` use it.
    pub fn new(max_per_second: u32, prefill: bool) -> Self {
        let mut window = SlidingWindow::new(max_per_second as usize, Duration::from_secs(1));
        if prefill {
            window.prefill(Instant::now());
        }
        RateLimiter {
            inner: Mutex::new(window),
        }
    }

    /// Waits for a slot.
    pub async fn acquire(&self) {
        loop {
            let verdict = {
                let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                w.try_acquire(Instant::now())
            };
            match verdict {
                Ok(()) => return,
                Err(at) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// Every caller waits `delay` from now (429 Retry-After).
    pub fn pause_for(&self, delay: Duration) {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        w.pause_until(Instant::now() + delay);
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3). `now` is the wall
/// clock for dates. Dates in the past mean "now"; garbage means `None` (the caller's default).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // Some gateways send fractional seconds; be lenient.
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts acquisitions in every window [t, t+1s) over the log of grant times.
    fn max_in_any_window(grants: &[Instant], window: Duration) -> usize {
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..grants.len() {
            while grants[hi].duration_since(grants[lo]) >= window {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    /// Drives the window with a fake clock: `demand` requests arrive at the given offsets, each
    /// retrying at the time the limiter names.
    fn simulate(max: usize, arrivals_ms: &[u64]) -> Vec<Instant> {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(max, Duration::from_secs(1));
        let mut grants = Vec::new();
        let mut clock = t0;
        for &a in arrivals_ms {
            let mut now = (t0 + Duration::from_millis(a)).max(clock);
            loop {
                match w.try_acquire(now) {
                    Ok(()) => break,
                    Err(at) => {
                        assert!(at > now, "limiter must name a later time");
                        now = at;
                    }
                }
            }
            clock = now;
            grants.push(now);
        }
        grants
    }

    #[test]
    fn bursts_never_exceed_the_window() {
        // 1000 requests at once, then bursts straddling second boundaries.
        let mut arrivals = vec![0u64; 1000];
        for k in 0..50u64 {
            arrivals.extend(std::iter::repeat_n(20_000 + k * 999, 37));
        }
        for max in [1usize, 50, 60] {
            let grants = simulate(max, &arrivals);
            assert_eq!(grants.len(), arrivals.len());
            assert!(max_in_any_window(&grants, Duration::from_secs(1)) <= max);
            // And the limiter is not needlessly slow: the first burst runs at full rate.
            assert_eq!(
                max_in_any_window(&grants[..1000], Duration::from_secs(1)),
                max
            );
        }
    }

    #[test]
    fn fixed_window_counter_would_fail_this() {
        // 50 at 0.99 s and 50 at 1.01 s: a per-second counter allows both; we must not.
        let mut arrivals = vec![990u64; 50];
        arrivals.extend(vec![1010u64; 50]);
        let grants = simulate(50, &arrivals);
        assert!(max_in_any_window(&grants, Duration::from_secs(1)) <= 50);
        let t0 = grants[0];
        assert!(grants[50].duration_since(t0) >= Duration::from_secs(1));
    }

    #[test]
    fn prefill_delays_the_first_second() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(10, Duration::from_secs(1));
        w.prefill(t0);
        assert_eq!(w.try_acquire(t0), Err(t0 + Duration::from_secs(1)));
        assert_eq!(
            w.try_acquire(t0 + Duration::from_millis(999)),
            Err(t0 + Duration::from_secs(1))
        );
        assert!(w.try_acquire(t0 + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn pause_holds_everyone_and_keeps_the_latest() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::new(10, Duration::from_secs(1));
        w.pause_until(t0 + Duration::from_secs(5));
        w.pause_until(t0 + Duration::from_secs(2)); // an earlier pause does not shorten it
        assert_eq!(w.try_acquire(t0), Err(t0 + Duration::from_secs(5)));
        assert!(w.try_acquire(t0 + Duration::from_secs(5)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn async_limiter_paces_with_paused_clock() {
        let limiter = std::sync::Arc::new(RateLimiter::new(5, false));
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..23 {
            let l = limiter.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut grants = Vec::new();
        for h in handles {
            grants.push(h.await.unwrap());
        }
        grants.sort();
        assert!(max_in_any_window(&grants, Duration::from_secs(1)) <= 5);
        // 23 at 5/s: the last goes at 4 s.
        assert_eq!(grants[22].duration_since(t0), Duration::from_secs(4));
    }

    #[test]
    fn retry_after_forms() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }
}
