//! Issue 17 against the running daemon: nothing acts on a call before its ACK, media stays
//! pinned to the peer, and one source cannot hold every line.

mod common;

use common::*;
use std::time::Duration;

/// A caller that takes the 200 OK and never ACKs: the box ends the dialog after 64*T1 with a
/// BYE, and nothing of the call flow ever ran: no "call answered", no call record, nothing
/// queued (no lead, no ServiceTitan record, no alert).
#[test]
fn a_call_that_never_acks_leaves_nothing_behind() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "never_ack.xml")
        .timeout(Duration::from_secs(90))
        .run();
    run.assert_ok(&daemon);
    std::thread::sleep(Duration::from_millis(500));
    let log = daemon.log();
    assert!(
        log.contains("no ACK for 200 OK"),
        "the box should have given up on the ACK:\n{}",
        daemon.log_tail(60)
    );
    assert!(
        !log.contains("call answered"),
        "the call flow started without an ACK:\n{}",
        daemon.log_tail(60)
    );
    assert!(
        daemon.call_records().is_empty(),
        "a call record was written for a call that never completed its handshake: {:#?}",
        daemon.call_records()
    );
    // `queue list` prints its column header and one line per record.
    let queued = daemon.queue(&["list"]);
    assert!(
        queued.lines().skip(1).all(|l| l.trim().is_empty()),
        "something was queued for a call that never completed its handshake: {queued}"
    );
}

/// An RTP packet: PCMU, 20 ms of silence.
fn rtp_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let ts = u32::from(seq) * 160;
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xFF; 160]);
    p
}

/// A foreign `c=` (127.0.0.2, outside an allow-list of 127.0.0.1/32): the box sends no RTP
/// there, only to the signalling address at the SDP's port; RTP injected from a third port of
/// the caller's host and from the foreign host is ignored while the caller's own flows.
#[test]
fn media_is_pinned_to_the_signalling_address() {
    use std::net::UdpSocket;
    let _g = serial();
    let Ok(foreign) = UdpSocket::bind("127.0.0.2:0") else {
        eprintln!("no 127.0.0.2 on this host: skipped");
        return;
    };
    let port = foreign.local_addr().expect("addr").port();
    let pinned = UdpSocket::bind(("127.0.0.1", port)).expect("the same port on 127.0.0.1");
    let third = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let daemon =
        Daemon::start(DaemonConfig::answering().strings("sip.allowed_peers", &["127.0.0.1/32"]));
    let sipp = Sipp::new(daemon.sip, "foreign_media.xml")
        .args(["-set", "rtp_port", &port.to_string()])
        .args(["-set", "media_host", "127.0.0.2"])
        .args(["-d", "4000"])
        .spawn();

    pinned
        .set_read_timeout(Some(scaled(Duration::from_secs(10))))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    let (_, box_rtp) = pinned
        .recv_from(&mut buf)
        .expect("the box sends its RTP to the signalling address");
    let mut sent = 0u16;
    for seq in 0..100u16 {
        pinned
            .send_to(&rtp_packet(0xA1, seq), box_rtp)
            .expect("send");
        third
            .send_to(&rtp_packet(0xB2, seq), box_rtp)
            .expect("send");
        foreign
            .send_to(&rtp_packet(0xC3, seq), box_rtp)
            .expect("send");
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = sipp.wait();
    run.assert_ok(&daemon);
    let rec = daemon.one_record();

    foreign.set_nonblocking(true).expect("nonblocking");
    let mut to_foreign = 0;
    while let Ok((_, from)) = foreign.recv_from(&mut buf) {
        if from == box_rtp {
            to_foreign += 1;
        }
    }
    assert_eq!(to_foreign, 0, "the box sent RTP to the foreign c= address");

    let packets_in = rec["rtp"]["packets_in"].as_u64().unwrap_or(0);
    assert!(
        (u64::from(sent) / 2..=u64::from(sent)).contains(&packets_in),
        "packets_in {packets_in}: only the caller's {sent} packets count, not the third port's \
         or the foreign host's\nrecord: {rec:#}"
    );
    let log = daemon.log();
    let strangers: u64 = log
        .rsplit("strangers: ")
        .next()
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        strangers >= u64::from(sent),
        "the third port's and the foreign host's packets should be counted as strangers \
         ({strangers})\n{}",
        daemon.log_tail(40)
    );
}

