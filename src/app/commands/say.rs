//! `callbox say`: renders text with the configured voice into an 8 kHz mono WAV file.

use super::{current_thread_runtime, load_config};
use crate::app::logging::init_logging;
use crate::config::{VoiceConfig, VoiceEngine};
use crate::speech::tts::{EspeakVoice, Voice};
use crate::telephony::wav;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SayArgs {
    /// What to say.
    pub text: String,
    /// The WAV file to write.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

/// What `callbox say` reports.
#[derive(Debug, Clone, Copy)]
pub struct SayReport {
    pub audio_ms: u64,
    /// From starting the engine to the first 20 ms frame.
    pub first_audio_ms: u64,
    pub total_ms: u64,
}

pub fn say(config_path: Option<&Path>, args: SayArgs) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    init_logging("warn");
    let report =
        current_thread_runtime()?.block_on(render(&config.voice, &args.text, &args.output))?;
    eprintln!(
        "{}: {:.2} s of 8 kHz audio; first audio after {} ms, done after {} ms",
        args.output.display(),
        report.audio_ms as f64 / 1000.0,
        report.first_audio_ms,
        report.total_ms
    );
    Ok(ExitCode::SUCCESS)
}

/// Renders `text` with `voice` into an 8 kHz mono WAV file at `output`.
pub async fn render(voice: &VoiceConfig, text: &str, output: &Path) -> Result<SayReport> {
    if voice.engine == VoiceEngine::None {
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
