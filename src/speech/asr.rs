//! Speech recognition with Vosk (the `vosk` crate over the real libvosk).
//!
//! - [`SpeechModel`]: the model, loaded once (seconds on a Pi) and shared by every call
//!   (`Clone` is an `Arc` clone; libvosk reference-counts the model behind it).
//! - [`Recognizer`]: one per call or per turn, fed 8 kHz audio as it arrives, open vocabulary
//!   ([`Recognizer::new_open`]) or a closed grammar ([`Recognizer::new_grammar`]: faster to
//!   finalise and more accurate for yes/no, digits, menu choices).
//! - [`SpeechEngine`] / [`RecognizerStream`]: the seam the turn-taking layer uses, so its
//!   tests can run on [`ScriptedEngine`] instead of a model.
//!
//! **8 kHz audio and a 16 kHz model.** Vosk's small models are 16 kHz and libvosk 0.3.45
//! does not set Kaldi's `allow_upsample`, so 8 kHz input to a model whose `mfcc.conf` lacks
//! `--allow-upsample=true` fails on every chunk. [`Upsample::Filter`] (the default) upsamples
//! in Rust with the windowed-sinc filter of [`crate::telephony::wav::resample`], streamed;
//! [`Upsample::Vosk`] passes 8 kHz and relies on the model's `--allow-upsample=true`
//! (benches/README.md compares the two).
//!
//! Recognition is CPU-bound and blocking: call it from a blocking thread, never on the
//! async reactor.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::endpointer::{EndReason, EndpointEvent, Endpointer, EndpointerConfig};
use super::pool::PoolPolicy;
use super::vad::{VadError, VoiceDetector};
use crate::telephony::audio_port::{FRAME_SAMPLES, SAMPLE_RATE};
use crate::telephony::wav::resample;

/// Grammar entry for "anything else"; always part of a grammar so out-of-set speech is not
/// forced onto the nearest allowed word.
pub const UNKNOWN_WORD: &str = "[unk]";

/// How 8 kHz phone audio reaches a model trained on a higher rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Upsample {
    /// Upsample in Rust with a windowed-sinc low-pass filter and feed the model's own rate.
    #[default]
    Filter,
    /// Feed 8 kHz and let Kaldi upsample (needs `--allow-upsample=true` in the model's
    /// `conf/mfcc.conf`).
    Vosk,
}

/// What went wrong in recognition.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsrError {
    #[error("model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("libvosk could not create a recogniser at {rate} Hz")]
    Recognizer { rate: u32 },
    #[error("grammar phrase {phrase:?}: {reason}")]
    Grammar { phrase: String, reason: String },
    #[error("grammar has no phrases")]
    EmptyGrammar,
    #[error("libvosk failed to decode the audio (sample rate {rate} Hz refused by the model? see `speech.upsample`)")]
    Decode { rate: u32 },
    #[error("audio chunk of {0} samples is too long")]
    ChunkTooLong(usize),
    #[error("recogniser already released")]
    Closed,
    #[error("libvosk returned a result the vosk crate could not read: {0}")]
    BadResult(String),
}

/// One recognised word. Times are seconds from the start of the recogniser's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub word: String,
    pub start: f32,
    pub end: f32,
    /// Posterior confidence, 0 to 1.
    pub conf: f32,
}

/// The final result of one utterance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Utterance {
    /// The words, space-separated (grammar turns may contain [`UNKNOWN_WORD`]).
    pub text: String,
    pub words: Vec<Word>,
    /// Mean word confidence; 0 when nothing was recognised.
    pub confidence: f32,
}

impl Utterance {
    fn from_words(words: Vec<Word>) -> Self {
        let text = words
            .iter()
            .map(|w| w.word.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let confidence = if words.is_empty() {
            0.0
        } else {
            words.iter().map(|w| w.conf).sum::<f32>() / words.len() as f32
        };
        Utterance {
            text,
            words,
            confidence,
        }
    }

    /// Nothing recognised, or only out-of-grammar speech.
    pub fn is_empty_or_unknown(&self) -> bool {
        self.words.iter().all(|w| w.word == UNKNOWN_WORD)
    }
}

/// Progress after a chunk of audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Decoding continues.
    Running,
    /// Kaldi's own endpoint rules closed a segment; its words are kept and will be part of
    /// [`Recognizer::finish`]'s utterance. The turn's end is still the endpointer's call.
    Segment,
}

