//! Login sessions, in memory: each has an id (the cookie), a CSRF token, an idle expiry and an
//! absolute expiry. Sans-I/O: every call is handed the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// More than one person in the office may be logged in; a flood of logins cannot grow memory.
const MAX_SESSIONS: usize = 32;

struct Session {
    csrf_token: String,
    created: Instant,
    last_seen: Instant,
}

/// A session a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    pub id: String,
    pub csrf_token: String,
}

pub struct SessionStore {
    idle: Duration,
    max: Duration,
    /// Keyed by the SHA-256 of the id, so a lookup does not compare the secret itself.
    sessions: HashMap<[u8; 32], Session>,
}

impl SessionStore {
    pub fn new(idle: Duration, max: Duration) -> Self {
        Self {
            idle,
            max,
            sessions: HashMap::new(),
        }
    }

    /// Starts a session with fresh random id and CSRF token.
    pub fn create(&mut self, now: Instant) -> ActiveSession {
        self.prune(now);
        if self.sessions.len() >= MAX_SESSIONS {
            self.evict_least_recent();
        }
        let session = ActiveSession {
            id: random_token(),
            csrf_token: random_token(),
        };
        self.sessions.insert(
            key(&session.id),
            Session {
                csrf_token: session.csrf_token.clone(),
                created: now,
                last_seen: now,
            },
        );
        session
    }

    /// The live session `id` names, its idle time restarted; `None` when unknown or expired.
    pub fn touch(&mut self, id: &str, now: Instant) -> Option<ActiveSession> {
        let key = key(id);
        let session = self.sessions.get_mut(&key)?;
        if expired(session, now, self.idle, self.max) {
            self.sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(ActiveSession {
            id: id.to_string(),
            csrf_token: session.csrf_token.clone(),
        })
    }

    /// Logout.
    pub fn remove(&mut self, id: &str) {
        self.sessions.remove(&key(id));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn prune(&mut self, now: Instant) {
        let (idle, max) = (self.idle, self.max);
        self.sessions.retain(|_, s| !expired(s, now, idle, max));
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.sessions.remove(&key);
        }
    }
}

fn expired(session: &Session, now: Instant, idle: Duration, max: Duration) -> bool {
    now.saturating_duration_since(session.last_seen) >= idle
        || now.saturating_duration_since(session.created) >= max
}

/// 256 random bits as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(1800);
    const MAX: Duration = Duration::from_secs(43_200);

    #[test]
    fn a_session_lives_while_used_and_ends_when_idle() {
        let start = Instant::now();
        let mut store = SessionStore::new(IDLE, MAX);
        let session = store.create(start);
        assert_eq!(session.id.len(), 64);
        assert_ne!(session.id, session.csrf_token);
        let later = start + IDLE - Duration::from_secs(1);
        assert_eq!(store.touch(&session.id, later), Some(session.clone()));
        let idle_again = later + IDLE - Duration::from_secs(1);
        assert!(
            store.touch(&session.id, idle_again).is_some(),
            "use restarts the idle time"
        );
        assert!(
            store.touch(&session.id, idle_again + IDLE).is_none(),
            "idle too long"
        );
        assert!(store.is_empty(), "the expired session is dropped");
    }

    #[test]
    fn a_busy_session_still_ends_at_the_absolute_limit() {
        let start = Instant::now();
        let mut store = SessionStore::new(IDLE, MAX);
        let session = store.create(start);
        let mut now = start;
        while now < start + MAX - Duration::from_secs(600) {
            now += Duration::from_secs(600);
            assert!(store.touch(&session.id, now).is_some());
        }
        assert!(store.touch(&session.id, start + MAX).is_none());
    }

    #[test]
    fn logout_and_unknown_ids() {
        let now = Instant::now();
        let mut store = SessionStore::new(IDLE, MAX);
        let session = store.create(now);
        assert!(store.touch("not-a-session", now).is_none());
        store.remove(&session.id);
        assert!(store.touch(&session.id, now).is_none());
    }

    #[test]
    fn a_flood_of_logins_keeps_the_store_bounded() {
        let now = Instant::now();
        let mut store = SessionStore::new(IDLE, MAX);
        let first = store.create(now);
        for i in 0..100 {
            store.create(now + Duration::from_millis(i + 1));
        }
        assert_eq!(store.len(), MAX_SESSIONS);
        assert!(
            store
                .touch(&first.id, now + Duration::from_secs(1))
                .is_none(),
            "oldest evicted"
        );
    }
}
