//! `callbox sync`: the ServiceTitan sync on its own, looping or once.

use super::{load_config, multi_thread_runtime};
use crate::app::logging::{init_logging, log_config_warnings};
use crate::app::shutdown::shutdown_signal;
use crate::servicetitan::SyncWorker;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Loops until stopped, or with `once` drains what is due, prints the summary and exits
/// non-zero (3) when anything failed or needs attention.
pub fn sync(config_path: Option<&Path>, once: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    init_logging(&config.log.filter);
    log_config_warnings(&config);
    multi_thread_runtime()?.block_on(async {
        let worker = crate::servicetitan::open_worker(
            &config.servicetitan,
            crate::queue::QueueOptions::from_settings(&config.queue),
            &config.storage.data_dir,
            &config.shop.default_country,
        )?;
        if once {
            sync_once(&worker).await
        } else {
            worker.run(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
    })
}

async fn sync_once(worker: &SyncWorker) -> Result<ExitCode> {
    let summary = worker.sync_once().await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
