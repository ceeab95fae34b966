//! The callbox binary: parses the command line and wires the modules together. Nothing here
//! knows SIP, audio or call flow; it only connects the pieces that do.

use anyhow::{Context, Result};
use callbox::config::Config;
use callbox::queue::{
    ListFilter, Outbox, QueueError, QueueOptions, RecordId, RecordKind, StateName,
};
use callbox::speech::asr::{self, Upsample};
use callbox::speech::model::{self, InstallSource, ManifestCheck};
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
    /// Hold a call with the real dialog engine, queue and cache from stdin: a line is what
    /// the recogniser heard, `dtmf:<keys>`, `silence` or `hangup`. Ends with the outcome as JSON.
    Simulate {
        /// Caller ID, E.164 (+13125550142); omit for a withheld number.
        #[arg(long)]
        caller_id: Option<String>,
        /// The shop number dialled.
        #[arg(long)]
        dialled: Option<String>,
        /// Data directory (overrides storage.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The call's start time, RFC 3339 (default: now).
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        /// JSON fixture loaded into the ServiceTitan cache first.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Ignore cached capacity, as when ServiceTitan is unreachable.
        #[arg(long)]
        offline: bool,
        /// Make every enqueue after the first N fail like a full disk.
        #[arg(long)]
        fail_enqueue_after: Option<usize>,
        /// Outdoor temperature (°F) for triage.
        #[arg(long)]
        outdoor_temp_f: Option<f32>,
    },
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
    Transcribe {
        /// Model directory (default: speech.model_dir from the configuration).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Recognise against these comma-separated phrases instead of open vocabulary.
        #[arg(long, value_delimiter = ',')]
        grammar: Option<Vec<String>>,
        /// Override speech.upsample: filter or vosk.
        #[arg(long)]
        upsample: Option<String>,
        /// The recording (any WAV; converted to 8 kHz mono like a call).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AlertAction {
    /// Send a test alert to every configured channel and say how each answered (exit 1 if
    /// any failed). Nothing is queued.
    Test,
}

