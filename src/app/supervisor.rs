//! The supervisor: every long-running service of `callbox run` runs under it. A service that
//! returns an error, ends by itself or panics is logged with its error and restarted after a
//! backoff (1 s doubling to 60 s, back to 1 s after a healthy minute); its state is kept in a
//! shared [`ServiceStatuses`] handle that `callbox status` (and later the web page) reads.
//! Nothing ends silently. On shutdown the cancellation token is cancelled and every service
//! is given a bounded time to finish.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// One run of a service: ends with `Ok` only when cancelled; anything else is a failure.
pub type ServiceRun = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A long-running service: a name for the log and the status, and how to (re)start it.
pub struct Service {
    pub name: &'static str,
    /// A critical service that is not running stops the systemd watchdog pings.
    pub critical: bool,
    start: Box<dyn FnMut(CancellationToken) -> ServiceRun + Send>,
}

impl Service {
    pub fn new(
        name: &'static str,
        start: impl FnMut(CancellationToken) -> ServiceRun + Send + 'static,
    ) -> Service {
        Service {
            name,
            critical: false,
            start: Box::new(start),
        }
    }

    /// Marks the service as one the box cannot answer calls without.
    pub fn critical(mut self) -> Service {
        self.critical = true;
        self
    }

    /// Starts one run of the service.
    pub fn start(&mut self, token: CancellationToken) -> ServiceRun {
        (self.start)(token)
    }
}

/// How long to wait before restarting a failed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The wait after the first failure; doubled after each further one.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A run at least this long was healthy: the next failure waits `initial` again.
    pub healthy_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The wait after the `failures`-th failure in a row (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// What a service is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServiceState {
    Running {
        since: DateTime<Utc>,
    },
    Restarting {
        last_error: String,
        restarts: u32,
        next_at: DateTime<Utc>,
    },
    Stopped,
}

/// One service as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    #[serde(flatten)]
    pub state: ServiceState,
    pub critical: bool,
    /// Restarts since the box started.
    pub restarts: u32,
    /// The last failure, kept while the service runs again.
    pub last_error: Option<String>,
}

/// The shared, readable state of every supervised service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServiceStatuses {
    services: Arc<Mutex<BTreeMap<&'static str, ServiceStatus>>>,
    changed: Arc<watch::Sender<u64>>,
}

impl Default for ServiceStatuses {
    fn default() -> Self {
        ServiceStatuses {
            services: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
        }
    }
}

impl ServiceStatuses {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<&'static str, ServiceStatus>> {
        // A panic while holding the lock cannot leave a half-written entry: take it as it is.
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every service by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, ServiceStatus> {
        self.lock().clone()
    }

    pub fn get(&self, name: &str) -> Option<ServiceStatus> {
        self.lock().get(name).cloned()
    }

    /// True while every critical service is running.
    pub fn healthy(&self) -> bool {
        self.lock()
            .values()
            .filter(|s| s.critical)
            .all(|s| matches!(s.state, ServiceState::Running { .. }))
    }

    /// Changes whenever a service changes state.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn update(&self, name: &'static str, critical: bool, change: impl FnOnce(&mut ServiceStatus)) {
        {
            let mut services = self.lock();
            let entry = services.entry(name).or_insert(ServiceStatus {
                state: ServiceState::Stopped,
                critical,
                restarts: 0,
                last_error: None,
            });
            change(entry);
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Runs services, restarts them when they fail, stops them on shutdown.
pub struct Supervisor {
    set: JoinSet<()>,
    token: CancellationToken,
    statuses: ServiceStatuses,
    policy: RestartPolicy,
}

impl Supervisor {
    pub fn new(policy: RestartPolicy, statuses: ServiceStatuses) -> Supervisor {
        Supervisor {
            set: JoinSet::new(),
            token: CancellationToken::new(),
            statuses,
            policy,
        }
    }

    /// The status handle.
    pub fn statuses(&self) -> &ServiceStatuses {
        &self.statuses
    }

    /// Starts `service` and keeps it running until shutdown.
    pub fn spawn(&mut self, service: Service) {
        let keeper = Keeper {
            service,
            token: self.token.child_token(),
            statuses: self.statuses.clone(),
            policy: self.policy,
        };
        self.set.spawn(keeper.run());
    }

    /// Cancels every service and waits up to `bound` for them to finish; what is left is
    /// aborted (and said so).
    pub async fn shutdown(mut self, bound: Duration) {
        self.token.cancel();
        let finished = tokio::time::timeout(bound, async {
            while self.set.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            warn!(
                left = self.set.len(),
                "services did not stop within {bound:?}; aborting them"
            );
            self.set.shutdown().await;
        }
    }
}

/// Aborts the task when dropped: a keeper aborted at shutdown takes its service's run along.
pub(crate) struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps one service running.
struct Keeper {
    service: Service,
    token: CancellationToken,
    statuses: ServiceStatuses,
    policy: RestartPolicy,
}

impl Keeper {
    async fn run(mut self) {
        let mut failures = 0u32;
        loop {
            self.mark_running();
            let started = Instant::now();
            let ended = self.run_once().await;
            if self.token.is_cancelled() {
                return self.mark_stopped(ended.err());
            }
            let error = ended.err().unwrap_or_else(|| "ended by itself".to_string());
            if started.elapsed() >= self.policy.healthy_after {
                failures = 0;
            }
            failures = failures.saturating_add(1);
            let delay = self.policy.delay(failures);
            self.mark_restarting(&error, delay);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.token.cancelled() => return self.mark_stopped(None),
            }
        }
    }

    /// One run, on its own task so a panic is caught; the error says why it failed.
    async fn run_once(&mut self) -> Result<(), String> {
        let mut run = AbortOnDrop(tokio::spawn(self.service.start(self.token.clone())));
        match (&mut run.0).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(describe(&err)),
            Err(join) if join.is_panic() => Err(format!("panicked: {}", panic_message(join))),
            Err(_) => Err("was cancelled".to_string()),
        }
    }

    fn mark_running(&self) {
        self.statuses
            .update(self.service.name, self.service.critical, |s| {
                s.state = ServiceState::Running { since: Utc::now() };
            });
    }

    fn mark_restarting(&self, error: &str, delay: Duration) {
        let name = self.service.name;
        let next_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let mut restarts = 0;
        self.statuses.update(name, self.service.critical, |s| {
            s.restarts = s.restarts.saturating_add(1);
            restarts = s.restarts;
            s.last_error = Some(error.to_string());
            s.state = ServiceState::Restarting {
                last_error: error.to_string(),
                restarts: s.restarts,
                next_at,
            };
        });
        error!(service = name, error = %error, restarts, retry_in = ?delay, "service {name} failed; restarting it");
    }

    fn mark_stopped(&self, error: Option<String>) {
        let name = self.service.name;
        self.statuses.update(name, self.service.critical, |s| {
            s.state = ServiceState::Stopped;
        });
        match error {
            Some(error) => {
                warn!(service = name, error = %error, "service {name} stopped with an error")
            }
            None => info!(service = name, "service {name} stopped"),
        }
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    let payload = join.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// `err` and its causes, as `{:#}` says them, but a cause the message before it already
/// says is left out: an error whose message embeds its source (`"cannot listen on {addr}:
/// {source}"`) would otherwise say it twice in the log and the status.
pub(crate) fn describe(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests;
