//! Starting the appliance: binds the SIP socket, starts the line, and runs a call flow for
//! every answered call. Wiring only; every decision lives in the modules it connects.

pub mod housekeeping;

use crate::config::CallMode;
use crate::config::{Config, DataPaths};
use crate::dialog::answering::HangUpCause;
use crate::dialog::answering::{self, AnsweringSettings};
use crate::dialog::call_flow::{self, DialogSettings};
use crate::dialog::call_log::{
    self, CallRecord, CallerRecord, DialogRecord, DigitRecord, RtpRecord, TurnRecord,
};
use crate::dialog::echo_turn::{self, EchoTurnSettings};
use crate::dialog::engine::{CallContext, Script, Sources};
use crate::dialog::schedule::{shop_zone, ConfiguredSchedule};
use crate::dialog::sources::NoLookups;
use crate::infra::disk::SpaceReserve;
use crate::lookup::{CacheLookups, CacheSchedule};
use crate::queue::{CallerInfo, Payload, RecordId, VoicemailMessage};
use crate::queue::{Outbox, QueueOptions};
use crate::servicetitan::cache::StCache;
use crate::speech::asr::NoSpeechModel;
use crate::speech::asr::SpeechEngine;
use crate::speech::tts::PromptText;
use crate::speech::tts::{self, PromptCache, Speaker};
use crate::speech::turn::{Listen, TurnSettings};
use crate::telephony::audio_port::DigitSource;
use crate::telephony::audio_port::{DigitEvent, EndReason};
use crate::telephony::caller_id::Presentation;
use crate::telephony::line::{self, AnsweredCall};
use crate::telephony::sip::{udp, EndpointConfig};
use crate::telephony::wav::{self, RecordingStop};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// The greeting played when none is configured (8 kHz mono 16-bit WAV).
const BUILT_IN_GREETING: &[u8] = include_bytes!("../firmware/prompts/greeting.wav");

/// Logs go to stderr, without colour or timestamps when journald is reading them (it adds
/// its own).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLBOX_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let result = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        eprintln!("callbox: logging was already initialised");
    }
}

/// Runs the appliance until SIGINT or SIGTERM.
pub async fn run(mut config: Config) -> Result<()> {
    crate::infra::redact::show_full_numbers(config.log.full_numbers);
    let paths = config.data_paths();
    paths
        .create_all()
        .with_context(|| format!("creating the data directory {}", paths.root.display()))?;
    make_private(&paths);
    let greeting = load_greeting(&config)?;
    let queue = open_queue(&config, &paths)?;
    // sled locks the cache directory: this is the process's one handle to it, shared by the
    // call flow, the alerts and the sync.
    let cache = open_cache(&paths);
    let _housekeeping = start_housekeeping(&config, &paths, queue.as_ref(), cache.clone());
    let flow = match &queue {
        Some(queue) => {
            start_alerts(&config, queue, cache.clone())?;
            start_sync(&config, queue, cache.clone());
            prepare_flow(&config, &paths, greeting.clone(), queue, cache).await
        }
        None => {
            error!(
                "CALL MODE: answering, NOTHING CAN BE QUEUED — the data partition is full and the \
                 job queue cannot open: callers hear the greeting; free space under {} and \
                 restart callbox",
                paths.root.display()
            );
            Flow::Answering { voicemail: false }
        }
    };

    let socket = UdpSocket::bind(config.sip.listen)
        .await
        .with_context(|| format!("binding SIP to udp://{}", config.sip.listen))?;
    let local = socket
        .local_addr()
        .context("reading the SIP socket address")?;
    config.sip.public_address = Some(advertised_ip(&config, local));
    let config = Arc::new(config);
    let endpoint_config = EndpointConfig::from_config(&config.sip, local);
    let (sip, events, sip_task) =
        udp::spawn(socket, endpoint_config).context("starting the SIP endpoint")?;
    info!(
        sip = %local,
        data_dir = %paths.root.display(),
        allowed_peers = ?config.sip.allowed_peers,
        "callbox listening for calls on udp://{local}"
    );

    let (calls_tx, mut calls_rx) = mpsc::channel::<AnsweredCall>(8);
    let line_task = tokio::spawn(line::run(config.clone(), sip.clone(), events, calls_tx));

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            call = calls_rx.recv() => match call {
                Some(call) => {
                    let config = config.clone();
                    let paths = paths.clone();
                    let greeting = greeting.clone();
                    let flow = flow.clone();
                    let queue = queue.clone();
                    tokio::spawn(async move {
                        if let Err(err) = handle_call(call, &config, &paths, greeting, flow, queue.as_ref()).await {
                            error!(error = %err, "call record could not be written");
                        }
                    });
                }
                None => {
                    error!("the line stopped; exiting so systemd restarts the box");
                    break;
                }
            },
            _ = &mut shutdown => {
                info!("shutting down");
                break;
            }
        }
    }
    line_task.abort();
    sip_task.abort();
    Ok(())
}

