//! The access-token cache: one token for its lifetime, renewed early, by one task at a time.
//!
//! ServiceTitan throttles the token endpoint, so a token per request is wrong. The cache holds the
//! token behind an async mutex: the first caller that finds it missing or within the renewal
//! margin of expiry fetches a new one while the others wait on the lock and then reuse it
//! (single flight). A 401 invalidates only the token that was refused, so a burst of 401s on
//! the same stale token triggers one renewal, not one each.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::StError;

/// A fetched token: the bearer string and how long the server says it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedToken {
    pub access_token: String,
    pub expires_in: Duration,
}

#[derive(Debug, Clone)]
struct Cached {
    access_token: String,
    renew_at: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub struct TokenCache {
    slot: Mutex<Option<Cached>>,
    renew_before: Duration,
    fetches: AtomicU64,
}

impl TokenCache {
    /// `renew_before`: renew this long before expiry (60 s in production).
    pub fn new(renew_before: Duration) -> Self {
        TokenCache {
            slot: Mutex::new(None),
            renew_before,
            fetches: AtomicU64::new(0),
        }
    }

    /// A valid token, fetching one with `fetch` when needed. Only one caller fetches at a time.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<String, StError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, StError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some(cached) = slot.as_ref() {
            if Instant::now() < cached.renew_at {
                return Ok(cached.access_token.clone());
            }
        }
        let fetched_at = Instant::now();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let token = fetch().await?;
        // A token shorter-lived than twice the margin is renewed at half its life instead, so
        // a server handing out 30 s tokens does not cause a fetch per request.
        let margin = self.renew_before.min(token.expires_in / 2);
        let renew_at = fetched_at + token.expires_in.saturating_sub(margin);
        *slot = Some(Cached {
            access_token: token.access_token.clone(),
            renew_at,
        });
        Ok(token.access_token)
    }

    /// Forgets `refused` (a token that got a 401), unless it was already replaced.
    pub async fn invalidate(&self, refused: &str) {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|c| c.access_token == refused) {
            *slot = None;
        }
    }

    /// How many times a token was fetched (tests and status).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    /// A fake token endpoint: takes 200 ms, numbers its tokens, lives 900 s.
    struct FakeAuth {
        calls: AtomicU32,
    }

    impl FakeAuth {
        async fn fetch(&self) -> Result<FetchedToken, StError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(FetchedToken {
                access_token: format!("token-{n}"),
                expires_in: Duration::from_secs(900),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let auth = Arc::new(FakeAuth {
            calls: AtomicU32::new(0),
        });
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, auth) = (cache.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(|| auth.fetch()).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-1");
        }
        assert_eq!(auth.calls.load(Ordering::SeqCst), 1);
        assert_eq!(cache.fetch_count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn renews_sixty_seconds_early_by_one_task() {
        let cache = Arc::new(TokenCache::new(Duration::from_secs(60)));
        let auth = Arc::new(FakeAuth {
            calls: AtomicU32::new(0),
        });
        assert_eq!(cache.get(|| auth.fetch()).await.unwrap(), "token-1");
        // Fetched at t=0 (the 200 ms fetch counts against its life): renew at 840 s.
        tokio::time::advance(Duration::from_secs(839)).await;
        assert_eq!(cache.get(|| auth.fetch()).await.unwrap(), "token-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, auth) = (cache.clone(), auth.clone());
            tasks.push(tokio::spawn(async move {
                cache.get(|| auth.fetch()).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-2");
        }
        assert_eq!(auth.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_only_drops_the_refused_token() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let auth = FakeAuth {
            calls: AtomicU32::new(0),
        };
        let t1 = cache.get(|| auth.fetch()).await.unwrap();
        cache.invalidate(&t1).await;
        let t2 = cache.get(|| auth.fetch()).await.unwrap();
        assert_eq!(t2, "token-2");
        // A late 401 for token-1 must not throw token-2 away.
        cache.invalidate(&t1).await;
        assert_eq!(cache.get(|| auth.fetch()).await.unwrap(), "token-2");
        assert_eq!(auth.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_renew_at_half_life() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let fetch = || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(FetchedToken {
                access_token: format!("t{n}"),
                expires_in: Duration::from_secs(30),
            })
        };
        assert_eq!(cache.get(fetch).await.unwrap(), "t1");
        tokio::time::advance(Duration::from_secs(14)).await;
        assert_eq!(cache.get(fetch).await.unwrap(), "t1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.get(fetch).await.unwrap(), "t2");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_fetch_is_not_cached() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let err = cache
            .get(|| async {
                Err(StError::Network {
                    message: "down".into(),
                })
            })
            .await
            .unwrap_err();
        assert!(err.is_offline());
        let ok = cache
            .get(|| async {
                Ok(FetchedToken {
                    access_token: "t".into(),
                    expires_in: Duration::from_secs(900),
                })
            })
            .await
            .unwrap();
        assert_eq!(ok, "t");
    }
}
