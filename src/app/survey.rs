//! The post-job survey as a supervised service: `callbox run` starts it through
//! [`box_service`] when `[survey] enabled`, beside the sync, placing its calls over the box's
//! outbound line ([`crate::app::survey_call::LineSurveyCaller`]).

use crate::app::pager::{CallingOut, LineBusy, OutboundLine, PagerSettings};
use crate::app::status::AppStatus;
use crate::app::supervisor::Service;
use crate::app::survey_call::{LineSurveyCaller, SurveySpeech};
use crate::config::Config;
use crate::dialog::engine::Language;
use crate::dialog::survey::RatingWords;
use crate::servicetitan::survey::{SurveyCaller, SurveyStore, SurveyWorker};
use crate::servicetitan::SyncWorker;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// How often the survey looks for completed jobs and due calls.
const EVERY: Duration = Duration::from_secs(300);

/// `callbox run`'s survey: its calls over `line` in the box's voice, waiting while a caller is
/// on the line (`status`' calls in progress), hearing the customer with the speech model and
/// turn settings of the inbound calls' `flow` when it has one loaded (keypad-only without,
/// said in the log). `None` when `[survey] enabled` is off, or when it
/// cannot run (no sync, no voice, the store unreadable: said in the log; the box answers calls
/// regardless).
pub(crate) fn box_service(
    config: &Config,
    sync: Option<&SyncWorker>,
    line: &OutboundLine,
    status: &Arc<AppStatus>,
    flow: &crate::app::flow::LiveFlow,
) -> Option<Service> {
    if !config.survey.enabled {
        return None;
    }
    let Some(sync) = sync else {
        warn!("survey: [survey] enabled but ServiceTitan sync is off: no survey calls");
        return None;
    };
    if config.voice.engine == crate::config::VoiceEngine::None {
        warn!("survey: [survey] enabled but voice.engine is \"none\": no survey calls");
        return None;
    }
    let status = status.clone();
    let busy: LineBusy = Arc::new(move || status.calls_in_progress() > 0);
    // `[survey] language = "es"` speaks with the Spanish voice (`config check` refuses any
    // other tag; a Spanish survey without a Spanish voice would not be understood).
    let spanish = config.survey.language == "es";
    if spanish && config.voice.spanish_voice.is_empty() {
        warn!(
            "survey: [survey] language = \"es\" but voice.spanish_voice is empty: no survey calls"
        );
        return None;
    }
    let (language, voice_name) = if spanish {
        (Language::Spanish, config.voice.spanish_voice.as_str())
    } else {
        (Language::English, config.voice.voice.as_str())
    };
    let voice = Arc::new(crate::speech::tts::EspeakVoice::new(
        &config.voice.program,
        voice_name,
        config.voice.rate_wpm,
        config.voice.gain_db,
    ));
    let mut caller = LineSurveyCaller::new(
        CallingOut::new(line.clone(), voice, busy),
        PagerSettings::default(),
    )
    .with_language(language);
    // The model that hears the survey's language: the box's own, or the Spanish one.
    let engine = match crate::app::flow::snapshot(flow) {
        crate::app::flow::Flow::Dialog(dialog) if spanish => dialog
            .spanish_engine
            .clone()
            .map(|e| (e, dialog.turn, dialog.spoken_calls.clone())),
        crate::app::flow::Flow::Dialog(dialog) if !dialog.keypad_only => Some((
            dialog.engine.clone(),
            dialog.turn,
            dialog.spoken_calls.clone(),
        )),
        _ => None,
    };
    match engine {
        Some((engine, turn, spoken_calls)) => {
            info!(language = %language.tag(), "survey: ratings by voice or keypad, spoken comments transcribed");
            caller = caller.with_speech(SurveySpeech {
                engine,
                turn,
                words: RatingWords::of(language),
                spoken_calls,
            });
        }
        None => {
            warn!(language = %language.tag(), "survey: no speech model for the survey's language: survey calls are keypad-only")
        }
    }
    match service(config, sync, Arc::new(caller)) {
        Ok(service) => service,
        Err(e) => {
            error!("survey: not started: {e:#}");
            None
        }
    }
}

/// The survey service for `sync`'s client and queue, placing calls through `caller`; `None`
/// when `[survey] enabled` is off.
pub fn service(
    config: &Config,
    sync: &SyncWorker,
    caller: Arc<dyn SurveyCaller>,
) -> Result<Option<Service>> {
    if !config.survey.enabled {
        return Ok(None);
    }
    let store = Arc::new(
        SurveyStore::open(&config.data_paths().root.join("survey"))
            .context("opening the survey store")?,
    );
    let timezone = config.shop.timezone.parse().unwrap_or(chrono_tz::UTC);
    let worker = SurveyWorker::new(
        sync.client().clone(),
        sync.outbox().clone(),
        store,
        caller,
        config.survey.rules(timezone),
        &config.shop.name,
    )
    .with_do_not_call(config.survey.do_not_call.clone())
    .with_clock(sync.clock().clone());
    let recovered = worker.recover().context("the survey store")?;
    if recovered > 0 {
        warn!(
            recovered,
            "survey: calls interrupted by a stop were ended, not repeated"
        );
    }
    info!("survey: post-job survey calls on");
    Ok(Some(Service::new("survey", move |token| {
        let worker = worker.clone();
        Box::pin(async move {
            loop {
                match worker.pass().await {
                    Ok(r) if r.noticed + r.called + r.notes_written > 0 => info!(
                        noticed = r.noticed,
                        called = r.called,
                        notes = r.notes_written,
                        "survey: pass"
                    ),
                    Ok(_) => {}
                    Err(e) => error!("survey: {e}"),
                }
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(EVERY) => {}
                }
            }
        })
    })))
}
