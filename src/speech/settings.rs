//! The speech layer's settings: `[speech]`, `[voice]` and `[audio]`, with their validation.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::infra::settings::SettingIssue;

pub use super::answer::AnswerKind;
pub use super::asr::Upsample;

/// Speech recognition: voice activity detection, end of turn, the Vosk model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// webrtc-vad aggressiveness, 0 (keeps most speech) to 3 (fewest false starts on noise).
    pub vad_aggressiveness: u8,
    /// Consecutive voiced 20 ms frames that start an utterance.
    pub start_frames: u32,
    /// Silence that ends an utterance, in milliseconds.
    pub trailing_silence_ms: u64,
    /// Silence that ends an utterance once a closed-set answer is complete.
    pub short_trailing_silence_ms: u64,
    /// Longest utterance, in milliseconds.
    pub max_utterance_ms: u64,
    /// A question with no answer started by then times out, in milliseconds.
    pub no_speech_timeout_ms: u64,
    /// The Vosk model directory; a relative path is under `storage.data_dir`.
    pub model_dir: PathBuf,
    /// How 8 kHz audio reaches a 16 kHz model: "filter" (in callbox) or "vosk" (the model's
    /// `--allow-upsample=true`).
    pub upsample: Upsample,
    /// Silence that ends an open answer once it reads complete for what the question expects
    /// (a ZIP's five digits, a street with its type; see `speech::answer`).
    pub complete_answer_silence_ms: u64,
    // Recogniser memory (issue 18): see `speech::pool`.
    /// Open recognisers kept warm between turns (0-8); fewer when the board's available
    /// memory cannot hold them beside the calls themselves. None are kept while
    /// `recycle_recognizer_after_s` is 0 (the default: a new one every turn).
    pub warm_recognizers: usize,
    /// Seconds of audio an open recogniser decodes before it is freed and made anew at the
    /// end of a turn (its graph caches only grow); 0 makes a new one every turn (0-3600).
    pub recycle_recognizer_after_s: u64,
    /// Kaldi's `--max-active` for the recognisers (decoding states kept per frame): smaller
    /// is less memory and CPU per call; 0 keeps the model's own (`speech::search`).
    pub max_active: u32,
    /// Kaldi's `--beam` for the recognisers: narrower is less memory on long answers, at an
    /// accuracy cost only the shop's own recordings can show (`callbox transcribe --beam`);
    /// 0 keeps the model's own (the default).
    pub beam: f32,
    /// What one call with speech may take at its largest, in MiB (a caller deep in a long
    /// answer): at start-up the box counts how many such calls the memory left after the
    /// models holds (the board's, and under the systemd unit's `MemoryHigh`), and a call over
    /// that number is answered keypad-only. 0 = no limit but `sip.max_concurrent_calls`
    /// (`speech::pool::spoken_call_limit`).
    pub call_memory_mib: u32,
    /// A Spanish Vosk model directory (a relative path is under `storage.data_dir`); empty =
    /// none. With one (and `[voice] spanish_voice`) a caller who chose Spanish answers by
    /// voice as well as by key; without one the Spanish branch is keypad-driven.
    pub spanish_model: PathBuf,
}

/// The box's voice: the TTS engine and the prompts it renders.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// "espeak-ng" (a separate process: GPL-3 stays out of the binary) or "none" (built-in
    /// WAV prompts only).
    pub engine: VoiceEngine,
    /// The engine's executable, found on PATH when not absolute.
    pub program: PathBuf,
    /// The engine's voice name (espeak-ng `-v`), e.g. "en-us".
    pub voice: String,
    /// Speaking rate in words per minute (espeak-ng `-s`).
    pub rate_wpm: u32,
    /// Gain applied to everything the box says, in dB (negative = quieter).
    pub gain_db: f32,
    /// Where fixed prompts are cached as WAV; unset = `<data_dir>/prompts`.
    pub prompt_cache_dir: Option<PathBuf>,
    /// The voice for callers who speak Spanish (espeak-ng `-v`, "es"); empty = the box
    /// offers no Spanish and takes a message instead.
    pub spanish_voice: String,
}

/// Text-to-speech engines.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VoiceEngine {
    EspeakNg,
    None,
}

/// Audio behaviour on the line: barge-in and echo guard, and the ALSA line interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Stop speaking when the caller talks over the box.
    pub barge_in: bool,
    /// The caller must be this many dB above the box's own voice (as sent) to barge in: the
    /// line's hybrid returns our voice 6-15 dB down, and that echo must not interrupt us.
    pub echo_margin_db: f32,
    /// Consecutive 20 ms frames of caller speech above the echo before barging in.
    pub barge_in_frames: u32,
    /// ALSA PCM device of a USB line interface (e.g. "plughw:1,0"); unset = none.
    pub alsa_device: Option<String>,
}

