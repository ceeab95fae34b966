//! Calls against the running daemon with sipp as the ATA: audio, hang-ups, CANCEL,
//! retransmissions, capacity and DTMF. Scenarios live in tests/sipp/.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn str_field<'a>(rec: &'a serde_json::Value, key: &str) -> &'a str {
    rec[key]
        .as_str()
        .unwrap_or_else(|| panic!("call record field {key:?} is not a string: {rec:#}"))
}

/// INVITE (PCMU) -> 100/180/200 -> ACK -> 2.7 s of known speech as RTP -> caller BYE.
/// The record must describe the call and the recording must be that speech.
#[test]
fn basic_call_is_recorded_faithfully() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "call_audio.xml").run();
    run.assert_ok(&daemon);

    let rec = daemon.one_record();
    let ctx = format!("record: {rec:#}\nlog:\n{}", daemon.log_tail(80));
    assert!(!str_field(&rec, "call_id").is_empty(), "{ctx}");
    assert_eq!(rec["caller"]["number"], "+13125550142", "{ctx}");
    assert_eq!(rec["caller"]["presentation"], "available", "{ctx}");
    assert_eq!(rec["codec"], "PCMU", "{ctx}");
    assert_eq!(rec["end_reason"], "remote_hangup", "{ctx}");
    assert!(!str_field(&rec, "answered_at").is_empty(), "{ctx}");
    assert!(!str_field(&rec, "ended_at").is_empty(), "{ctx}");
    let packets_in = rec["rtp"]["packets_in"].as_u64().unwrap_or(0);
    let packets_out = rec["rtp"]["packets_out"].as_u64().unwrap_or(0);
    // sipp sent 135 packets (2.70 s of 20 ms frames)
    assert!(
        (120..=140).contains(&packets_in),
        "rtp.packets_in = {packets_in}, sipp sent 135\n{ctx}"
    );
    assert!(
        packets_out > 0,
        "the box sent no RTP (no greeting played)\n{ctx}"
    );

    assert_recording_matches(&daemon, &rec, "speech_ref.wav");
}

/// The recording named in `rec` is 8 kHz mono 16-bit, as long as the played audio (±100 ms)
/// and the same audio: normalised cross-correlation > 0.9 at the best lag (within ±0.5 s).
fn assert_recording_matches(daemon: &Daemon, rec: &serde_json::Value, reference: &str) {
    let wav_path = daemon.recording_path(rec);
    let rec_wav = Wav::read(&wav_path);
    assert_eq!(
        (rec_wav.sample_rate, rec_wav.channels, rec_wav.bits),
        (8000, 1, 16),
        "recording {} must be 8 kHz mono 16-bit",
        wav_path.display()
    );
    let reference_path = assets().join(reference);
    let reference = Wav::read(&reference_path);
    let (got, want) = (rec_wav.duration(), reference.duration());
    let diff_ms = (got.as_secs_f64() - want.as_secs_f64()).abs() * 1000.0;
    assert!(
        diff_ms <= 100.0,
        "recording lasts {got:?}, the caller played {want:?} (|diff| {diff_ms:.0} ms > 100 ms): {}",
        wav_path.display()
    );
    let (ncc, lag) = best_normalised_xcorr(&reference.samples, &rec_wav.samples, 4000);
    eprintln!(
        "recording {got:?} vs played {want:?}; normalised cross-correlation {ncc:.3} at lag {lag} samples"
    );
    assert!(
        ncc > 0.9,
        "recording does not match the played audio: best normalised cross-correlation {ncc:.3} \
         (lag {lag} samples) <= 0.9; recording {}, reference {}",
        wav_path.display(),
        reference_path.display()
    );
}

/// An A-law-only offer is answered with PCMA, and the A-law audio is recorded faithfully.
#[test]
fn pcma_call_is_recorded_faithfully() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "call_audio_pcma.xml").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(rec["codec"], "PCMA", "record: {rec:#}");
    assert_eq!(rec["end_reason"], "remote_hangup", "record: {rec:#}");
    assert_recording_matches(&daemon, &rec, "speech_ref_alaw.wav");
}

/// DTMF by SIP INFO (application/dtmf-relay): each INFO gets 200 and its digit is logged.
#[test]
fn sip_info_digits_are_logged() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "call_dtmf_info.xml").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    let want: Vec<(String, String)> = ["7", "8"]
        .iter()
        .map(|d| (d.to_string(), "sip_info".to_string()))
        .collect();
    assert_eq!(
        record_digits(&rec),
        want,
        "record: {rec:#}\nlog:\n{}",
        daemon.log_tail(80)
    );
    assert_digit_times_increase(&rec);
}