#[derive(Debug, Subcommand)]
enum QueueAction {
    /// List records, oldest first.
    List {
        /// Only this state: queued, syncing, synced, needs-attention.
        #[arg(long)]
        state: Option<StateName>,
        /// Only this kind: job, note, lead, callback, voicemail, invoice_copy, …
        #[arg(long)]
        kind: Option<RecordKind>,
        /// At most this many records.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show one record in full, as JSON.
    Show { id: RecordId },
    /// Send a needs-attention record again (or a queued one now, skipping its back-off).
    Retry { id: RecordId },
    /// Write every record as JSON lines to FILE, or to standard output with `-`.
    Export {
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Add the records of a `queue export` file; ids already in the queue are skipped.
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum CacheAction {
    /// Load a JSON fixture (customers with locations and appointments, technicians, on-call
    /// shifts, capacity; the format of `simulate --seed`) into the cache, as fresh now. For
    /// installers before the first sync, and for tests. The box must be stopped.
    Seed { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum StAction {
    /// Online state, queue by state, last sync and cache ages, as JSON.
    Status,
}

#[derive(Debug, Subcommand)]
enum ModelAction {
    /// Check a model directory: layout, checksum manifest, and (with --load) that libvosk loads
    /// it and decodes phone audio. Exit status 2 when it is missing or broken.
    Verify {
        /// Model directory (default: speech.model_dir from the configuration).
        dir: Option<PathBuf>,
        /// Also load the model and run the start-up self-test (seconds).
        #[arg(long)]
        load: bool,
    },
    /// Install a model from a local archive (.zip, .tar.gz, .tgz, .tar) or a URL with a pinned
    /// sha256; writes the checksum manifest and swaps the model into place.
    Install {
        /// A local archive.
        #[arg(conflicts_with_all = ["url", "small_en_us"])]
        archive: Option<PathBuf>,
        /// Download this URL (needs --sha256).
        #[arg(long, requires = "sha256")]
        url: Option<String>,
        /// Expected sha256 of the archive.
        #[arg(long)]
        sha256: Option<String>,
        /// Download the small US English model (the real box's model) at its pinned sha256.
        #[arg(long, conflicts_with_all = ["url", "sha256"])]
        small_en_us: bool,
        /// Where to install (default: speech.model_dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
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
    // Everything the box writes holds callers' details: private to its user.
    callbox::infra::private::restrict_umask();
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
        Command::Model { action } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            model_command(action, &config)
        }
        Command::Transcribe {
            model,
            grammar,
            upsample,
            file,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let dir = model.unwrap_or_else(|| config.model_dir());
            let upsample = match upsample.as_deref() {
                None => config.speech.upsample,
                Some("filter") => Upsample::Filter,
                Some("vosk") => Upsample::Vosk,
                Some(other) => anyhow::bail!("--upsample {other}: expected filter or vosk"),
            };
            let samples = callbox::telephony::wav::read_wav_8k_mono(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            model::verify_layout(&dir).with_context(|| format!("model {}", dir.display()))?;
            let loaded = asr::SpeechModel::load(&dir, upsample)?;
            let transcript = asr::transcribe(
                &loaded,
                &samples,
                config.speech.vad_aggressiveness,
                config.speech.endpointer(),
                grammar.as_deref(),
            )?;
            for u in &transcript.utterances {
                println!(
                    "{:>8.2} {:>8.2}  conf {:.2}  {}",
                    u.start_ms as f64 / 1000.0,
                    u.end_ms as f64 / 1000.0,
                    u.utterance.confidence,
                    u.utterance.text
                );
            }
            println!(
                "{} utterances, {:.2} s of audio in {:.2} s: real-time factor {:.3}",
                transcript.utterances.len(),
                transcript.audio_ms as f64 / 1000.0,
                transcript.elapsed.as_secs_f64(),
                transcript.real_time_factor()
            );
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
        Command::Simulate {
            caller_id,
            dialled,
            data_dir,
            now,
            seed,
            offline,
            fail_enqueue_after,
            outdoor_temp_f,
        } => {
            let mut config =
                Config::load(cli.config.as_deref()).context("loading configuration")?;
            if let Some(dir) = data_dir {
                config.storage.data_dir = dir;
            }
            let opts = callbox::simulate::SimulateOptions {
                caller_id,
                dialled,
                now,
                seed,
                offline,
                fail_enqueue_after,
                outdoor_temp_f,
            };
            callbox::simulate::run(
                &config,
                &opts,
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Queue { action } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            queue_command(&config, action)
        }
        Command::Alert {
            action: AlertAction::Test,
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            alert_test(&config)
        }
        Command::Cache {
            action: CacheAction::Seed { file },
        } => {
            let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
            let dir = config.data_paths().root.join("cache");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let cache = callbox::servicetitan::cache::StCache::open(&dir).with_context(|| {
                format!(
                    "opening the cache in {} (is `callbox run` holding it?)",
                    dir.display()
                )
            })?;
            callbox::simulate::seed(&cache, &file, chrono::Utc::now())?;
            tokio::runtime::Builder::new_current_thread()
                .build()
                .context("starting the async runtime")?
                .block_on(cache.flush())
                .with_context(|| format!("writing the cache in {}", dir.display()))?;
            println!("seeded {} from {}", dir.display(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn alert_test(config: &Config) -> Result<ExitCode> {
    use callbox::alert::{AlertSettings, NoOnCall, OnCallDirectory};
    let settings = AlertSettings::from_config(config)?;
    if settings.channels.is_empty() {
        anyhow::bail!("no alert channel configured: set alerts.webhook_url (see README, \"Alerts to the on-call technician\")");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The running box holds the cache; then the test names the fallback technician.
    let cache =
        callbox::servicetitan::cache::StCache::open(&config.data_paths().root.join("cache"));
    let on_call: Box<dyn OnCallDirectory> = match cache {
        Ok(cache) => Box::new(callbox::lookup::CacheOnCall {
            cache: std::sync::Arc::new(cache),
        }),
        Err(_) => Box::new(NoOnCall),
    };
    let reports = runtime.block_on(callbox::alert::send_test(
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

fn queue_command(config: &Config, action: QueueAction) -> Result<ExitCode> {
    let dir = config.data_paths().queue;
    let opts = QueueOptions::from_config(&config.queue);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The running appliance holds the database; reading falls back to the mirror then.
    let open = || match Outbox::open(&dir, opts.clone()) {
        Ok((outbox, report)) => {
            if !report.is_clean() {
                eprintln!("callbox: queue opened with repairs: {report:?}");
            }
            Ok(Some(outbox))
        }
        Err(QueueError::Locked { .. }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("opening the queue in {}", dir.display())),
    };
    let locked = || {
        anyhow::anyhow!(
            "the queue in {} is held by the running callbox; stop it first (systemctl stop callbox)",
            dir.display()
        )
    };
    match action {
        QueueAction::List { state, kind, limit } => {
            let filter = ListFilter { state, kind, limit };
            let (records, counts) = match open()? {
                Some(outbox) => (outbox.list(&filter)?, Some(outbox.counts())),
                None => {
                    eprintln!("callbox is running: showing the queue as its mirror file has it");
                    let mut records = Outbox::read_mirror(&dir)?;
                    records.retain(|r| {
                        filter.state.is_none_or(|s| s == r.state.name())
                            && filter.kind.is_none_or(|k| k == r.kind())
                    });
                    records.truncate(filter.limit.unwrap_or(usize::MAX));
                    (records, None)
                }
            };
            print!(
                "{}",
                callbox::queue::cli::render_table(&records, chrono::Utc::now())
            );
            if let Some(counts) = counts {
                println!("{}", callbox::queue::cli::render_counts(&counts));
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueAction::Show { id } => {
            let record = match open()? {
                Some(outbox) => outbox.get(&id)?,
                None => Outbox::read_mirror(&dir)?.into_iter().find(|r| r.id == id),
            };
            let record = record.ok_or_else(|| anyhow::anyhow!("no record {id} in the queue"))?;
            println!("{}", serde_json::to_string_pretty(&record)?);
            Ok(ExitCode::SUCCESS)
        }
        QueueAction::Retry { id } => {
            let outbox = open()?.ok_or_else(locked)?;
            let record = runtime.block_on(outbox.retry(&id))?;
            println!("{} is {} again", record.id, record.state);
            Ok(ExitCode::SUCCESS)
        }
        QueueAction::Export { file } => {
            let outbox = open()?.ok_or_else(locked)?;
            let n = if file.as_os_str() == "-" {
                outbox.export_jsonl(std::io::stdout().lock())?
            } else {
                // Temp file + rename: a half-written export must not look like a whole one.
                let tmp = file.with_extension("partial");
                let out = callbox::infra::private::new_file()
                    .open(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?;
                let mut out = std::io::BufWriter::new(out);
                let n = outbox.export_jsonl(&mut out)?;
                out.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all())
                    .with_context(|| format!("writing {}", tmp.display()))?;
                std::fs::rename(&tmp, &file)
                    .with_context(|| format!("renaming {} to {}", tmp.display(), file.display()))?;
                n
            };
            eprintln!("exported {n} records");
            Ok(ExitCode::SUCCESS)
        }
        QueueAction::Import { file } => {
            let outbox = open()?.ok_or_else(locked)?;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let report = runtime.block_on(outbox.import_jsonl(std::io::BufReader::new(input)))?;
            println!(
                "imported {}, already present {}, rejected {}",
                report.imported,
                report.already_present,
                report.rejected.len()
            );
            for (line, reason) in &report.rejected {
                println!("  {}:{line}: {reason}", file.display());
            }
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
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
fn model_command(action: ModelAction, config: &Config) -> Result<ExitCode> {
    match action {
        ModelAction::Verify { dir, load } => {
            let dir = dir.unwrap_or_else(|| config.model_dir());
            let layout = match model::verify_layout(&dir) {
                Ok(layout) => layout,
                Err(err) => {
                    println!("{}: BROKEN OR MISSING: {err}", dir.display());
                    return Ok(ExitCode::from(2));
                }
            };
            println!(
                "{}: layout OK ({:?} graph, {} Hz{})",
                dir.display(),
                layout.graph,
                layout.sample_rate,
                if layout.has_ivector { ", ivector" } else { "" }
            );
            match model::check_manifest(&dir) {
                Ok(ManifestCheck::Verified { files }) => {
                    println!("{}: {files} files match {}", dir.display(), model::MANIFEST)
                }
                Ok(ManifestCheck::Absent) => println!(
                    "{}: warning: no {} (installed by hand?); checksums not checked",
                    dir.display(),
                    model::MANIFEST
                ),
                Err(err) => {
                    println!("{}: BROKEN: {err}", dir.display());
                    return Ok(ExitCode::from(2));
                }
            }
            if load {
                let (status, _) = model::open(&dir, config.speech.upsample);
                println!("{}: {status}", dir.display());
                if !status.is_ready() {
                    return Ok(ExitCode::from(2));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelAction::Install {
            archive,
            url,
            sha256,
            small_en_us,
            dir,
        } => {
            let dest = dir.unwrap_or_else(|| config.model_dir());
            let source = match (archive, url, small_en_us) {
                (Some(path), None, false) => InstallSource::File { path, sha256 },
                (None, Some(url), false) => InstallSource::Url {
                    url,
                    sha256: sha256.unwrap_or_default(),
                },
                (None, None, true) => InstallSource::Url {
                    url: model::SMALL_EN_US_URL.into(),
                    sha256: model::SMALL_EN_US_SHA256.into(),
                },
                _ => anyhow::bail!("give one of: ARCHIVE, --url URL --sha256 HEX, --small-en-us"),
            };
            let report = model::install(&source, &dest)
                .with_context(|| format!("installing the model into {}", dest.display()))?;
            println!(
                "installed {} ({} files, archive sha256 {}, {:?} graph)",
                report.dir.display(),
                report.files,
                report.archive_sha256,
                report.layout.graph
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
