//! The callbox binary: parses the command line and calls the subcommand's body in
//! `callbox::app::commands`. Nothing else lives here.

use callbox::app::commands::{
    self, alert::AlertAction, cache::CacheAction, config::ConfigAction, model::ModelAction,
    queue::QueueAction, say::SayArgs, simulate::SimulateArgs, st::StAction,
    transcribe::TranscribeArgs,
};
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
    /// The running appliance's status: services, calls in progress, SIP address, queue, as JSON
    /// (exit 3 when it is not running, 4 when its status is stale).
    Status,
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
    /// Render text with the configured voice ([voice]) to an 8 kHz mono WAV file.
    Say(SayArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Hold a call with the real dialog engine, queue and cache from stdin: a line is what
    /// the recogniser heard, `dtmf:<keys>`, `silence` or `hangup`. Ends with the outcome as JSON.
    Simulate(SimulateArgs),
    /// Alerts to the on-call technician ([alerts]).
    Alert {
        #[command(subcommand)]
        action: AlertAction,
    },
    /// The ServiceTitan cache the box recognises callers from (`<data_dir>/cache`).
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// The offline job queue: what is waiting for ServiceTitan and what needs a person.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// The speech model: check or install it.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Run a WAV file through the call's speech pipeline (VAD, endpointer, Vosk) and print
    /// each utterance with its times, text and confidence, and the real-time factor.
    Transcribe(TranscribeArgs),
}

fn main() -> ExitCode {
    // Everything the box writes holds callers' details: private to its user.
    callbox::infra::private::restrict_umask();
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Run => commands::run::run(config),
        Command::Status => commands::status::status(config),
        Command::Sync { once } => commands::sync::sync(config, once),
        Command::St { action } => commands::st::st(config, action),
        Command::Say(args) => commands::say::say(config, args),
        Command::Config { action } => commands::config::config(config, action),
        Command::Simulate(args) => commands::simulate::simulate(config, args),
        Command::Alert { action } => commands::alert::alert(config, action),
        Command::Cache { action } => commands::cache::cache(config, action),
        Command::Queue { action } => commands::queue::queue(config, action),
        Command::Model { action } => commands::model::model(config, action),
        Command::Transcribe(args) => commands::transcribe::transcribe(config, args),
    };
    result.unwrap_or_else(|err| {
        eprintln!("callbox: {err:#}");
        ExitCode::FAILURE
    })
}
