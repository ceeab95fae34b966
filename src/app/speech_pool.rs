//! The recogniser pool at start-up: how many open recognisers stay warm between turns
//! (`speech.warm_recognizers`, fewer when `/proc/meminfo` shows the board cannot hold them
//! beside `sip.max_concurrent_calls` calls) and how much audio one decodes before it is made
//! anew (`speech.recycle_recognizer_after_s`), and, once the models are loaded, how many calls
//! at once the memory left holds with speech (`speech.call_memory_mib`). The sizing itself is
//! `speech::pool`.

use std::sync::Arc;

use tracing::{info, warn};

use crate::config::Config;
use crate::speech::asr::SpeechModel;
use crate::speech::pool::{
    parse_cgroup_path, parse_meminfo, parse_memory_limit, parse_vm_rss, spoken_call_limit,
    warm_pool_size, MemoryRoom, PoolSizing, SpokenCalls,
};
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

/// How many calls at once may have speech: as many as the memory left once the models are
/// loaded holds at `speech.call_memory_mib` each (`speech::pool::spoken_call_limit`), read
/// now and again at each call (`speech::pool::room_for_calls`). Said in the log; a call over
/// it is answered keypad-only.
pub(crate) fn spoken_calls(config: &Config) -> SpokenCalls {
    let room = memory_room();
    let lines = config.sip.max_concurrent_calls;
    let per_call_mib = config.speech.call_memory_mib;
    let per_call_kib = u64::from(per_call_mib) * 1024;
    let limit = spoken_call_limit(&room, per_call_kib, lines);
    let mib = |kib: Option<u64>| kib.map(|k| k / 1024);
    if limit < lines {
        warn!(
            spoken = limit,
            lines,
            call_memory_mib = per_call_mib,
            headroom_mib = mib(room.headroom_kib()),
            rss_mib = mib(room.rss_kib),
            cgroup_limit_mib = mib(room.cgroup_limit_kib),
            available_mib = mib(room.available_kib),
            "memory holds speech for {limit} of {lines} calls at once: a call over that is \
             answered keypad-only (raise the unit's MemoryHigh/MemoryMax, or lower \
             sip.max_concurrent_calls)"
        );
    } else {
        info!(
            spoken = limit,
            lines,
            call_memory_mib = per_call_mib,
            headroom_mib = mib(room.headroom_kib()),
            "memory holds speech on every line"
        );
    }
    SpokenCalls::following_memory(room, per_call_kib, lines, Arc::new(memory_room))
}

/// The process's memory room now: `/proc/meminfo`, its cgroup's limits, its resident size.
fn memory_room() -> MemoryRoom {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).ok();
    MemoryRoom {
        available_kib: read("/proc/meminfo".as_ref())
            .and_then(|text| parse_meminfo(&text))
            .map(|m| m.available_kib),
        cgroup_limit_kib: read("/proc/self/cgroup".as_ref()).and_then(|text| {
            parse_cgroup_path(&text).and_then(|path| cgroup_limit_kib(CGROUP_ROOT.as_ref(), path))
        }),
        rss_kib: read("/proc/self/status".as_ref()).and_then(|text| parse_vm_rss(&text)),
    }
}

/// Where cgroup v2 is mounted (a unified hierarchy: Debian since bookworm, Raspberry Pi OS).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The tightest `memory.high` or `memory.max` of the cgroup at `path` (cgroup v2, under
/// `root`) and of every cgroup above it: a slice's limit holds its services too.
fn cgroup_limit_kib(root: &std::path::Path, path: &str) -> Option<u64> {
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut tightest: Option<u64> = None;
    while dir.starts_with(root) {
        for file in ["memory.high", "memory.max"] {
            let limit = std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|text| parse_memory_limit(&text));
            if let Some(limit) = limit {
                tightest = Some(tightest.map_or(limit, |t| t.min(limit)));
            }
        }
        if !dir.pop() {
            break;
        }
    }
    tightest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup v2 tree as systemd lays it out: the unit's own `MemoryHigh=`/`MemoryMax=`, and
    /// a slice above it with a limit of its own.
    #[test]
    fn the_tightest_limit_of_the_unit_and_its_slices_counts() {
        let root = tempfile::tempdir().expect("temp dir");
        let unit = root.path().join("system.slice/callbox.service");
        std::fs::create_dir_all(&unit).expect("cgroup dirs");
        let write = |dir: &std::path::Path, file: &str, text: &str| {
            std::fs::write(dir.join(file), text).expect("write limit")
        };
        // The root cgroup has no limit files; the slice none set.
        write(&root.path().join("system.slice"), "memory.high", "max\n");
        write(&root.path().join("system.slice"), "memory.max", "max\n");
        write(&unit, "memory.high", "838860800\n");
        write(&unit, "memory.max", "943718400\n");
        let path = "/system.slice/callbox.service";
        assert_eq!(cgroup_limit_kib(root.path(), path), Some(800 * 1024));
        // A slice holding less than the unit asks for.
        write(
            &root.path().join("system.slice"),
            "memory.max",
            "524288000\n",
        );
        assert_eq!(cgroup_limit_kib(root.path(), path), Some(500 * 1024));
        // No limit anywhere, or no such cgroup (a hybrid host: v2 mounted elsewhere).
        write(&root.path().join("system.slice"), "memory.max", "max\n");
        write(&unit, "memory.high", "max\n");
        write(&unit, "memory.max", "max\n");
        assert_eq!(cgroup_limit_kib(root.path(), path), None);
        assert_eq!(cgroup_limit_kib(root.path(), "/user.slice/x.scope"), None);
    }
}
