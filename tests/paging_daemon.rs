//! The paging ladder in the real daemon, offline (no ServiceTitan, no webhook): a caller
//! reports an emergency by keypad (1 = emergency, 0 = the on-call technician) and the box,
//! once the caller is off its one line, pages `[alerts] contacts` by phone. sipp plays each
//! technician's phone (tests/sipp/uas_*.xml): the first presses 2 (pass), the second — dialled
//! as a number through `[sip] outbound_target` — hears the alert as RTP and presses 1. The
//! alert's queue record (`callbox queue show`) carries the ladder and the acknowledgement.

mod common;

use common::rtp_peer::{CallerStep, RtpPeer};
use common::*;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The second contact's number: dialled through `sip.outbound_target` (the "ATA").
const SECOND: &str = "+13125550102";

/// Counts the RTP packets the box sends to one technician's phone.
struct Ear {
    port: u16,
    packets: Arc<AtomicUsize>,
}

impl Ear {
    fn open() -> Ear {
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP ear");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let packets = Arc::new(AtomicUsize::new(0));
        let count = packets.clone();
        // Ends with the test process; it only counts.
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            loop {
                if socket.recv_from(&mut buf).is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ear { port, packets }
    }

    fn heard(&self) -> usize {
        self.packets.load(Ordering::Relaxed)
    }
}

/// One technician's phone: a sipp UAS running `scenario`, its audio into an [`Ear`].
fn phone(scenario: &str) -> (Sipp, Ear) {
    let ear = Ear::open();
    let sipp = Sipp::new("127.0.0.1:9".parse().expect("addr"), scenario)
        .args(["-set", "rtp_port", &ear.port.to_string()])
        .timeout(Duration::from_secs(60));
    (sipp, ear)
}

/// A keypad-only dialog daemon with two contacts: `first` by SIP URI, then [`SECOND`] by
/// number through `outbound_target`. ServiceTitan is not configured: the box is offline.
fn paging_daemon(first_port: u16, target_port: u16) -> Daemon {
    require_tool("espeak-ng");
    Daemon::start(
        DaemonConfig::new()
            .set("call.mode", "dialog")
            .set("speech.model_dir", "/nonexistent/callbox-test-model")
            .set("voice.rate_wpm", 240)
            .set("weather.monthly_normal_f", vec![20.0; 12])
            .set("sip.outbound_target", format!("127.0.0.1:{target_port}"))
            .set("sip.outbound_ring_timeout_secs", 5)
            .strings(
                "alerts.contacts",
                &[
                    &format!("Ann First <sip:ann@127.0.0.1:{first_port}>"),
                    &format!("Bob Second <{SECOND}>"),
                ],
            )
            .set("alerts.step_timeout_secs", 30)
            .set("alerts.calls_per_contact", 1)
            .set("alerts.call_pause_secs", 1)
            .set("alerts.rounds", 1)
            .env("CALLBOX_LOG", "debug,rsipstack=warn"),
    )
}

/// The caller presses 1 (emergency) then 0 (the on-call technician); the box promises the
/// page and hangs up. Returns the id of the alert record the call left.
fn emergency_call(daemon: &Daemon) -> String {
    let peer = RtpPeer::bind();
    let sipp = Sipp::new(daemon.sip, "call_external_media_box_bye.xml")
        .args(["-set", "rtp_port", &peer.port.to_string()])
        .timeout(Duration::from_secs(60))
        .spawn();
    let exchange = peer.run_interactive(
        &[CallerStep::Key('1'), CallerStep::Key('0')],
        Duration::from_millis(1200),
        scaled(Duration::from_secs(20)),
        scaled(Duration::from_secs(60)),
    );
    let run = sipp.wait();
    run.assert_ok(daemon);
    let record = daemon.one_record();
    let ctx = format!("call record: {record:#}\nlog:\n{}", daemon.log_tail(80));
    assert_eq!(exchange.steps_left, 0, "every key was asked for: {ctx}");
    assert_eq!(record["dialog"]["outcome"], "on_call_alert", "{ctx}");
    let ids = record["records"].as_array().expect("linked records");
    assert_eq!(ids.len(), 1, "{ctx}");
    ids[0].as_str().expect("record id").to_string()
}

/// The alert record once its ladder has ended (or `within` has passed).
fn ended_ladder(daemon: &Daemon, id: &str, within: Duration) -> serde_json::Value {
    alert_when(daemon, id, within, |r| {
        !r["alert"]["page"]["ended"].is_null()
    })
}

/// (contact index, outcome) of every page call the ladder made.
fn attempts(page: &serde_json::Value) -> Vec<(u64, String)> {
    page["attempts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["contact"].as_u64().unwrap_or(99),
                        a["outcome"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An offline emergency pages contact 1 (who passes), then contact 2 (who hears the alert
/// and presses 1); the acknowledgement names contact 2 and ends the ladder.
#[test]
fn offline_emergency_pages_down_the_ladder_to_an_acknowledgement() {
    let _g = serial();
    let started = Instant::now();
    let (first, first_ear) = phone("uas_pass.xml");
    let (second, second_ear) = phone("uas_accept.xml");
    let daemon = paging_daemon(first.local_port, second.local_port);
    let first = first.spawn();
    let second = second.spawn();

    let id = emergency_call(&daemon);
    let alert = ended_ladder(&daemon, &id, scaled(Duration::from_secs(25)));
    let first = first.wait();
    let second = second.wait();
    let ctx = format!(
        "alert record: {alert:#}\nlog:\n{}\n{}\n{}",
        daemon.log_tail(120),
        first.report(),
        second.report()
    );
    assert_eq!(alert["payload"]["kind"], "on_call_alert", "{ctx}");
    let page = &alert["alert"]["page"];
    assert_eq!(page["ended"], "acknowledged", "{ctx}");
    assert_eq!(page["acknowledged"]["by"], "Bob Second", "{ctx}");
    assert_eq!(page["acknowledged"]["channel"], "phone", "{ctx}");
    assert!(page["acknowledged"]["at"].is_string(), "{ctx}");
    assert_eq!(
        attempts(page),
        [(0, "passed".to_string()), (1, "accepted".to_string())],
        "{ctx}"
    );
    assert_eq!(page["contacts"][1]["to"], SECOND, "{ctx}");
    assert_eq!(alert["alert"]["pending"], false, "{ctx}");
    assert!(first.success(), "{ctx}");
    assert!(second.success(), "{ctx}");
    // The second phone heard the alert: 2 s of speech before its key, ~100 packets.
    assert!(
        second_ear.heard() >= 50,
        "{} RTP packets reached contact 2\n{ctx}",
        second_ear.heard()
    );
    assert!(first_ear.heard() > 0, "contact 1 heard nothing\n{ctx}");
    assert!(
        started.elapsed() < scaled(Duration::from_secs(90)),
        "took {:?}",
        started.elapsed()
    );
}

/// The daemon is killed (SIGKILL) while contact 1's phone rings; restarted, it finds the page
/// call interrupted (recorded as such) and goes on down the ladder to contact 2, who accepts.
#[test]
fn ladder_killed_mid_call_resumes_after_restart() {
    let _g = serial();
    let started = Instant::now();
    // Rings and never answers; nobody CANCELs it (the box dies), so it ends by its timeout.
    let (first, _first_ear) = phone("uas_no_answer.xml");
    let first = first.timeout(Duration::from_secs(10));
    let (second, second_ear) = phone("uas_accept.xml");
    let mut daemon = paging_daemon(first.local_port, second.local_port);
    let _first = first.spawn();
    let second = second.spawn();

    let id = emergency_call(&daemon);
    let ringing = alert_when(&daemon, &id, scaled(Duration::from_secs(15)), |r| {
        r["alert"]["page"]["calling"]["contact"] == 0
    });
    assert_eq!(
        ringing["alert"]["page"]["calling"]["contact"],
        0,
        "the page call to contact 1 is under way before the kill: {ringing:#}\nlog:\n{}",
        daemon.log_tail(80)
    );
    // Let the INVITE reach the phone, then kill the box mid-call.
    std::thread::sleep(Duration::from_millis(500));
    let pid = daemon.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status();
    assert!(killed.is_ok_and(|s| s.success()), "kill -KILL {pid}");
    daemon.restart();

    let alert = ended_ladder(&daemon, &id, scaled(Duration::from_secs(25)));
    let second = second.wait();
    let ctx = format!(
        "alert record: {alert:#}\nlog:\n{}\n{}",
        daemon.log_tail(120),
        second.report()
    );
    let page = &alert["alert"]["page"];
    assert_eq!(page["ended"], "acknowledged", "{ctx}");
    assert_eq!(page["acknowledged"]["by"], "Bob Second", "{ctx}");
    assert_eq!(
        attempts(page),
        [(0, "interrupted".to_string()), (1, "accepted".to_string())],
        "{ctx}"
    );
    assert!(second.success(), "{ctx}");
    assert!(second_ear.heard() >= 50, "{ctx}");
    assert!(
        started.elapsed() < scaled(Duration::from_secs(90)),
        "took {:?}",
        started.elapsed()
    );
}
