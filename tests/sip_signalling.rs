//! Non-call signalling against the running daemon: OPTIONS, REGISTER digest auth, codec
//! rejection, the peer allow-list, and robustness against malformed datagrams.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[test]
fn options_answers_200_with_allow() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::new());
    let run = Sipp::new(daemon.sip, "options.xml").run();
    run.assert_ok(&daemon);
}

#[test]
fn register_with_digest_auth() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::new().account("ht813", "s3cret-Pa55"));
    let run = Sipp::new(daemon.sip, "register_ok.xml")
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .run();
    run.assert_ok(&daemon);
}

#[test]
fn register_with_wrong_password_is_refused() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::new().account("ht813", "s3cret-Pa55"));
    let run = Sipp::new(daemon.sip, "register_bad.xml")
        .args(["-au", "ht813", "-ap", "not-the-password"])
        .run();
    run.assert_ok(&daemon);
    let unknown = Sipp::new(daemon.sip, "register_bad.xml")
        .args(["-au", "nobody", "-ap", "s3cret-Pa55"])
        .run();
    unknown.assert_ok(&daemon);
}

#[test]
fn g729_only_offer_gets_488() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::new());
    let run = Sipp::new(daemon.sip, "invite_g729_488.xml").run();
    run.assert_ok(&daemon);
    std::thread::sleep(Duration::from_millis(300));
    let answered = daemon
        .call_records()
        .into_iter()
        .filter(|r| !r["answered_at"].is_null())
        .count();
    assert_eq!(answered, 0, "a call with no common codec was answered");
}

/// allowed_peers excludes 127.0.0.1: an INVITE gets 403; a burst of requests gets 403s or
/// silence (rate limit), never anything else, and the daemon survives.
#[test]
fn stranger_gets_403_and_is_rate_limited() {
    let _g = serial();
    let mut daemon = Daemon::start_quiet(
        DaemonConfig::new()
            .strings("sip.allowed_peers", &["10.9.9.9/32"])
            .set("sip.stranger_rate_limit", 5),
    );
    // a fresh rate-limit window
    std::thread::sleep(Duration::from_millis(1100));
    let run = Sipp::new(daemon.sip, "invite_403.xml").run();
    run.assert_ok(&daemon);

    let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let me = sock.local_addr().unwrap();
    let burst = 40u32;
    for n in 1..=burst {
        sock.send_to(options_request(me, daemon.sip, n).as_bytes(), daemon.sip)
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let replies = collect_replies(&sock, Duration::from_millis(1500));
    let codes: Vec<Reply> = replies.iter().map(|r| classify(r)).collect();
    eprintln!(
        "burst of {burst} OPTIONS from a stranger: {} replies: {codes:?}",
        codes.len()
    );
    assert!(
        codes.iter().all(|c| *c == Reply::Status(403)),
        "a stranger got something other than 403: {codes:?}\nlog:\n{}",
        daemon.log_tail(80)
    );
    assert!(
        codes.len() < burst as usize,
        "{burst} requests within 0.3 s from one stranger all got answers: no rate limit \
         (stranger_rate_limit = 5)"
    );
    daemon.assert_alive();
    assert!(
        daemon.call_records().is_empty(),
        "a stranger's INVITE left a call record"
    );
}

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Silence,
    Status(u16),
    /// Something that is not a SIP response (e.g. a CRLF keep-alive pong).
    Other(String),
}

fn classify(datagram: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(datagram);
    if let Some(rest) = text.strip_prefix("SIP/2.0 ") {
        if let Some(code) = rest.get(..3).and_then(|c| c.parse().ok()) {
            return Reply::Status(code);
        }
    }
    Reply::Other(text.chars().take(40).collect())
}

fn collect_replies(sock: &UdpSocket, window: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => out.push(buf[..n].to_vec()),
            Err(_) => return out,
        }
    }
}

struct Case {
    name: &'static str,
    datagram: Vec<u8>,
    allowed: Vec<Reply>,
}

