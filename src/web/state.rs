//! What every request handler shares: credentials, sessions, the login throttle, the backend.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use tokio::sync::Semaphore;

use super::auth::Credentials;
use super::error::ApiError;
use super::session::{ActiveSession, SessionStore};
use super::settings::WebConfig;
use super::throttle::{Limits, Locked, LoginThrottle, Scope};
use super::WebBackend;

/// The session cookie. `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
pub const SESSION_COOKIE: &str = "__Host-callbox_session";

/// Password hashes computed at once (each takes tens of MB and ~0.1 s on a Pi).
const HASHING_AT_ONCE: usize = 2;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub credentials: Arc<Credentials>,
    pub backend: Arc<dyn WebBackend>,
    sessions: Mutex<SessionStore>,
    throttle: Mutex<LoginThrottle>,
    hashing: Semaphore,
    session_max: Duration,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        settings: &WebConfig,
        credentials: Credentials,
        backend: Arc<dyn WebBackend>,
    ) -> Self {
        let session_max = Duration::from_secs(settings.session_max_secs);
        let limits = Limits {
            per_source: settings.login_failures_per_source,
            global: settings.login_failures_global,
            window: Duration::from_secs(settings.login_failure_window_secs),
            lockout: Duration::from_secs(settings.login_lockout_secs),
        };
        AppState(Arc::new(Shared {
            credentials: Arc::new(credentials),
            backend,
            sessions: Mutex::new(SessionStore::new(
                Duration::from_secs(settings.session_idle_secs),
                session_max,
            )),
            throttle: Mutex::new(LoginThrottle::new(limits)),
            hashing: Semaphore::new(HASHING_AT_ONCE),
            session_max,
        }))
    }
}

impl Shared {
    /// The live session the request's cookie names, if any.
    pub fn session_for(&self, headers: &HeaderMap) -> Option<ActiveSession> {
        let id = session_cookie(headers)?;
        lock(&self.sessions).touch(id, Instant::now())
    }

    pub fn start_session(&self) -> ActiveSession {
        lock(&self.sessions).create(Instant::now())
    }

    pub fn end_session(&self, id: &str) {
        lock(&self.sessions).remove(id);
    }

    pub fn session_max(&self) -> Duration {
        self.session_max
    }

    /// 429 while the source (or everyone) is locked out.
    pub fn check_throttle(&self, ip: IpAddr) -> Result<(), ApiError> {
        lock(&self.throttle)
            .check(ip, Instant::now())
            .map_err(|locked| ApiError::LockedOut {
                retry_after: locked.retry_after,
            })
    }

    /// Counts a failed login or setup code; answers `refusal`, or 429 (logged) when this failure
    /// starts a lock-out.
    pub fn failed_attempt(&self, ip: IpAddr, what: &str, refusal: ApiError) -> ApiError {
        let locked = lock(&self.throttle).record_failure(ip, Instant::now());
        match locked {
            Some(locked) => {
                log_lock_out(ip, what, locked);
                ApiError::LockedOut {
                    retry_after: locked.retry_after,
                }
            }
            None => {
                tracing::info!(source = %ip, "web: wrong {what}");
                refusal
            }
        }
    }

    pub fn succeeded(&self, ip: IpAddr) {
        lock(&self.throttle).record_success(ip);
    }

    /// Runs a password hash off the async threads, a few at a time.
    pub async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::Internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ApiError::Internal)
    }
}

fn log_lock_out(ip: IpAddr, what: &str, locked: Locked) {
    let secs = locked.retry_after.as_secs();
    match locked.scope {
        Scope::Source(source) => tracing::warn!(
            source = %source,
            attempt_from = %ip,
            "web: login locked out for this source for {secs} s after repeated wrong {what}s"
        ),
        Scope::Everyone => tracing::warn!(
            attempt_from = %ip,
            "web: login locked out for everyone for {secs} s after repeated wrong {what}s from many sources"
        ),
    }
}

/// The session id from the `Cookie` header(s).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a new session.
pub fn session_cookie_header(id: &str, max_age: Duration) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub fn expired_cookie_header() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-callbox_session=abc123; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc123"));
        let mut other = HeaderMap::new();
        other.insert(
            header::COOKIE,
            HeaderValue::from_static("callbox_session=abc123"),
        );
        assert_eq!(session_cookie(&other), None);
    }

    #[test]
    fn cookies_are_secure_http_only_and_strict() {
        let set = session_cookie_header("abc", Duration::from_secs(60));
        for attribute in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(
                set.split("; ").any(|a| a == attribute),
                "{attribute} in {set}"
            );
        }
        assert!(expired_cookie_header().contains("Max-Age=0"));
    }
}
