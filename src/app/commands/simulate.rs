//! `callbox simulate`: a call with the real dialog engine, queue and cache, from stdin.

use super::load_config;
use crate::app::simulate::{self, SimulateOptions};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Caller ID, E.164 (+13125550142); omit for a withheld number.
    #[arg(long)]
    pub caller_id: Option<String>,
    /// The shop number dialled.
    #[arg(long)]
    pub dialled: Option<String>,
    /// Data directory (overrides storage.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The call's start time, RFC 3339 (default: now).
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// JSON fixture loaded into the ServiceTitan cache first.
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Ignore cached capacity, as when ServiceTitan is unreachable.
    #[arg(long)]
    pub offline: bool,
    /// Make every enqueue after the first N fail like a full disk.
    #[arg(long)]
    pub fail_enqueue_after: Option<usize>,
    /// Outdoor temperature (°F) for triage.
    #[arg(long)]
    pub outdoor_temp_f: Option<f32>,
    /// The outdoor temperature is a fresh NWS forecast: it wins over an outdoor temperature
    /// the caller states (without it, it stands for an aging value or the climate rule).
    #[arg(long, requires = "outdoor_temp_f")]
    pub outdoor_fresh: bool,
}

pub fn simulate(config_path: Option<&Path>, args: SimulateArgs) -> Result<ExitCode> {
    let mut config = load_config(config_path)?;
    if let Some(dir) = args.data_dir {
        config.storage.data_dir = dir;
    }
    let opts = SimulateOptions {
        caller_id: args.caller_id,
        dialled: args.dialled,
        now: args.now,
        seed: args.seed,
        offline: args.offline,
        fail_enqueue_after: args.fail_enqueue_after,
        outdoor_temp_f: args.outdoor_temp_f,
        outdoor_measured: args.outdoor_fresh,
    };
    simulate::run(
        &config,
        &opts,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    )?;
    Ok(ExitCode::SUCCESS)
}
