//! The stores the box opens before it answers a call: the job queue (which must open) and the
//! ServiceTitan cache (which may fail: it is disposable).

use crate::config::{Config, DataPaths};
use crate::queue::{Outbox, QueueOptions};
use crate::servicetitan::cache::StCache;
use anyhow::{Context, Result};
use std::sync::Arc;
use tracing::{error, info, warn};

/// Opens the outbox before the first call can be answered: what start-up repaired or
/// quarantined is said loudly.
///
/// On a full data partition (sled writes when it opens) the ballast kept in the data
/// directory is given back and the queue opened again; `None` when it still cannot open, so
/// the box answers with the greeting instead of restarting in a loop.
pub(crate) fn open_queue(config: &Config, paths: &DataPaths) -> Result<Option<Outbox>> {
    let options = QueueOptions::from_settings(&config.queue);
    let opened = match Outbox::open(&paths.queue, options.clone()) {
        Err(err) if err.is_disk_full() => {
            give_back_ballast(config, paths, &err);
            Outbox::open(&paths.queue, options)
        }
        other => other,
    };
    let (outbox, report) = match opened {
        Ok(opened) => opened,
        Err(err) if err.is_disk_full() => {
            error!(error = %err, data_dir = %paths.root.display(), "DATA PARTITION FULL: the job queue cannot open; nothing can be queued until space is freed");
            return Ok(None);
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("opening the job queue in {}", paths.queue.display()))
        }
    };
    if let Some(deferred) = &report.deferred_writes {
        error!(%deferred, "DATA PARTITION FULL: the job queue opened, its start-up writes wait for space");
    }
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
    Ok(Some(outbox))
}

/// The queue could not open for lack of space: the ballast kept for this moment is deleted.
fn give_back_ballast(config: &Config, paths: &DataPaths, err: &crate::queue::QueueError) {
    let ballast = crate::app::housekeeping::ballast(config, paths);
    let released = ballast.release().unwrap_or(0);
    error!(
        error = %err,
        ballast_released = released,
        ballast = %ballast.path.display(),
        "DATA PARTITION FULL: the job queue could not open; {}",
        if released > 0 {
            "giving back the space kept in reserve and trying again"
        } else {
            "no space kept in reserve to give back, trying once more"
        }
    );
}

/// Files under the data directory are 0600 in 0700 folders; a tree written by an older
/// version (or copied in) is brought to that at every start.
pub(crate) fn make_private(paths: &DataPaths) {
    let done = crate::infra::private::tighten_tree(&paths.root);
    if done.dirs + done.files > 0 {
        warn!(
            dirs = done.dirs,
            files = done.files,
            data_dir = %paths.root.display(),
            "data directory was readable by others; made private (folders 0700, files 0600)"
        );
    }
    for (path, error) in done.errors.iter().take(5) {
        warn!(path = %path.display(), %error, "could not make private");
    }
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