impl Default for SpeechConfig {
    fn default() -> Self {
        let ep = super::endpointer::EndpointerConfig::default();
        SpeechConfig {
            vad_aggressiveness: 2,
            start_frames: ep.start_frames,
            trailing_silence_ms: ep.trailing_silence_ms,
            short_trailing_silence_ms: ep.short_trailing_silence_ms,
            max_utterance_ms: ep.max_utterance_ms,
            no_speech_timeout_ms: ep.no_speech_timeout_ms,
            model_dir: PathBuf::from("models/vosk"),
            upsample: Upsample::Filter,
            complete_answer_silence_ms: ep.complete_answer_silence_ms,
            warm_recognizers: 2,
            recycle_recognizer_after_s: super::pool::DEFAULT_RECYCLE_AFTER_MS / 1000,
            max_active: super::search::DEFAULT_MAX_ACTIVE,
            beam: 0.0,
            call_memory_mib: super::pool::DEFAULT_CALL_MEMORY_MIB,
            spanish_model: PathBuf::new(),
        }
    }
}

impl SpeechConfig {
    /// The endpointer settings for 20 ms audio-port frames.
    pub fn endpointer(&self) -> super::endpointer::EndpointerConfig {
        super::endpointer::EndpointerConfig {
            start_frames: self.start_frames,
            trailing_silence_ms: self.trailing_silence_ms,
            short_trailing_silence_ms: self.short_trailing_silence_ms,
            max_utterance_ms: self.max_utterance_ms,
            no_speech_timeout_ms: self.no_speech_timeout_ms,
            complete_answer_silence_ms: self.complete_answer_silence_ms,
            ..Default::default()
        }
    }
}

impl Default for VoiceConfig {
    fn default() -> Self {
        VoiceConfig {
            engine: VoiceEngine::EspeakNg,
            program: PathBuf::from("espeak-ng"),
            voice: "en-us".into(),
            rate_wpm: 160,
            gain_db: 0.0,
            prompt_cache_dir: None,
            spanish_voice: "es".into(),
        }
    }
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            barge_in: true,
            echo_margin_db: 6.0,
            barge_in_frames: 2,
            alsa_device: None,
        }
    }
}

impl SpeechConfig {
    /// Checks `[speech]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let sp = self;
        if sp.vad_aggressiveness > 3 {
            v.push(SettingIssue::error(
                "speech.vad_aggressiveness",
                format!("must be 0-3 ({} given)", sp.vad_aggressiveness),
            ));
        }
        if !(1..=50).contains(&sp.start_frames) {
            v.push(SettingIssue::error(
                "speech.start_frames",
                format!("must be 1-50 frames of 20 ms ({} given)", sp.start_frames),
            ));
        }
        if !(100..=10_000).contains(&sp.trailing_silence_ms) {
            v.push(SettingIssue::error(
                "speech.trailing_silence_ms",
                format!("must be 100-10000 ms ({} given)", sp.trailing_silence_ms),
            ));
        }
        if sp.short_trailing_silence_ms < 20
            || sp.short_trailing_silence_ms > sp.trailing_silence_ms
        {
            v.push(SettingIssue::error(
                "speech.short_trailing_silence_ms",
                format!(
                    "must be at least 20 ms and at most speech.trailing_silence_ms ({} given)",
                    sp.short_trailing_silence_ms
                ),
            ));
        }
        if sp.complete_answer_silence_ms < 20
            || sp.complete_answer_silence_ms > sp.trailing_silence_ms
        {
            v.push(SettingIssue::error(
                "speech.complete_answer_silence_ms",
                format!(
                    "must be at least 20 ms and at most speech.trailing_silence_ms ({} given)",
                    sp.complete_answer_silence_ms
                ),
            ));
        }
        if sp.max_utterance_ms <= sp.trailing_silence_ms || sp.max_utterance_ms > 120_000 {
            v.push(SettingIssue::error(
                "speech.max_utterance_ms",
                format!(
                    "must be above speech.trailing_silence_ms and at most 120000 ms ({} given)",
                    sp.max_utterance_ms
                ),
            ));
        }
        if !(500..=120_000).contains(&sp.no_speech_timeout_ms) {
            v.push(SettingIssue::error(
                "speech.no_speech_timeout_ms",
                format!("must be 500-120000 ms ({} given)", sp.no_speech_timeout_ms),
            ));
        }
        if sp.model_dir.as_os_str().is_empty() {
            v.push(SettingIssue::error(
                "speech.model_dir",
                "must not be empty (a relative path is under storage.data_dir)",
            ));
        }
        self.validate_recognizer_memory(v);
    }

    /// Checks the recogniser memory settings (`speech.warm_recognizers`,
    /// `speech.recycle_recognizer_after_s`, the search width, `speech.call_memory_mib`).
    fn validate_recognizer_memory(&self, v: &mut Vec<SettingIssue>) {
        if self.warm_recognizers > super::pool::MAX_WARM_RECOGNIZERS {
            v.push(SettingIssue::error(
                "speech.warm_recognizers",
                format!(
                    "must be 0-{} ({} given)",
                    super::pool::MAX_WARM_RECOGNIZERS,
                    self.warm_recognizers
                ),
            ));
        }
        if self.max_active != 0 && !(200..=20_000).contains(&self.max_active) {
            v.push(SettingIssue::error(
                "speech.max_active",
                format!(
                    "must be 0 (the model's own) or 200-20000 ({} given)",
                    self.max_active
                ),
            ));
        }
        if self.beam != 0.0 && !(5.0..=30.0).contains(&self.beam) {
            v.push(SettingIssue::error(
                "speech.beam",
                format!("must be 0 (the model's own) or 5-30 ({} given)", self.beam),
            ));
        }
        if self.call_memory_mib != 0 && !(20..=65_536).contains(&self.call_memory_mib) {
            v.push(SettingIssue::error(
                "speech.call_memory_mib",
                format!(
                    "must be 0 (no limit) or 20-65536 MiB ({} given)",
                    self.call_memory_mib
                ),
            ));
        }
        if self.recycle_recognizer_after_s > 3600 {
            v.push(SettingIssue::error(
                "speech.recycle_recognizer_after_s",
                format!(
                    "must be 0-3600 seconds ({} given)",
                    self.recycle_recognizer_after_s
                ),
            ));
        }
    }

    /// The Spanish model's directory (`spanish_model` under `data_dir` when relative);
    /// `None` when none is configured.
    pub fn spanish_model_dir(&self, data_dir: &std::path::Path) -> Option<PathBuf> {
        (!self.spanish_model.as_os_str().is_empty()).then(|| data_dir.join(&self.spanish_model))
    }

    /// How widely the recognisers search (`speech.max_active`, `speech.beam`).
    pub fn search_width(&self) -> super::search::SearchWidth {
        super::search::SearchWidth {
            max_active: self.max_active,
            beam: self.beam,
        }
    }

    /// The recogniser pool's policy for `max_idle` warm recognisers.
    pub fn pool_policy(&self, max_idle: usize) -> super::pool::PoolPolicy {
        super::pool::PoolPolicy {
            max_idle,
            recycle_after_ms: self.recycle_recognizer_after_s.saturating_mul(1000),
        }
    }
}