/// Builds a request from header lines, replacing `{to}`, `{from}`, `{id}`.
fn request(lines: &[&str], body: &str, to: SocketAddr, from: SocketAddr, id: &str) -> Vec<u8> {
    let mut s = String::new();
    for l in lines {
        s.push_str(
            &l.replace("{to}", &to.to_string())
                .replace("{from}", &from.to_string())
                .replace("{id}", id),
        );
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn malformed_cases(to: SocketAddr, from: SocketAddr) -> Vec<Case> {
    use Reply::*;
    let via = "Via: SIP/2.0/UDP {from};branch=z9hG4bK-{id}";
    let from_h = "From: <sip:ata@{from}>;tag=t-{id}";
    let to_h = "To: <sip:callbox@{to}>";
    let call_id = "Call-ID: {id}@127.0.0.1";
    let mf = "Max-Forwards: 70";
    let opt_line = "OPTIONS sip:callbox@{to} SIP/2.0";
    let cseq_opt = "CSeq: 1 OPTIONS";
    let cl0 = "Content-Length: 0";
    let mut cases = Vec::new();
    let mut add = |name: &'static str, datagram: Vec<u8>, allowed: Vec<Reply>| {
        cases.push(Case {
            name,
            datagram,
            allowed,
        })
    };

    let full_invite = request(
        &[
            "INVITE sip:callbox@{to} SIP/2.0",
            via,
            mf,
            from_h,
            to_h,
            call_id,
            "CSeq: 1 INVITE",
            "Contact: <sip:ata@{from}>",
            "Content-Type: application/sdp",
            &format!("Content-Length: {}", SDP.len()),
        ],
        SDP,
        to,
        from,
        "trunc",
    );
    add(
        "truncated INVITE",
        full_invite[..full_invite.len() / 2].to_vec(),
        vec![Silence, Status(400)],
    );

    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..512)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    add("binary garbage", garbage, vec![Silence]);

    let pad = format!("X-Pad: {}", "a".repeat(65000 - 300));
    add(
        "oversized OPTIONS (~65000 bytes)",
        request(
            &[
                opt_line, via, mf, from_h, to_h, call_id, cseq_opt, &pad, cl0,
            ],
            "",
            to,
            from,
            "big",
        ),
        vec![Silence, Status(400), Status(413), Status(513)],
    );

    add(
        "INVITE with Content-Length larger than body",
        request(
            &[
                "INVITE sip:callbox@{to} SIP/2.0",
                via,
                mf,
                from_h,
                to_h,
                call_id,
                "CSeq: 1 INVITE",
                "Contact: <sip:ata@{from}>",
                "Content-Type: application/sdp",
                &format!("Content-Length: {}", SDP.len() + 100),
            ],
            SDP,
            to,
            from,
            "cl-long",
        ),
        vec![Silence, Status(400)],
    );

    // RFC 3261 18.3: bytes past Content-Length are discarded; the request itself is fine.
    add(
        "OPTIONS with Content-Length smaller than body",
        request(
            &[
                opt_line,
                via,
                mf,
                from_h,
                to_h,
                call_id,
                cseq_opt,
                "Content-Type: text/plain",
                "Content-Length: 5",
            ],
            "hello, this part is beyond Content-Length",
            to,
            from,
            "cl-short",
        ),
        vec![Status(200)],
    );

    add(
        "missing Via",
        request(
            &[opt_line, mf, from_h, to_h, call_id, cseq_opt, cl0],
            "",
            to,
            from,
            "no-via",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "missing Call-ID",
        request(
            &[opt_line, via, mf, from_h, to_h, cseq_opt, cl0],
            "",
            to,
            from,
            "no-callid",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "missing CSeq",
        request(
            &[opt_line, via, mf, from_h, to_h, call_id, cl0],
            "",
            to,
            from,
            "no-cseq",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "missing From",
        request(
            &[opt_line, via, mf, to_h, call_id, cseq_opt, cl0],
            "",
            to,
            from,
            "no-from",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "missing To",
        request(
            &[opt_line, via, mf, from_h, call_id, cseq_opt, cl0],
            "",
            to,
            from,
            "no-to",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "CSeq method differs from request method",
        request(
            &[
                opt_line,
                via,
                mf,
                from_h,
                to_h,
                call_id,
                "CSeq: 1 INVITE",
                cl0,
            ],
            "",
            to,
            from,
            "cseq-mismatch",
        ),
        vec![Silence, Status(400)],
    );
    add(
        "non-numeric Content-Length",
        request(
            &[
                opt_line,
                via,
                mf,
                from_h,
                to_h,
                call_id,
                cseq_opt,
                "Content-Length: abc",
            ],
            "",
            to,
            from,
            "cl-nan",
        ),
        vec![Silence, Status(400)],
    );
    let mut non_utf8 = request(
        &[
            opt_line,
            via,
            mf,
            "From: \"XX\" <sip:ata@{from}>;tag=t-nonutf8",
            to_h,
            call_id,
            cseq_opt,
            cl0,
        ],
        "",
        to,
        from,
        "nonutf8",
    );
    let pos = non_utf8
        .windows(4)
        .position(|w| w == b"\"XX\"")
        .expect("marker");
    non_utf8[pos + 1] = 0xff;
    non_utf8[pos + 2] = 0xfe;
    add(
        "non-UTF-8 bytes in a header",
        non_utf8,
        vec![Silence, Status(200), Status(400)],
    );
    add(
        "request line without SIP version",
        request(
            &[
                "OPTIONS sip:callbox@{to}",
                via,
                mf,
                from_h,
                to_h,
                call_id,
                cseq_opt,
                cl0,
            ],
            "",
            to,
            from,
            "no-version",
        ),
        vec![Silence, Status(400), Status(505)],
    );
    add("empty datagram", Vec::new(), vec![Silence]);
    add(
        "CRLF keep-alive",
        b"\r\n\r\n".to_vec(),
        vec![Silence, Other("\r\n".into())],
    );
    add(
        "response matching no transaction",
        request(
            &[
                "SIP/2.0 200 OK",
                via,
                from_h,
                "To: <sip:callbox@{to}>;tag=nobody",
                call_id,
                "CSeq: 7 INVITE",
                cl0,
            ],
            "",
            to,
            from,
            "stray-resp",
        ),
        vec![Silence],
    );
    cases
}

/// Fires malformed datagrams at the daemon. Each must get an allowed reply (400 where one is
/// possible, or silence, never a 2xx to a broken request); afterwards the daemon is alive and a
/// normal sipp call succeeds, and none of the malformed INVITEs made a call.
#[test]
fn malformed_datagrams_do_not_hurt() {
    let _g = serial();
    let mut daemon = Daemon::start(DaemonConfig::new());
    let mut report = Vec::new();
    let mut bad = Vec::new();
    let n = malformed_cases(daemon.sip, daemon.sip).len();
    for i in 0..n {
        // a socket per case, so a late or retransmitted reply cannot be blamed on the next case
        let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let case = malformed_cases(daemon.sip, sock.local_addr().unwrap()).swap_remove(i);
        let datagram = &case.datagram;
        sock.send_to(datagram, daemon.sip)
            .unwrap_or_else(|e| panic!("{}: send {} bytes: {e}", case.name, datagram.len()));
        let replies = collect_replies(&sock, Duration::from_millis(700));
        let first = replies.first().map_or(Reply::Silence, |r| classify(r));
        report.push(format!(
            "{:<45} {:>6} B -> {first:?}{}",
            case.name,
            datagram.len(),
            if replies.len() > 1 {
                format!(" (+{} more)", replies.len() - 1)
            } else {
                String::new()
            }
        ));
        if !case.allowed.contains(&first) {
            bad.push(format!(
                "{}: got {first:?}, allowed {:?}",
                case.name, case.allowed
            ));
        }
        daemon.assert_alive();
    }
    eprintln!("malformed datagrams:\n  {}", report.join("\n  "));
    assert!(
        bad.is_empty(),
        "unexpected replies to malformed datagrams:\n  {}\nall:\n  {}\nlog:\n{}",
        bad.join("\n  "),
        report.join("\n  "),
        daemon.log_tail(100)
    );

    let run = Sipp::new(daemon.sip, "call_hold.xml")
        .args(["-d", "1000"])
        .run();
    run.assert_ok(&daemon);
    daemon.assert_alive();
    let answered: Vec<_> = daemon
        .wait_records(1, Duration::from_secs(5))
        .into_iter()
        .filter(|r| !r["answered_at"].is_null())
        .collect();
    assert_eq!(
        answered.len(),
        1,
        "only the real call should have been answered: {answered:#?}"
    );
}
