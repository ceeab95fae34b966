//! REGISTER bindings. ATAs register their FXO account with the server they forward calls to;
//! the box keeps the bindings (address-of-record → contacts with expiry) so the web page can
//! show that the ATA is alive, and answers with what RFC 3261 §10.3 asks for. Each binding
//! also keeps the address and port its REGISTER came from: with `sip.require_registration`
//! only INVITEs from such a source, while its binding lives, are answered.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// Registrations shorter than this get 423 Interval Too Brief.
pub const MIN_EXPIRES: u32 = 60;
/// Bindings kept per address-of-record; an ATA has one or two.
const MAX_CONTACTS_PER_AOR: usize = 8;
/// Addresses-of-record kept in all.
const MAX_AORS: usize = 64;

/// One contact of an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub contact: String,
    /// Where the REGISTER came from (the observed address, not what the message claims).
    pub source: SocketAddr,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
}

/// Why a REGISTER was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterRefusal {
    /// 423 with Min-Expires.
    IntervalTooBrief,
    /// 400: `*` mixed with other contacts or with a nonzero expiry.
    BadWildcard,
    /// 500 (RFC 3261 §10.3 step 7): an older CSeq for the same Call-ID.
    OutOfOrder,
    /// 503: the box will not hold more registrations.
    Full,
}

/// A requested contact change: (contact URI, requested expiry in seconds).
pub type ContactRequest = (String, u32);

/// A binding as kept on disk across restarts (its expiry on the wall clock, since `Instant`s
/// do not survive the process).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBinding {
    pub aor: String,
    pub contact: String,
    pub source: SocketAddr,
    /// Milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    pub call_id: String,
    pub cseq: u32,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The registration table.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: HashMap<String, Vec<Binding>>,
}

