//! `callbox update check|apply|status`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use chrono::Utc;

use crate::app::update::{anchor, RunningBox};
use crate::update::install::Installation;
use crate::update::trust::{self, TrustDir};
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

/// The updater, or the reason there is none (exit 2 with the message).
fn updater(
    update: &crate::update::settings::UpdateConfig,
    what: &str,
) -> Result<Updater, ExitCode> {
    let made = anchor()
        .map_err(crate::update::updater::UpdateError::from)
        .and_then(|anchor| Updater::new(update, std::env::consts::ARCH, anchor));
    made.map_err(|e| {
        eprintln!("callbox: update {what}: {e}");
        ExitCode::from(2)
    })
}

pub fn check(config_path: Option<&Path>, overrides: &Overrides<'_>) -> Result<ExitCode> {
    let (_, update) = settings(config_path, overrides)?;
    let mut updater = match updater(&update, "check") {
        Ok(updater) => updater,
        Err(code) => return Ok(code),
    };
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
    let mut updater = match updater(&update, "apply") {
        Ok(updater) => updater,
        Err(code) => return Ok(code),
    };
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
        "trust": trust_report(&install),
        "state": state,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Whom this binary trusts, for `update status`: the anchor (built in, a test root, or none:
/// a development build that refuses updates) and the root its kept chain reaches.
fn trust_report(install: &Installation) -> serde_json::Value {
    let anchor = match anchor() {
        Ok(anchor) => anchor,
        Err(e) => return serde_json::json!({ "anchor": null, "problem": e.to_string() }),
    };
    let keys = |root: &crate::update::Root| -> Vec<String> {
        root.keys
            .iter()
            .map(|k| k.key_id()[..16].to_string())
            .collect()
    };
    let chain = TrustDir::new(install.trust_dir())
        .links()
        .and_then(|links| trust::verify_chain(anchor.root(), &links));
    let (current, problem) = match &chain {
        Ok(root) => (
            serde_json::json!({
                "version": root.version,
                "threshold": root.threshold,
                "keys": keys(root),
                "expires": root.expires,
            }),
            trust::check_current(root, Utc::now())
                .err()
                .map(|e| e.to_string()),
        ),
        Err(e) => (serde_json::Value::Null, Some(e.to_string())),
    };
    serde_json::json!({
        "anchor": {
            "source": anchor.source().name(),
            "version": anchor.root().version,
            "keys": keys(anchor.root()),
        },
        "current": current,
        "problem": problem,
    })
}
