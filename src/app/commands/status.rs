//! `callbox status`: what the running daemon last wrote to `<data_dir>/run/status.json`.

use super::load_config;
use crate::app::status::{read_status, status_path, Reading, StatusReport};
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Exit status when the daemon is not running.
const NOT_RUNNING: u8 = 3;
/// Exit status when the daemon's process lives but its status is old (wedged).
const STALE: u8 = 4;

/// Prints the status as JSON; says plainly (and exits non-zero) when the daemon is not
/// running or its status is stale.
pub fn status(config_path: Option<&Path>) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let path = status_path(&config.storage.data_dir);
    match read_status(&path, chrono::Utc::now())? {
        Reading::Live(report) => {
            print_report(&report)?;
            Ok(ExitCode::SUCCESS)
        }
        Reading::Missing => {
            println!(
                "callbox is not running: no status file at {}",
                path.display()
            );
            Ok(ExitCode::from(NOT_RUNNING))
        }
        Reading::NotRunning(report) => {
            println!(
                "callbox is not running (process {} last wrote its status at {}); its last status:",
                report.pid, report.written_at
            );
            print_report(&report)?;
            Ok(ExitCode::from(NOT_RUNNING))
        }
        Reading::Stale(report, age) => {
            println!(
                "callbox status is STALE: process {} last wrote it {} s ago (at {}); the daemon may be wedged:",
                report.pid,
                age.num_seconds(),
                report.written_at
            );
            print_report(&report)?;
            Ok(ExitCode::from(STALE))
        }
    }
}

fn print_report(report: &StatusReport) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(report)?);
    Ok(())
}
