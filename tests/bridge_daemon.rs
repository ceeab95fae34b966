//! Issue 15: "connect me to someone" bridged in the real daemon, with `[sip]
//! outbound_while_on_call` on (a trunk: the box dials while the caller is on). Both legs are
//! signalled for real by sipp: the caller's ATA leg (`call_external_media_box_bye.xml`, its
//! RTP played by the Rust [`RtpPeer`], PCMU) and the technician's phone (`uas_bridge.xml`,
//! PCMA only, its RTP played by [`TechPhone`] here). The caller keys an emergency (1) and asks
//! for the on-call technician (0); the box rings the technician, who presses 1 during the
//! whisper; then a 1700 Hz tone the caller sends must reach the technician and a 900 Hz tone
//! the technician sends must reach the caller (transcoded PCMU <-> PCMA), and the technician's
//! BYE must make the box BYE the caller. A second case: the technician is busy (486) → the
//! caller leaves a voicemail, and the paging ladder pages as usual once the caller is off.

mod common;

use callbox::telephony::g711;
use common::rtp_peer::{BoxPacket, CallerStep, RtpPeer, FRAME};
use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLER_HZ: f64 = 1700.0;
const TECH_HZ: f64 = 900.0;

/// A pure tone, 8 kHz.
fn tone(hz: f64, ms: usize, amplitude: f64) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// How much of the frame's energy is at `hz` (1.0 for a pure tone on a DFT bin).
fn tone_share(frame: &[i16], hz: f64) -> f64 {
    let n = frame.len() as f64;
    let (mut re, mut im, mut energy) = (0f64, 0f64, 0f64);
    for (i, &s) in frame.iter().enumerate() {
        let s = f64::from(s);
        let w = 2.0 * std::f64::consts::PI * hz * i as f64 / 8000.0;
        re += s * w.cos();
        im -= s * w.sin();
        energy += s * s;
    }
    if energy < n * 100.0 * 100.0 {
        return 0.0; // quieter than -50 dBFS: no tone
    }
    (re * re + im * im) / (n / 2.0 * energy)
}

/// Frames that carry the tone (most of their energy at `hz`).
fn tone_frames<'a>(frames: impl Iterator<Item = &'a [i16]>, hz: f64) -> usize {
    frames.filter(|f| tone_share(f, hz) > 0.6).count()
}

/// The technician's phone's RTP (PCMA, payload type 8): presses 1 (RFC 4733) `press_after`
/// the box's first packet, sends `talk` (a tone) from `talk_from`, silence otherwise, and
/// keeps every frame the box sent with its arrival time.
struct TechPhone {
    socket: UdpSocket,
    port: u16,
}

struct TechHeard {
    frames: Vec<(Instant, Vec<i16>)>,
    pressed_at: Option<Instant>,
}

impl TechPhone {
    fn bind() -> TechPhone {
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind tech RTP");
        let port = socket.local_addr().expect("addr").port();
        TechPhone { socket, port }
    }

