//! The post-job survey as a supervised service. The hook for the outbound call: once the
//! telephony side has a [`SurveyCaller`] (an outbound call that runs
//! `crate::dialog::survey::SurveyScript`), `callbox run` passes it to [`service`] beside the
//! sync. Until then nothing calls `service`: `[survey] enabled` has no effect yet.

use crate::app::supervisor::Service;
use crate::config::Config;
use crate::servicetitan::survey::{SurveyCaller, SurveyStore, SurveyWorker};
use crate::servicetitan::SyncWorker;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// How often the survey looks for completed jobs and due calls.
const EVERY: Duration = Duration::from_secs(300);

/// The survey service for `sync`'s client and queue, placing calls through `caller`; `None`
/// when `[survey] enabled` is off.
pub fn service(
    config: &Config,
    sync: &SyncWorker,
    caller: Arc<dyn SurveyCaller>,
) -> Result<Option<Service>> {
    if !config.survey.enabled {
        return Ok(None);
    }
    let store = Arc::new(
        SurveyStore::open(&config.data_paths().root.join("survey"))
            .context("opening the survey store")?,
    );
    let timezone = config.shop.timezone.parse().unwrap_or(chrono_tz::UTC);
    let worker = SurveyWorker::new(
        sync.client().clone(),
        sync.outbox().clone(),
        store,
        caller,
        config.survey.rules(timezone),
        &config.shop.name,
    )
    .with_do_not_call(config.survey.do_not_call.clone())
    .with_clock(sync.clock().clone());
    let recovered = worker.recover().context("the survey store")?;
    if recovered > 0 {
        warn!(
            recovered,
            "survey: calls interrupted by a stop were ended, not repeated"
        );
    }
    info!("survey: post-job survey calls on");
    Ok(Some(Service::new("survey", move |token| {
        let worker = worker.clone();
        Box::pin(async move {
            loop {
                match worker.pass().await {
                    Ok(r) if r.noticed + r.called + r.notes_written > 0 => info!(
                        noticed = r.noticed,
                        called = r.called,
                        notes = r.notes_written,
                        "survey: pass"
                    ),
                    Ok(_) => {}
                    Err(e) => error!("survey: {e}"),
                }
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(EVERY) => {}
                }
            }
        })
    })))
}
