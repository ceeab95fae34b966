//! `callbox config`: check a file, show the effective configuration.

use super::load_config;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigAction {
    /// Validate a configuration file; names the key and the reason for every error.
    Check {
        /// The file to check (default: the --config file).
        file: Option<PathBuf>,
    },
    /// Print the effective configuration (defaults, file and environment merged) as TOML.
    Show,
}

pub fn config(config_path: Option<&Path>, action: ConfigAction) -> Result<ExitCode> {
    match action {
        ConfigAction::Check { file } => check(file.as_deref().or(config_path)),
        ConfigAction::Show => show(config_path),
    }
}

/// Prints every issue of the file (default: /etc/callbox/callbox.toml); exit 2 on errors.
fn check(path: Option<&Path>) -> Result<ExitCode> {
    let path = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CONFIG_PATH));
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let issues = crate::config::check_in_environment(&text);
    for issue in &issues {
        let level = if issue.is_error() { "error" } else { "warning" };
        println!("{}: {level}: {issue}", path.display());
    }
    if issues.iter().any(|i| i.is_error()) {
        return Ok(ExitCode::from(2));
    }
    println!("{}: OK", path.display());
    Ok(ExitCode::SUCCESS)
}

fn show(config_path: Option<&Path>) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    print!(
        "{}",
        toml::to_string_pretty(&config).context("rendering configuration")?
    );
    Ok(ExitCode::SUCCESS)
}
