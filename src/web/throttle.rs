//! Login throttling: too many failed logins (or setup codes) from one source, or from everyone
//! together, within a window lock logins out for a while. Sans-I/O: handed the time.
//!
//! A source is an IPv4 address, or an IPv6 /64 (one host can hold a whole /64).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Sources remembered at once; the oldest quiet ones go first.
const MAX_SOURCES: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_source: u32,
    pub global: u32,
    pub window: Duration,
    pub lockout: Duration,
}

/// Who a lock-out applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Source(IpAddr),
    Everyone,
}

/// A lock-out in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub scope: Scope,
    pub retry_after: Duration,
}

#[derive(Default)]
struct Source {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

pub struct LoginThrottle {
    limits: Limits,
    sources: HashMap<IpAddr, Source>,
    global_failures: VecDeque<Instant>,
    global_locked_until: Option<Instant>,
}

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            sources: HashMap::new(),
            global_failures: VecDeque::new(),
            global_locked_until: None,
        }
    }

    /// `Err` while `ip` (or everyone) is locked out.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Locked> {
        if let Some(until) = self.global_locked_until.filter(|until| *until > now) {
            return Err(Locked {
                scope: Scope::Everyone,
                retry_after: until - now,
            });
        }
        let source = source_of(ip);
        match self.sources.get(&source).and_then(|s| s.locked_until) {
            Some(until) if until > now => Err(Locked {
                scope: Scope::Source(source),
                retry_after: until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Counts a failure; `Some` when it starts a lock-out (the caller logs it once).
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Option<Locked> {
        let Limits {
            per_source,
            global,
            window,
            lockout,
        } = self.limits;
        self.make_room(now);
        let source_ip = source_of(ip);
        let source = self.sources.entry(source_ip).or_default();
        push_within(&mut source.failures, now, window);
        push_within(&mut self.global_failures, now, window);
        if self.global_failures.len() >= global as usize {
            self.global_failures.clear();
            self.global_locked_until = Some(now + lockout);
            return Some(Locked {
                scope: Scope::Everyone,
                retry_after: lockout,
            });
        }
        if source.failures.len() >= per_source as usize {
            source.failures.clear();
            source.locked_until = Some(now + lockout);
            return Some(Locked {
                scope: Scope::Source(source_ip),
                retry_after: lockout,
            });
        }
        None
    }

    /// A successful login forgets the source's failures.
    pub fn record_success(&mut self, ip: IpAddr) {
        self.sources.remove(&source_of(ip));
    }

    fn make_room(&mut self, now: Instant) {
        if self.sources.len() < MAX_SOURCES {
            return;
        }
        let window = self.limits.window;
        self.sources.retain(|_, s| {
            s.locked_until.is_some_and(|until| until > now)
                || s.failures
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
        if self.sources.len() >= MAX_SOURCES {
            let quietest = self
                .sources
                .iter()
                .filter(|(_, s)| s.locked_until.is_none_or(|until| until <= now))
                .min_by_key(|(_, s)| s.failures.back().copied())
                .map(|(ip, _)| *ip);
            if let Some(ip) = quietest {
                self.sources.remove(&ip);
            }
        }
    }
}

fn push_within(failures: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        failures.pop_front();
    }
    failures.push_back(now);
}

/// IPv4 (also when mapped into IPv6) as is; IPv6 cut to its /64.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::from([
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ])
            }
        },
    }
}

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_source: 10,
            global: 25,
            window: Duration::from_secs(900),
            lockout: Duration::from_secs(600),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_tenth_failure_from_one_source_locks_it_out() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::new(limits());
        let attacker = ip("192.168.1.50");
        for i in 0..9 {
            assert_eq!(
                throttle.record_failure(attacker, now + Duration::from_secs(i)),
                None
            );
            assert!(throttle.check(attacker, now).is_ok());
        }
        let t = now + Duration::from_secs(9);
        let locked = throttle.record_failure(attacker, t).unwrap();
        assert_eq!(locked.scope, Scope::Source(attacker));
        let still = throttle
            .check(attacker, t + Duration::from_secs(100))
            .unwrap_err();
        assert_eq!(still.retry_after, Duration::from_secs(500));
        assert!(
            throttle.check(ip("192.168.1.51"), t).is_ok(),
            "others may still log in"
        );
        assert!(
            throttle
                .check(attacker, t + Duration::from_secs(600))
                .is_ok(),
            "lock-out ends"
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::new(limits());
        let office = ip("10.0.0.5");
        for i in 0..30 {
            let t = now + Duration::from_secs(i * 100);
            assert_eq!(throttle.record_failure(office, t), None, "failure {i}");
        }
    }

    #[test]
    fn success_forgets_a_sources_failures() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::new(limits());
        let office = ip("10.0.0.5");
        for _ in 0..9 {
            throttle.record_failure(office, now);
        }
        throttle.record_success(office);
        assert_eq!(throttle.record_failure(office, now), None);
    }

    #[test]
    fn many_sources_together_lock_everyone_out() {
        let now = Instant::now();
        let mut throttle = LoginThrottle::new(limits());
        let mut last = None;
        for i in 0..25u8 {
            last = throttle.record_failure(IpAddr::from([10, 1, 0, i]), now);
        }
        assert_eq!(last.map(|l| l.scope), Some(Scope::Everyone));
        let err = throttle.check(ip("10.9.9.9"), now).unwrap_err();
        assert_eq!(err.scope, Scope::Everyone);
    }

    #[test]
    fn ipv6_hosts_in_one_slash_64_are_one_source() {
        assert_eq!(
            source_of(ip("2001:db8:1:2:aaaa::1")),
            source_of(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            source_of(ip("2001:db8:1:2::1")),
            source_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_of(ip("::ffff:192.168.1.9")), ip("192.168.1.9"));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
    }
}