/// The caller presses '#' (RFC 4733): the box sends BYE and sipp answers 200.
#[test]
fn box_hangs_up_on_hangup_digit() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("call.hangup_digit", "#"));
    let started = Instant::now();
    let run = Sipp::new(daemon.sip, "call_dtmf_pound.xml").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(
        rec["end_reason"],
        "local_hangup",
        "record: {rec:#}\nlog:\n{}",
        daemon.log_tail(80)
    );
    // the '#' is sent 300 ms after the ACK: a BYE much earlier than that is not the digit's doing
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// No digit and no audio for idle_timeout_secs: the box sends BYE on its own.
#[test]
fn box_hangs_up_after_idle_timeout() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("call.idle_timeout_secs", 2));
    let started = Instant::now();
    let run = Sipp::new(daemon.sip, "call_wait_bye.xml").run();
    let elapsed = started.elapsed();
    run.assert_ok(&daemon);
    assert!(
        elapsed >= Duration::from_millis(1800),
        "box hung up after {elapsed:?}, before the 2 s idle timeout"
    );
    let rec = daemon.one_record();
    assert_ne!(
        rec["end_reason"], "remote_hangup",
        "the box hung up, not the caller: {rec:#}"
    );
}

/// CANCEL while ringing (answer_delay_ms = 2000): 200 for the CANCEL, 487 for the INVITE,
/// and no answered call.
#[test]
fn cancel_before_answer() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("sip.answer_delay_ms", 2000));
    let run = Sipp::new(daemon.sip, "cancel.xml").run();
    run.assert_ok(&daemon);
    // let the (cancelled) answer timer fire if the box forgot to stop it
    std::thread::sleep(Duration::from_millis(2500));
    for rec in daemon.call_records() {
        assert_eq!(
            rec["end_reason"], "cancelled",
            "a cancelled call was recorded as something else: {rec:#}"
        );
        assert!(
            rec["answered_at"].is_null(),
            "a cancelled call has answered_at: {rec:#}"
        );
    }
    daemon_still_answers(&daemon);
}

/// The same INVITE (same branch) twice while ringing: one call, one 200 flow.
#[test]
fn invite_retransmission_makes_one_call() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("sip.answer_delay_ms", 1000));
    let run = Sipp::new(daemon.sip, "invite_retrans.xml").arg("-nr").run();
    run.assert_ok(&daemon);
    std::thread::sleep(Duration::from_millis(1000));
    let recs = daemon.call_records();
    assert_eq!(
        recs.len(),
        1,
        "a retransmitted INVITE must not start a second call; records: {recs:#?}\nlog:\n{}",
        daemon.log_tail(100)
    );
    // for the log: 100, 180, 180 (the retransmission answered with the last provisional), 200s
    eprintln!("sipp received: {:?}", run.received_start_lines());
}

/// sipp does not ACK the first 200: the box must retransmit it; the call then proceeds.
#[test]
fn lost_ack_200_is_retransmitted() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "lost_ack.xml").arg("-nr").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(rec["end_reason"], "remote_hangup", "record: {rec:#}");
}

/// max_concurrent_calls = 1: with one call up, a second INVITE gets 486 Busy Here.
#[test]
fn busy_here_at_capacity() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("sip.max_concurrent_calls", 1));
    let first = Sipp::new(daemon.sip, "call_hold.xml")
        .args(["-d", "6000"])
        .spawn();
    // wait for the first call to be answered
    std::thread::sleep(scaled(Duration::from_millis(2000)));
    let second = Sipp::new(daemon.sip, "invite_486.xml").run();
    let first = first.wait();
    second.assert_ok(&daemon);
    first.assert_ok(&daemon);
    std::thread::sleep(Duration::from_millis(500));
    let answered: Vec<_> = daemon
        .call_records()
        .into_iter()
        .filter(|r| !r["answered_at"].is_null())
        .collect();
    assert_eq!(
        answered.len(),
        1,
        "exactly the first call was answered: {answered:#?}"
    );
    daemon_still_answers(&daemon);
}

/// RFC 4733 telephone-events for 1, 2, 3 (each with three end packets) are logged once each.
#[test]
fn rfc4733_digits_are_logged_once() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "call_dtmf_rfc4733.xml").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    let digits = record_digits(&rec);
    let want: Vec<(String, String)> = ["1", "2", "3"]
        .iter()
        .map(|d| (d.to_string(), "rfc4733".to_string()))
        .collect();
    assert_eq!(
        digits,
        want,
        "record: {rec:#}\nlog:\n{}",
        daemon.log_tail(80)
    );
    assert_digit_times_increase(&rec);
}

/// DTMF tones 4, 5, 6 inside the PCMU audio (no telephone-events) are detected in-band.
#[test]
fn inband_digits_are_detected() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().set("media.inband_dtmf", true));
    let run = Sipp::new(daemon.sip, "call_dtmf_inband.xml").run();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();
    let digits = record_digits(&rec);
    let want: Vec<(String, String)> = ["4", "5", "6"]
        .iter()
        .map(|d| (d.to_string(), "inband".to_string()))
        .collect();
    assert_eq!(
        digits,
        want,
        "record: {rec:#}\nlog:\n{}",
        daemon.log_tail(80)
    );
    assert_digit_times_increase(&rec);
}

fn assert_digit_times_increase(rec: &serde_json::Value) {
    let times: Vec<u64> = rec["digits"]
        .as_array()
        .map(|a| a.iter().map(|d| d["at_ms"].as_u64().unwrap_or(0)).collect())
        .unwrap_or_default();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "digit at_ms not increasing: {times:?}"
    );
}

/// After an odd flow the daemon must still be up and answer OPTIONS.
fn daemon_still_answers(daemon: &Daemon) {
    let run = Sipp::new(daemon.sip, "options.xml").run();
    run.assert_ok(daemon);
}
