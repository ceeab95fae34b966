//! The box's voice: text to 8 kHz frames, local and offline.
//!
//! - [`Voice`] is the engine seam. [`EspeakVoice`] runs `espeak-ng` as a **separate program**
//!   (it is GPL-3; linking it would put callbox's binary under the GPL) and streams its
//!   22 050 Hz WAV output through [`Resampler`] into 20 ms frames as it is produced, so the
//!   first frame is out after ~20 ms of audio, not after the whole sentence. A better engine
//!   (Piper) plugs in behind the same trait.
//! - [`PromptCache`] renders the fixed prompts once at start-up into memory and
//!   `<cache dir>/<id>-<hash>.wav` (hash of engine, voice, rate, gain and text), so a restart
//!   costs nothing and a changed voice or text re-renders.
//! - [`Speaker`] is what the call flow holds: cached prompts by id, dynamic text on demand.
//!   When the engine is missing it logs loudly and falls back to the built-in WAV prompts:
//!   the box still answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::speech::settings::{VoiceConfig, VoiceEngine};
use crate::telephony::audio_port::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};
use crate::telephony::wav::{self, Resampler};

/// Longest text handed to the engine at once (about a minute of speech).
pub const MAX_TEXT_CHARS: usize = 1000;
/// Frames buffered between the engine's pipe and the player (1.28 s): the engine runs far
/// faster than real time, so this bounds memory, not latency.
const STREAM_DEPTH: usize = 64;
/// espeak-ng writes a canonical 44-byte header (RIFF, fmt, data) before the samples.
const ESPEAK_HEADER_BYTES: usize = 44;
/// How long a synthesis may run before it is killed (a wedged engine must not hold a call).
const SYNTHESIS_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong making speech.
#[derive(Debug, Error)]
pub enum TtsError {
    #[error("cannot start the TTS engine `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("TTS engine I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TTS engine output is not 16-bit mono WAV: {0}")]
    BadOutput(&'static str),
    #[error("TTS engine exited with {status}: {stderr}")]
    Failed { status: String, stderr: String },
    #[error("TTS engine took longer than {0:?}")]
    TimedOut(Duration),
    #[error("text of {0} characters is longer than {MAX_TEXT_CHARS}")]
    TooLong(usize),
    #[error("no TTS engine is available")]
    Unavailable,
    #[error("prompt cache: {0}")]
    Cache(#[from] wav::WavError),
}

/// A stream of 20 ms frames of the box's voice, in order. Ends after the last frame (the
/// tail zero-padded), or with one error.
#[derive(Debug)]
pub struct SpeechStream {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// Rendered audio (a cached prompt).
    Samples { samples: Arc<[i16]>, next: usize },
    /// Live synthesis, fed by the engine's reader task.
    Live(mpsc::Receiver<Result<Box<AudioFrame>, TtsError>>),
    /// Several streams one after the other (never nested: [`SpeechStream::chain`] flattens).
    Chain(std::collections::VecDeque<Source>),
}

impl Source {
    async fn next_single(&mut self) -> Option<Result<Box<AudioFrame>, TtsError>> {
        match self {
            Source::Samples { samples, next } => {
                let chunk = samples.get(*next..)?.chunks(FRAME_SAMPLES).next()?;
                *next += chunk.len();
                let mut frame = Box::new([0i16; FRAME_SAMPLES]);
                frame[..chunk.len()].copy_from_slice(chunk);
                Some(Ok(frame))
            }
            Source::Live(frames) => frames.recv().await,
            Source::Chain(_) => None,
        }
    }
}

impl SpeechStream {
    /// Plays rendered 8 kHz samples.
    pub fn from_samples(samples: Arc<[i16]>) -> SpeechStream {
        SpeechStream {
            source: Source::Samples { samples, next: 0 },
        }
    }

    /// The next frame; `None` at the end.
    pub async fn next_frame(&mut self) -> Option<Result<Box<AudioFrame>, TtsError>> {
        match &mut self.source {
            Source::Chain(parts) => loop {
                let part = parts.front_mut()?;
                match part.next_single().await {
                    Some(frame) => return Some(frame),
                    None => {
                        parts.pop_front();
                    }
                }
            },
            single => single.next_single().await,
        }
    }

    /// Plays `streams` one after the other as one prompt (a turn's several sentences, so the
    /// caller can barge in on any of them).
    pub fn chain(streams: impl IntoIterator<Item = SpeechStream>) -> SpeechStream {
        let mut parts = std::collections::VecDeque::new();
        for stream in streams {
            match stream.source {
                Source::Chain(inner) => parts.extend(inner),
                single => parts.push_back(single),
            }
        }
        SpeechStream {
            source: Source::Chain(parts),
        }
    }

    /// Reads the whole stream into samples (prompt rendering, `callbox say`).
    pub async fn collect(mut self) -> Result<Vec<i16>, TtsError> {
        let mut samples = Vec::new();
        while let Some(frame) = self.next_frame().await {
            samples.extend_from_slice(&frame?[..]);
        }
        Ok(samples)
    }
}

/// A text-to-speech engine.
///
/// `speak` is synchronous and returns at once with a stream that fills as the engine
/// produces audio (rather than an `async fn`), so voices stay object-safe (`Arc<dyn Voice>`).
pub trait Voice: Send + Sync + std::fmt::Debug {
    /// What identifies this voice's output (engine, voice, rate, gain), for the prompt cache.
    fn cache_key(&self) -> String;
    /// Starts speaking `text`; must be called inside a tokio runtime.
    fn speak(&self, text: &str) -> Result<SpeechStream, TtsError>;
}

/// espeak-ng, run as a separate process per utterance.
#[derive(Debug, Clone)]
pub struct EspeakVoice {
    program: PathBuf,
    voice: String,
    rate_wpm: u32,
    gain: f32,
    gain_db: f32,
}

impl EspeakVoice {
    pub fn new(program: impl Into<PathBuf>, voice: &str, rate_wpm: u32, gain_db: f32) -> Self {
        EspeakVoice {
            program: program.into(),
            voice: voice.to_string(),
            rate_wpm,
            gain: 10f32.powf(gain_db / 20.0),
            gain_db,
        }
    }

    pub fn from_config(config: &VoiceConfig) -> Self {
        Self::new(
            &config.program,
            &config.voice,
            config.rate_wpm,
            config.gain_db,
        )
    }

    /// Runs the engine once on a short word: is it installed, does the voice exist?
    pub async fn probe(&self) -> Result<(), TtsError> {
        let samples = self.speak("ok")?.collect().await?;
        if samples.is_empty() {
            return Err(TtsError::BadOutput("no audio for a probe word"));
        }
        Ok(())
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-v")
            .arg(&self.voice)
            .arg("-s")
            .arg(self.rate_wpm.to_string())
            .arg("--stdout")
            // Text goes in on stdin, never on the command line: a caller's street name that
            // starts with `-` must not become an option.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }
}

impl Voice for EspeakVoice {
    fn cache_key(&self) -> String {
        format!(
            "espeak-ng voice={} rate={} gain_db={}",
            self.voice, self.rate_wpm, self.gain_db
        )
    }

    fn speak(&self, text: &str) -> Result<SpeechStream, TtsError> {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(TtsError::TooLong(chars));
        }
        // Line breaks would make espeak-ng pause as for a paragraph; control bytes mean nothing.
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut child = self.command().spawn().map_err(|source| TtsError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        let gain = self.gain;
        tokio::spawn(async move {
            let result =
                tokio::time::timeout(SYNTHESIS_TIMEOUT, pump_espeak(&mut child, text, gain, &tx))
                    .await
                    .unwrap_or(Err(TtsError::TimedOut(SYNTHESIS_TIMEOUT)));
            if let Err(err) = result {
                let _ = tx.send(Err(err)).await;
            }
            // kill_on_drop ends an engine whose listener went away (barge-in) mid-sentence.
        });
        Ok(SpeechStream {
            source: Source::Live(rx),
        })
    }
}

/// Feeds the text in, reads the WAV stream out frame by frame. Returns early (Ok) when the
/// listener has gone.
async fn pump_espeak(
    child: &mut tokio::process::Child,
    text: String,
    gain: f32,
    frames: &mpsc::Sender<Result<Box<AudioFrame>, TtsError>>,
) -> Result<(), TtsError> {
    let mut stdin = child
        .stdin
        .take()
        .ok_or(TtsError::BadOutput("no stdin pipe"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or(TtsError::BadOutput("no stdout pipe"))?;
    let mut stderr = child.stderr.take();
    // The text is small; writing it before reading cannot fill the pipe both ways.
    stdin.write_all(text.as_bytes()).await?;
    stdin.write_all(b"\n").await?;
    drop(stdin);

    let mut decoder = WavStreamDecoder::new(gain);
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::with_capacity(FRAME_SAMPLES * 4);
    loop {
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        decoder.push(&buf[..n], &mut out)?;
        if !send_frames(&mut out, false, frames).await {
            return Ok(());
        }
    }
    decoder.finish(&mut out);
    let status = child.wait().await?;
    if !status.success() && !decoder.saw_audio() {
        let mut message = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.take(2048).read_to_string(&mut message).await;
        }
        return Err(TtsError::Failed {
            status: status.to_string(),
            stderr: message.trim().to_string(),
        });
    }
    if !decoder.saw_header() {
        return Err(TtsError::BadOutput("no WAV header"));
    }
    send_frames(&mut out, true, frames).await;
    Ok(())
}

/// Sends every whole frame in `samples` (and, at the end, the zero-padded tail). False once
/// the listener is gone.
async fn send_frames(
    samples: &mut Vec<i16>,
    end: bool,
    frames: &mpsc::Sender<Result<Box<AudioFrame>, TtsError>>,
) -> bool {
    let whole = samples.len() / FRAME_SAMPLES * FRAME_SAMPLES;
    let take = if end { samples.len() } else { whole };
    for chunk in samples[..take].chunks(FRAME_SAMPLES) {
        let mut frame = Box::new([0i16; FRAME_SAMPLES]);
        frame[..chunk.len()].copy_from_slice(chunk);
        if frames.send(Ok(frame)).await.is_err() {
            return false;
        }
    }
    samples.drain(..take);
    true
}

/// Incremental reader of a 16-bit mono WAV stream whose header sizes are placeholders
/// (espeak-ng `--stdout` writes 0x7FFFF024 / 0x7FFFF000 and streams to EOF): takes the rate
/// from the header, ignores the sizes, resamples to 8 kHz and applies the gain.
#[derive(Debug)]
pub struct WavStreamDecoder {
    header: Vec<u8>,
    resampler: Option<Resampler>,
    /// An odd byte left from the previous read (a sample split across reads).
    carry: Option<u8>,
    samples: Vec<i16>,
    gain: f32,
    saw_audio: bool,
}

impl WavStreamDecoder {
    pub fn new(gain: f32) -> Self {
        WavStreamDecoder {
            header: Vec::with_capacity(ESPEAK_HEADER_BYTES),
            resampler: None,
            carry: None,
            samples: Vec::new(),
            gain,
            saw_audio: false,
        }
    }

    pub fn saw_header(&self) -> bool {
        self.resampler.is_some()
    }

    pub fn saw_audio(&self) -> bool {
        self.saw_audio
    }

    /// Feeds bytes from the pipe; appends 8 kHz samples to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<i16>) -> Result<(), TtsError> {
        if self.resampler.is_none() {
            let need = ESPEAK_HEADER_BYTES - self.header.len();
            let take = need.min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() < ESPEAK_HEADER_BYTES {
                return Ok(());
            }
            self.resampler = Some(Resampler::new(
                parse_stream_header(&self.header)?,
                SAMPLE_RATE,
            ));
        }
        self.samples.clear();
        if let Some(low) = self.carry.take() {
            if let Some((&high, rest)) = bytes.split_first() {
                self.samples.push(i16::from_le_bytes([low, high]));
                bytes = rest;
            } else {
                self.carry = Some(low);
            }
        }
        let mut pairs = bytes.chunks_exact(2);
        self.samples
            .extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        if let [odd] = pairs.remainder() {
            self.carry = Some(*odd);
        }
        self.saw_audio |= !self.samples.is_empty();
        let start = out.len();
        if let Some(resampler) = self.resampler.as_mut() {
            resampler.push(&self.samples, out);
        }
        apply_gain(&mut out[start..], self.gain);
        Ok(())
    }

    /// Ends the stream: the resampler's last samples.
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        let start = out.len();
        if let Some(resampler) = self.resampler.as_mut() {
            resampler.finish(out);
        }
        apply_gain(&mut out[start..], self.gain);
    }
}

/// The sample rate of a streamed 44-byte WAV header, checking it is 16-bit mono PCM.
fn parse_stream_header(h: &[u8]) -> Result<u32, TtsError> {
    let u16_at = |at: usize| h.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| {
        h.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if h.get(0..4) != Some(b"RIFF") || h.get(8..12) != Some(b"WAVE") {
        return Err(TtsError::BadOutput("not RIFF/WAVE"));
    }
    if h.get(12..16) != Some(b"fmt ") || h.get(36..40) != Some(b"data") {
        return Err(TtsError::BadOutput("not a canonical 44-byte header"));
    }
    if u16_at(20) != Some(1) || u16_at(22) != Some(1) || u16_at(34) != Some(16) {
        return Err(TtsError::BadOutput("not 16-bit mono PCM"));
    }
    match u32_at(24) {
        Some(rate) if (4000..=96_000).contains(&rate) => Ok(rate),
        _ => Err(TtsError::BadOutput("sample rate out of range")),
    }
}

fn apply_gain(samples: &mut [i16], gain: f32) {
    if (gain - 1.0).abs() < 1e-6 {
        return;
    }
    for s in samples {
        *s = (f32::from(*s) * gain).round().clamp(-32_768.0, 32_767.0) as i16;
    }
}

/// The voice the configuration asks for, checked by speaking a probe word. `None` (after an
/// error in the log) when the engine is off, missing or broken: the box then answers with
/// its built-in prompts.
pub async fn voice_from_config(config: &VoiceConfig) -> Option<Arc<dyn Voice>> {
    match config.engine {
        VoiceEngine::None => {
            info!("voice.engine = \"none\": the box speaks its built-in prompts only");
            None
        }
        VoiceEngine::EspeakNg => {
            let voice = EspeakVoice::from_config(config);
            match voice.probe().await {
                Ok(()) => {
                    info!(program = %config.program.display(), voice = %config.voice, rate_wpm = config.rate_wpm, "TTS ready");
                    Some(Arc::new(voice))
                }
                Err(err) => {
                    error!(
                        program = %config.program.display(),
                        voice = %config.voice,
                        error = %err,
                        "TTS ENGINE UNAVAILABLE: the box will answer with its built-in prompts only \
                         and cannot speak names, times or what it heard. Install espeak-ng \
                         (apt-get install espeak-ng) or fix voice.program / voice.voice."
                    );
                    None
                }
            }
        }
    }
}

/// Issue 16: the Spanish voice (`[voice] spanish_voice`, same engine, rate and gain), checked
/// by speaking a probe word. `None` when it is not configured or does not work (the box then
/// offers no Spanish and takes a message).
pub async fn spanish_voice_from_config(config: &VoiceConfig) -> Option<Arc<dyn Voice>> {
    if config.engine == VoiceEngine::None || config.spanish_voice.is_empty() {
        return None;
    }
    let voice = EspeakVoice::new(
        &config.program,
        &config.spanish_voice,
        config.rate_wpm,
        config.gain_db,
    );
    match voice.probe().await {
        Ok(()) => {
            info!(voice = %config.spanish_voice, "Spanish voice ready");
            Some(Arc::new(voice))
        }
        Err(err) => {
            warn!(
                voice = %config.spanish_voice,
                error = %err,
                "Spanish voice unavailable: callers who speak Spanish leave a message instead \
                 (install espeak-ng's voice data or fix voice.spanish_voice)"
            );
            None
        }
    }
}

/// A fixed prompt: an id the call flow asks for, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptText {
    pub id: String,
    pub text: String,
}

impl PromptText {
    pub fn new(id: &str, text: &str) -> Self {
        PromptText {
            id: id.into(),
            text: text.into(),
        }
    }
}

/// Fixed prompts rendered once, held in memory, cached on disk.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    prompts: HashMap<String, Arc<[i16]>>,
}

impl PromptCache {
    /// Renders (or loads from `dir`) every prompt with `voice`. A prompt that cannot be
    /// rendered falls back to `fallback[id]` when there is one, else is left out.
    pub async fn render(
        voice: Option<&dyn Voice>,
        dir: &Path,
        prompts: &[PromptText],
        fallback: &HashMap<String, Arc<[i16]>>,
    ) -> PromptCache {
        let mut cache = PromptCache::default();
        if voice.is_some() {
            if let Err(err) = crate::infra::fs::create_private_dir_all(dir) {
                warn!(dir = %dir.display(), error = %err, "prompt cache directory unusable; rendering to memory only");
            }
        }
        for prompt in prompts {
            let rendered = match voice {
                Some(voice) => match render_one(voice, dir, prompt).await {
                    Ok(samples) => Some(samples),
                    Err(err) => {
                        error!(id = %prompt.id, error = %err, "prompt could not be rendered");
                        None
                    }
                },
                None => None,
            };
            match rendered.or_else(|| fallback.get(&prompt.id).cloned()) {
                Some(samples) => {
                    cache.prompts.insert(prompt.id.clone(), samples);
                }
                None => warn!(id = %prompt.id, "prompt has no audio; it will be skipped"),
            }
        }
        cache
    }

