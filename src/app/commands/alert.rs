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
    /// any failed). Nothing is queued. With `--channel phone --to <sip uri or number>`,
    /// place one page call over the shop's line instead and print what came of it (exit 0
    /// when the callee pressed 1 or 2).
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Which channel to test: the configured ones (webhook, ntfy), or a phone call.
    #[arg(long, value_enum, default_value_t = TestChannel::Configured)]
    pub channel: TestChannel,
    /// Whom to call with `--channel phone`: a SIP URI (`sip:200@192.168.1.30`) or a number
    /// the ATA (sip.outbound_target) dials.
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestChannel {
    Configured,
    Phone,
}

pub fn alert(config_path: Option<&Path>, action: AlertAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        AlertAction::Test(TestArgs {
            channel: TestChannel::Phone,
            to,
        }) => test_phone(&config, to.as_deref()),
        AlertAction::Test(_) => test(&config),
    }
}

/// One page call; prints `phone <to>: <outcome>`.
fn test_phone(config: &Config, to: Option<&str>) -> Result<ExitCode> {
    use crate::alert::phone::PageCallOutcome;
    let Some(to) = to.filter(|t| !t.trim().is_empty()) else {
        anyhow::bail!("--channel phone needs --to <sip uri or number>");
    };
    crate::app::logging::init_logging("warn");
    let spoken = format!(
        "This is a test call-out from the answering box at {}. Nothing needs doing.",
        config.shop.name
    );
    let runtime = current_thread_runtime()?;
    let outcome = runtime.block_on(crate::app::pager::page_once(config, to, &spoken));
    match &outcome {
        PageCallOutcome::Failed(why) => println!("phone {to}: FAILED: {why}"),
        other => {
            let kind = serde_json::to_value(other)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{other:?}"));
            println!("phone {to}: {kind}");
        }
    }
    Ok(
        if matches!(outcome, PageCallOutcome::Accepted | PageCallOutcome::Passed) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
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
