//! `callbox update check|apply|status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;

use crate::app::update::RunningBox;
use crate::update::install::Installation;
use crate::update::updater::{ApplyOutcome, CheckOutcome, Updater};

/// `--server` and `--root` over the configuration.
pub struct Overrides<'a> {
    pub server: Option<&'a str>,
    pub root: Option<&'a Path>,
}

fn settings(
    config_path: Option<&Path>,
    overrides: &Overrides<'_>,
) -> Result<(crate::config::Config, crate::update::settings::UpdateConfig)> {
    let config = super::load_config(config_path)?;
    let mut update = config.update.clone();
    if let Some(server) = overrides.server {
        update.server = server.to_string();
    }
    if let Some(root) = overrides.root {
        update.root = PathBuf::from(root);
    }
    if let Some((key, reason)) = update.validate().into_iter().next() {
        anyhow::bail!("{key}: {reason}");
    }
    Ok((config, update))
}

pub fn check(config_path: Option<&Path>, overrides: &Overrides<'_>) -> Result<ExitCode> {
    let (_, update) = settings(config_path, overrides)?;
    let mut updater = Updater::new(&update, std::env::consts::ARCH)?;
    match updater.check(Utc::now()) {
        Ok(CheckOutcome::UpToDate { installed }) => {
            println!("up to date: {installed}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(CheckOutcome::Available { installed, release }) => {
            println!(
                "release {} available (installed {installed})",
                release.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("callbox: update check: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

pub fn apply(config_path: Option<&Path>, overrides: &Overrides<'_>) -> Result<ExitCode> {
    let (config, update) = settings(config_path, overrides)?;
    let mut updater = Updater::new(&update, std::env::consts::ARCH)?;
    let mut running = RunningBox::new(&config);
    match updater.apply(Utc::now(), &mut running) {
        Ok(ApplyOutcome::UpToDate { installed }) => {
            println!("up to date: {installed}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(ApplyOutcome::Installed { from, to }) => {
            println!("installed {to} (was {from}); healthy");
            Ok(ExitCode::SUCCESS)
        }
        Ok(ApplyOutcome::RolledBack { from, to, reason }) => {
            let to = to.map_or("the package's installation".to_string(), |v| v.to_string());
            eprintln!("callbox: release {from} was not healthy ({reason}); rolled back to {to}");
            Ok(ExitCode::from(3))
        }
        Err(e) => {
            eprintln!("callbox: update apply: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

pub fn status(config_path: Option<&Path>, overrides: &Overrides<'_>) -> Result<ExitCode> {
    let (_, update) = settings(config_path, overrides)?;
    let install = Installation::new(&update.root);
    let state = install.load_state()?;
    let report = serde_json::json!({
        "server": update.server,
        "channel": update.channel,
        "root": update.root,
        "current": install.current()?.map(|v| v.to_string()),
        "previous": install.previous()?.map(|v| v.to_string()),
        "running_binary": env!("CARGO_PKG_VERSION"),
        "state": state,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
