//! `callbox alert`: alerts to the on-call technician.

use super::{current_thread_runtime, load_config};
use crate::alert::{AlertSettings, NoOnCall, OnCallDirectory};
use crate::app::lookup::CacheOnCall;
use crate::config::Config;
use crate::servicetitan::cache::StCache;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum AlertAction {
    /// Send a test alert to every configured channel and say how each answered (exit 1 if
    /// any failed). Nothing is queued.
    Test,
}

pub fn alert(config_path: Option<&Path>, action: AlertAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        AlertAction::Test => test(&config),
    }
}

fn test(config: &Config) -> Result<ExitCode> {
    let settings =
        AlertSettings::from_settings(&config.alerts, &config.shop.name, &config.shop.timezone)?;
    if settings.channels.is_empty() {
        anyhow::bail!("no alert channel configured: set alerts.webhook_url (see README, \"Alerts to the on-call technician\")");
    }
    let runtime = current_thread_runtime()?;
    let on_call = on_call(config);
    let reports = runtime.block_on(crate::alert::send_test(
        &settings,
        on_call.as_ref(),
        chrono::Utc::now(),
    ))?;
    let mut ok = true;
    for r in reports {
        match r.result {
            Ok(()) => println!("{}: delivered", r.channel),
            Err(e) => {
                ok = false;
                println!("{}: FAILED: {e}", r.channel);
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The running box holds the cache; then the test names the fallback technician.
fn on_call(config: &Config) -> Box<dyn OnCallDirectory> {
    match StCache::open(&config.data_paths().root.join("cache")) {
        Ok(cache) => Box::new(CacheOnCall {
            cache: Arc::new(cache),
        }),
        Err(_) => Box::new(NoOnCall),
    }
}