/// max_calls_per_source = 1 of two lines: while 127.0.0.1 holds a call, its next INVITE gets
/// 486 Busy Here, and a second source (127.0.0.2) still gets its call answered.
#[test]
fn one_source_cannot_hold_every_line() {
    let _g = serial();
    if std::net::UdpSocket::bind("127.0.0.2:0").is_err() {
        eprintln!("no 127.0.0.2 on this host: skipped");
        return;
    }
    let daemon = Daemon::start(
        DaemonConfig::answering()
            .set("sip.max_concurrent_calls", 2)
            .set("sip.max_calls_per_source", 1),
    );
    let first = Sipp::new(daemon.sip, "call_hold.xml")
        .args(["-d", "8000"])
        .spawn();
    std::thread::sleep(scaled(Duration::from_millis(2000)));
    let again = Sipp::new(daemon.sip, "invite_486.xml").run();
    again.assert_ok(&daemon);
    let other = Sipp::new(daemon.sip, "call_audio.xml")
        .args(["-i", "127.0.0.2", "-mi", "127.0.0.2"])
        .run();
    other.assert_ok(&daemon);
    first.wait().assert_ok(&daemon);
    let answered = daemon
        .wait_records(2, Duration::from_secs(10))
        .into_iter()
        .filter(|r| !r["answered_at"].is_null())
        .count();
    assert_eq!(answered, 2, "the held call and the second source's call");
    assert!(
        daemon.log().contains("per-source call limit"),
        "{}",
        daemon.log_tail(40)
    );
}

/// sip.require_invite_auth: an INVITE without credentials gets 407; sipp answers the
/// challenge with `[authentication]` and the authenticated INVITE is answered.
#[test]
fn invites_authenticate_when_required() {
    let _g = serial();
    let daemon = Daemon::start(
        DaemonConfig::answering()
            .account("ht813", "s3cret-Pa55")
            .set("sip.require_invite_auth", true),
    );
    Sipp::new(daemon.sip, "invite_auth.xml")
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .run()
        .assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(rec["end_reason"], "remote_hangup", "record: {rec:#}");
    // Wrong password: 403 where the scenario expects a call, so sipp fails.
    let wrong = Sipp::new(daemon.sip, "invite_auth.xml")
        .args(["-au", "ht813", "-ap", "not-the-password"])
        .run();
    assert!(!wrong.success(), "a wrong password got a call");
    assert!(daemon.log().contains("INVITE with wrong credentials: 403"));
}

/// One sipp run with a chosen local port (the ATA's SIP port).
fn sipp_from(daemon: &Daemon, scenario: &str, port: u16) -> Sipp {
    let mut sipp = Sipp::new(daemon.sip, scenario);
    sipp.local_port = port;
    sipp
}

/// The registered-ATA test's binding lifetime (`sip.max_register_expires`): 10 s, scaled on a
/// busy machine (`CALLBOX_TEST_TIMEOUT_SCALE`).
const BINDING_SECS: u64 = 10;

fn binding_secs() -> u32 {
    u32::try_from(
        scaled(Duration::from_secs(BINDING_SECS))
            .as_secs()
            .max(BINDING_SECS),
    )
    .unwrap_or(u32::MAX)
}

/// REGISTER from `port` for `expires` seconds, authenticated as the ATA.
fn register(daemon: &Daemon, port: u16, expires: u32) {
    sipp_from(daemon, "register_expires.xml", port)
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .args(["-set", "expires", &expires.to_string()])
        .run()
        .assert_ok(daemon);
}

