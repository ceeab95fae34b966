//! The callbox binary: parses the command line and calls the subcommand's body in
//! `callbox::app::commands`. Nothing else lives here.

use callbox::app::commands::{
    self, alert::AlertAction, cache::CacheAction, config::ConfigAction, model::ModelAction,
    queue::QueueAction, say::SayArgs, simulate::SimulateArgs, sms::SmsAction, st::StAction,
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
    /// the recogniser heard, `dtmf:<keys>`, `more:<words>` (the caller going on after being
    /// cut off), `silence` or `hangup`. Ends with the outcome as JSON.
    Simulate(SimulateArgs),
    /// Alerts to the on-call technician ([alerts]).
    Alert {
        #[command(subcommand)]
        action: AlertAction,
    },
    /// Texts ([sms]): the opt-out list, a test text.
    Sms {
        #[command(subcommand)]
        action: SmsAction,
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
    /// Make signed releases (for whoever ships the box).
    Release {
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// Remote updates ([update]): check, apply (switch, health check, rollback), status.
    Update {
        #[command(subcommand)]
        action: UpdateAction,
        /// Release server base URL, over `[update] server`.
        #[arg(long, global = true)]
        server: Option<String>,
        /// Installation root, over `[update] root`.
        #[arg(long, global = true)]
        root: Option<PathBuf>,
    },
    /// Run a WAV file through the call's speech pipeline (VAD, endpointer, Vosk) and print
    /// each utterance with its times, text and confidence, and the real-time factor.
    Transcribe(TranscribeArgs),
}

#[derive(Debug, Subcommand)]
enum ReleaseAction {
    /// Make signing keys and the first trusted root (`root.json`, built into the binary).
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// How many keys.
        #[arg(long, default_value_t = 1)]
        keys: usize,
        /// How many of them must sign a release.
        #[arg(long, default_value_t = 1)]
        threshold: usize,
        /// The root expires after this many days.
        #[arg(long, default_value_t = 3650)]
        valid_days: i64,
    },
    /// Make the next root (key rotation): signed by a threshold of the current root's keys
    /// and by every new key. Publish it at `<server>/root/<version>.json`.
    Rotate {
        /// The current root (`root.json`, or the last rotated one).
        #[arg(long)]
        root: PathBuf,
        /// A key of the current root; give as many as its threshold needs.
        #[arg(long = "old-key", required = true)]
        old_keys: Vec<PathBuf>,
        /// A key the new root trusts (made by `release keygen`); each one signs too.
        #[arg(long = "new-key", required = true)]
        new_keys: Vec<PathBuf>,
        /// How many new keys must sign a release.
        #[arg(long, default_value_t = 1)]
        threshold: usize,
        /// The new root expires after this many days.
        #[arg(long, default_value_t = 3650)]
        valid_days: i64,
        /// Where the new root is written (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Package a release (binary + libvosk.so) and sign its manifest.
    Build {
        #[arg(long)]
        version: String,
        /// "aarch64" or "x86_64".
        #[arg(long)]
        arch: String,
        /// A signing key; give as many as the threshold needs.
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "stable")]
        channel: String,
        /// The binary to ship (default: this one).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// libvosk.so to ship (default: beside the binary).
        #[arg(long)]
        libvosk: Option<PathBuf>,
        /// The manifest expires after this many days.
        #[arg(long, default_value_t = 30)]
        valid_days: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UpdateAction {
    /// What the server offers, verified; nothing changes.
    Check,
    /// Install a newer release: wait for an idle line, switch, restart, health or rollback.
    Apply,
    /// Installed, previous, last check and its result, rollbacks, as JSON.
    Status,
}

fn main() -> ExitCode {
    // Everything the box writes holds callers' details: private to its user.
    callbox::infra::private::restrict_umask();
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let result = match cli.command {
        Command::Run => commands::run::run(config),
        Command::Status => commands::status::status(config),
        Command::Release { action } => release(action),
        Command::Update {
            action,
            server,
            root,
        } => {
            let overrides = commands::update::Overrides {
                server: server.as_deref(),
                root: root.as_deref(),
            };
            match action {
                UpdateAction::Check => commands::update::check(config, &overrides),
                UpdateAction::Apply => commands::update::apply(config, &overrides),
                UpdateAction::Status => commands::update::status(config, &overrides),
            }
        }
        Command::Sync { once } => commands::sync::sync(config, once),
        Command::St { action } => commands::st::st(config, action),
        Command::Say(args) => commands::say::say(config, args),
        Command::Config { action } => commands::config::config(config, action),
        Command::Simulate(args) => commands::simulate::simulate(config, args),
        Command::Alert { action } => commands::alert::alert(config, action),
        Command::Sms { action } => commands::sms::sms(config, action),
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

fn release(action: ReleaseAction) -> anyhow::Result<ExitCode> {
    match action {
        ReleaseAction::Keygen {
            out,
            keys,
            threshold,
            valid_days,
        } => commands::release::keygen(&out, keys, threshold, valid_days),
        ReleaseAction::Rotate {
            root,
            old_keys,
            new_keys,
            threshold,
            valid_days,
            out,
        } => commands::release::rotate(&root, &old_keys, &new_keys, threshold, valid_days, &out),
        ReleaseAction::Build {
            version,
            arch,
            keys,
            out,
            channel,
            binary,
            libvosk,
            valid_days,
        } => commands::release::build(&commands::release::BuildArgs {
            version: &version,
            arch: &arch,
            channel: &channel,
            keys: &keys,
            binary: binary.as_deref(),
            libvosk: libvosk.as_deref(),
            out: &out,
            valid_days,
        }),
    }
}