/// A voice name as one argument of the engine's command line: not empty, no option, no space.
fn is_voice_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('-') && !name.chars().any(|c| c.is_control() || c == ' ')
}

impl VoiceConfig {
    /// Checks `[voice]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let voice = self;
        if voice.engine != VoiceEngine::None {
            if voice.program.as_os_str().is_empty() {
                v.push(SettingIssue::error("voice.program", "must not be empty"));
            }
            // The voice name becomes one argument of the engine's command line.
            if !is_voice_name(&voice.voice) {
                v.push(SettingIssue::error(
                    "voice.voice",
                    format!(
                        "`{}` is not a voice name (e.g. \"en-us\")",
                        voice.voice.escape_default()
                    ),
                ));
            }
            if !voice.spanish_voice.is_empty() && !is_voice_name(&voice.spanish_voice) {
                v.push(SettingIssue::error(
                    "voice.spanish_voice",
                    format!(
                        "`{}` is not a voice name (e.g. \"es\", or \"\" for none)",
                        voice.spanish_voice.escape_default()
                    ),
                ));
            }
        }
        // espeak-ng accepts 80-450 words per minute.
        if !(80..=450).contains(&voice.rate_wpm) {
            v.push(SettingIssue::error(
                "voice.rate_wpm",
                format!("must be between 80 and 450 ({} given)", voice.rate_wpm),
            ));
        }
        if !(-30.0..=20.0).contains(&voice.gain_db) {
            v.push(SettingIssue::error(
                "voice.gain_db",
                format!("must be between -30 and 20 dB ({} given)", voice.gain_db),
            ));
        }
        if voice
            .prompt_cache_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            v.push(SettingIssue::error(
                "voice.prompt_cache_dir",
                "is empty; remove the key to use <data_dir>/prompts",
            ));
        }
    }
}

impl AudioConfig {
    /// Checks `[audio]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let audio = self;
        if !(0.0..=30.0).contains(&audio.echo_margin_db) {
            v.push(SettingIssue::error(
                "audio.echo_margin_db",
                format!(
                    "must be between 0 and 30 dB ({} given)",
                    audio.echo_margin_db
                ),
            ));
        }
        // Past 5 frames barge-in cannot stop the box within 100 ms of the caller's first word.
        if !(1..=5).contains(&audio.barge_in_frames) {
            v.push(SettingIssue::error(
                "audio.barge_in_frames",
                format!("must be between 1 and 5 ({} given)", audio.barge_in_frames),
            ));
        }
        if let Some(device) = &audio.alsa_device {
            if device.trim().is_empty() || device.chars().any(char::is_control) {
                v.push(SettingIssue::error(
                    "audio.alsa_device",
                    "is not a PCM device name (e.g. \"plughw:1,0\"); remove the key for none",
                ));
            }
        }
    }
}