    /// A cache holding only the given audio (tests, the built-in prompts).
    pub fn from_samples(prompts: HashMap<String, Arc<[i16]>>) -> PromptCache {
        PromptCache { prompts }
    }

    pub fn get(&self, id: &str) -> Option<Arc<[i16]>> {
        self.prompts.get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// The cache file of a prompt: its id (for people) and a hash of voice and text (so a new
/// voice, rate or wording renders afresh).
pub fn prompt_cache_path(dir: &Path, voice: &dyn Voice, prompt: &PromptText) -> PathBuf {
    let mut hash = Sha256::new();
    hash.update(voice.cache_key().as_bytes());
    hash.update([0u8]);
    hash.update(prompt.text.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let id: String = prompt
        .id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    dir.join(format!("{id}-{hex}.wav"))
}

async fn render_one(
    voice: &dyn Voice,
    dir: &Path,
    prompt: &PromptText,
) -> Result<Arc<[i16]>, TtsError> {
    let path = prompt_cache_path(dir, voice, prompt);
    if path.is_file() {
        match wav::read_wav_8k_mono(&path) {
            Ok(samples) if !samples.is_empty() => return Ok(Arc::from(samples)),
            Ok(_) | Err(_) => {
                warn!(path = %path.display(), "cached prompt unreadable; rendering again")
            }
        }
    }
    let samples = voice.speak(&prompt.text)?.collect().await?;
    // Atomic: a power cut mid-write must not leave a truncated prompt that later loads as
    // valid.
    let written = wav::wav_8k_bytes(&samples)
        .and_then(|bytes| crate::infra::fs::write_atomic(&path, &bytes).map_err(wav::WavError::Io));
    if let Err(err) = written {
        warn!(path = %path.display(), error = %err, "prompt rendered but not cached on disk");
    }
    Ok(Arc::from(samples))
}

/// What the call flow speaks with: the cached prompts and, when there is one, the live voice.
#[derive(Debug, Clone)]
pub struct Speaker {
    voice: Option<Arc<dyn Voice>>,
    prompts: PromptCache,
    /// Voices for other languages, by tag ("es"): `[voice] spanish_voice`.
    languages: Vec<(String, Arc<dyn Voice>)>,
}

impl Speaker {
    pub fn new(voice: Option<Arc<dyn Voice>>, prompts: PromptCache) -> Self {
        Speaker {
            voice,
            prompts,
            languages: Vec::new(),
        }
    }

    /// The same speaker, with `voice` for the language tagged `tag` ("es").
    pub fn with_language(mut self, tag: &str, voice: Arc<dyn Voice>) -> Self {
        self.languages.retain(|(t, _)| t != tag);
        self.languages.push((tag.to_string(), voice));
        self
    }

    /// Whether text in the language tagged `tag` has a voice of its own.
    pub fn speaks(&self, tag: &str) -> bool {
        self.languages.iter().any(|(t, _)| t == tag)
    }

    /// Dynamic text in the language tagged `tag`: its own voice when there is one, else the
    /// box's voice.
    pub fn say_in(&self, tag: &str, text: &str) -> Result<SpeechStream, TtsError> {
        match self.languages.iter().find(|(t, _)| t == tag) {
            Some((_, voice)) => voice.speak(text),
            None => self.say(text),
        }
    }

    /// True when dynamic text can be spoken.
    pub fn has_voice(&self) -> bool {
        self.voice.is_some()
    }

    /// A fixed prompt by id.
    pub fn prompt(&self, id: &str) -> Option<SpeechStream> {
        self.prompts.get(id).map(SpeechStream::from_samples)
    }

    /// Dynamic text, synthesised now and streamed as it is produced.
    pub fn say(&self, text: &str) -> Result<SpeechStream, TtsError> {
        self.voice
            .as_ref()
            .ok_or(TtsError::Unavailable)?
            .speak(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rate: u32) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0x7FFF_F024u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0x7FFF_F000u32.to_le_bytes());
        h
    }

    #[test]
    fn decoder_ignores_placeholder_sizes_and_splits_anywhere() {
        let samples: Vec<i16> = (0..22_050)
            .map(|i| ((i as f64 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let mut bytes = header(22_050);
        bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        let whole = wav::resample(&samples, 22_050, 8000);
        // Reads of odd sizes split the header and samples across reads.
        let mut decoder = WavStreamDecoder::new(1.0);
        let mut out = Vec::new();
        for chunk in bytes.chunks(333) {
            decoder.push(chunk, &mut out).expect("valid stream");
        }
        decoder.finish(&mut out);
        assert_eq!(out, whole);
        assert!(decoder.saw_audio());
    }

    #[test]
    fn decoder_applies_gain_and_rejects_other_formats() {
        let mut bytes = header(8000);
        bytes.extend([1000i16; 10].iter().flat_map(|s| s.to_le_bytes()));
        let mut decoder = WavStreamDecoder::new(0.5);
        let mut out = Vec::new();
        decoder.push(&bytes, &mut out).expect("valid");
        assert_eq!(out, vec![500; 10]);

        let mut stereo = header(22_050);
        stereo[22] = 2;
        assert!(WavStreamDecoder::new(1.0)
            .push(&stereo, &mut Vec::new())
            .is_err());
        assert!(WavStreamDecoder::new(1.0)
            .push(&[0u8; 44], &mut Vec::new())
            .is_err());
    }

    #[test]
    fn cache_path_changes_with_voice_and_text() {
        let a = EspeakVoice::new("espeak-ng", "en-us", 160, 0.0);
        let b = EspeakVoice::new("espeak-ng", "en-us", 170, 0.0);
        let dir = Path::new("/cache");
        let p = PromptText::new("greeting", "Hello");
        let q = PromptText::new("greeting", "Hello there");
        assert_ne!(
            prompt_cache_path(dir, &a, &p),
            prompt_cache_path(dir, &b, &p)
        );
        assert_ne!(
            prompt_cache_path(dir, &a, &p),
            prompt_cache_path(dir, &a, &q)
        );
        assert_eq!(
            prompt_cache_path(dir, &a, &p),
            prompt_cache_path(dir, &a, &p)
        );
        let name = prompt_cache_path(dir, &a, &PromptText::new("../x y", "Hi"));
        assert!(name.starts_with(dir) && name.to_string_lossy().contains("___x_y-"));
    }

    #[tokio::test]
    async fn espeak_streams_frames_and_the_cache_reuses_them() {
        let voice = EspeakVoice::new("espeak-ng", "en-us", 160, 0.0);
        let mut stream = voice
            .speak("Thank you for calling. How can I help?")
            .expect("espeak-ng installed (scripts/install-test-deps.sh)");
        let first = stream.next_frame().await.expect("a frame").expect("audio");
        assert_eq!(first.len(), FRAME_SAMPLES);
        let rest = stream.collect().await.expect("audio");
        // About two seconds of speech, at 8 kHz.
        assert!(rest.len() > 8000, "{} samples", rest.len());
        let peak = rest.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 3000, "peak {peak}");

        let dir = tempfile::tempdir().expect("tempdir");
        let prompts = [PromptText::new("hello", "Hello.")];
        let cache = PromptCache::render(Some(&voice), dir.path(), &prompts, &HashMap::new()).await;
        let rendered = cache.get("hello").expect("rendered");
        let file = prompt_cache_path(dir.path(), &voice, &prompts[0]);
        assert!(file.is_file());
        // A second start-up reads the file instead of running the engine.
        let broken = EspeakVoice::new("/nonexistent/espeak-ng", "en-us", 160, 0.0);
        let same_key = PromptCache::render(
            Some(&broken as &dyn Voice),
            dir.path(),
            &prompts,
            &HashMap::new(),
        )
        .await;
        // Different program path, same cache key: the cached file serves it.
        assert_eq!(same_key.get("hello").as_deref(), Some(&rendered[..]));
    }

    #[tokio::test]
    async fn missing_engine_falls_back_to_built_in_prompts() {
        let voice = EspeakVoice::new("/nonexistent/espeak-ng", "en-us", 160, 0.0);
        assert!(matches!(voice.probe().await, Err(TtsError::Spawn { .. })));
        let config = VoiceConfig {
            program: "/nonexistent/espeak-ng".into(),
            ..VoiceConfig::default()
        };
        assert!(voice_from_config(&config).await.is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let built_in: Arc<[i16]> = Arc::from(vec![7i16; 400]);
        let fallback = HashMap::from([("greeting".to_string(), built_in.clone())]);
        let prompts = [
            PromptText::new("greeting", "Hello"),
            PromptText::new("other", "Other"),
        ];
        let cache = PromptCache::render(Some(&voice), dir.path(), &prompts, &fallback).await;
        assert_eq!(cache.get("greeting"), Some(built_in));
        assert!(cache.get("other").is_none());
        let speaker = Speaker::new(None, cache);
        assert!(matches!(speaker.say("hi"), Err(TtsError::Unavailable)));
        let frames = speaker.prompt("greeting").expect("prompt").collect().await;
        assert_eq!(frames.expect("samples").len(), 480);
    }

    /// Issue 16: Spanish text is spoken by espeak-ng's Spanish voice (`[voice] spanish_voice`),
    /// not read out by the English one; a language without a voice falls back to the box's.
    #[tokio::test]
    async fn spanish_text_is_spoken_with_the_spanish_voice() {
        let config = VoiceConfig::default();
        let es = spanish_voice_from_config(&config)
            .await
            .expect("espeak-ng with its Spanish voice (scripts/install-test-deps.sh)");
        let en = voice_from_config(&config).await.expect("espeak-ng");
        let speaker =
            Speaker::new(Some(en.clone()), PromptCache::default()).with_language("es", es.clone());
        assert!(speaker.speaks("es") && !speaker.speaks("fr"));
        let text = "Para una emergencia, oprima uno.";
        let samples = |s: Result<SpeechStream, TtsError>| async move {
            s.expect("speaks").collect().await.expect("audio")
        };
        let spoken = samples(speaker.say_in("es", text)).await;
        let spanish = samples(es.speak(text)).await;
        let english = samples(en.speak(text)).await;
        assert!(spoken.len() > 8000, "{} samples", spoken.len());
        assert_eq!(spoken, spanish);
        assert_ne!(spoken, english);
        assert_eq!(samples(speaker.say_in("fr", text)).await, english);

        // Not configured, or a voice espeak-ng does not have: no Spanish.
        let none = VoiceConfig {
            spanish_voice: String::new(),
            ..VoiceConfig::default()
        };
        assert!(spanish_voice_from_config(&none).await.is_none());
        let missing = VoiceConfig {
            spanish_voice: "xx-nonexistent".into(),
            ..VoiceConfig::default()
        };
        assert!(spanish_voice_from_config(&missing).await.is_none());
    }

    #[tokio::test]
    async fn a_bad_voice_name_is_an_error_not_silence() {
        let voice = EspeakVoice::new("espeak-ng", "xx-nonexistent", 160, 0.0);
        assert!(voice.probe().await.is_err());
    }
}