/// Files under the data directory are 0600 in 0700 folders; a tree written by an older
/// version (or copied in) is brought to that at every start.
fn make_private(paths: &DataPaths) {
    let done = crate::infra::private::tighten_tree(&paths.root);
    if done.dirs + done.files > 0 {
        warn!(
            dirs = done.dirs,
            files = done.files,
            data_dir = %paths.root.display(),
            "data directory was readable by others; made private (folders 0700, files 0600)"
        );
    }
    for (path, error) in done.errors.iter().take(5) {
        warn!(path = %path.display(), %error, "could not make private");
    }
}

/// The address the box writes into Contact and SDP: the configured one, the bound one, or,
/// when bound to a wildcard, the local interface that routes to the ATA (a UDP connect sends
/// nothing; it only asks the kernel which interface it would use).
fn advertised_ip(config: &Config, bound: std::net::SocketAddr) -> std::net::IpAddr {
    if let Some(ip) = config.sip.public_address {
        return ip;
    }
    if !bound.ip().is_unspecified() {
        return bound.ip();
    }
    for net in &config.sip.allowed_peers {
        let peer = net.network();
        if peer.is_unspecified() || peer.is_loopback() {
            continue;
        }
        let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect((peer, 5060)).and_then(|_| s.local_addr()));
        if let Ok(local) = probe {
            return local.ip();
        }
    }
    warn!("cannot tell which address the ATA reaches the box on; set sip.public_address");
    std::net::IpAddr::from([127, 0, 0, 1])
}

/// Opens the outbox before the first call can be answered: what start-up repaired or
/// quarantined is said loudly, and synced records are compacted in the background.
///
/// On a full data partition (sled writes when it opens) the ballast kept in the data
/// directory is given back and the queue opened again; `None` when it still cannot open, so
/// the box answers with the greeting instead of restarting in a loop.
fn open_queue(config: &Config, paths: &DataPaths) -> Result<Option<Outbox>> {
    let options = QueueOptions::from_config(&config.queue);
    let ballast = housekeeping::ballast(config, paths);
    let opened = match Outbox::open(&paths.queue, options.clone()) {
        Err(err) if err.is_disk_full() => {
            let released = ballast.release().unwrap_or(0);
            error!(
                error = %err,
                ballast_released = released,
                ballast = %ballast.path.display(),
                "DATA PARTITION FULL: the job queue could not open; {}",
                if released > 0 {
                    "giving back the space kept in reserve and trying again"
                } else {
                    "no space kept in reserve to give back, trying once more"
                }
            );
            Outbox::open(&paths.queue, options)
        }
        other => other,
    };
    let (outbox, report) = match opened {
        Ok(opened) => opened,
        Err(err) if err.is_disk_full() => {
            error!(error = %err, data_dir = %paths.root.display(), "DATA PARTITION FULL: the job queue cannot open; nothing can be queued until space is freed");
            return Ok(None);
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("opening the job queue in {}", paths.queue.display()))
        }
    };
    if let Some(deferred) = &report.deferred_writes {
        error!(%deferred, "DATA PARTITION FULL: the job queue opened, its start-up writes wait for space");
    }
    if report.is_clean() {
        info!(
            records = report.records,
            migrated = report.migrated,
            "job queue open"
        );
    } else {
        error!(
            records = report.records,
            quarantined = report.quarantined.len(),
            restored_from_mirror = report.restored_from_mirror,
            moved_aside = ?report.moved_aside,
            corruption = ?report.corruption,
            mirror_error = ?report.mirror_error,
            "job queue was damaged and repaired at start-up; check `callbox queue list`"
        );
    }
    let compactor = outbox.clone();
    tokio::spawn(async move {
        compactor
            .compact_periodically(Duration::from_secs(3600))
            .await
    });
    Ok(Some(outbox))
}