/// Streaming 8 kHz → N kHz upsampler: [`resample`] over a sliding window, so the output is
/// sample-for-sample what resampling the whole stream at once would give.
#[derive(Debug, Clone)]
pub struct Upsampler {
    to_rate: u32,
    /// Input not yet fully emitted, preceded by up to `REACH` samples of left context.
    buf: Vec<i16>,
    /// Index in `buf` of the first input sample whose outputs are still due.
    due: usize,
    factor: usize,
}

impl Upsampler {
    /// Input samples of context the filter needs on each side (it reaches 27 samples; a
    /// little more keeps the window arithmetic simple).
    const REACH: usize = 32;

    /// `to_rate` must be a whole multiple of 8 kHz (16 kHz for every Vosk model in use).
    pub fn new(to_rate: u32) -> Option<Self> {
        if to_rate < SAMPLE_RATE || to_rate % SAMPLE_RATE != 0 {
            return None;
        }
        Some(Upsampler {
            to_rate,
            buf: Vec::new(),
            due: 0,
            factor: (to_rate / SAMPLE_RATE) as usize,
        })
    }

    /// Appends input; returns the output now fully determined (lags the input by `REACH`).
    pub fn push(&mut self, input: &[i16]) -> Vec<i16> {
        if self.factor == 1 {
            return input.to_vec();
        }
        self.buf.extend_from_slice(input);
        let ready_end = self.buf.len().saturating_sub(Self::REACH);
        self.emit(ready_end)
    }

    /// Emits everything left (zero right context at the end of the stream).
    pub fn flush(&mut self) -> Vec<i16> {
        if self.factor == 1 {
            return Vec::new();
        }
        let out = self.emit(self.buf.len());
        self.buf.clear();
        self.due = 0;
        out
    }

    fn emit(&mut self, ready_end: usize) -> Vec<i16> {
        if ready_end <= self.due {
            return Vec::new();
        }
        let all = resample(&self.buf, SAMPLE_RATE, self.to_rate);
        let out = all
            .get(self.due * self.factor..ready_end * self.factor)
            .map(<[i16]>::to_vec)
            .unwrap_or_default();
        // Keep REACH samples of left context before the next due sample.
        let drop = ready_end.saturating_sub(Self::REACH);
        self.buf.drain(..drop);
        self.due = ready_end - drop;
        out
    }
}

struct ModelInner {
    /// `find_word` needs `&mut`; recognisers are created under the same lock (briefly).
    model: Mutex<vosk::Model>,
    path: PathBuf,
    name: String,
    /// The rate the model's features are computed at (`--sample-frequency`, default 16 kHz).
    rate: u32,
    upsample: Upsample,
    /// Idle open-vocabulary recognisers, already warmed up (see [`SpeechModel::warm_pool`]).
    idle: Mutex<Vec<Pooled>>,
    /// How many are kept, and how long each lives ([`SpeechModel::set_pool_policy`]).
    policy: Mutex<PoolPolicy>,
    /// Open recognisers freed instead of reused since the model was loaded.
    recycled: std::sync::atomic::AtomicU64,
    /// Whether `[unk]` is in the vocabulary (English models: yes; the Korean test model: no).
    has_unk: bool,
}

/// Milliseconds in one audio-port frame.
const FRAME_MS: u64 = (FRAME_SAMPLES as u64 * 1000) / SAMPLE_RATE as u64;

/// An idle open recogniser and the audio it has decoded over its life.
struct Pooled {
    rec: vosk::Recognizer,
    lifetime_ms: u64,
}

/// A loaded Vosk model, shared by all calls.
#[derive(Clone)]
pub struct SpeechModel {
    inner: Arc<ModelInner>,
}

impl std::fmt::Debug for SpeechModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechModel")
            .field("path", &self.inner.path)
            .field("rate", &self.inner.rate)
            .field("upsample", &self.inner.upsample)
            .finish()
    }
}

/// Kaldi's `--sample-frequency` from `conf/mfcc.conf` (16000 when absent, as in Kaldi).
pub fn model_sample_rate(dir: &Path) -> u32 {
    let Ok(text) = std::fs::read_to_string(dir.join("conf").join("mfcc.conf")) else {
        return 16_000;
    };
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("--sample-frequency="))
        .filter_map(|v| v.trim().parse::<f32>().ok())
        .map(|v| v as u32)
        .next_back()
        .unwrap_or(16_000)
}

static QUIET_KALDI: Once = Once::new();