/// sip.require_registration (with INVITE auth on top, as the example config ships): the ATA
/// registers with sipp's `[authentication]`, then its call from the same port is answered
/// (after the 407). An INVITE from another port of the same host, from another host on the
/// allow-list, after the ATA unregistered (Expires: 0), and once its binding has expired all
/// get 403 and leave no record.
///
/// The ATA asks for 60 s (the shortest the box accepts); `sip.max_register_expires` caps the
/// binding at [`BINDING_SECS`] so the expiry is waited for in seconds, not a minute. The
/// other-port and other-host refusals run on a fresh binding and fail the test if they took
/// so long that the binding could have expired under them (a 403 then would prove nothing).
#[test]
fn registered_ata_mode_answers_only_the_live_binding() {
    let _g = serial();
    let binding = binding_secs();
    let second_host = std::net::UdpSocket::bind("127.0.0.2:0").is_ok();
    let daemon = Daemon::start(
        DaemonConfig::answering()
            .account("ht813", "s3cret-Pa55")
            .set("sip.require_registration", true)
            .set("sip.require_invite_auth", true)
            .set("sip.max_register_expires", i64::from(binding)),
    );
    let ata_port = free_udp_port();

    // Not registered yet: 403.
    sipp_from(&daemon, "invite_403.xml", ata_port)
        .run()
        .assert_ok(&daemon);

    register(&daemon, ata_port, 60);
    sipp_from(&daemon, "invite_auth.xml", ata_port)
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .run()
        .assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(rec["end_reason"], "remote_hangup", "record: {rec:#}");

    // Another port of the same host, even with the right password: 403 before any challenge.
    // On a fresh binding, checked to be live when the last refusal came.
    let mut other_port = free_udp_port();
    while other_port == ata_port {
        other_port = free_udp_port();
    }
    let registered = std::time::Instant::now();
    register(&daemon, ata_port, 60);
    sipp_from(&daemon, "invite_403.xml", other_port)
        .run()
        .assert_ok(&daemon);
    if second_host {
        Sipp::new(daemon.sip, "invite_403.xml")
            .args(["-i", "127.0.0.2", "-mi", "127.0.0.2"])
            .run()
            .assert_ok(&daemon);
    } else {
        eprintln!("no 127.0.0.2 on this host: the other-host case is skipped");
    }
    assert!(
        registered.elapsed() < Duration::from_secs(u64::from(binding) - 1),
        "the refusals took {:?}, the binding lives {binding} s: a 403 may have been its expiry \
         (raise CALLBOX_TEST_TIMEOUT_SCALE)",
        registered.elapsed()
    );

    // Unregistered: 403; registered again, then expired: 403.
    register(&daemon, ata_port, 0);
    sipp_from(&daemon, "invite_403.xml", ata_port)
        .run()
        .assert_ok(&daemon);
    register(&daemon, ata_port, 60);
    // The binding was made before register() returned: it has expired `binding` + 1 s from now.
    let expires_at = std::time::Instant::now() + Duration::from_secs(u64::from(binding) + 1);
    std::thread::sleep(expires_at.saturating_duration_since(std::time::Instant::now()));
    sipp_from(&daemon, "invite_403.xml", ata_port)
        .run()
        .assert_ok(&daemon);

    assert_eq!(
        daemon.call_records().len(),
        1,
        "only the registered call left a record: {:#?}",
        daemon.call_records()
    );
    assert!(
        daemon
            .log()
            .contains("INVITE from a source with no live registration: 403"),
        "{}",
        daemon.log_tail(60)
    );
}