    /// Stops early once `caller_done` is set and this leg has no RTP (never had, or for 1.5 s).
    fn run(
        self,
        caller_done: &AtomicBool,
        press_after: Duration,
        talk_from: Duration,
        talk: Vec<i16>,
        limit: Duration,
    ) -> TechHeard {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .expect("timeout");
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        let mut frames = Vec::new();
        let mut remote: Option<(SocketAddr, Instant)> = None;
        let mut last_packet = Instant::now();
        let (mut seq, mut ts, ssrc) = (500u16, 0u32, 0x7EC4_0001u32);
        let mut next_tick = Instant::now();
        let mut key: Option<u32> = None;
        let mut pressed_at = None;
        let mut talked = 0usize;
        loop {
            let now = Instant::now();
            if now > deadline {
                break;
            }
            let quiet = now.duration_since(last_packet) > Duration::from_millis(1500);
            if quiet && (remote.is_some() || caller_done.load(Ordering::Relaxed)) {
                break; // the box hung up this leg (or never called)
            }
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                let d = &buf[..n];
                if n > 12 && d[0] >> 6 == 2 && d[1] & 0x7F == 8 {
                    let cc = usize::from(d[0] & 0x0F);
                    let samples: Vec<i16> = d[12 + 4 * cc..]
                        .iter()
                        .map(|&b| g711::alaw_decode(b))
                        .collect();
                    frames.push((Instant::now(), samples));
                    last_packet = Instant::now();
                    if remote.is_none() {
                        remote = Some((from, Instant::now()));
                        next_tick = Instant::now();
                    }
                }
            }
            let Some((to, first)) = remote else { continue };
            if Instant::now() < next_tick {
                continue;
            }
            next_tick += Duration::from_millis(20);
            let since = Instant::now().duration_since(first);
            if pressed_at.is_none() && key.is_none() && since >= press_after {
                key = Some(0);
                pressed_at = Some(Instant::now());
            }
            let mut packet = Vec::with_capacity(172);
            if let Some(k) = key {
                let end = k >= 5;
                let duration = ((k.min(5) + 1) * FRAME as u32) as u16;
                packet.extend_from_slice(&[0x80, if k == 0 { 0x80 | 101 } else { 101 }]);
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend_from_slice(&[1, if end { 0x80 | 10 } else { 10 }]);
                packet.extend_from_slice(&duration.to_be_bytes());
                key = if k >= 7 { None } else { Some(k + 1) };
                if key.is_none() {
                    ts = ts.wrapping_add(FRAME as u32 * 6);
                }
            } else {
                let mut frame = [0i16; FRAME];
                if since >= talk_from && talked < talk.len() {
                    let take = (talk.len() - talked).min(FRAME);
                    frame[..take].copy_from_slice(&talk[talked..talked + take]);
                    talked += take;
                }
                packet.extend_from_slice(&[0x80, 8]);
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend(frame.iter().map(|&s| g711::alaw_encode(s)));
                ts = ts.wrapping_add(FRAME as u32);
            }
            seq = seq.wrapping_add(1);
            let _ = self.socket.send_to(&packet, to);
        }
        TechHeard { frames, pressed_at }
    }
}

/// A keypad-only dialog daemon that can bridge: one contact, the technician's sipp phone.
fn bridge_daemon(tech_sip_port: u16) -> Daemon {
    require_tool("espeak-ng");
    Daemon::start(
        DaemonConfig::new()
            .set("call.mode", "dialog")
            .set("speech.model_dir", "/nonexistent/callbox-test-model")
            .set("voice.rate_wpm", 240)
            .set("weather.monthly_normal_f", vec![20.0; 12])
            // A trunk: calls out while the caller holds. The contact is a SIP URI, so the
            // target only has to be set.
            .set("sip.outbound_target", format!("127.0.0.1:{tech_sip_port}"))
            .set("sip.outbound_while_on_call", true)
            .set("sip.outbound_ring_timeout_secs", 10)
            .strings(
                "alerts.contacts",
                &[&format!("Tess Tech <sip:tess@127.0.0.1:{tech_sip_port}>")],
            )
            .set("alerts.step_timeout_secs", 30)
            .set("alerts.calls_per_contact", 1)
            .set("alerts.call_pause_secs", 1)
            .set("alerts.rounds", 1)
            .env("CALLBOX_LOG", "debug,rsipstack=warn"),
    )
}

fn caller_frames(received: &[BoxPacket]) -> impl Iterator<Item = &[i16]> {
    received.iter().map(|p| p.samples.as_slice())
}

