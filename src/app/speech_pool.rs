//! The recogniser pool at start-up: how many open recognisers stay warm between turns
//! (`speech.warm_recognizers`, fewer when `/proc/meminfo` shows the board cannot hold them
//! beside `sip.max_concurrent_calls` calls) and how much audio one decodes before it is made
//! anew (`speech.recycle_recognizer_after_s`). The sizing itself is `speech::pool`.

use tracing::{info, warn};

use crate::config::Config;
use crate::speech::asr::SpeechModel;
use crate::speech::pool::{parse_meminfo, warm_pool_size, PoolSizing};
use crate::speech::search::SearchWidth;

/// The directory the model is loaded from: a view of it with `speech.max_active` and
/// `speech.beam` set (`speech::search`, under `<data_dir>/speech-search/`), or the model
/// itself when the width is the model's own or the view cannot be made (said in the log).
pub(crate) fn model_view(config: &Config) -> std::path::PathBuf {
    let views = config.storage.data_dir.join("speech-search");
    view_of(&config.model_dir(), &views, config.speech.search_width())
}

/// [`model_view`] for the Spanish model (`speech.spanish_model`): the same width, through a
/// view of its own (`<data_dir>/speech-search/es/`).
pub(crate) fn spanish_model_view(config: &Config, model: &std::path::Path) -> std::path::PathBuf {
    let views = config.storage.data_dir.join("speech-search").join("es");
    view_of(model, &views, config.speech.search_width())
}

/// [`model_view`] for any model directory, views directory and width (also `callbox
/// transcribe`'s: its flags, in a temporary directory, never the daemon's).
pub(crate) fn view_of(
    model: &std::path::Path,
    views: &std::path::Path,
    width: SearchWidth,
) -> std::path::PathBuf {
    if !model.is_dir() {
        // Missing: loading it says so.
        return model.to_path_buf();
    }
    match crate::speech::search::model_view(model, views, width) {
        Ok(dir) => dir,
        Err(err) => {
            warn!(error = %err, model = %model.display(), %width,
                "cannot set the recognisers' search width; loading the model with its own");
            model.to_path_buf()
        }
    }
}

/// Seconds of silence each pooled recogniser decodes at start-up, so the first call does not
/// pay for making it (the graph caches fill on the calls' own speech).
const WARM_UP_MS: usize = 1000;

/// Sizes the pool, sets its policy and makes its recognisers. Blocking (libvosk makes the
/// recognisers): runs on a blocking thread.
pub(crate) async fn prepare(model: &SpeechModel, config: &Config) {
    let warm = config.speech.warm_recognizers;
    let max_calls = config.sip.max_concurrent_calls;
    let recycle = config.speech.recycle_recognizer_after_s;
    let speech = config.speech.clone();
    let model = model.clone();
    if !crate::speech::asr::limit_heap_arenas() {
        warn!("could not cap the allocator's heap arenas; recogniser memory may fragment");
    }
    let done = tokio::task::spawn_blocking(move || {
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| parse_meminfo(&text));
        let size = warm_pool_size(PoolSizing::for_calls(warm, max_calls, mem), mem);
        model.set_pool_policy(speech.pool_policy(size));
        let silence = vec![0i16; WARM_UP_MS * 8];
        // With a budget of 0 s (the default) the pool frees every recogniser it is handed:
        // none would stay warm, so none are made.
        let made = if speech.recycle_recognizer_after_s == 0 {
            Ok(())
        } else {
            model.warm_pool(size, &silence)
        };
        (model.idle_recognizers(), mem, made)
    })
    .await;
    match done {
        Ok((idle, mem, Ok(()))) => info!(
            warm = idle,
            configured = warm,
            available_mib = mem.map(|m| m.available_kib / 1024),
            recycle_after_s = recycle,
            "speech recogniser pool ready"
        ),
        Ok((idle, _, Err(err))) => {
            warn!(error = %err, warm = idle, "speech recogniser pool: warm-up failed; recognisers are made per turn")
        }
        Err(err) => warn!(error = %err, "speech recogniser pool: sizing did not run"),
    }
}

/// The Spanish model's pool (`[speech] spanish_model`): no recogniser kept warm (Spanish
/// calls are few, and each warm recogniser holds tens of MiB), each turn's recogniser freed
/// when the turn ends. The English pool's sizing is unchanged by it.
pub(crate) fn prepare_spanish(model: &SpeechModel, config: &Config) {
    model.set_pool_policy(config.speech.pool_policy(0));
    info!(
        model = %model.path().display(),
        warm = 0,
        "Spanish speech model ready: Spanish callers answer by voice"
    );
}