/// Starts housekeeping: recordings and call records within age and budget, the cache within
/// its age. Returns its status handle.
fn start_housekeeping(
    config: &Config,
    paths: &DataPaths,
    queue: Option<&Outbox>,
    cache: Option<Arc<StCache>>,
) -> housekeeping::StatusHandle {
    let settings = housekeeping::Settings::from_config(config);
    let unsynced = match queue {
        Some(queue) => housekeeping::Unsynced::Queue(queue.clone()),
        None => housekeeping::Unsynced::Mirror(paths.queue.clone()),
    };
    let (status, handle) = tokio::sync::watch::channel(Default::default());
    info!(
        retention_days = config.storage.retention_days,
        budget_mb = config.storage.recordings_budget_mb,
        reserve_mb = config.storage.queue_reserve_mb,
        cache_max_age_days = config.storage.cache_max_age_days,
        "housekeeping started"
    );
    // supervised: the app branch registers this with the supervisor
    tokio::spawn(housekeeping::run(settings, unsynced, cache, status));
    handle
}

/// Starts the on-call alert dispatcher beside call handling. No channel is not fatal (every
/// alert still reaches the office through the sync) but it is said loudly at every start.
fn start_alerts(config: &Config, queue: &Outbox, cache: Option<Arc<StCache>>) -> Result<()> {
    use crate::alert::{AlertSettings, Dispatcher, NoOnCall, OnCallDirectory};
    let settings = AlertSettings::from_config(config).context("setting up [alerts]")?;
    let pending = queue.counts().alerts_undelivered;
    if settings.channels.is_empty() {
        error!(
            pending,
            "NO ALERT CHANNEL configured ([alerts] webhook_url): the on-call technician will NOT \
             be alerted when a caller reports gas, CO, smoke, burning or sparking; those reports \
             reach the office only through the ServiceTitan sync"
        );
        return Ok(());
    }
    let on_call: Arc<dyn OnCallDirectory> = match cache {
        Some(cache) => Arc::new(crate::lookup::CacheOnCall { cache }),
        None => {
            warn!("alerts: no ServiceTitan cache; alerts name the fallback technician");
            Arc::new(NoOnCall)
        }
    };
    let channels: Vec<String> = settings
        .channels
        .iter()
        .map(|c| {
            format!(
                "{} ({:?}, {})",
                c.name,
                c.format,
                c.url.host_str().unwrap_or("")
            )
        })
        .collect();
    let dispatcher =
        Dispatcher::new(settings, queue.clone(), on_call).context("starting the alerts")?;
    info!(
        ?channels,
        pending, "alerts: on-call alert dispatcher started"
    );
    tokio::spawn(async move { dispatcher.run(std::future::pending::<()>()).await });
    Ok(())
}

fn load_greeting(config: &Config) -> Result<Arc<[i16]>> {
    let samples = match &config.call.greeting_wav {
        Some(path) => wav::read_wav_8k_mono(path)
            .with_context(|| format!("reading the greeting {}", path.display()))?,
        None => {
            wav::decode_wav_8k_mono(BUILT_IN_GREETING).context("decoding the built-in greeting")?
        }
    };
    Ok(Arc::from(samples))
}

/// The call flow every call runs, decided once at start-up and said loudly in the log.
#[derive(Clone)]
enum Flow {
    /// Greeting, recording, digits; `voicemail`: the recording is queued as a voicemail
    /// record (the dialog's fallback when the box cannot speak).
    Answering {
        voicemail: bool,
    },
    EchoTurn(Arc<EchoTurnSettings>),
    Dialog(Arc<DialogSettings>),
}

/// Longest wait for the next key of a `#`-terminated entry (ZIP, phone, invoice number).
const INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(5);

