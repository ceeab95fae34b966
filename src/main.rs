//! The callbox binary: parses the command line and wires the modules together. Nothing here
//! knows SIP, audio or call flow; it only connects the pieces that do.

use anyhow::{Context, Result};
use callbox::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "callbox",
    version,
    about = "After-hours call answering for HVAC shops"
)]
struct Cli {
    /// Configuration file (default: /etc/callbox/callbox.toml when it exists).
    #[arg(long, global = true, env = "CALLBOX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance: answer calls until stopped.
    Run,
    /// Send queued work to ServiceTitan: loop until stopped, or drain once with --once.
    Sync {
        /// Sync what is due now, print a summary and exit (non-zero if anything failed or
        /// needs attention).
        #[arg(long)]
        once: bool,
    },
    /// ServiceTitan tools.
    St {
        #[command(subcommand)]
        action: StAction,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum StAction {
    /// Online state, queue by state, last sync and cache ages, as JSON.
    Status,
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate a configuration file; names the key and the reason for every error.
    Check {
        /// The file to check (default: the --config file).
        file: Option<PathBuf>,
    },
    /// Print the effective configuration (defaults, file and environment merged) as TOML.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("callbox: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            callbox::app::init_logging(&config.log.filter);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(callbox::app::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { once } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            callbox::app::init_logging(&config.log.filter);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let worker = callbox::servicetitan::open_worker(&config)?;
                if once {
                    let summary = worker.sync_once().await?;
                    println!("{}", serde_json::to_string_pretty(&summary)?);
                    return Ok(if summary.is_clean() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(3)
                    });
                }
                worker.run(shutdown_signal()).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::St {
            action: StAction::Status,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let worker = callbox::servicetitan::open_worker(&config)?;
            println!("{}", serde_json::to_string_pretty(&worker.status())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            action: ConfigAction::Check { file },
        } => {
            let path = file
                .or(cli.config)
                .unwrap_or_else(|| PathBuf::from(callbox::config::DEFAULT_CONFIG_PATH));
            let text =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let issues = callbox::config::check_bytes(&text);
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
        Command::Config {
            action: ConfigAction::Show,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            print!(
                "{}",
                toml::to_string_pretty(&config).context("rendering configuration")?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Resolves on SIGTERM (systemd stop) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
