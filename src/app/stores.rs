//! The stores the box opens before it answers a call: the job queue (which must open) and the
//! ServiceTitan cache (which may fail: it is disposable).

use crate::config::{Config, DataPaths};
use crate::queue::{Outbox, QueueOptions};
use crate::servicetitan::cache::StCache;
use anyhow::{Context, Result};
use std::sync::Arc;
use tracing::{error, info};

/// Opens the outbox before the first call can be answered: what start-up repaired or
/// quarantined is said loudly.
pub(crate) fn open_queue(config: &Config, paths: &DataPaths) -> Result<Outbox> {
    let (outbox, report) =
        Outbox::open(&paths.queue, QueueOptions::from_settings(&config.queue))
            .with_context(|| format!("opening the job queue in {}", paths.queue.display()))?;
    if report.is_clean() {
        info!(
            records = report.records,
            migrated = report.migrated,
            "job queue open"
        );
    } else {
        error!(
            records = report.records,
            quarantined = report.quarantined.len(),
            restored_from_mirror = report.restored_from_mirror,
            moved_aside = ?report.moved_aside,
            corruption = ?report.corruption,
            mirror_error = ?report.mirror_error,
            "job queue was damaged and repaired at start-up; check `callbox queue list`"
        );
    }
    Ok(outbox)
}

/// Opens the ServiceTitan cache (`<data_dir>/cache`). It is disposable: when it cannot be
/// opened the box still answers, recognises no one and offers windows from `[schedule]`.
pub(crate) fn open_cache(config: &Config, paths: &DataPaths) -> Option<Arc<StCache>> {
    let dir = paths.root.join("cache");
    let plan = crate::trade::phone::dialling_plan(&config.shop.default_country)
        .unwrap_or_else(crate::trade::phone::default_plan);
    match StCache::open(&dir) {
        Ok(cache) => Some(Arc::new(cache.with_phone_plan(plan))),
        Err(err) => {
            error!(dir = %dir.display(), error = %err, "ServiceTitan cache unusable: callers are not recognised and windows come from [schedule]; move the directory aside to start it afresh");
            None
        }
    }
}
