//! `callbox run`.

use super::{load_config, multi_thread_runtime};
use crate::app::logging::init_logging;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Blocking work still running once the appliance has stopped (a recogniser finishing an
/// utterance) gets this long before the process exits.
const BLOCKING_BOUND: Duration = Duration::from_secs(2);

/// Runs the appliance: answers calls until stopped. The configuration is loaded first, then
/// logging starts, then the appliance logs the configuration's warnings.
pub fn run(config_path: Option<&Path>) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    init_logging(&config.log.filter);
    let runtime = multi_thread_runtime()?;
    let result = runtime.block_on(crate::app::run(config));
    runtime.shutdown_timeout(BLOCKING_BOUND);
    result?;
    Ok(ExitCode::SUCCESS)
}
