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
    /// Render text with the configured voice ([voice]) to an 8 kHz mono WAV file.
    Say {
        /// What to say.
        text: String,
        /// The WAV file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
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
        Command::Say { text, output } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            callbox::app::init_logging("warn");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let report = runtime.block_on(callbox::app::say(&config.voice, &text, &output))?;
            eprintln!(
                "{}: {:.2} s of 8 kHz audio; first audio after {} ms, done after {} ms",
                output.display(),
                report.audio_ms as f64 / 1000.0,
                report.first_audio_ms,
                report.total_ms
            );
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