/// An INVITE from `from` with its own Call-ID and branch, and an SDP offer.
fn flood_invite(to: std::net::SocketAddr, from: std::net::SocketAddr, n: u32) -> Vec<u8> {
    let sdp = format!(
        "v=0\r\no=- {n} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        40_000 + 2 * (n % 1000)
    );
    format!(
        "INVITE sip:callbox@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+13125550100@{from}>;tag=flood-{n}\r\n\
         To: <sip:callbox@{to}>\r\n\
         Call-ID: flood-{n}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:+13125550100@{from}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// The per-source limits at their defaults (20 call attempts a minute, one call held per
/// source) against a raw-UDP INVITE flood from 127.0.0.1 (one new INVITE every 10 ms, each its
/// own call): the flood gets one call (never ACKed, so it leaves no record), 486 while it holds
/// it, then 503 with Retry-After once past its attempts; meanwhile sipp from a second source
/// (127.0.0.2) places its call, which is answered and recorded.
#[test]
fn an_invite_flood_from_one_source_leaves_the_line_to_another() {
    use std::collections::BTreeMap;
    use std::net::UdpSocket;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let _g = serial();
    if UdpSocket::bind("127.0.0.2:0").is_err() {
        eprintln!("no 127.0.0.2 on this host: skipped");
        return;
    }
    let daemon = Daemon::start(DaemonConfig::answering());
    let to = daemon.sip;
    let flood = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let from = flood.local_addr().expect("addr");
    let listen = flood.try_clone().expect("clone");
    let stop = Arc::new(AtomicBool::new(false));

    // Final status per Call-ID (and whether a 503 named Retry-After), read while flooding.
    let reader_stop = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut finals: BTreeMap<String, (u16, bool)> = BTreeMap::new();
        let mut buf = vec![0u8; 65_536];
        listen
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        // Unacknowledged finals are retransmitted for 32 s: read one second past the flood.
        let mut until: Option<std::time::Instant> = None;
        while until.is_none_or(|t| std::time::Instant::now() < t) {
            if until.is_none() && reader_stop.load(Ordering::SeqCst) {
                until = Some(std::time::Instant::now() + Duration::from_secs(1));
            }
            if let Ok((len, _)) = listen.recv_from(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                let code: u16 = text
                    .strip_prefix("SIP/2.0 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let call_id = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Call-ID: "))
                    .unwrap_or("")
                    .to_string();
                if code >= 200 {
                    finals
                        .entry(call_id)
                        .or_insert((code, text.contains("Retry-After:")));
                }
            }
        }
        finals
    });
    let sender_stop = stop.clone();
    let sender = std::thread::spawn(move || {
        let mut sent = 0u32;
        while !sender_stop.load(Ordering::SeqCst) && sent < 1000 {
            sent += 1;
            flood
                .send_to(&flood_invite(to, from, sent), to)
                .expect("send");
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    });

    std::thread::sleep(Duration::from_millis(500));
    let other = Sipp::new(daemon.sip, "call_audio.xml")
        .args(["-i", "127.0.0.2", "-mi", "127.0.0.2"])
        .run();
    stop.store(true, Ordering::SeqCst);
    let sent = sender.join().expect("sender");
    let finals = reader.join().expect("reader");
    other.assert_ok(&daemon);

    let count = |code: u16| finals.values().filter(|(c, _)| *c == code).count();
    let summary = format!(
        "{sent} INVITEs sent; finals: {} x 200, {} x 486, {} x 503, {} others",
        count(200),
        count(486),
        count(503),
        finals.len() - count(200) - count(486) - count(503)
    );
    eprintln!("{summary}");
    assert!(sent >= 100, "{summary}");
    assert_eq!(count(200), 1, "the flood gets one call: {summary}");
    assert!(count(486) >= 1, "busy while it holds its line: {summary}");
    assert!(
        count(503) as u32 >= sent.saturating_sub(40),
        "past 20 attempts a minute the flood gets 503: {summary}"
    );
    assert!(
        finals.values().all(|(c, retry)| *c != 503 || *retry),
        "every 503 says Retry-After"
    );
    let answered: Vec<_> = daemon
        .wait_records(1, Duration::from_secs(10))
        .into_iter()
        .filter(|r| !r["answered_at"].is_null())
        .collect();
    assert_eq!(
        answered.len(),
        1,
        "the second source's call is answered and recorded, the flood's is not: {answered:#?}"
    );
    assert!(
        daemon.log().contains("per-source call limit"),
        "{}",
        daemon.log_tail(40)
    );
}

/// The ATA's registration outlives a restart of the box (systemctl restart, an update, a
/// crash): registered, then the daemon restarts, and the ATA's next call from the same port
/// is answered without a new REGISTER (the binding is kept in
/// `<data_dir>/run/sip-registrations.json`); another port still gets 403.
#[test]
fn the_ata_s_registration_survives_a_restart() {
    let _g = serial();
    let mut daemon = Daemon::start(
        DaemonConfig::answering()
            .account("ht813", "s3cret-Pa55")
            .set("sip.require_registration", true)
            .set("sip.require_invite_auth", true),
    );
    let ata_port = free_udp_port();
    register(&daemon, ata_port, 300);
    daemon.restart();
    assert!(
        daemon
            .log()
            .contains("SIP registrations taken back from the last run"),
        "{}",
        daemon.log_tail(40)
    );
    sipp_from(&daemon, "invite_auth.xml", ata_port)
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .run()
        .assert_ok(&daemon);
    let rec = daemon.one_record();
    assert_eq!(rec["end_reason"], "remote_hangup", "record: {rec:#}");
    let mut other_port = free_udp_port();
    while other_port == ata_port {
        other_port = free_udp_port();
    }
    sipp_from(&daemon, "invite_403.xml", other_port)
        .run()
        .assert_ok(&daemon);
}