async fn prepare_flow(
    config: &Config,
    paths: &DataPaths,
    greeting: Arc<[i16]>,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Flow {
    match config.call.mode {
        CallMode::Answering => {
            info!("CALL MODE: answering (greeting, recording, digits; call.mode = \"answering\")");
            Flow::Answering { voicemail: false }
        }
        CallMode::EchoTurn => match prepare_speech(config, paths, greeting).await {
            Some(speech) => {
                info!("CALL MODE: echo_turn (spoken stand-in)");
                Flow::EchoTurn(Arc::new(speech))
            }
            None => {
                error!("CALL MODE: answering — echo_turn needs a speech model and none is usable");
                Flow::Answering { voicemail: false }
            }
        },
        CallMode::Dialog => match prepare_dialog(config, paths, queue, cache).await {
            Some(settings) => Flow::Dialog(Arc::new(settings)),
            None => {
                error!(
                    "CALL MODE: ANSWERING WITH VOICEMAIL — the dialog needs a voice and espeak-ng \
                     is unavailable: callers hear the greeting and leave a message, and every \
                     recording is queued as a voicemail record"
                );
                Flow::Answering { voicemail: true }
            }
        },
    }
}

/// The speech model, loaded off the reactor; `None` when it is missing or broken (the model
/// module has already said why, loudly).
async fn load_model(config: &Config) -> Option<Arc<dyn SpeechEngine>> {
    let model_dir = config.model_dir();
    let upsample = config.speech.upsample;
    let (status, model) =
        tokio::task::spawn_blocking(move || crate::speech::model::open(&model_dir, upsample))
            .await
            .ok()?;
    let model = model?;
    info!(%status, "speech model loaded");
    Some(Arc::new(model))
}

/// The free space recordings leave on the data partition for the queue.
fn recording_reserve(config: &Config, paths: &DataPaths) -> SpaceReserve {
    SpaceReserve::new(
        &paths.root,
        config.storage.queue_reserve_mb.saturating_mul(1024 * 1024),
    )
}

fn prompt_dir(config: &Config, paths: &DataPaths) -> std::path::PathBuf {
    config
        .voice
        .prompt_cache_dir
        .clone()
        .unwrap_or_else(|| paths.root.join("prompts"))
}

fn turn_settings(config: &Config) -> TurnSettings {
    let lead_frames = 3;
    TurnSettings {
        barge_in: config.audio.barge_in,
        echo_margin_db: config.audio.echo_margin_db,
        barge_in_frames: config.audio.barge_in_frames,
        lead_frames,
        echo_window_frames: TurnSettings::echo_window_for(
            lead_frames,
            config.media.jitter_buffer_frames,
        ),
        endpointer: config.speech.endpointer(),
        vad_aggressiveness: config.speech.vad_aggressiveness,
    }
}

/// The dialog flow's voice, prompts, recogniser, lookups and queue. `None` without a voice:
/// the box then cannot ask anything, and falls back to the answering flow.
async fn prepare_dialog(
    config: &Config,
    paths: &DataPaths,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Option<DialogSettings> {
    let voice = tts::voice_from_config(&config.voice).await?;
    let model = load_model(config).await;
    let keypad_only = model.is_none();
    if keypad_only {
        error!(
            "CALL MODE: dialog, KEYPAD ONLY — no usable speech model: callers are asked to use \
             their keypad for every question (install one with `callbox model install`)"
        );
    } else {
        info!("CALL MODE: dialog (speech and keypad)");
    }
    let engine = model.unwrap_or_else(|| Arc::new(NoSpeechModel));
    let script = Arc::new(Script::from_config(config));

    let texts = call_flow::fixed_texts(&script, keypad_only);
    let prompts: Vec<PromptText> = texts.iter().map(|t| PromptText::new(t, t)).collect();
    let dir = prompt_dir(config, paths);
    let started = std::time::Instant::now();
    let prompt_cache =
        PromptCache::render(Some(voice.as_ref()), &dir, &prompts, &Default::default()).await;
    info!(prompts = prompt_cache.len(), ms = started.elapsed().as_millis() as u64, dir = %dir.display(), "dialog prompts ready");

    Some(DialogSettings {
        speaker: Speaker::new(Some(voice), prompt_cache),
        engine,
        keypad_only,
        turn: turn_settings(config),
        script,
        sources: dialog_sources(config, cache, queue),
        outbox: queue.clone(),
        max_call: Duration::from_secs(config.call.max_call_secs),
        inter_digit_timeout: INTER_DIGIT_TIMEOUT,
        recording_reserve: Some(recording_reserve(config, paths)),
    })
}

/// What the dialog looks up, from the ServiceTitan cache and the box's own queue; without
/// the cache, nothing is known and windows come from `[schedule]` (calls must not depend on it).
fn dialog_sources(config: &Config, cache: Option<Arc<StCache>>, queue: &Outbox) -> Sources {
    let fallback = ConfiguredSchedule::new(&config.schedule, &config.shop.timezone);
    match cache {
        Some(cache) => {
            let lookups = Arc::new(CacheLookups {
                cache: cache.clone(),
                outbox: Some(queue.clone()),
            });
            Sources {
                customers: lookups.clone(),
                appointments: lookups,
                schedule: Arc::new(CacheSchedule {
                    cache,
                    fallback,
                    timezone: shop_zone(&config.shop.timezone),
                    max_age: chrono::Duration::seconds(
                        i64::try_from(config.schedule.capacity_max_age_secs).unwrap_or(i64::MAX),
                    ),
                    offline: false,
                }),
            }
        }
        None => Sources {
            customers: Arc::new(NoLookups),
            appointments: Arc::new(NoLookups),
            schedule: Arc::new(fallback),
        },
    }
}

/// Opens the ServiceTitan cache (`<data_dir>/cache`). It is disposable: when it cannot be
/// opened the box still answers, recognises no one and offers windows from `[schedule]`.
fn open_cache(paths: &DataPaths) -> Option<Arc<StCache>> {
    let dir = paths.root.join("cache");
    match StCache::open(&dir) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(err) => {
            error!(dir = %dir.display(), error = %err, "ServiceTitan cache unusable: callers are not recognised and windows come from [schedule]; move the directory aside to start it afresh");
            None
        }
    }
}

/// With `[servicetitan] enabled`, the sync runs inside `callbox run`: the queue and the cache
/// can each be open in one process only, so a separate `callbox sync` would be locked out.
fn start_sync(config: &Config, queue: &Outbox, cache: Option<Arc<StCache>>) {
    if !config.servicetitan.enabled {
        info!("ServiceTitan sync is off ([servicetitan] enabled = false): work waits in the queue");
        return;
    }
    let Some(cache) = cache else {
        error!("ServiceTitan sync not started: the cache could not be opened");
        return;
    };
    crate::servicetitan::install_crypto_provider();
    let client = match crate::servicetitan::client_config(&config.servicetitan)
        .and_then(crate::servicetitan::StClient::new)
    {
        Ok(client) => client,
        Err(err) => {
            error!(error = %err, "ServiceTitan sync not started: check [servicetitan] (`callbox config check`)");
            return;
        }
    };
    let worker = crate::servicetitan::SyncWorker::new(
        client,
        queue.clone(),
        cache,
        crate::servicetitan::SyncSettings::from_config(&config.servicetitan),
    );
    info!("ServiceTitan sync running in this process");
    tokio::spawn(async move {
        if let Err(err) = worker.run(std::future::pending::<()>()).await {
            error!(error = %err, "ServiceTitan sync stopped");
        }
    });
}

/// The speaking side of the `echo_turn` flow: the voice and its prompts, and the speech
/// model. `None` (after an error in the log) when recognition is unavailable: calls then get
/// the answering flow, so the box still answers.
async fn prepare_speech(
    config: &Config,
    paths: &DataPaths,
    greeting: Arc<[i16]>,
) -> Option<EchoTurnSettings> {
    let engine = load_model(config).await?;
    let voice = tts::voice_from_config(&config.voice).await;
    let cache_dir = prompt_dir(config, paths);
    let grammar = config.call.turn_grammar.clone();
    let prompts = echo_turn::fixed_prompts(&config.shop.name, &grammar);
    let fallback = std::collections::HashMap::from([(echo_turn::GREETING.to_string(), greeting)]);
    let started = std::time::Instant::now();
    let cache = PromptCache::render(voice.as_deref(), &cache_dir, &prompts, &fallback).await;
    info!(prompts = cache.len(), ms = started.elapsed().as_millis() as u64, dir = %cache_dir.display(), "prompts ready");

    Some(EchoTurnSettings {
        speaker: Speaker::new(voice, cache),
        engine,
        turn: turn_settings(config),
        listen: if grammar.is_empty() {
            Listen::Open
        } else {
            Listen::Grammar(grammar)
        },
        shop_name: config.shop.name.clone(),
        max_call: Duration::from_secs(config.call.max_call_secs),
        hangup_digit: config.call.hangup_digit,
    })
}

/// What either call flow reports for the record.
struct FlowResult {
    end_reason: &'static str,
    digits: Vec<DigitEvent>,
    recorded: bool,
    recording_stopped: Option<RecordingStop>,
    turns: Vec<TurnRecord>,
    records: Vec<RecordId>,
    dialog: Option<DialogRecord>,
}

fn end_reason_name(cause: Option<HangUpCause>, end: &EndReason) -> &'static str {
    crate::dialog::answering::AnsweringOutcome {
        digits: Vec::new(),
        end: end.clone(),
        hang_up_cause: cause,
        recorded: false,
        recording_stopped: None,
    }
    .end_reason()
}