#[test]
fn the_technician_takes_the_call_and_both_hear_each_other_until_a_hang_up() {
    let _g = serial();
    let started = Instant::now();
    let tech_rtp = TechPhone::bind();
    let tech = Sipp::new("127.0.0.1:9".parse().expect("addr"), "uas_bridge.xml")
        .args(["-set", "rtp_port", &tech_rtp.port.to_string()])
        .timeout(Duration::from_secs(90));
    let daemon = bridge_daemon(tech.local_port);
    let tech = tech.spawn();
    let tech_talk = tone(TECH_HZ, 3000, 8000.0);
    let caller_done = Arc::new(AtomicBool::new(false));
    let done = caller_done.clone();
    let tech_thread = std::thread::spawn(move || {
        tech_rtp.run(
            &done,
            Duration::from_millis(1500),
            Duration::from_millis(4500),
            tech_talk,
            scaled(Duration::from_secs(80)),
        )
    });

    let caller_rtp = RtpPeer::bind();
    let caller = Sipp::new(daemon.sip, "call_external_media_box_bye.xml")
        .args(["-set", "rtp_port", &caller_rtp.port.to_string()])
        .timeout(Duration::from_secs(90))
        .spawn();
    let mut steps = vec![CallerStep::Key('1'), CallerStep::Key('0')];
    steps.extend((0..6).map(|_| CallerStep::Speak(tone(CALLER_HZ, 1500, 8000.0))));
    let exchange = caller_rtp.run_interactive(
        &steps,
        Duration::from_millis(1200),
        scaled(Duration::from_secs(20)),
        scaled(Duration::from_secs(80)),
    );
    let caller = caller.wait();
    caller_done.store(true, Ordering::Relaxed);
    let heard = tech_thread.join().expect("tech phone");
    let tech = tech.wait();
    let record = daemon.one_record();
    let ctx = format!(
        "call record: {record:#}\nlog:\n{}\ncaller sipp: {}\ntech sipp: {}",
        daemon.log_tail(120),
        caller.report(),
        tech.report()
    );
    // Both legs signalled to the end: the technician's BYE, then the box's BYE to the caller.
    assert!(tech.success(), "the technician's phone: {ctx}");
    assert!(caller.success(), "the caller got the box's BYE: {ctx}");
    assert_eq!(record["dialog"]["outcome"], "on_call_alert", "{ctx}");
    let said = record.to_string();
    assert!(
        said.contains("Connecting you to the on-call technician now"),
        "{ctx}"
    );
    assert!(
        said.contains("[bridged to the on-call technician]"),
        "{ctx}"
    );
    assert!(!said.contains("only line"), "{ctx}");

    // The caller's tone reached the technician after they pressed 1 (PCMU in, PCMA out) …
    let pressed = heard.pressed_at.expect("the technician pressed 1");
    let at_tech = tone_frames(
        heard
            .frames
            .iter()
            .filter(|(at, _)| *at > pressed)
            .map(|(_, f)| f.as_slice()),
        CALLER_HZ,
    );
    assert!(
        at_tech >= 25,
        "{at_tech} frames of the caller's tone reached the technician\n{ctx}"
    );
    // … and never before (the caller holds on ring-back while it rings and during the whisper).
    let before = tone_frames(
        heard
            .frames
            .iter()
            .filter(|(at, _)| *at <= pressed)
            .map(|(_, f)| f.as_slice()),
        CALLER_HZ,
    );
    assert_eq!(
        before, 0,
        "the caller was heard before the technician took the call\n{ctx}"
    );
    // … the technician's tone reached the caller (PCMA in, PCMU out) …
    let at_caller = tone_frames(caller_frames(&exchange.received), TECH_HZ);
    assert!(
        at_caller >= 100,
        "{at_caller} frames of the technician's tone reached the caller\n{ctx}"
    );
    println!(
        "caller's tone at the technician: {at_tech} frames; technician's tone at the caller: \
         {at_caller} frames"
    );
    // … and the caller heard the ring-back (440 + 480 Hz) while the technician's phone rang.
    let ringback = exchange
        .received
        .iter()
        .filter(|p| tone_share(&p.samples, 440.0) > 0.2 && tone_share(&p.samples, 480.0) > 0.2)
        .count();
    assert!(ringback >= 25, "{ringback} frames of ring-back\n{ctx}");

    // The technician took it: the alert is acknowledged by the bridge, the ladder ends with
    // no page call, and the call record's `page` says who took it.
    let ids = record["records"].as_array().expect("linked records");
    assert_eq!(ids.len(), 1, "only the alert: {ctx}");
    let id = ids[0].as_str().expect("record id");
    let alert = alert_when(&daemon, id, scaled(Duration::from_secs(15)), |r| {
        !r["alert"]["page"]["ended"].is_null()
    });
    let page = &alert["alert"]["page"];
    assert_eq!(
        page["acknowledged"]["channel"], "bridge",
        "{alert:#}\n{ctx}"
    );
    assert_eq!(page["acknowledged"]["by"], "Tess Tech", "{alert:#}\n{ctx}");
    assert_eq!(page["ended"], "acknowledged", "{alert:#}\n{ctx}");
    let accepted_by_phone = page["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|a| a["outcome"] == "accepted");
    assert!(
        !accepted_by_phone,
        "no second call to the technician: {alert:#}"
    );
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    let noted = loop {
        let record = daemon.one_record();
        if !record["page"].is_null() || Instant::now() > deadline {
            break record;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(noted["page"]["by"], "Tess Tech", "{noted:#}");
    assert_eq!(noted["page"]["channel"], "bridge", "{noted:#}");

    // The call's recording has the bridged talk, both voices mixed, where the record says.
    let span = &record["dialog"]["bridged"];
    let (from, to) = (
        span["from_ms"].as_u64().expect("the bridged span"),
        span["to_ms"].as_u64().expect("the bridged span"),
    );
    assert!(
        to >= from + 3000,
        "a bridged span of {from}..{to} ms: {ctx}"
    );
    let wav = daemon
        .data_dir
        .join(record["recording"].as_str().expect("the call's recording"));
    let samples = callbox::telephony::wav::read_wav_8k_mono(&wav).expect("the recording");
    let ms = |at: u64| usize::try_from(at * 8).expect("index").min(samples.len());
    let frames_of = |range: std::ops::Range<usize>| {
        samples[range]
            .chunks(FRAME)
            .filter(|f| f.len() == FRAME)
            .collect::<Vec<_>>()
    };
    let bridged = frames_of(ms(from)..ms(to));
    let share_of = |hz: f64| bridged.iter().filter(|f| tone_share(f, hz) > 0.2).count();
    let (caller_in, tech_in) = (share_of(CALLER_HZ), share_of(TECH_HZ));
    assert!(
        caller_in >= 25 && tech_in >= 100,
        "recorded in the bridged span: {caller_in} frames of the caller, {tech_in} of the \
         technician\n{ctx}"
    );
    // Before the span, only the caller's side: the technician is never heard there.
    let before = frames_of(0..ms(from));
    let tech_before = before
        .iter()
        .filter(|f| tone_share(f, TECH_HZ) > 0.2)
        .count();
    assert_eq!(
        tech_before, 0,
        "the technician recorded before the bridge: {ctx}"
    );
    assert!(
        started.elapsed() < scaled(Duration::from_secs(90)),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_busy_technician_means_a_voicemail_and_the_page_goes_on() {
    let _g = serial();
    // Busy for the bridge, and busy again for the ladder's page call after the caller left.
    let tech = Sipp::new("127.0.0.1:9".parse().expect("addr"), "uas_busy.xml")
        .args(["-set", "rtp_port", "9"])
        .calls(2)
        .timeout(Duration::from_secs(60));
    let daemon = bridge_daemon(tech.local_port);
    let tech = tech.spawn();
    let caller_rtp = RtpPeer::bind();
    let caller = Sipp::new(daemon.sip, "call_external_media_box_bye.xml")
        .args(["-set", "rtp_port", &caller_rtp.port.to_string()])
        .timeout(Duration::from_secs(60))
        .spawn();
    let message = spoken("en", "my furnace is out, please call me back");
    let exchange = caller_rtp.run_interactive(
        &[
            CallerStep::Key('1'),
            CallerStep::Key('0'),
            // The message; the box's silence timeout ends it (nothing prompts for a key).
            CallerStep::Speak(message),
        ],
        Duration::from_millis(1200),
        scaled(Duration::from_secs(20)),
        scaled(Duration::from_secs(60)),
    );
    let caller = caller.wait();
    let record = daemon.one_record();
    let ctx = format!(
        "call record: {record:#}\nlog:\n{}\ncaller sipp: {}",
        daemon.log_tail(120),
        caller.report()
    );
    assert_eq!(exchange.steps_left, 0, "every step was asked for: {ctx}");
    assert!(caller.success(), "{ctx}");
    let said = record.to_string();
    assert!(
        said.contains("Connecting you to the on-call technician now"),
        "{ctx}"
    );
    assert!(said.contains("nobody could take the call"), "{ctx}");
    assert!(
        said.contains("still paging the on-call technician"),
        "{ctx}"
    );
    let ids: Vec<String> = record["records"]
        .as_array()
        .expect("linked records")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "the alert and the voicemail: {ctx}");
    let voicemail: serde_json::Value =
        serde_json::from_str(&daemon.queue(&["show", &ids[1]])).expect("voicemail JSON");
    assert_eq!(voicemail["payload"]["kind"], "voicemail", "{voicemail:#}");
    let recording = voicemail["payload"]["recording_path"]
        .as_str()
        .expect("the voicemail names the call's recording");
    assert!(
        daemon.data_dir.join(recording).exists(),
        "{recording}: {ctx}"
    );
    // The ladder pages as usual once the caller is off: the technician, busy again.
    let alert = alert_when(&daemon, &ids[0], scaled(Duration::from_secs(30)), |r| {
        !r["alert"]["page"]["ended"].is_null()
    });
    let tech = tech.wait();
    let page = &alert["alert"]["page"];
    assert!(page["acknowledged"].is_null(), "{alert:#}");
    assert_eq!(
        page["attempts"][0]["outcome"],
        "busy",
        "{alert:#}\n{}",
        tech.report()
    );
    // That page call said the caller left a voicemail (it was decided once the line was
    // free, after the voicemail was queued; the words themselves: tests/paging_ladder.rs).
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("alerts: paging by phone") && l.contains("voicemail=true")),
        "{}",
        daemon.log_tail(60)
    );
}

/// The caller hanging up while the technician's phone rings drops the bridge's dial: the line
/// CANCELs that call at once (sipp `uas_no_answer.xml` passes only on a CANCEL), long before
/// the ring timeout, rather than ring the technician for nobody.
#[test]
fn a_dial_nobody_waits_for_is_cancelled_while_it_rings() {
    let _g = serial();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(dial_dropped_while_ringing());
}

async fn dial_dropped_while_ringing() {
    let phone = Sipp::new("127.0.0.1:9".parse().expect("addr"), "uas_no_answer.xml")
        .args(["-set", "rtp_port", "9"])
        .timeout(Duration::from_secs(30));
    let mut config = callbox::config::Config::default();
    config.sip.listen = "127.0.0.1:5060".parse().expect("addr");
    config.sip.outbound_target = format!("127.0.0.1:{}", phone.local_port);
    config.sip.outbound_ring_timeout_secs = 120;
    let to = format!("sip:tess@127.0.0.1:{}", phone.local_port);
    let phone = phone.spawn();
    let own = callbox::app::pager::OwnLine::open(&config)
        .await
        .expect("a SIP line of its own");
    // It rings (sipp answers 100/180 at once); the requester gives up after 2 s.
    let dial = own.line.dial(&to);
    let gave_up = tokio::time::timeout(Duration::from_secs(2), dial).await;
    assert!(gave_up.is_err(), "the phone never answers: {gave_up:?}");
    let dropped = Instant::now();
    let run = tokio::task::spawn_blocking(move || phone.wait())
        .await
        .expect("sipp");
    assert!(run.success(), "the phone got its CANCEL: {}", run.report());
    assert!(
        dropped.elapsed() < scaled(Duration::from_secs(5)),
        "cancelled {:?} after the dial was dropped (ring timeout 120 s)",
        dropped.elapsed()
    );
    own.close().await;
}
