//! `callbox st`: ServiceTitan tools.

use super::load_config;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum StAction {
    /// Online state, queue by state, last sync and cache ages, as JSON.
    Status,
}

pub fn st(config_path: Option<&Path>, action: StAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        StAction::Status => {
            let worker = crate::servicetitan::open_worker(
                &config.servicetitan,
                crate::queue::QueueOptions::from_settings(&config.queue),
                &config.storage.data_dir,
                &config.shop.default_country,
            )?;
            println!("{}", serde_json::to_string_pretty(&worker.status())?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