async fn handle_call(
    call: AnsweredCall,
    config: &Config,
    paths: &DataPaths,
    greeting: Arc<[i16]>,
    flow: Flow,
    queue: Option<&Outbox>,
) -> Result<()> {
    let answered_at = chrono::Utc::now();
    let key = call_log::record_key(answered_at, &call.call_id);
    let recording_name = format!("{key}.wav");
    let recording_rel = format!("recordings/{recording_name}");
    let recording_path = config
        .call
        .record
        .then(|| paths.recordings.join(&recording_name));
    let caller = crate::infra::redact::number(call.caller.number.as_deref());
    info!(%key, %caller, dialled = ?call.dialled, "call answered");
    let outcome = match flow {
        Flow::Dialog(settings) => {
            let ctx = CallContext {
                call_key: key.clone(),
                caller_id: call.caller.number.clone(),
                dialled: call.dialled.clone(),
                outdoor_temp_f: None,
                recording_path: recording_path.as_ref().map(|_| recording_rel.clone()),
            };
            let outcome = call_flow::run(call.port, &settings, ctx, recording_path).await;
            info!(%key, outcome = %outcome.outcome.kind, records = ?outcome.outcome.record_ids, "dialog finished");
            FlowResult {
                end_reason: end_reason_name(outcome.hang_up_cause, &outcome.end),
                digits: outcome.digits,
                recorded: outcome.recorded,
                recording_stopped: outcome.recording_stopped,
                turns: outcome.turns,
                records: outcome.outcome.record_ids.clone(),
                dialog: Some(DialogRecord {
                    mode: if settings.keypad_only {
                        "keypad_only"
                    } else {
                        "speech"
                    }
                    .into(),
                    outcome: outcome.outcome.kind.clone(),
                    confirmation_number: outcome.outcome.confirmation_number.clone(),
                    caller_hung_up: outcome.outcome.caller_hung_up,
                    enqueue_failed: outcome.outcome.enqueue_failed,
                    transcript: outcome.transcript,
                }),
            }
        }
        Flow::EchoTurn(speech) => {
            let outcome = echo_turn::run(call.port, (*speech).clone()).await;
            FlowResult {
                end_reason: end_reason_name(outcome.hang_up_cause, &outcome.end),
                digits: outcome.digits,
                recorded: false,
                recording_stopped: None,
                turns: outcome.turns,
                records: Vec::new(),
                dialog: None,
            }
        }
        Flow::Answering { voicemail } => {
            let settings = AnsweringSettings {
                greeting,
                max_call: Duration::from_secs(config.call.max_call_secs),
                idle_timeout: Duration::from_secs(config.call.idle_timeout_secs),
                hangup_digit: config.call.hangup_digit,
                recording_path: recording_path.clone(),
                recording_reserve: Some(recording_reserve(config, paths)),
            };
            let outcome = answering::run(call.port, settings).await;
            let mut records = Vec::new();
            if let Some(queue) = queue.filter(|_| voicemail) {
                let payload = Payload::Voicemail(VoicemailMessage {
                    call_key: key.clone(),
                    caller: CallerInfo {
                        name: call.caller.display_name.clone().unwrap_or_default(),
                        phone_e164: call.caller.number.clone(),
                        callback_phone_e164: None,
                    },
                    recording_path: outcome.recorded.then(|| recording_rel.clone()),
                    duration_secs: None,
                    transcript: String::new(),
                });
                match queue.enqueue(payload).await {
                    Ok(id) => {
                        info!(%key, %id, "voicemail queued");
                        records.push(id);
                    }
                    Err(err) => error!(%key, error = %err, "voicemail could not be queued"),
                }
            }
            FlowResult {
                end_reason: outcome.end_reason(),
                digits: outcome.digits,
                recorded: outcome.recorded,
                recording_stopped: outcome.recording_stopped,
                turns: Vec::new(),
                records,
                dialog: None,
            }
        }
    };
    let stats = call.media.stats();
    let record = CallRecord {
        key: key.clone(),
        call_id: call.call_id.clone(),
        caller: CallerRecord {
            number: call.caller.number.clone(),
            display_name: call.caller.display_name.clone(),
            presentation: match call.caller.presentation {
                Presentation::Available => "available",
                Presentation::Anonymous => "anonymous",
                Presentation::Unavailable => "unavailable",
            }
            .to_string(),
            raw: call.caller.raw.clone(),
        },
        dialled: call.dialled.clone(),
        codec: call.codec.name().to_string(),
        answered_at,
        ended_at: chrono::Utc::now(),
        end_reason: outcome.end_reason.to_string(),
        digits: outcome
            .digits
            .iter()
            .map(|d| DigitRecord {
                digit: d.digit.to_string(),
                source: match d.source {
                    DigitSource::Rfc4733 => "rfc4733",
                    DigitSource::InBand => "inband",
                    DigitSource::SipInfo => "sip_info",
                }
                .to_string(),
                at_ms: d.at_ms,
            })
            .collect(),
        recording: outcome.recorded.then_some(recording_rel),
        recording_stopped: outcome.recording_stopped.map(|s| s.name().to_string()),
        rtp: RtpRecord {
            packets_in: stats.packets_in,
            packets_out: stats.packets_out,
            lost: stats.lost,
            garbage: stats.garbage,
        },
        turns: outcome.turns,
        records: outcome.records,
        dialog: outcome.dialog,
    };
    let path = call_log::write_record(&paths.calls, &record)?;
    info!(%key, end = %record.end_reason, digits = record.digits.len(), record = %path.display(), "call ended");
    if record.end_reason == "transport_failed" {
        warn!(%key, "call ended by a transport failure");
    }
    Ok(())
}

