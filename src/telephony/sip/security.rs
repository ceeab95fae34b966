//! Who may talk to the box. SIP scanners find every open 5060 within hours: anything outside
//! the allow-list (the ATA) gets 403 at a bounded rate, then silence, and is logged without
//! flooding the journal.

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Strangers tracked at once; past this, new strangers are dropped without an answer.
const MAX_TRACKED: usize = 1024;
/// A stranger silent this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// A full table is swept for forgotten entries at most this often, so a flood of new
/// (spoofed) sources costs O(1) per packet rather than a sweep each.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// What to do with a datagram from a source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An allowed peer: process normally.
    Allowed,
    /// A stranger within its rate: answer 403. `log` is true for the first answer and then
    /// once a minute, so the journal sees each scanner without a line per packet.
    Forbidden { log: bool },
    /// A stranger over its rate: drop silently.
    Dropped,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    last_logged: Option<Instant>,
    dropped: u64,
}

/// Allow-list plus a token bucket per stranger.
#[derive(Debug)]
pub struct Gatekeeper {
    allowed: Vec<IpNet>,
    rate_per_sec: f64,
    strangers: HashMap<IpAddr, Bucket>,
    /// When a full table may next be swept.
    next_sweep: Option<Instant>,
    /// Sweeps so far (tests check the flood path stays O(1)).
    sweeps: u64,
}

impl Gatekeeper {
    pub fn new(allowed: Vec<IpNet>, rate_per_sec: u32) -> Self {
        Gatekeeper {
            allowed,
            rate_per_sec: f64::from(rate_per_sec.max(1)),
            strangers: HashMap::new(),
            next_sweep: None,
            sweeps: 0,
        }
    }

    /// True when `ip` is on the allow-list (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Decides on one datagram from `ip`.
    pub fn admit(&mut self, now: Instant, ip: IpAddr) -> Admission {
        if self.is_allowed(ip) {
            return Admission::Allowed;
        }
        if !self.strangers.contains_key(&ip) && self.strangers.len() >= MAX_TRACKED {
            self.sweep(now);
            if self.strangers.len() >= MAX_TRACKED {
                return Admission::Dropped;
            }
        }
        let rate = self.rate_per_sec;
        let bucket = self.strangers.entry(ip).or_insert(Bucket {
            tokens: rate,
            refilled: now,
            last_logged: None,
            dropped: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            bucket.dropped += 1;
            return Admission::Dropped;
        }
        bucket.tokens -= 1.0;
        let log = match bucket.last_logged {
            Some(at) => now.saturating_duration_since(at) >= Duration::from_secs(60),
            None => true,
        };
        if log {
            bucket.last_logged = Some(now);
        }
        Admission::Forbidden { log }
    }

    /// Forgets silent strangers, at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        self.sweeps += 1;
        self.strangers
            .retain(|_, b| now.saturating_duration_since(b.refilled) < FORGET_AFTER);
    }

    /// Datagrams dropped from `ip` so far (for the log line).
    pub fn dropped_from(&self, ip: IpAddr) -> u64 {
        self.strangers.get(&ip).map(|b| b.dropped).unwrap_or(0)
    }
}

/// Sources whose call attempts are tracked at once (allowed peers only reach this).
const MAX_SOURCES: usize = 1024;

/// New-call attempts per source address: a token bucket of `per_minute` INVITEs refilled
/// over a minute, so one host on the allowed network cannot flood the box with calls.
#[derive(Debug)]
pub struct AttemptLimiter {
    per_minute: f64,
    sources: HashMap<IpAddr, (f64, Instant)>,
    next_sweep: Option<Instant>,
}

impl AttemptLimiter {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        AttemptLimiter {
            per_minute: f64::from(per_minute),
            sources: HashMap::new(),
            next_sweep: None,
        }
    }

    /// Counts one attempt from `ip`; false when it is over its rate.
    pub fn attempt(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.per_minute <= 0.0 {
            return true;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= MAX_SOURCES {
            self.sweep(now);
            if self.sources.len() >= MAX_SOURCES {
                return false;
            }
        }
        let rate = self.per_minute;
        let (tokens, refilled) = self.sources.entry(ip).or_insert((rate, now));
        let elapsed = now.saturating_duration_since(*refilled).as_secs_f64();
        *tokens = (*tokens + elapsed * rate / 60.0).min(rate);
        *refilled = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }

    fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        self.sources
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeper() -> Gatekeeper {
        Gatekeeper::new(
            vec![
                "192.168.1.20/32".parse().expect("cidr"),
                "10.0.0.0/24".parse().expect("cidr"),
            ],
            5,
        )
    }

    #[test]
    fn allow_list_matches_addresses_and_cidrs() {
        let k = keeper();
        assert!(k.is_allowed("192.168.1.20".parse().expect("ip")));
        assert!(k.is_allowed("10.0.0.77".parse().expect("ip")));
        assert!(k.is_allowed("::ffff:10.0.0.77".parse().expect("ip")));
        assert!(!k.is_allowed("192.168.1.21".parse().expect("ip")));
    }

    #[test]
    fn strangers_are_rate_limited_then_recover() {
        let mut k = keeper();
        let now = Instant::now();
        let scanner: IpAddr = "203.0.113.9".parse().expect("ip");
        let answers: Vec<Admission> = (0..20).map(|_| k.admit(now, scanner)).collect();
        let forbidden = answers
            .iter()
            .filter(|a| matches!(a, Admission::Forbidden { .. }))
            .count();
        assert_eq!(forbidden, 5);
        assert_eq!(answers[0], Admission::Forbidden { log: true });
        assert_eq!(answers[1], Admission::Forbidden { log: false });
        assert_eq!(k.dropped_from(scanner), 15);
        let later = now + Duration::from_secs(1);
        assert!(matches!(
            k.admit(later, scanner),
            Admission::Forbidden { .. }
        ));
    }

    #[test]
    fn tracking_is_bounded_under_a_spoofed_flood() {
        let mut k = keeper();
        let now = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 500) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0xC600_0000 + i));
            k.admit(now, ip);
        }
        assert!(k.strangers.len() <= MAX_TRACKED);
        assert!(
            k.sweeps <= 1,
            "a full table must not be swept per packet ({} sweeps)",
            k.sweeps
        );
        // A second later one sweep may run again; still not one per packet.
        let later = now + SWEEP_EVERY;
        for i in 0..500u32 {
            k.admit(later, IpAddr::V4(std::net::Ipv4Addr::from(0xC700_0000 + i)));
        }
        assert!(k.sweeps <= 2, "{} sweeps", k.sweeps);
        // The ATA still gets through.
        assert_eq!(
            k.admit(now, "192.168.1.20".parse().expect("ip")),
            Admission::Allowed
        );
    }

    #[test]
    fn call_attempts_are_limited_per_source() {
        let mut l = AttemptLimiter::new(3);
        let now = Instant::now();
        let flood: IpAddr = "192.168.1.50".parse().expect("ip");
        let ata: IpAddr = "192.168.1.20".parse().expect("ip");
        let allowed = (0..10).filter(|_| l.attempt(now, flood)).count();
        assert_eq!(allowed, 3);
        assert!(l.attempt(now, ata), "another source is not held back");
        assert!(!l.attempt(now + Duration::from_secs(10), flood));
        assert!(
            l.attempt(now + Duration::from_secs(20), flood),
            "refilled: 3 a minute"
        );
        let mut off = AttemptLimiter::new(0);
        assert!((0..100).all(|_| off.attempt(now, flood)));
    }
}
