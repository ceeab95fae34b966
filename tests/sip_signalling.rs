//! Non-call signalling against the running daemon: OPTIONS, REGISTER digest auth, codec
//! rejection, the peer allow-list, and robustness against malformed datagrams.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[test]
fn options_answers_200_with_allow() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "options.xml").run();
    run.assert_ok(&daemon);
}

// REGISTER is driven twice: by sipp, which (like many ATAs) answers only the first
// WWW-Authenticate it sees and knows only MD5 — so the box must offer MD5 first — and from Rust,
// which answers every offered challenge (MD5 and SHA-256, RFC 8760) independently.

#[test]
fn sipp_register_answers_the_first_challenge() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().account("ht813", "s3cret-Pa55"));
    Sipp::new(daemon.sip, "register_ok.xml")
        .args(["-au", "ht813", "-ap", "s3cret-Pa55"])
        .run()
        .assert_ok(&daemon);
    Sipp::new(daemon.sip, "register_bad.xml")
        .args(["-au", "ht813", "-ap", "not-the-password"])
        .run()
        .assert_ok(&daemon);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_hash(algorithm: &str, input: &str) -> String {
    use md5::Digest as _;
    match algorithm {
        "MD5" => hex(&md5::Md5::digest(input.as_bytes())),
        "SHA-256" => hex(&sha2::Sha256::digest(input.as_bytes())),
        other => panic!("test cannot compute digest algorithm {other}"),
    }
}

fn param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let rest = &challenge[at..];
    Some(if let Some(q) = rest.strip_prefix('"') {
        q[..q.find('"')?].to_string()
    } else {
        rest.split([',', ' ']).next()?.to_string()
    })
}

fn header_values(msg: &str, name: &str) -> Vec<String> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

struct Registrar<'a> {
    daemon: &'a Daemon,
    sock: UdpSocket,
    me: SocketAddr,
    cseq: u32,
    call_id: String,
}

impl<'a> Registrar<'a> {
    fn new(daemon: &'a Daemon) -> Self {
        let sock = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let me = sock.local_addr().unwrap();
        Registrar {
            daemon,
            sock,
            me,
            cseq: 0,
            call_id: format!("reg-{}-{}@127.0.0.1", std::process::id(), me.port()),
        }
    }

    /// Sends REGISTER (with an Authorization header if given) and returns the final response.
    fn register(&mut self, user: &str, authorization: Option<String>) -> String {
        self.cseq += 1;
        let (me, to, n) = (self.me, self.daemon.sip, self.cseq);
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let msg = format!(
            "REGISTER sip:{to} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-reg-{n}-{port}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{to}>;tag=reg{port}\r\n\
             To: <sip:{user}@{to}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {n} REGISTER\r\n\
             Contact: <sip:{user}@{me}>\r\n\
             {auth}Expires: 300\r\n\
             User-Agent: callbox-tests\r\n\
             Content-Length: 0\r\n\r\n",
            port = me.port(),
            call_id = self.call_id,
        );
        self.sock.send_to(msg.as_bytes(), to).unwrap();
        let deadline = Instant::now() + scaled(Duration::from_secs(5));
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no final response to REGISTER (CSeq {n})\nlog:\n{}",
                self.daemon.log_tail(60)
            );
            self.sock.set_read_timeout(Some(left)).unwrap();
            let Ok((len, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let resp = String::from_utf8_lossy(&buf[..len]).into_owned();
            if matches!(classify(resp.as_bytes()), Reply::Status(c) if c >= 200)
                && header_values(&resp, "CSeq")
                    .first()
                    .is_some_and(|c| c.starts_with(&format!("{n} ")))
            {
                return resp;
            }
        }
    }

    fn authorization(&self, challenge: &str, user: &str, password: &str) -> (String, String) {
        let realm = param(challenge, "realm").expect("realm in challenge");
        let nonce = param(challenge, "nonce").expect("nonce in challenge");
        let algorithm = param(challenge, "algorithm").unwrap_or_else(|| "MD5".into());
        let uri = format!("sip:{}", self.daemon.sip);
        let (nc, cnonce) = ("00000001", "0a4f113b");
        let ha1 = digest_hash(&algorithm, &format!("{user}:{realm}:{password}"));
        let ha2 = digest_hash(&algorithm, &format!("REGISTER:{uri}"));
        let response = digest_hash(
            &algorithm,
            &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
        );
        (
            algorithm.clone(),
            format!(
                "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                 response=\"{response}\", algorithm={algorithm}, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
            ),
        )
    }
}

fn status(resp: &str) -> u16 {
    match classify(resp.as_bytes()) {
        Reply::Status(c) => c,
        other => panic!("not a SIP response: {other:?}"),
    }
}

/// REGISTER without credentials -> 401 with Digest challenges (MD5 among them, for ATAs like
/// the HT813); answering each offered algorithm's challenge with the right password -> 200 with
/// Contact and an expiry.
#[test]
fn register_with_digest_auth() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().account("ht813", "s3cret-Pa55"));
    let mut ua = Registrar::new(&daemon);
    let first = ua.register("ht813", None);
    assert_eq!(
        status(&first),
        401,
        "REGISTER without credentials:\n{first}"
    );
    let challenges = header_values(&first, "WWW-Authenticate");
    assert!(
        !challenges.is_empty() && challenges.iter().all(|c| c.starts_with("Digest ")),
        "401 without Digest WWW-Authenticate:\n{first}"
    );
    let algorithms: Vec<String> = challenges
        .iter()
        .map(|c| param(c, "algorithm").unwrap_or_else(|| "MD5".into()))
        .collect();
    assert!(
        algorithms.iter().any(|a| a.eq_ignore_ascii_case("MD5")),
        "no MD5 challenge (older ATAs know only MD5): {challenges:?}"
    );
    for challenge in &challenges {
        let (algorithm, auth) = ua.authorization(challenge, "ht813", "s3cret-Pa55");
        let resp = ua.register("ht813", Some(auth));
        assert_eq!(
            status(&resp),
            200,
            "REGISTER answering the {algorithm} challenge:\n{resp}\nlog:\n{}",
            daemon.log_tail(40)
        );
        let contact = header_values(&resp, "Contact");
        assert!(
            !contact.is_empty(),
            "200 to REGISTER without Contact:\n{resp}"
        );
        let has_expiry = !header_values(&resp, "Expires").is_empty()
            || contact
                .iter()
                .any(|c| c.to_ascii_lowercase().contains("expires="));
        assert!(has_expiry, "200 to REGISTER states no expiry:\n{resp}");
    }
}

/// Wrong password or unknown user -> 401/403, never 200.
#[test]
fn register_with_wrong_password_is_refused() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering().account("ht813", "s3cret-Pa55"));
    for (user, password) in [("ht813", "not-the-password"), ("nobody", "s3cret-Pa55")] {
        let mut ua = Registrar::new(&daemon);
        let first = ua.register(user, None);
        assert_eq!(status(&first), 401, "{first}");
        for challenge in header_values(&first, "WWW-Authenticate") {
            let (algorithm, auth) = ua.authorization(&challenge, user, password);
            let resp = ua.register(user, Some(auth));
            assert!(
                matches!(status(&resp), 401 | 403),
                "REGISTER as {user} with password {password:?} ({algorithm}) was not refused:\n{resp}"
            );
        }
    }
}

#[test]
fn g729_only_offer_gets_488() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
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
        DaemonConfig::answering()
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
    let mut daemon = Daemon::start(DaemonConfig::answering());
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
