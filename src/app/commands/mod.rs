//! The bodies of the command-line subcommands, one module each. `main.rs` parses the command
//! line and calls one function here per subcommand; each loads the configuration it needs.

pub mod alert;
pub mod cache;
pub mod config;
pub mod model;
pub mod queue;
pub mod release;
pub mod run;
pub mod say;
pub mod simulate;
pub mod sms;
pub mod st;
pub mod status;
pub mod sync;
pub mod transcribe;
pub mod update;

use anyhow::{Context, Result};
use std::path::Path;

/// The effective configuration: defaults, the file (`--config`) and the environment.
fn load_config(path: Option<&Path>) -> Result<crate::config::Config> {
    crate::config::Config::load(path).context("loading configuration")
}

fn multi_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
