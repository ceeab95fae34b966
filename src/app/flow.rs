//! The call flow every answered call runs, prepared once at start-up: the greeting, the
//! voice and its prompts, the speech model, and the dialog's lookups.

use crate::app::lookup::{CacheLookups, CacheSchedule};
use crate::config::{CallMode, Config, DataPaths};
use crate::dialog::call_flow::{self, DialogSettings};
use crate::dialog::echo_turn::{self, EchoTurnSettings};
use crate::dialog::engine::{Script, Sources};
use crate::dialog::schedule::{shop_zone, ConfiguredSchedule};
use crate::dialog::sources::{BookingSink, NoLookups, RecordFailure, RecordFuture};
use crate::infra::disk::SpaceReserve;
use crate::queue::{Outbox, Payload};
use crate::servicetitan::cache::StCache;
use crate::speech::asr::{NoSpeechModel, SpeechEngine};
use crate::speech::pool::SpokenCalls;
use crate::speech::tts::{self, PromptCache, PromptText, Speaker};
use crate::speech::turn::{Listen, TurnSettings};
use crate::telephony::wav;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info};

/// The greeting played when none is configured (8 kHz mono 16-bit WAV).
const BUILT_IN_GREETING: &[u8] = include_bytes!("../../firmware/prompts/greeting.wav");