/// What `callbox say` reports.
#[derive(Debug, Clone, Copy)]
pub struct SayReport {
    pub audio_ms: u64,
    /// From starting the engine to the first 20 ms frame.
    pub first_audio_ms: u64,
    pub total_ms: u64,
}

/// `callbox say`: renders `text` with the configured voice into an 8 kHz mono WAV file.
pub async fn say(
    voice: &crate::config::VoiceConfig,
    text: &str,
    output: &std::path::Path,
) -> Result<SayReport> {
    use crate::speech::tts::{EspeakVoice, Voice};
    if voice.engine == crate::config::VoiceEngine::None {
        anyhow::bail!("voice.engine is \"none\": there is no voice to render with");
    }
    let engine = EspeakVoice::from_config(voice);
    let started = std::time::Instant::now();
    let mut stream = engine.speak(text).context("starting the TTS engine")?;
    let mut samples = Vec::new();
    let mut first_audio_ms = None;
    while let Some(frame) = stream.next_frame().await {
        let frame = frame.context("synthesising")?;
        first_audio_ms.get_or_insert(started.elapsed().as_millis() as u64);
        samples.extend_from_slice(&frame[..]);
    }
    let total_ms = started.elapsed().as_millis() as u64;
    wav::write_wav_8k(output, &samples).with_context(|| format!("writing {}", output.display()))?;
    Ok(SayReport {
        audio_ms: samples.len() as u64 * 1000
            / u64::from(crate::telephony::audio_port::SAMPLE_RATE),
        first_audio_ms: first_audio_ms.unwrap_or(total_ms),
        total_ms,
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
