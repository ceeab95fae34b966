//! `callbox transcribe`: a WAV file through the call's speech pipeline.

use super::load_config;
use crate::config::Config;
use crate::speech::asr::{self, Transcript, Upsample};
use crate::speech::model;
use crate::speech::search::SearchWidth;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TranscribeArgs {
    /// Model directory (default: speech.model_dir from the configuration).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Recognise against these comma-separated phrases instead of open vocabulary.
    #[arg(long, value_delimiter = ',')]
    pub grammar: Option<Vec<String>>,
    /// Override speech.upsample: filter or vosk.
    #[arg(long)]
    pub upsample: Option<String>,
    /// Override speech.max_active (0 = the model's own) for this run: with --beam, replay the
    /// box's recordings with another search width and compare the transcripts.
    #[arg(long)]
    pub max_active: Option<u32>,
    /// Override speech.beam (0 = the model's own) for this run.
    #[arg(long)]
    pub beam: Option<f32>,
    /// The recording (any WAV; converted to 8 kHz mono like a call).
    pub file: PathBuf,
}

/// Prints each utterance with its times, text and confidence, and the real-time factor.
pub fn transcribe(config_path: Option<&Path>, args: TranscribeArgs) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let dir = args.model.clone().unwrap_or_else(|| config.model_dir());
    let upsample = upsample(args.upsample.as_deref(), &config)?;
    let samples = crate::telephony::wav::read_wav_8k_mono(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    model::verify_layout(&dir).with_context(|| format!("model {}", dir.display()))?;
    let width = search_width(&args, &config)?;
    // Its own view, never the daemon's (`<data_dir>/speech-search`, which it reads at start).
    let views = std::env::temp_dir().join(format!("callbox-transcribe-{}", std::process::id()));
    let loaded = asr::SpeechModel::load(
        &crate::app::speech_pool::view_of(&dir, &views, width),
        upsample,
    );
    let _ = std::fs::remove_dir_all(&views);
    let loaded = loaded?;
    eprintln!("search: {width}");
    let transcript = asr::transcribe(
        &loaded,
        &samples,
        config.speech.vad_aggressiveness,
        config.speech.endpointer(),
        args.grammar.as_deref(),
    )?;
    print_transcript(&transcript);
    Ok(ExitCode::SUCCESS)
}

/// The configured search width with this run's flags over it, checked like the settings.
fn search_width(args: &TranscribeArgs, config: &Config) -> Result<SearchWidth> {
    let mut speech = config.speech.clone();
    if let Some(max_active) = args.max_active {
        speech.max_active = max_active;
    }
    if let Some(beam) = args.beam {
        speech.beam = beam;
    }
    let mut issues = Vec::new();
    speech.validate(&mut issues);
    if let Some(issue) = issues
        .into_iter()
        .find(|i| i.key == "speech.max_active" || i.key == "speech.beam")
    {
        anyhow::bail!("{}: {}", issue.key, issue.reason);
    }
    Ok(speech.search_width())
}

fn upsample(flag: Option<&str>, config: &Config) -> Result<Upsample> {
    Ok(match flag {
        None => config.speech.upsample,
        Some("filter") => Upsample::Filter,
        Some("vosk") => Upsample::Vosk,
        Some(other) => anyhow::bail!("--upsample {other}: expected filter or vosk"),
    })
}

fn print_transcript(transcript: &Transcript) {
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
}