impl SpeechModel {
    /// Loads the model in `dir` (seconds on a Pi: do it once, at start-up, off the reactor).
    /// Check the layout first with [`crate::speech::model::verify_layout`] for a useful
    /// reason: libvosk only says "no" and writes why to stderr.
    pub fn load(dir: &Path, upsample: Upsample) -> Result<Self, AsrError> {
        QUIET_KALDI.call_once(|| vosk::set_log_level(vosk::LogLevel::Warn));
        let fail = |reason: &str| AsrError::Model {
            path: dir.to_path_buf(),
            reason: reason.to_string(),
        };
        let path_str = dir
            .to_str()
            .ok_or_else(|| fail("path is not UTF-8"))?
            .to_string();
        let model = vosk::Model::new(path_str)
            .ok_or_else(|| fail("libvosk could not load it (its log above says why)"))?;
        let rate = model_sample_rate(dir);
        if upsample == Upsample::Filter && Upsampler::new(rate).is_none() {
            return Err(fail(&format!(
                "model rate {rate} Hz is not a multiple of 8 kHz; use speech.upsample = \"vosk\""
            )));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut model = model;
        let has_unk = model.find_word(UNKNOWN_WORD).is_some();
        Ok(SpeechModel {
            inner: Arc::new(ModelInner {
                model: Mutex::new(model),
                path: dir.to_path_buf(),
                name,
                rate,
                upsample,
                idle: Mutex::new(Vec::new()),
                policy: Mutex::new(PoolPolicy::default()),
                recycled: std::sync::atomic::AtomicU64::new(0),
                has_unk,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The model directory's name (e.g. `vosk-model-small-en-us-0.15`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The model's own sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.inner.rate
    }

    pub fn upsample(&self) -> Upsample {
        self.inner.upsample
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, vosk::Model> {
        // A panic while holding the lock leaves the model itself intact (libvosk owns it).
        self.inner
            .model
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `word` is in the model's vocabulary (grammar phrases must be).
    pub fn knows_word(&self, word: &str) -> bool {
        self.lock().find_word(word).is_some()
    }

    /// Open recognisers waiting for reuse.
    pub fn idle_recognizers(&self) -> usize {
        self.inner.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    fn take_idle(&self) -> Option<Pooled> {
        self.inner.idle.lock().ok()?.pop()
    }

    /// The pool's policy (a copy).
    pub fn pool_policy(&self) -> PoolPolicy {
        *self
            .inner
            .policy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets how many idle open recognisers are kept and how much audio one decodes before it
    /// is freed rather than reused (see [`crate::speech::pool`]); idle ones beyond the new
    /// limit are freed now.
    pub fn set_pool_policy(&self, policy: PoolPolicy) {
        *self
            .inner
            .policy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = policy;
        let surplus: Vec<Pooled> = match self.inner.idle.lock() {
            Ok(mut idle) => {
                let keep = idle.len().min(policy.max_idle);
                idle.split_off(keep)
            }
            Err(_) => Vec::new(),
        };
        if !surplus.is_empty() {
            drop(surplus);
            return_freed_memory();
        }
    }

    /// Open recognisers freed at the end of a turn instead of reused (their graph caches
    /// had grown past the policy's audio budget, or the pool was full).
    pub fn recycled_recognizers(&self) -> u64 {
        self.inner
            .recycled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Back to the pool after a turn, or freed (see [`PoolPolicy::keeps`]). The recogniser
    /// is freed outside the pool's lock: libvosk takes a while to release its caches.
    fn put_idle(&self, mut rec: vosk::Recognizer, lifetime_ms: u64) {
        let policy = self.pool_policy();
        let freed = match self.inner.idle.lock() {
            Ok(mut idle) if policy.keeps(lifetime_ms, idle.len()) => {
                rec.reset();
                idle.push(Pooled { rec, lifetime_ms });
                None
            }
            _ => Some(rec),
        };
        if let Some(rec) = freed {
            self.inner
                .recycled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(rec);
            return_freed_memory();
        }
    }

    /// Creates `count` open recognisers and runs `audio` (8 kHz) through each, so the first
    /// calls do not pay the warm-up: with a lookahead graph (`HCLr.fst` + `Gr.fst`) a new
    /// recogniser composes the graph lazily and decodes several times slower until its cache
    /// has filled (benches/README.md). They are kept idle for [`Recognizer::new_open`].
    pub fn warm_pool(&self, count: usize, audio: &[i16]) -> Result<(), AsrError> {
        let mut warmed = Vec::new();
        for _ in 0..count.min(self.pool_policy().max_idle) {
            let mut rec = Recognizer::new_open(self)?;
            for chunk in audio.chunks(FRAME_SAMPLES) {
                rec.accept(chunk)?;
            }
            rec.finish()?;
            warmed.push(rec);
        }
        // Dropping returns each to the pool.
        drop(warmed);
        Ok(())
    }
}

/// Hands the heap pages a freed recogniser leaves back to the kernel. glibc keeps freed
/// memory in its arenas (measured with the Korean model: a recogniser freed after a 60 s call
/// left its 105 MiB in RSS; `malloc_trim` brought it to 2 MiB), so without this the box's
/// RSS stays at its busiest hour's. Takes milliseconds; runs on the recogniser's own thread.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim takes no pointer; it walks glibc's own arenas under their locks.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() {}

/// Heap arenas the daemon's allocator may use (glibc's `M_ARENA_MAX`; its default is 8 per
/// core). Every turn's recogniser runs on a thread of its own, and glibc gives threads that
/// contend their own arenas: a recogniser's graph caches (tens of MiB of small blocks) end
/// up spread over up to 16 arenas on 2 cores, each keeping its own free pages and
/// fragments that `malloc_trim` cannot hand back. Two arenas keep the freed memory where
/// the next recogniser reuses it; the per-call figures are in benches/README.md.
pub const HEAP_ARENAS: i32 = 2;

/// Caps the allocator's arenas at [`HEAP_ARENAS`] for the threads that allocate from now on
/// (call it before the recognisers are made). `false` when the allocator refused or is not
/// glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_heap_arenas() -> bool {
    extern "C" {
        fn mallopt(param: std::os::raw::c_int, value: std::os::raw::c_int) -> std::os::raw::c_int;
    }
    /// glibc's `M_ARENA_MAX` (malloc.h).
    const M_ARENA_MAX: std::os::raw::c_int = -8;
    // SAFETY: mallopt takes two integers and changes glibc's own tunables under its lock.
    unsafe { mallopt(M_ARENA_MAX, HEAP_ARENAS) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_heap_arenas() -> bool {
    false
}

/// Grammar phrases are plain lowercase words separated by single spaces: the vosk crate
/// quotes them into JSON unescaped and reads results back as borrowed strings.
fn check_phrase(model: &SpeechModel, phrase: &str) -> Result<(), AsrError> {
    let bad = |reason: String| AsrError::Grammar {
        phrase: phrase.to_string(),
        reason,
    };
    if phrase.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    if phrase.split(' ').any(str::is_empty) {
        return Err(bad("words must be separated by single spaces".into()));
    }
    for word in phrase.split(' ') {
        if let Some(c) = word
            .chars()
            .find(|&c| (!c.is_alphabetic() || c.is_uppercase()) && c != '\'')
        {
            return Err(bad(format!(
                "{c:?} in {word:?}: only lowercase letters and apostrophes"
            )));
        }
        if !model.knows_word(word) {
            return Err(bad(format!("{word:?} is not in the model's vocabulary")));
        }
    }
    Ok(())
}

/// A streaming recogniser for one call or one turn.
pub struct Recognizer {
    /// Always `Some` until dropped (then an open one goes back to the model's pool).
    rec: Option<vosk::Recognizer>,
    model: SpeechModel,
    /// Present when upsampling in Rust.
    upsampler: Option<Upsampler>,
    /// The rate libvosk was told.
    rate: u32,
    grammar: bool,
    /// Words of segments Kaldi already closed in this utterance.
    words: Vec<Word>,
    samples_in: u64,
    /// Audio (ms) the libvosk recogniser decoded before this wrapper got it from the pool.
    earlier_ms: u64,
}

impl std::fmt::Debug for Recognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recognizer")
            .field("rate", &self.rate)
            .field("grammar", &self.grammar)
            .field("samples_in", &self.samples_in)
            .finish()
    }
}

impl Recognizer {
    /// Open vocabulary: free answers (the problem in the caller's words, a name, a street).
    /// Takes a warmed recogniser from the model's pool when one is idle; dropping it returns
    /// it there. Keep one per call rather than one per turn.
    pub fn new_open(model: &SpeechModel) -> Result<Self, AsrError> {
        match model.take_idle() {
            Some(pooled) => {
                let mut wrapped = Self::wrap(model, pooled.rec, false);
                wrapped.earlier_ms = pooled.lifetime_ms;
                Ok(wrapped)
            }
            None => Self::create(model, None),
        }
    }

    /// Closed set: only these phrases (plus [`UNKNOWN_WORD`], when the model has it) can be
    /// recognised. Grammar recognisers are cheap to create (no warm-up): make one per turn.
    pub fn new_grammar(model: &SpeechModel, phrases: &[impl AsRef<str>]) -> Result<Self, AsrError> {
        if phrases.is_empty() {
            return Err(AsrError::EmptyGrammar);
        }
        let mut grammar: Vec<&str> = Vec::with_capacity(phrases.len() + 1);
        for phrase in phrases {
            let phrase = phrase.as_ref();
            if phrase != UNKNOWN_WORD {
                check_phrase(model, phrase)?;
                grammar.push(phrase);
            }
        }
        // A model without `[unk]` would only log a warning for it.
        if model.inner.has_unk {
            grammar.push(UNKNOWN_WORD);
        }
        Self::create(model, Some(&grammar))
    }

    /// The rate libvosk is given, and the upsampler that produces it.
    fn input(model: &SpeechModel) -> (u32, Option<Upsampler>) {
        match model.upsample() {
            Upsample::Filter => (model.sample_rate(), Upsampler::new(model.sample_rate())),
            Upsample::Vosk => (SAMPLE_RATE, None),
        }
    }

    fn wrap(model: &SpeechModel, rec: vosk::Recognizer, grammar: bool) -> Self {
        let (rate, upsampler) = Self::input(model);
        Recognizer {
            rec: Some(rec),
            model: model.clone(),
            upsampler,
            rate,
            grammar,
            words: Vec::new(),
            samples_in: 0,
            earlier_ms: 0,
        }
    }

    fn create(model: &SpeechModel, grammar: Option<&[&str]>) -> Result<Self, AsrError> {
        let (rate, _) = Self::input(model);
        let rec = {
            let guard = model.lock();
            match grammar {
                Some(g) => vosk::Recognizer::new_with_grammar(&guard, rate as f32, g),
                None => vosk::Recognizer::new(&guard, rate as f32),
            }
        };
        let mut rec = rec.ok_or(AsrError::Recognizer { rate })?;
        rec.set_words(true);
        Ok(Self::wrap(model, rec, grammar.is_some()))
    }

    fn vosk(&mut self) -> Result<&mut vosk::Recognizer, AsrError> {
        // Only `Drop` takes it out, so this cannot fail while `self` is usable.
        self.rec.as_mut().ok_or(AsrError::Closed)
    }

    pub fn is_grammar(&self) -> bool {
        self.grammar
    }

    pub fn model(&self) -> &SpeechModel {
        &self.model
    }

    /// Milliseconds of 8 kHz audio accepted so far.
    pub fn audio_ms(&self) -> u64 {
        self.samples_in * 1000 / u64::from(SAMPLE_RATE)
    }

    /// Feeds 8 kHz audio (any length; normally one 20 ms frame).
    pub fn accept(&mut self, samples: &[i16]) -> Result<Progress, AsrError> {
        self.samples_in += samples.len() as u64;
        match &mut self.upsampler {
            Some(up) => {
                let upsampled = up.push(samples);
                self.feed(&upsampled)
            }
            None => self.feed(samples),
        }
    }

    fn feed(&mut self, samples: &[i16]) -> Result<Progress, AsrError> {
        if samples.is_empty() {
            return Ok(Progress::Running);
        }
        let state = self
            .vosk()?
            .accept_waveform(samples)
            .map_err(|_| AsrError::ChunkTooLong(samples.len()))?;
        match state {
            vosk::DecodingState::Running => Ok(Progress::Running),
            vosk::DecodingState::Failed => Err(AsrError::Decode { rate: self.rate }),
            vosk::DecodingState::Finalized => {
                let rec = self.vosk()?;
                let words = guarded(|| copy_words(rec.result()))?;
                self.words.extend(words);
                Ok(Progress::Segment)
            }
        }
    }

    /// The best guess so far for the utterance (closed segments plus the running one).
    pub fn partial(&mut self) -> String {
        let running = match self.vosk() {
            Ok(rec) => guarded(|| rec.partial_result().partial.to_string()).unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mut text = self
            .words
            .iter()
            .map(|w| w.word.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if !running.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&running);
        }
        text
    }

    /// Ends the utterance: flushes the audio, takes the final result and makes the recogniser
    /// ready for the next utterance.
    pub fn finish(&mut self) -> Result<Utterance, AsrError> {
        if let Some(up) = &mut self.upsampler {
            let rest = up.flush();
            if !rest.is_empty() {
                // A final segment closed here is picked up by final_result below anyway.
                self.feed(&rest)?;
            }
        }
        let rec = self.vosk()?;
        let last = guarded(|| copy_words(rec.final_result()))?;
        let mut words = std::mem::take(&mut self.words);
        words.extend(last);
        Ok(Utterance::from_words(words))
    }
}

impl Drop for Recognizer {
    fn drop(&mut self) {
        if let Some(rec) = self.rec.take() {
            if !self.grammar {
                let lifetime_ms = self.earlier_ms.saturating_add(self.audio_ms());
                self.model.put_idle(rec, lifetime_ms);
            }
        }
    }
}

/// Runs a result read that the vosk crate may panic in (it unwraps UTF-8 and JSON, and borrows
/// strings that cannot hold escapes), returning an error instead.
fn guarded<T>(read: impl FnOnce() -> T) -> Result<T, AsrError> {
    catch_unwind(AssertUnwindSafe(read)).map_err(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        AsrError::BadResult(reason.chars().take(200).collect())
    })
}

/// Copies a result out of libvosk's buffer (valid only until the next call).
fn copy_words(result: vosk::CompleteResult<'_>) -> Vec<Word> {
    match result {
        vosk::CompleteResult::Single(single) => single
            .result
            .iter()
            .map(|w| Word {
                word: w.word.to_string(),
                start: w.start,
                end: w.end,
                conf: w.conf,
            })
            .collect(),
        // Only with set_max_alternatives, which callbox does not use: take the best one.
        vosk::CompleteResult::Multiple(multiple) => multiple
            .alternatives
            .first()
            .map(|alt| {
                alt.result
                    .iter()
                    .map(|w| Word {
                        word: w.word.to_string(),
                        start: w.start,
                        end: w.end,
                        conf: alt.confidence,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// One utterance found in a recording by [`transcribe`].
#[derive(Debug, Clone, PartialEq)]
pub struct TimedUtterance {
    /// Endpointer boundaries, in milliseconds from the start of the recording.
    pub start_ms: u64,
    pub end_ms: u64,
    pub reason: EndReason,
    pub utterance: Utterance,
}

/// What [`transcribe`] found, and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub utterances: Vec<TimedUtterance>,
    pub audio_ms: u64,
    /// Wall-clock processing time.
    pub elapsed: std::time::Duration,
}

impl Transcript {
    /// Processing time over audio time (below 1: faster than real time).
    pub fn real_time_factor(&self) -> f64 {
        if self.audio_ms == 0 {
            return 0.0;
        }
        self.elapsed.as_secs_f64() * 1000.0 / self.audio_ms as f64
    }
}

/// Why [`transcribe`] stopped.
#[derive(Debug, Error)]
pub enum TranscribeError {
    #[error(transparent)]
    Vad(#[from] VadError),
    #[error(transparent)]
    Asr(#[from] AsrError),
}

/// Frames fed to the recogniser from before the endpointer's start decision, so the first
/// phoneme is not cut: the start run itself plus 200 ms.
const PRE_ROLL_FRAMES: usize = 10;

/// Runs a recording (8 kHz) through the call pipeline: VAD per 20 ms frame, the endpointer,
/// and a recogniser fed from just before each speech start to its end. With `grammar`, every
/// utterance is recognised against it. The same path a call takes, offline
/// (`callbox transcribe`).
pub fn transcribe(
    model: &SpeechModel,
    samples: &[i16],
    vad_aggressiveness: u8,
    endpointer: EndpointerConfig,
    grammar: Option<&[String]>,
) -> Result<Transcript, TranscribeError> {
    let started = std::time::Instant::now();
    let mut vad = VoiceDetector::for_phone(vad_aggressiveness)?;
    let mut ep = Endpointer::new(EndpointerConfig {
        frame_ms: FRAME_MS,
        ..endpointer
    });
    let mut rec = match grammar {
        Some(phrases) => Recognizer::new_grammar(model, phrases)?,
        None => Recognizer::new_open(model)?,
    };
    let mut pre_roll: VecDeque<&[i16]> = VecDeque::new();
    let mut utterances = Vec::new();
    let mut at_ms = 0;
    for frame in samples.chunks_exact(FRAME_SAMPLES) {
        let voiced = vad.is_voiced(frame)?;
        let event = ep.push(voiced, at_ms);
        if ep.in_speech() || matches!(event, Some(EndpointEvent::SpeechEnded { .. })) {
            for earlier in pre_roll.drain(..) {
                rec.accept(earlier)?;
            }
            rec.accept(frame)?;
        } else {
            pre_roll.push_back(frame);
            if pre_roll.len() > PRE_ROLL_FRAMES + ep.config().start_frames as usize {
                pre_roll.pop_front();
            }
        }
        match event {
            Some(EndpointEvent::SpeechEnded {
                start_ms,
                end_ms,
                reason,
            }) => {
                utterances.push(TimedUtterance {
                    start_ms,
                    end_ms,
                    reason,
                    utterance: rec.finish()?,
                });
                ep.start_turn(at_ms + FRAME_MS);
            }
            // A recording has no turns to time out: keep listening.
            Some(EndpointEvent::NoSpeechTimeout { .. }) => ep.start_turn(at_ms + FRAME_MS),
            _ => {}
        }
        at_ms += FRAME_MS;
    }
    if let Some(start_ms) = ep.speech_start() {
        // The recording ended mid-utterance.
        utterances.push(TimedUtterance {
            start_ms,
            end_ms: at_ms,
            reason: EndReason::TrailingSilence,
            utterance: rec.finish()?,
        });
    }
    Ok(Transcript {
        utterances,
        audio_ms: samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE),
        elapsed: started.elapsed(),
    })
}

/// A source of recognisers: the real model, or a script in tests of the layers above.
pub trait SpeechEngine: Send + Sync {
    /// A recogniser for a free answer.
    fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError>;
    /// A recogniser restricted to `phrases` (plus [`UNKNOWN_WORD`]).
    fn grammar(&self, phrases: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError>;
}

/// The engine of a call without a usable model (keypad-only): every recogniser request
/// fails, so a turn that still asked for one hears nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSpeechModel;

impl SpeechEngine for NoSpeechModel {
    fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError> {
        Err(AsrError::Model {
            path: PathBuf::new(),
            reason: "no usable speech model (keypad-only)".into(),
        })
    }

    fn grammar(&self, _phrases: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError> {
        self.open()
    }
}

/// One recogniser as the turn-taking layer sees it.
pub trait RecognizerStream: Send {
    /// Feeds 8 kHz audio.
    fn accept(&mut self, samples: &[i16]) -> Result<Progress, AsrError>;
    /// The best guess so far.
    fn partial(&mut self) -> String;
    /// The final result of the utterance; the stream may be reused for the next one.
    fn finish(&mut self) -> Result<Utterance, AsrError>;
}

impl SpeechEngine for SpeechModel {
    fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError> {
        Ok(Box::new(Recognizer::new_open(self)?))
    }

    fn grammar(&self, phrases: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError> {
        Ok(Box::new(Recognizer::new_grammar(self, phrases)?))
    }
}

impl RecognizerStream for Recognizer {
    fn accept(&mut self, samples: &[i16]) -> Result<Progress, AsrError> {
        Recognizer::accept(self, samples)
    }

    fn partial(&mut self) -> String {
        Recognizer::partial(self)
    }

    fn finish(&mut self) -> Result<Utterance, AsrError> {
        Recognizer::finish(self)
    }
}

/// A text-scripted engine for tests of the layers above: every `finish` (of any stream)
/// returns the next scripted answer, whatever the audio. A grammar stream turns an answer
/// that is not one of its phrases into [`UNKNOWN_WORD`], as the real grammar would.
#[derive(Debug, Clone, Default)]
pub struct ScriptedEngine {
    script: Arc<Mutex<VecDeque<String>>>,
}

impl ScriptedEngine {
    pub fn new<S: Into<String>>(answers: impl IntoIterator<Item = S>) -> Self {
        ScriptedEngine {
            script: Arc::new(Mutex::new(answers.into_iter().map(Into::into).collect())),
        }
    }

    /// Answers not yet consumed.
    pub fn remaining(&self) -> usize {
        self.script.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn stream(&self, grammar: Option<Vec<String>>) -> Box<dyn RecognizerStream> {
        Box::new(ScriptedStream {
            script: self.script.clone(),
            grammar,
            samples: 0,
        })
    }
}

impl SpeechEngine for ScriptedEngine {
    fn open(&self) -> Result<Box<dyn RecognizerStream>, AsrError> {
        Ok(self.stream(None))
    }

    fn grammar(&self, phrases: &[String]) -> Result<Box<dyn RecognizerStream>, AsrError> {
        if phrases.is_empty() {
            return Err(AsrError::EmptyGrammar);
        }
        Ok(self.stream(Some(phrases.to_vec())))
    }
}

struct ScriptedStream {
    script: Arc<Mutex<VecDeque<String>>>,
    grammar: Option<Vec<String>>,
    samples: u64,
}

impl RecognizerStream for ScriptedStream {
    fn accept(&mut self, samples: &[i16]) -> Result<Progress, AsrError> {
        self.samples += samples.len() as u64;
        Ok(Progress::Running)
    }

    fn partial(&mut self) -> String {
        String::new()
    }

    fn finish(&mut self) -> Result<Utterance, AsrError> {
        let answer = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or_default();
        let answer = match &self.grammar {
            Some(phrases) if !answer.is_empty() && !phrases.contains(&answer) => {
                UNKNOWN_WORD.to_string()
            }
            _ => answer,
        };
        // Spread the words over the audio heard, at full confidence.
        let seconds = self.samples as f32 / SAMPLE_RATE as f32;
        let tokens: Vec<&str> = answer.split_whitespace().collect();
        let step = seconds / tokens.len().max(1) as f32;
        let words = tokens
            .iter()
            .enumerate()
            .map(|(i, w)| Word {
                word: (*w).to_string(),
                start: i as f32 * step,
                end: (i + 1) as f32 * step,
                conf: 1.0,
            })
            .collect();
        self.samples = 0;
        Ok(Utterance::from_words(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn recognizer_and_model_are_send() {
        assert_send::<Recognizer>();
        assert_send::<SpeechModel>();
        fn assert_sync<T: Sync>() {}
        assert_sync::<SpeechModel>();
    }

    fn chirp(len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| {
                let t = i as f32 / 8000.0;
                ((2.0 * std::f32::consts::PI * (200.0 + 1500.0 * t) * t).sin() * 12000.0) as i16
            })
            .collect()
    }

    #[test]
    fn streaming_upsampler_matches_whole_buffer_resample() {
        let input = chirp(8000);
        let whole = resample(&input, 8000, 16000);
        let mut up = Upsampler::new(16000).unwrap();
        let mut streamed = Vec::new();
        // Odd chunk sizes, including empty and single samples.
        let mut rest = input.as_slice();
        for size in [160, 1, 0, 7, 333, 160, 2, 1000].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            streamed.extend(up.push(&rest[..n]));
            rest = &rest[n..];
        }
        streamed.extend(up.flush());
        assert_eq!(streamed.len(), whole.len());
        assert_eq!(streamed, whole);
    }

    #[test]
    fn upsampler_rates() {
        assert!(Upsampler::new(22050).is_none());
        assert!(Upsampler::new(4000).is_none());
        let mut same = Upsampler::new(8000).unwrap();
        assert_eq!(same.push(&[1, 2, 3]), vec![1, 2, 3]);
        assert!(same.flush().is_empty());
    }

    #[test]
    fn model_rate_read_from_mfcc_conf() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(model_sample_rate(dir.path()), 16000);
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(
            dir.path().join("conf/mfcc.conf"),
            "--use-energy=false\n--sample-frequency=8000\n",
        )
        .unwrap();
        assert_eq!(model_sample_rate(dir.path()), 8000);
    }

    #[test]
    fn scripted_engine_follows_the_script_and_grammar() {
        let engine = ScriptedEngine::new(["no heat", "maybe", "yes"]);
        let mut open = engine.open().unwrap();
        open.accept(&[0; 16000]).unwrap();
        let u = open.finish().unwrap();
        assert_eq!(u.text, "no heat");
        assert_eq!(u.words.len(), 2);
        assert_eq!(u.words[1].end, 2.0);
        let phrases = vec!["yes".to_string(), "no".to_string()];
        let mut g = engine.grammar(&phrases).unwrap();
        assert_eq!(g.finish().unwrap().text, UNKNOWN_WORD);
        assert!(g.finish().unwrap().text == "yes");
        assert_eq!(engine.remaining(), 0);
        assert!(g.finish().unwrap().is_empty_or_unknown());
        assert!(engine.grammar(&[]).is_err());
    }

    #[test]
    fn guarded_turns_panics_into_errors() {
        let err = guarded(|| -> u32 { panic!("Invalid JSON: {:?}", "x") }).unwrap_err();
        assert!(matches!(err, AsrError::BadResult(m) if m.contains("Invalid JSON")));
    }
}
