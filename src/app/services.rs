//! The background services of `callbox run` beside call handling: queue compaction, the
//! on-call alert dispatcher and the ServiceTitan sync. Each is a [`Service`] the supervisor
//! (re)starts; a run ends with `Ok` only when it is cancelled.

use crate::alert::{AlertSettings, Dispatcher, NoOnCall, OnCallDirectory, PhonePager};
use crate::app::lookup::CacheOnCall;
use crate::app::supervisor::Service;
use crate::config::Config;
use crate::queue::Outbox;
use crate::servicetitan::cache::StCache;
use crate::servicetitan::{SyncSettings, SyncWorker};
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
///
/// `pager` is the phone pager over the shop's line (issue 15: `crate::app::pager` implements
/// [`PhonePager`] over telephony's outbound calls and `run.rs` hands it in here). With one,
/// every alert also runs the paging ladder (`[alerts] contacts`, backup, owner) until someone
/// presses 1; without one, alerts go by webhook/ntfy only.
pub(crate) fn alerts(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
    pager: Option<Arc<dyn PhonePager>>,
) -> Result<Option<(Service, Arc<Dispatcher>)>> {
    let settings =
        AlertSettings::from_settings(&config.alerts, &config.shop.name, &config.shop.timezone)
            .context("setting up [alerts]")?;
    let pending = queue.counts().alerts_undelivered;
    let people = settings.paging.list.len()
        + usize::from(
            settings.paging.list.is_empty()
                && settings
                    .fallback
                    .as_ref()
                    .is_some_and(|f| f.phone.is_some()),
        )
        + usize::from(settings.paging.backup.is_some())
        + usize::from(settings.paging.owner.is_some());
    match (&pager, people) {
        (Some(_), 0) => warn!(
            "alerts: paging by phone, but no contact, backup, owner or fallback phone is              configured ([alerts] contacts): only ServiceTitan's on-call technician can be paged"
        ),
        (None, 1..) => warn!(
            people,
            "alerts: [alerts] contacts are set but this box cannot place page calls yet (no phone              pager): emergencies go by webhook/ntfy only"
        ),
        _ => {}
    }
    if settings.channels.is_empty() && pager.is_none() {
        error!(
            pending,
            "NO ALERT CHANNEL configured ([alerts] webhook_url): the on-call technician will NOT \
             be alerted when a caller reports gas, CO, smoke, burning or sparking; those reports \
             reach the office only through the ServiceTitan sync"
        );
        return Ok(None);
    }
    let channels = channel_names(&settings);
    if channels.is_empty() {
        warn!("alerts: no webhook/ntfy channel: emergencies are paged by phone only");
    }
    let mut dispatcher = Dispatcher::new(settings, queue.clone(), on_call_directory(cache))
        .context("starting the alerts")?;
    let by_phone = pager.is_some();
    if let Some(pager) = pager {
        dispatcher = dispatcher.with_pager(pager);
    }
    dispatcher = dispatcher.with_page_notes(Arc::new(crate::app::call_pages::CallPages::new(
        config.data_paths().calls,
    )));
    let by_text = match crate::app::sms::sender(config) {
        Ok(Some(sms)) => {
            dispatcher = dispatcher.with_sms(Arc::new(sms));
            true
        }
        Ok(None) => false,
        Err(err) => {
            tracing::warn!("alerts: no page texts: {err:#}");
            false
        }
    };
    info!(
        ?channels,
        by_phone, by_text, pending, "alerts: on-call alert dispatcher started"
    );
    let dispatcher = Arc::new(dispatcher);
    let handle = dispatcher.clone();
    let service = Service::new("alerts", move |token| {
        let dispatcher = dispatcher.clone();
        Box::pin(async move {
            dispatcher.run(token.cancelled()).await;
            if token.is_cancelled() {
                Ok(())
            } else {
                Err(anyhow!("the alert dispatcher ended"))
            }
        })
    });
    Ok(Some((service, handle)))
}

pub(crate) fn on_call_directory(cache: Option<Arc<StCache>>) -> Arc<dyn OnCallDirectory> {
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
) -> Option<(Service, Arc<SyncWorker>)> {
    if !config.servicetitan.enabled {
        info!("ServiceTitan sync is off ([servicetitan] enabled = false): work waits in the queue");
        return None;
    }
    let Some(cache) = cache else {
        error!("ServiceTitan sync not started: the cache could not be opened");
        return None;
    };
    let client = match st_client(config) {
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
    let handle = worker.clone();
    let service = Service::new("sync", move |token| {
        let worker = worker.clone();
        Box::pin(async move {
            worker
                .run(token.cancelled())
                .await
                .context("ServiceTitan sync stopped")
        })
    });
    Some((service, handle))
}

/// The local web page (`[web]`): HTTPS with a login; the console is its backend.
pub(crate) fn web(config: &Config, backend: Arc<dyn WebBackend>) -> Service {
    let settings = Arc::new(config.web.clone());
    let data_dir = config.storage.data_dir.clone();
    Service::new("web", move |token| {
        let (settings, data_dir, backend) = (settings.clone(), data_dir.clone(), backend.clone());
        Box::pin(async move {
            crate::web::serve(&settings, &data_dir, backend, token.cancelled_owned())
                .await
                .map_err(anyhow::Error::from)
        })
    })
}

/// A ServiceTitan client from `[servicetitan]` (the sync, the page's "test connection").
pub(crate) fn st_client(
    config: &Config,
) -> Result<crate::servicetitan::StClient, crate::servicetitan::StError> {
    crate::servicetitan::install_crypto_provider();
    crate::servicetitan::client_config(&config.servicetitan, &config.shop.default_country)
        .and_then(crate::servicetitan::StClient::new)
}
