//! `callbox run`.

use super::{load_config, multi_thread_runtime};
use crate::app::logging::init_logging;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Runs the appliance: answers calls until stopped.
pub fn run(config_path: Option<&Path>) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    init_logging(&config.log.filter);
    multi_thread_runtime()?.block_on(crate::app::run(config))?;
    Ok(ExitCode::SUCCESS)
}
