//! `callbox sms`: the opt-out list and a test text.

use super::{current_thread_runtime, load_config};
use crate::alert::sms::{SendOutcome, SmsStore};
use crate::app::sms::{sender, sms_dir};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum SmsAction {
    /// Record that a number wants no texts (as if it had replied STOP). Kept across restarts.
    OptOut { number: String },
    /// Lift a number's opt-out (as if it had replied START).
    OptIn { number: String },
    /// List the numbers that opted out.
    OptOuts,
    /// Send one test text through the configured gateway (exit 1 if it was not sent).
    Test {
        #[arg(long)]
        to: String,
    },
}

pub fn sms(config_path: Option<&Path>, action: SmsAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let number = |raw: &str| -> Result<String> {
        let plan = crate::trade::phone::dialling_plan(&config.shop.default_country);
        crate::trade::phone::normalise(raw, plan)
            .with_context(|| format!("`{raw}` is not a phone number"))
    };
    match action {
        SmsAction::OptOut { number: raw } => {
            let n = number(&raw)?;
            let store = SmsStore::open(&sms_dir(&config))?;
            if store.opt_out(&n, chrono::Utc::now(), "cli")? {
                println!("{n}: opted out; no texts will go to it");
            } else {
                println!("{n}: had already opted out");
            }
        }
        SmsAction::OptIn { number: raw } => {
            let n = number(&raw)?;
            let store = SmsStore::open(&sms_dir(&config))?;
            if store.opt_in(&n)? {
                println!("{n}: texts allowed again");
            } else {
                println!("{n}: had not opted out");
            }
        }
        SmsAction::OptOuts => {
            let store = SmsStore::open(&sms_dir(&config))?;
            for (n, o) in store.opt_outs()? {
                println!("{n}\t{}\t{}", o.at.format("%Y-%m-%dT%H:%M:%SZ"), o.how);
            }
        }
        SmsAction::Test { to } => {
            let n = number(&to)?;
            crate::infra::http::install_crypto_provider();
            let Some(sender) = sender(&config)? else {
                bail!("no SMS gateway configured: set [sms] gateway (see README, \"Texts\")");
            };
            let key = format!("test-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
            let text = format!(
                "{}: test text from callbox, no action needed.",
                config.shop.name
            );
            let runtime = current_thread_runtime()?;
            match runtime.block_on(sender.send(&n, &text, &key)) {
                Ok(SendOutcome::Sent { .. }) => println!("sent"),
                Ok(SendOutcome::AlreadySent) => println!("sent (already)"),
                Ok(SendOutcome::OptedOut) => {
                    println!("NOT sent: {n} opted out (callbox sms opt-in {n})");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => {
                    println!("NOT sent: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