impl Registrar {
    /// Applies a REGISTER from `source`: `contacts` empty means a query; `wildcard` is
    /// `Contact: *`. Returns the bindings now current for `aor`, with seconds left.
    #[allow(clippy::too_many_arguments)]
    pub fn register(
        &mut self,
        now: Instant,
        source: SocketAddr,
        aor: &str,
        call_id: &str,
        cseq: u32,
        contacts: &[ContactRequest],
        wildcard: bool,
        wildcard_expires: Option<u32>,
        max_expires: u32,
    ) -> Result<Vec<(String, u32)>, RegisterRefusal> {
        self.expire(now);
        if wildcard {
            if !contacts.is_empty() || wildcard_expires != Some(0) {
                return Err(RegisterRefusal::BadWildcard);
            }
            self.bindings.remove(aor);
            return Ok(Vec::new());
        }
        if contacts
            .iter()
            .any(|(_, secs)| *secs != 0 && *secs < MIN_EXPIRES)
        {
            return Err(RegisterRefusal::IntervalTooBrief);
        }
        if !self.bindings.contains_key(aor) && self.bindings.len() >= MAX_AORS {
            return Err(RegisterRefusal::Full);
        }
        let list = self.bindings.entry(aor.to_string()).or_default();
        for (contact, secs) in contacts {
            if let Some(existing) = list.iter().find(|b| &b.contact == contact) {
                if existing.call_id == call_id && cseq <= existing.cseq {
                    return Err(RegisterRefusal::OutOfOrder);
                }
            }
            list.retain(|b| &b.contact != contact);
            if *secs == 0 {
                continue;
            }
            if list.len() >= MAX_CONTACTS_PER_AOR {
                list.remove(0);
            }
            list.push(Binding {
                contact: contact.clone(),
                source,
                expires_at: now + Duration::from_secs(u64::from((*secs).min(max_expires))),
                call_id: call_id.to_string(),
                cseq,
            });
        }
        let current = list
            .iter()
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                (b.contact.clone(), u32::try_from(left).unwrap_or(u32::MAX))
            })
            .collect();
        if list.is_empty() {
            self.bindings.remove(aor);
        }
        Ok(current)
    }

    /// Drops expired bindings.
    pub fn expire(&mut self, now: Instant) {
        for list in self.bindings.values_mut() {
            list.retain(|b| b.expires_at > now);
        }
        self.bindings.retain(|_, list| !list.is_empty());
    }

    /// True when a binding that lives at `now` was registered from exactly `source`
    /// (address and port).
    pub fn has_live_source(&self, now: Instant, source: SocketAddr) -> bool {
        self.bindings
            .values()
            .flatten()
            .any(|b| b.source == source && b.expires_at > now)
    }

    /// The live bindings, for keeping across a restart; `now` and `wall` are the same moment
    /// on the two clocks.
    pub fn save(&self, now: Instant, wall: SystemTime) -> Vec<SavedBinding> {
        let wall_ms = unix_ms(wall);
        let mut out: Vec<SavedBinding> = self
            .bindings
            .iter()
            .flat_map(|(aor, list)| {
                list.iter().filter(|b| b.expires_at > now).map(move |b| {
                    let left = b.expires_at.saturating_duration_since(now).as_millis();
                    SavedBinding {
                        aor: aor.clone(),
                        contact: b.contact.clone(),
                        source: b.source,
                        expires_unix_ms: wall_ms
                            .saturating_add(u64::try_from(left).unwrap_or(u64::MAX)),
                        call_id: b.call_id.clone(),
                        cseq: b.cseq,
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
        out
    }

    /// Takes back bindings kept across a restart: the ones still live at `wall`, never longer
    /// than `max_expires` from now, within the table's caps. Bindings already present win.
    pub fn restore(
        &mut self,
        now: Instant,
        wall: SystemTime,
        saved: Vec<SavedBinding>,
        max_expires: u32,
    ) {
        let wall_ms = unix_ms(wall);
        let longest = Duration::from_secs(u64::from(max_expires));
        for b in saved {
            if b.expires_unix_ms <= wall_ms {
                continue;
            }
            let left = Duration::from_millis(b.expires_unix_ms - wall_ms).min(longest);
            if !self.bindings.contains_key(&b.aor) && self.bindings.len() >= MAX_AORS {
                continue;
            }
            let list = self.bindings.entry(b.aor).or_default();
            if list.len() >= MAX_CONTACTS_PER_AOR || list.iter().any(|x| x.contact == b.contact) {
                continue;
            }
            list.push(Binding {
                contact: b.contact,
                source: b.source,
                expires_at: now + left,
                call_id: b.call_id,
                cseq: b.cseq,
            });
        }
    }

    /// Current bindings of every address-of-record (for status pages).
    pub fn snapshot(&self, now: Instant) -> Vec<(String, String, u64)> {
        let mut out: Vec<_> = self
            .bindings
            .iter()
            .flat_map(|(aor, list)| {
                list.iter().filter(|b| b.expires_at > now).map(move |b| {
                    (
                        aor.clone(),
                        b.contact.clone(),
                        b.expires_at.saturating_duration_since(now).as_secs(),
                    )
                })
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATA: SocketAddr = SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
        5062,
    );

    #[test]
    fn binds_refreshes_and_removes() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let c = vec![("sip:ht813@10.0.0.2:5062".to_string(), 3600)];
        let got = r
            .register(now, ATA, "sip:ht813@box", "cid", 1, &c, false, None, 600)
            .expect("ok");
        assert_eq!(got, vec![("sip:ht813@10.0.0.2:5062".to_string(), 600)]);
        assert_eq!(
            r.register(now, ATA, "sip:ht813@box", "cid", 1, &c, false, None, 600),
            Err(RegisterRefusal::OutOfOrder)
        );
        let remove = vec![("sip:ht813@10.0.0.2:5062".to_string(), 0)];
        let got = r
            .register(
                now,
                ATA,
                "sip:ht813@box",
                "cid",
                2,
                &remove,
                false,
                None,
                600,
            )
            .expect("ok");
        assert!(got.is_empty());
        assert!(r.snapshot(now).is_empty());
    }

    #[test]
    fn bindings_expire() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let c = vec![("sip:a@10.0.0.2".to_string(), 60)];
        r.register(now, ATA, "aor", "x", 1, &c, false, None, 600)
            .expect("ok");
        assert_eq!(r.snapshot(now).len(), 1);
        assert!(r.snapshot(now + Duration::from_secs(61)).is_empty());
    }

    #[test]
    fn too_brief_and_bad_wildcard_are_refused() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let c = vec![("sip:a@10.0.0.2".to_string(), 10)];
        assert_eq!(
            r.register(now, ATA, "aor", "x", 1, &c, false, None, 600),
            Err(RegisterRefusal::IntervalTooBrief)
        );
        assert_eq!(
            r.register(now, ATA, "aor", "x", 1, &[], true, Some(30), 600),
            Err(RegisterRefusal::BadWildcard)
        );
        assert_eq!(
            r.register(now, ATA, "aor", "x", 1, &[], true, Some(0), 600),
            Ok(vec![])
        );
    }

    #[test]
    fn a_binding_remembers_its_source_until_it_expires_or_is_removed() {
        let now = Instant::now();
        let mut r = Registrar::default();
        let c = vec![("sip:ht813@10.0.0.2:5062".to_string(), 60)];
        r.register(now, ATA, "aor", "x", 1, &c, false, None, 600)
            .expect("ok");
        assert!(r.has_live_source(now, ATA));
        let other_port = SocketAddr::new(ATA.ip(), 5063);
        assert!(!r.has_live_source(now, other_port), "the port counts too");
        assert!(
            !r.has_live_source(now + Duration::from_secs(60), ATA),
            "expired"
        );
        let remove = vec![("sip:ht813@10.0.0.2:5062".to_string(), 0)];
        r.register(now, ATA, "aor", "x", 2, &remove, false, None, 600)
            .expect("ok");
        assert!(!r.has_live_source(now, ATA), "unregistered");
    }

    #[test]
    fn bindings_survive_a_restart_on_the_wall_clock() {
        let now = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut before = Registrar::default();
        let c = vec![("sip:ht813@10.0.0.2:5062".to_string(), 120)];
        before
            .register(now, ATA, "aor", "x", 1, &c, false, None, 600)
            .expect("ok");
        let saved = before.save(now + Duration::from_secs(20), wall);
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].source, ATA);
        assert_eq!(saved[0].expires_unix_ms, 1_800_000_000_000 + 100_000);

        // A new process, 30 s later on the wall clock: 70 s of the binding are left.
        let later = Instant::now();
        let mut after = Registrar::default();
        after.restore(later, wall + Duration::from_secs(30), saved.clone(), 600);
        assert!(after.has_live_source(later + Duration::from_secs(69), ATA));
        assert!(!after.has_live_source(later + Duration::from_secs(70), ATA));
        // Too late, and capped by max_expires.
        let mut expired = Registrar::default();
        expired.restore(later, wall + Duration::from_secs(101), saved.clone(), 600);
        assert!(!expired.has_live_source(later, ATA));
        let mut capped = Registrar::default();
        capped.restore(later, wall, saved, 10);
        assert!(!capped.has_live_source(later + Duration::from_secs(10), ATA));
    }
}
