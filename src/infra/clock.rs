//! The time the box acts on, as a seam: the sync worker, the queue (record timestamps,
//! compaction) and the alert dispatcher (retry back-off) are handed a [`Clock`] instead of
//! reading the system clock, so a test can let a `Retry-After: 86400`, three hours of outage or
//! a month of retention pass in milliseconds.
//!
//! - [`SystemClock`]: the wall clock and tokio's timer.
//! - [`ManualClock`]: time moves only when a test calls [`ManualClock::advance`] (or a
//!   [`ManualClock::tick`] task does); every sleeper whose deadline passed wakes up.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A future a [`Clock`] hands out for a wait.
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where "now" comes from, and how to wait for later.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Wall-clock time, for timestamps stored in records (`next_attempt_at`, `synced_at`, …).
    fn now_utc(&self) -> DateTime<Utc>;

    /// Monotonic time, for measuring intervals (never steps back with NTP).
    fn now(&self) -> Instant;

    /// Resolves once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;

    /// Resolves once this clock's wall time reaches `at` (at once when it already has).
    fn sleep_until_utc(&self, at: DateTime<Utc>) -> Sleep<'_> {
        let wait = (at - self.now_utc()).to_std().unwrap_or(Duration::ZERO);
        self.sleep(wait)
    }
}

/// The clock to hand around.
pub type SharedClock = Arc<dyn Clock>;

/// The real time: `Utc::now`, `Instant::now`, `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// A shared handle to the real time.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A test clock: starts at a given wall time and moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    start_utc: DateTime<Utc>,
    start_instant: Instant,
    /// How far the clock has been advanced; sleepers watch it.
    elapsed: watch::Sender<Duration>,
    /// Serialises advances so `elapsed` only grows.
    advancing: Mutex<()>,
}

impl ManualClock {
    /// A clock reading `start` that stands still until advanced.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        let (elapsed, _) = watch::channel(Duration::ZERO);
        ManualClock {
            inner: Arc::new(ManualInner {
                start_utc: start,
                start_instant: Instant::now(),
                elapsed,
                advancing: Mutex::new(()),
            }),
        }
    }

    /// A clock reading the real time now.
    pub fn starting_now() -> ManualClock {
        ManualClock::new(Utc::now())
    }

    /// This clock as the shared handle workers take.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// How far the clock has moved since it was made.
    pub fn elapsed(&self) -> Duration {
        *self.inner.elapsed.borrow()
    }

    /// Moves time forward by `by`, waking every sleeper whose deadline is reached.
    pub fn advance(&self, by: Duration) {
        let _guard = self
            .inner
            .advancing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.inner.elapsed.send_modify(|e| *e += by);
    }

    /// Advances by `step` every `every` of real time until the returned task is aborted: time
    /// passes `step / every` times faster than real, so waits of hours pass in seconds.
    pub fn tick(&self, step: Duration, every: Duration) -> tokio::task::JoinHandle<()> {
        let clock = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                clock.advance(step);
            }
        })
    }
}

impl Clock for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.elapsed()).unwrap_or(chrono::Duration::MAX);
        self.inner
            .start_utc
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn now(&self) -> Instant {
        self.inner.start_instant + self.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        let mut watcher = self.inner.elapsed.subscribe();
        let deadline = *watcher.borrow() + duration;
        Box::pin(async move {
            while *watcher.borrow_and_update() < deadline {
                if watcher.changed().await.is_err() {
                    // The clock is gone: nothing will ever advance it again.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0)
            .single()
            .expect("valid")
    }

    #[tokio::test]
    async fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new(start());
        let t0 = clock.now();
        assert_eq!(clock.now_utc(), start());
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now_utc(), start() + chrono::Duration::seconds(90));
        assert_eq!(clock.now() - t0, Duration::from_secs(90));
    }

    #[tokio::test]
    async fn sleepers_wake_when_their_deadline_passes() {
        let clock = ManualClock::new(start());
        let day = clock.clone();
        let sleeper = tokio::spawn(async move { day.sleep(Duration::from_secs(86_400)).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(86_399));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "woke a second early");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(2), sleeper)
            .await
            .expect("woke once the day passed")
            .expect("sleeper ran");
    }

    #[tokio::test]
    async fn sleep_until_a_past_time_returns_at_once() {
        let clock = ManualClock::new(start());
        tokio::time::timeout(
            Duration::from_millis(100),
            clock.sleep_until_utc(start() - chrono::Duration::hours(1)),
        )
        .await
        .expect("no wait for the past");
    }

    #[tokio::test]
    async fn ticking_clock_passes_hours_in_real_milliseconds() {
        let clock = ManualClock::new(start());
        let ticker = clock.tick(Duration::from_secs(600), Duration::from_millis(1));
        tokio::time::timeout(
            Duration::from_secs(5),
            clock.sleep(Duration::from_secs(3 * 3600)),
        )
        .await
        .expect("three hours passed quickly");
        ticker.abort();
        assert!(clock.now_utc() >= start() + chrono::Duration::hours(3));
    }

    #[tokio::test(start_paused = true)]
    async fn system_clock_sleeps_on_tokio_time() {
        let clock = SystemClock;
        let t0 = tokio::time::Instant::now();
        clock.sleep(Duration::from_secs(5)).await;
        assert!(t0.elapsed() >= Duration::from_secs(5));
    }
}