pub(crate) fn load_greeting(config: &Config) -> Result<Arc<[i16]>> {
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
pub(crate) enum Flow {
    /// Greeting, recording, digits; `voicemail`: the recording is queued as a voicemail
    /// record (the dialog's fallback when the box cannot speak).
    Answering {
        voicemail: bool,
    },
    EchoTurn(Arc<EchoTurnSettings>),
    Dialog(Arc<DialogSettings>),
}

/// The call flow new calls take: the settings page swaps it (a new script and schedule) and
/// each call keeps the snapshot it started with.
pub(crate) type LiveFlow = Arc<std::sync::RwLock<Flow>>;

/// The flow's current snapshot.
pub(crate) fn snapshot(live: &LiveFlow) -> Flow {
    live.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// `flow` with the script and the lookups made from `config` (shop name and zone, `[dialog]`,
/// `[triage]`, `[schedule]`); `None` for a flow without a script.
pub(crate) fn with_settings(
    flow: &Flow,
    config: &Config,
    cache: Option<Arc<StCache>>,
    queue: &Outbox,
) -> Option<Flow> {
    let Flow::Dialog(settings) = flow else {
        return None;
    };
    let mut next = (**settings).clone();
    next.script = Arc::new(
        Script::from_settings(
            &config.shop.name,
            &config.shop.timezone,
            &config.shop.default_country,
            &config.dialog,
            &config.triage,
        )
        .with_insist_pages(insist_pages(config))
        // The Spanish voice and model were probed at start-up: a settings change keeps what
        // it found.
        .with_spanish(next.speaker.speaks("es"))
        .with_spanish_speech(next.spanish_engine.is_some())
        // So was the bridge (issue 15): kept with the flow.
        .with_bridge(next.bridge.is_some()),
    );
    next.sources = dialog_sources(config, cache, queue);
    info!("call flow: new settings from the next call on");
    Some(Flow::Dialog(Arc::new(next)))
}

/// The status's note when the memory holds speech for fewer calls than the lines take.
fn spoken_lines(spoken: usize, lines: usize) -> String {
    if spoken < lines {
        format!(
            "; memory holds speech for {spoken} of {lines} calls at once (more are keypad-only)"
        )
    } else {
        String::new()
    }
}

/// What callers can use, as the status shows it.
pub(crate) fn speech_state(flow: &Flow, config: &Config) -> crate::app::status::SpeechState {
    use crate::app::status::SpeechState;
    // `[speech] spanish_model`, when loaded: Spanish callers answer by voice.
    let spanish = match (
        flow,
        config.speech.spanish_model_dir(&config.storage.data_dir),
    ) {
        (Flow::Dialog(s), Some(dir)) if s.spanish_engine.is_some() => {
            format!("; Spanish model loaded ({})", dir.display())
        }
        _ => String::new(),
    };
    match flow {
        Flow::Dialog(s) if !s.keypad_only => SpeechState {
            loaded: true,
            detail: format!(
                "loaded ({}){spanish}{}",
                config.model_dir().display(),
                spoken_lines(s.spoken_calls.limit(), config.sip.max_concurrent_calls)
            ),
        },
        Flow::Dialog(_) => SpeechState {
            loaded: false,
            detail: format!(
                "keypad only: no usable speech model in {}{spanish}",
                config.model_dir().display()
            ),
        },
        Flow::EchoTurn(_) => SpeechState {
            loaded: true,
            detail: format!("loaded ({})", config.model_dir().display()),
        },
        Flow::Answering { voicemail: true } => SpeechState {
            loaded: false,
            detail: "keypad only: no voice (espeak-ng unavailable): answering with voicemail"
                .into(),
        },
        Flow::Answering { voicemail: false } => SpeechState {
            loaded: false,
            detail: "not used: call.mode = \"answering\" (greeting and recording)".into(),
        },
    }
}

/// Longest wait for the next key of a `#`-terminated entry (ZIP, phone, invoice number).
const INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn prepare_flow(
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
    let model_dir = crate::app::speech_pool::model_view(config);
    let upsample = config.speech.upsample;
    let (status, model) =
        tokio::task::spawn_blocking(move || crate::speech::model::open(&model_dir, upsample))
            .await
            .ok()?;
    let model = model?;
    info!(%status, "speech model loaded");
    crate::app::speech_pool::prepare(&model, config).await;
    Some(Arc::new(model))
}

/// The Spanish model (`[speech] spanish_model`), loaded and self-tested like the English one
/// off the reactor; `None` when none is configured or it is unusable (said in the log: the
/// Spanish branch is then keyed).
async fn load_spanish_model(config: &Config) -> Option<Arc<dyn SpeechEngine>> {
    let model = config.speech.spanish_model_dir(&config.storage.data_dir)?;
    let upsample = config.speech.upsample;
    let shown = model.clone();
    let dir = crate::app::speech_pool::spanish_model_view(config, &model);
    let loaded =
        tokio::task::spawn_blocking(move || crate::speech::model::load_checked(&dir, upsample))
            .await;
    match loaded {
        Ok(Ok(model)) => {
            crate::app::speech_pool::prepare_spanish(&model, config);
            Some(Arc::new(model))
        }
        Ok(Err(err)) => {
            error!(model = %shown.display(), error = %err, "SPANISH SPEECH MODEL UNUSABLE: Spanish callers use the keypad");
            None
        }
        Err(err) => {
            error!(model = %shown.display(), error = %err, "Spanish speech model: loading did not run");
            None
        }
    }
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
    let spanish = tts::spanish_voice_from_config(&config.voice).await;
    // A Spanish model is of use only with a Spanish voice to ask in.
    let spanish_engine = match spanish {
        Some(_) => load_spanish_model(config).await,
        None => None,
    };
    let script = Arc::new(
        Script::from_settings(
            &config.shop.name,
            &config.shop.timezone,
            &config.shop.default_country,
            &config.dialog,
            &config.triage,
        )
        .with_insist_pages(insist_pages(config))
        .with_spanish(spanish.is_some())
        .with_spanish_speech(spanish_engine.is_some()),
    );

    // Counted once both models are in memory: what is left is the calls'.
    let spoken_calls = if keypad_only {
        SpokenCalls::unlimited()
    } else {
        crate::app::speech_pool::spoken_calls(config)
    };
    let mut texts = call_flow::fixed_texts(&script, keypad_only);
    if spoken_calls.limit() < config.sip.max_concurrent_calls {
        // Some calls will run keypad-only: their prompts are ready too. (A call refused
        // speech later, when others took memory, has its keypad prompts synthesised live.)
        texts.extend(call_flow::fixed_texts(&script, true));
        texts.sort();
        texts.dedup();
    }
    let prompts: Vec<PromptText> = texts.iter().map(|t| PromptText::new(t, t)).collect();
    let dir = prompt_dir(config, paths);
    let started = std::time::Instant::now();
    let prompt_cache =
        PromptCache::render(Some(voice.as_ref()), &dir, &prompts, &Default::default()).await;
    info!(prompts = prompt_cache.len(), ms = started.elapsed().as_millis() as u64, dir = %dir.display(), "dialog prompts ready");

    Some(DialogSettings {
        speaker: match spanish {
            Some(es) => Speaker::new(Some(voice), prompt_cache).with_language("es", es),
            None => Speaker::new(Some(voice), prompt_cache),
        },
        engine,
        spanish_engine,
        keypad_only,
        spoken_calls,
        turn: turn_settings(config),
        script,
        sources: dialog_sources(config, cache, queue),
        records: Arc::new(QueueRecords(queue.clone())),
        max_call: Duration::from_secs(config.call.max_call_secs),
        inter_digit_timeout: INTER_DIGIT_TIMEOUT,
        recording_reserve: Some(recording_reserve(config, paths)),
        bridge: None,
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
            config.call.turn_answer.map_or(Listen::Open, Listen::Answer)
        } else {
            Listen::Grammar(grammar)
        },
        shop_name: config.shop.name.clone(),
        max_call: Duration::from_secs(config.call.max_call_secs),
        hangup_digit: config.call.hangup_digit,
    })
}

/// The call flow's records go to the queue: `Ok` once flushed in sled and fsynced in the mirror.
struct QueueRecords(Outbox);

impl BookingSink for QueueRecords {
    fn record(&self, payload: Payload) -> RecordFuture<'_> {
        Box::pin(async move {
            self.0
                .enqueue(payload)
                .await
                .map_err(|e| RecordFailure(e.to_string()))
        })
    }
}

/// The free space recordings leave on the data partition for the queue.
pub(crate) fn recording_reserve(config: &Config, paths: &DataPaths) -> SpaceReserve {
    SpaceReserve::new(
        &paths.root,
        config.storage.queue_reserve_mb.saturating_mul(1024 * 1024),
    )
}

/// `[alerts] insist_policy = "page"`: a routine caller who insists on a person is paged for.
pub(crate) fn insist_pages(config: &Config) -> bool {
    crate::alert::settings::InsistPolicy::parse(&config.alerts.insist_policy)
        == Some(crate::alert::settings::InsistPolicy::Page)
}
