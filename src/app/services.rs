//! The background services of `callbox run` beside call handling: queue compaction, the
//! on-call alert dispatcher and the ServiceTitan sync. Each is a [`Service`] the supervisor
//! (re)starts; a run ends with `Ok` only when it is cancelled.

use crate::alert::{AlertSettings, Dispatcher, NoOnCall, OnCallDirectory};
use crate::app::lookup::CacheOnCall;
use crate::app::status::AppStatus;
use crate::app::supervisor::Service;
use crate::config::Config;
use crate::queue::Outbox;
use crate::servicetitan::cache::StCache;
use crate::servicetitan::{SyncSettings, SyncWorker};
use crate::web::backend::{
    Applied, BackendError, BoxFuture, CallDetail, CallPage, CallQuery, ConnectionReport,
    DashboardView, DayCalls, LogLine, OnCallView, QueueQuery, QueueRow, RestartPlan, SettingsView,
    UpdatesView,
};
use crate::web::WebBackend;
use anyhow::{anyhow, Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// How often synced records are compacted out of the queue.
const COMPACT_EVERY: Duration = Duration::from_secs(3600);

/// Compacts synced records out of the queue every hour.
pub(crate) fn compaction(queue: &Outbox) -> Service {
    let queue = queue.clone();
    Service::new("queue compaction", move |token| {
        let queue = queue.clone();
        Box::pin(async move {
            tokio::select! {
                _ = queue.compact_periodically(COMPACT_EVERY) => Err(anyhow!("the compaction loop ended")),
                _ = token.cancelled() => Ok(()),
            }
        })
    })
}

/// The on-call alert dispatcher. No channel is not fatal (every alert still reaches the office
/// through the sync) but it is said loudly at every start; then there is no service.
pub(crate) fn alerts(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Result<Option<Service>> {
    let settings =
        AlertSettings::from_settings(&config.alerts, &config.shop.name, &config.shop.timezone)
            .context("setting up [alerts]")?;
    let pending = queue.counts().alerts_undelivered;
    if settings.channels.is_empty() {
        error!(
            pending,
            "NO ALERT CHANNEL configured ([alerts] webhook_url): the on-call technician will NOT \
             be alerted when a caller reports gas, CO, smoke, burning or sparking; those reports \
             reach the office only through the ServiceTitan sync"
        );
        return Ok(None);
    }
    let channels = channel_names(&settings);
    let dispatcher = Dispatcher::new(settings, queue.clone(), on_call_directory(cache))
        .context("starting the alerts")?;
    info!(
        ?channels,
        pending, "alerts: on-call alert dispatcher started"
    );
    let dispatcher = Arc::new(dispatcher);
    Ok(Some(Service::new("alerts", move |token| {
        let dispatcher = dispatcher.clone();
        Box::pin(async move {
            dispatcher.run(token.cancelled()).await;
            if token.is_cancelled() {
                Ok(())
            } else {
                Err(anyhow!("the alert dispatcher ended"))
            }
        })
    })))
}

fn on_call_directory(cache: Option<Arc<StCache>>) -> Arc<dyn OnCallDirectory> {
    match cache {
        Some(cache) => Arc::new(CacheOnCall { cache }),
        None => {
            warn!("alerts: no ServiceTitan cache; alerts name the fallback technician");
            Arc::new(NoOnCall)
        }
    }
}

fn channel_names(settings: &AlertSettings) -> Vec<String> {
    settings
        .channels
        .iter()
        .map(|c| {
            format!(
                "{} ({:?}, {})",
                c.name,
                c.format,
                c.url.host_str().unwrap_or("")
            )
        })
        .collect()
}

/// With `[servicetitan] enabled`, the sync runs inside `callbox run`: the queue and the cache
/// can each be open in one process only, so a separate `callbox sync` would be locked out.
/// `None` (said in the log) when it is off or cannot start.
pub(crate) fn sync(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Option<Service> {
    if !config.servicetitan.enabled {
        info!("ServiceTitan sync is off ([servicetitan] enabled = false): work waits in the queue");
        return None;
    }
    let Some(cache) = cache else {
        error!("ServiceTitan sync not started: the cache could not be opened");
        return None;
    };
    crate::servicetitan::install_crypto_provider();
    let client = match crate::servicetitan::client_config(
        &config.servicetitan,
        &config.shop.default_country,
    )
    .and_then(crate::servicetitan::StClient::new)
    {
        Ok(client) => client,
        Err(err) => {
            error!(error = %err, "ServiceTitan sync not started: check [servicetitan] (`callbox config check`)");
            return None;
        }
    };
    let worker = Arc::new(SyncWorker::new(
        client,
        queue.clone(),
        cache,
        SyncSettings::from_config(&config.servicetitan),
    ));
    info!("ServiceTitan sync running in this process");
    Some(Service::new("sync", move |token| {
        let worker = worker.clone();
        Box::pin(async move {
            worker
                .run(token.cancelled())
                .await
                .context("ServiceTitan sync stopped")
        })
    }))
}

/// The local web page (`[web]`): HTTPS with a login, the box's status from the status handle.
pub(crate) fn web(config: &Config, status: Arc<AppStatus>, queue: Option<Outbox>) -> Service {
    let settings = Arc::new(config.web.clone());
    let data_dir = config.storage.data_dir.clone();
    let backend: Arc<dyn WebBackend> = Arc::new(StatusBackend { status, queue });
    Service::new("web", move |token| {
        let (settings, data_dir, backend) = (settings.clone(), data_dir.clone(), backend.clone());
        Box::pin(async move {
            crate::web::serve(&settings, &data_dir, backend, token.cancelled_owned())
                .await
                .map_err(anyhow::Error::from)
        })
    })
}

/// What the web page shows of the running box: the status `callbox status` prints.
struct StatusBackend {
    status: Arc<AppStatus>,
    queue: Option<Outbox>,
}

impl WebBackend for StatusBackend {
    fn status(&self) -> serde_json::Value {
        serde_json::to_value(self.status.report(self.queue.as_ref()))
            .unwrap_or_else(|err| serde_json::json!({ "error": err.to_string() }))
    }
    fn dashboard(&self) -> DashboardView {
        DashboardView::default()
    }
    fn calls_per_day(&self, _days: u32) -> Vec<DayCalls> {
        Vec::new()
    }
    fn calls(&self, _query: &CallQuery) -> CallPage {
        CallPage::default()
    }
    fn call(&self, _key: &str) -> Result<CallDetail, BackendError> {
        Err(not_wired())
    }
    fn recording(&self, _key: &str) -> Result<std::path::PathBuf, BackendError> {
        Err(not_wired())
    }
    fn queue(&self, _query: &QueueQuery) -> Result<Vec<QueueRow>, BackendError> {
        Err(not_wired())
    }
    fn retry(&self, _id: &str) -> Result<QueueRow, BackendError> {
        Err(not_wired())
    }
    fn export_queue(&self) -> Result<Vec<u8>, BackendError> {
        Err(not_wired())
    }
    fn on_call(&self) -> OnCallView {
        OnCallView::default()
    }
    fn settings(&self) -> SettingsView {
        SettingsView::default()
    }
    fn apply_settings(
        &self,
        _changes: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Result<Applied, crate::web::SettingsErrors> {
        Err(crate::web::SettingsErrors::one("settings", "not wired yet"))
    }
    fn test_connection(&self) -> BoxFuture<'_, ConnectionReport> {
        Box::pin(async { ConnectionReport::default() })
    }
    fn hear(&self, _text: String) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        Box::pin(async { Err(not_wired()) })
    }
    fn restart(&self) -> Result<RestartPlan, BackendError> {
        Err(not_wired())
    }
    fn updates(&self) -> UpdatesView {
        UpdatesView::default()
    }
    fn check_updates(&self) -> BoxFuture<'_, UpdatesView> {
        Box::pin(async { UpdatesView::default() })
    }
    fn log_tail(&self, _after: u64, _limit: usize) -> Vec<LogLine> {
        Vec::new()
    }
    fn support_bundle(&self) -> Result<Vec<u8>, BackendError> {
        Err(not_wired())
    }
}

/// Placeholder until `app/console.rs` implements the page's backend (issue 12, in progress).
fn not_wired() -> BackendError {
    BackendError::Unavailable("not wired yet".to_string())
}
