//! The INVITE client transaction, driven with a synthetic clock: no sockets, no sleeping.

use super::*;
use crate::telephony::sip::auth::DigestAuthenticator;

use super::super::tests::{addr, config, ATA};

const TRUNK: &str = "203.0.113.5:5060";

const OFFER: &str = "v=0\r\no=callbox 1 1 IN IP4 192.168.1.10\r\ns=callbox\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 8 101\r\n";
const ANSWER: &str = "v=0\r\no=- 7 7 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\n";

fn request(destination: &str, credentials: Option<(&str, &str)>) -> OutgoingCall {
    OutgoingCall {
        target: format!("sip:5551234@{destination}"),
        destination: addr(destination),
        from_user: "callbox".into(),
        credentials: credentials.map(|(u, p)| (u.to_string(), p.into())),
        sdp: OFFER.as_bytes().to_vec(),
        ring_timeout: Duration::from_secs(30),
    }
}

fn drain(ep: &mut Endpoint) -> Vec<(SocketAddr, String)> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        out.push((
            t.destination,
            String::from_utf8_lossy(&t.payload).into_owned(),
        ));
    }
    out
}

fn texts(sent: &[(SocketAddr, String)]) -> Vec<String> {
    sent.iter().map(|(_, t)| t.clone()).collect()
}

fn first_lines(sent: &[(SocketAddr, String)]) -> Vec<String> {
    sent.iter()
        .map(|(_, t)| t.lines().next().unwrap_or("").to_string())
        .collect()
}

fn events(ep: &mut Endpoint) -> Vec<CallEvent> {
    let mut out = Vec::new();
    while let Some(e) = ep.poll_event() {
        out.push(e);
    }
    out
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in\n{msg}"))
}

/// The callee's response to `req` (the request as the box sent it).
fn response(req: &str, status: &str, to_tag: Option<&str>, extra: &str, body: &str) -> Vec<u8> {
    let to = match to_tag {
        Some(tag) => format!("{};tag={tag}", header(req, "To")),
        None => header(req, "To").to_string(),
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
        header(req, "Via"),
        header(req, "From"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
        body.len()
    )
    .into_bytes()
}

const CONTACT: &str = "Contact: <sip:5551234@192.168.1.20:5062>\r\n";

/// Places a call and returns (endpoint, key, the INVITE's text).
fn placed(now: Instant) -> (Endpoint, CallKey, String) {
    let mut ep = Endpoint::new(config());
    let call = ep.place_call(now, request(ATA, None));
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, addr(ATA));
    let invite = sent[0].1.clone();
    assert!(invite.starts_with("INVITE sip:5551234@192.168.1.20:5062 SIP/2.0\r\n"));
    assert!(
        invite.ends_with(OFFER),
        "SDP offer in the INVITE:\n{invite}"
    );
    assert_eq!(header(&invite, "CSeq"), "1 INVITE");
    (ep, call, invite)
}

#[test]
fn timer_a_retransmits_and_timer_b_gives_up() {
    let t0 = Instant::now();
    let mut ep = Endpoint::new(config());
    let mut long_ring = request(ATA, None);
    long_ring.ring_timeout = Duration::from_secs(60);
    let call = ep.place_call(t0, long_ring);
    let invite = drain(&mut ep).remove(0).1;
    let mut at = t0;
    let mut gaps = Vec::new();
    loop {
        let next = ep.poll_timeout().expect("a timer is set");
        if next >= t0 + TIMEOUT_64T1 {
            break;
        }
        gaps.push(next - at);
        at = next;
        ep.handle_timeout(at);
        let sent = texts(&drain(&mut ep));
        assert_eq!(sent, vec![invite.clone()], "the same INVITE again");
    }
    // 0.5, 1, 2, 4, 8, 16 s: doubling without the T2 cap.
    let secs: Vec<f64> = gaps.iter().map(|g| g.as_secs_f64()).collect();
    assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]);
    ep.handle_timeout(t0 + TIMEOUT_64T1);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Unreachable
        }]
    );
    assert_eq!(ep.live_calls(), 0);
}

#[test]
fn answered_call_acks_the_2xx_and_ends_by_either_side_bye() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "100 Trying", None, "", ""),
    );
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "180 Ringing", Some("ata9"), CONTACT, ""),
    );
    assert!(drain(&mut ep).is_empty());
    // No retransmission once the far end answered provisionally.
    ep.handle_timeout(t0 + Duration::from_secs(2));
    assert!(drain(&mut ep).is_empty());
    assert_eq!(
        events(&mut ep),
        [CallEvent::Progress {
            call,
            status: 180,
            sdp: vec![]
        }]
    );
    let ok = response(&invite, "200 OK", Some("ata9"), CONTACT, ANSWER);
    ep.handle_datagram(t0, addr(ATA), &ok);
    let sent = drain(&mut ep);
    assert_eq!(
        first_lines(&sent),
        ["ACK sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    let ack = &sent[0].1;
    assert_eq!(header(ack, "CSeq"), "1 ACK");
    assert!(header(ack, "To").ends_with(";tag=ata9"));
    assert_ne!(
        header(ack, "Via"),
        header(&invite, "Via"),
        "2xx ACK is a new transaction"
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Answered {
            call,
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
    // A retransmitted 200 gets the same ACK again.
    ep.handle_datagram(t0, addr(ATA), &ok);
    assert_eq!(texts(&drain(&mut ep)), vec![ack.clone()]);

    // The callee hangs up.
    let bye = format!(
        "BYE sip:callbox@192.168.1.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-bye1\r\n\
From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        format_args!("{};tag=ata9", header(&invite, "To")),
        header(&invite, "From"),
        header(&invite, "Call-ID"),
    );
    ep.handle_datagram(t0, addr(ATA), bye.as_bytes());
    assert_eq!(first_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::RemoteBye
        }]
    );
}

#[test]
fn box_hangs_up_an_answered_call_with_bye_to_the_contact() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "200 OK", Some("ata9"), CONTACT, ANSWER),
    );
    drain(&mut ep);
    events(&mut ep);
    ep.hang_up(t0, call).expect("live call");
    let sent = drain(&mut ep);
    assert_eq!(
        first_lines(&sent),
        ["BYE sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    assert_eq!(header(&sent[0].1, "CSeq"), "2 BYE");
    ep.handle_datagram(t0, addr(ATA), &response(&sent[0].1, "200 OK", None, "", ""));
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::LocalBye
        }]
    );
}

#[test]
fn early_media_sdp_serves_a_2xx_without_one() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(
            &invite,
            "183 Session Progress",
            Some("ata9"),
            CONTACT,
            ANSWER,
        ),
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Progress {
            call,
            status: 183,
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "200 OK", Some("ata9"), CONTACT, ""),
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Answered {
            call,
            sdp: ANSWER.as_bytes().to_vec()
        }]
    );
}

#[test]
fn busy_is_acked_in_the_transaction_and_reported() {
    for (status, code) in [
        ("486 Busy Here", 486),
        ("600 Busy Everywhere", 600),
        ("603 Decline", 603),
    ] {
        let t0 = Instant::now();
        let (mut ep, call, invite) = placed(t0);
        let busy = response(&invite, status, Some("ata9"), "", "");
        ep.handle_datagram(t0, addr(ATA), &busy);
        let sent = drain(&mut ep);
        assert_eq!(
            first_lines(&sent),
            ["ACK sip:5551234@192.168.1.20:5062 SIP/2.0"]
        );
        let ack = &sent[0].1;
        assert_eq!(
            header(ack, "Via"),
            header(&invite, "Via"),
            "same branch as the INVITE"
        );
        assert_eq!(header(ack, "CSeq"), "1 ACK");
        assert!(header(ack, "To").ends_with(";tag=ata9"));
        assert_eq!(
            events(&mut ep),
            [CallEvent::Ended {
                call,
                reason: CallEnd::Refused(code)
            }]
        );
        // Its retransmission is ACKed again, until Timer D.
        ep.handle_datagram(t0, addr(ATA), &busy);
        assert_eq!(texts(&drain(&mut ep)), vec![ack.clone()]);
        ep.handle_timeout(t0 + TIMEOUT_64T1);
        ep.handle_datagram(t0, addr(ATA), &busy);
        assert!(drain(&mut ep).is_empty());
        assert!(events(&mut ep).is_empty());
        assert_eq!(ep.poll_timeout(), None, "nothing left to time");
    }
}

#[test]
fn digest_challenges_are_answered_once() {
    for (status, challenge, answer) in [
        ("401 Unauthorized", "WWW-Authenticate", "Authorization"),
        (
            "407 Proxy Authentication Required",
            "Proxy-Authenticate",
            "Proxy-Authorization",
        ),
    ] {
        let t0 = Instant::now();
        let mut server = DigestAuthenticator::new("trunk", [("shop".to_string(), "pw".into())]);
        let mut ep = Endpoint::new(config());
        let call = ep.place_call(t0, request(TRUNK, Some(("shop", "pw"))));
        let invite = drain(&mut ep).remove(0).1;
        let extra: String = server
            .challenge(t0, false)
            .iter()
            .map(|c| format!("{challenge}: {c}\r\n"))
            .collect();
        // From outside the allow-list: the trunk the box called is let in.
        ep.handle_datagram(
            t0,
            addr(TRUNK),
            &response(&invite, status, Some("t1"), &extra, ""),
        );
        let sent = drain(&mut ep);
        assert_eq!(
            first_lines(&sent),
            [
                "ACK sip:5551234@203.0.113.5:5060 SIP/2.0",
                "INVITE sip:5551234@203.0.113.5:5060 SIP/2.0"
            ]
        );
        let retry = &sent[1].1;
        assert_eq!(header(retry, "CSeq"), "2 INVITE");
        assert_eq!(header(retry, "Call-ID"), header(&invite, "Call-ID"));
        assert_eq!(header(retry, "From"), header(&invite, "From"));
        assert_ne!(header(retry, "Via"), header(&invite, "Via"));
        let credentials = header(retry, answer);
        assert!(credentials.contains("algorithm=SHA-256"), "{credentials}");
        assert_eq!(
            server.verify(t0, "INVITE", Some(credentials)),
            crate::telephony::sip::auth::Verdict::Accepted("shop".into())
        );
        assert!(events(&mut ep).is_empty());
        // Challenged again: the password is wrong; the call ends.
        ep.handle_datagram(
            t0,
            addr(TRUNK),
            &response(retry, status, Some("t2"), &extra, ""),
        );
        assert_eq!(
            first_lines(&drain(&mut ep)),
            ["ACK sip:5551234@203.0.113.5:5060 SIP/2.0"]
        );
        let code = status[..3].parse().expect("status");
        assert_eq!(
            events(&mut ep),
            [CallEvent::Ended {
                call,
                reason: CallEnd::Refused(code)
            }]
        );
    }
}

#[test]
fn challenge_without_credentials_ends_the_call() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    let extra = "WWW-Authenticate: Digest realm=\"ata\", nonce=\"n\"\r\n";
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "401 Unauthorized", Some("a"), extra, ""),
    );
    assert_eq!(
        first_lines(&drain(&mut ep)),
        ["ACK sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Refused(401)
        }]
    );
}

#[test]
fn ring_timeout_cancels_and_the_487_is_acked() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "180 Ringing", Some("ata9"), CONTACT, ""),
    );
    events(&mut ep);
    let ring_end = t0 + Duration::from_secs(30);
    assert_eq!(ep.poll_timeout(), Some(ring_end));
    ep.handle_timeout(ring_end);
    let sent = drain(&mut ep);
    assert_eq!(
        first_lines(&sent),
        ["CANCEL sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    let cancel = &sent[0].1;
    assert_eq!(header(cancel, "Via"), header(&invite, "Via"));
    assert_eq!(header(cancel, "CSeq"), "1 CANCEL");
    assert_eq!(
        header(cancel, "To"),
        header(&invite, "To"),
        "no tag on CANCEL"
    );
    // Unanswered, the CANCEL is retransmitted (Timer E).
    ep.handle_timeout(ring_end + T1);
    assert_eq!(texts(&drain(&mut ep)), vec![cancel.clone()]);
    ep.handle_datagram(
        ring_end,
        addr(ATA),
        &response(cancel, "200 OK", Some("ata9"), "", ""),
    );
    ep.handle_timeout(ring_end + T1 * 3);
    assert!(drain(&mut ep).is_empty(), "no CANCEL after its 200");
    assert!(
        events(&mut ep).is_empty(),
        "the call ends on the 487, not the CANCEL's 200"
    );
    ep.handle_datagram(
        ring_end,
        addr(ATA),
        &response(&invite, "487 Request Terminated", Some("ata9"), "", ""),
    );
    let sent = drain(&mut ep);
    assert_eq!(
        first_lines(&sent),
        ["ACK sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::NoAnswer
        }]
    );
}

#[test]
fn no_final_response_after_cancel_ends_the_call_at_64_t1() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "180 Ringing", Some("ata9"), CONTACT, ""),
    );
    ep.handle_timeout(t0 + Duration::from_secs(30));
    drain(&mut ep);
    events(&mut ep);
    ep.handle_timeout(t0 + Duration::from_secs(30) + TIMEOUT_64T1);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::NoAnswer
        }]
    );
}

#[test]
fn hang_up_before_any_provisional_waits_for_one_to_cancel() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.hang_up(t0, call).expect("live call");
    assert!(
        drain(&mut ep).is_empty(),
        "RFC 3261 §9.1: no CANCEL before a provisional"
    );
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "100 Trying", None, "", ""),
    );
    assert_eq!(
        first_lines(&drain(&mut ep)),
        ["CANCEL sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "487 Request Terminated", Some("x"), "", ""),
    );
    drain(&mut ep);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Abandoned
        }]
    );
}

#[test]
fn an_answer_crossing_the_cancel_is_acked_then_hung_up() {
    let t0 = Instant::now();
    let (mut ep, call, invite) = placed(t0);
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "180 Ringing", Some("ata9"), CONTACT, ""),
    );
    ep.hang_up(t0, call).expect("live call");
    assert_eq!(
        first_lines(&drain(&mut ep)),
        ["CANCEL sip:5551234@192.168.1.20:5062 SIP/2.0"]
    );
    ep.handle_datagram(
        t0,
        addr(ATA),
        &response(&invite, "200 OK", Some("ata9"), CONTACT, ANSWER),
    );
    assert_eq!(
        first_lines(&drain(&mut ep)),
        [
            "ACK sip:5551234@192.168.1.20:5062 SIP/2.0",
            "BYE sip:5551234@192.168.1.20:5062 SIP/2.0"
        ]
    );
    assert_eq!(
        events(&mut ep),
        [
            CallEvent::Progress {
                call,
                status: 180,
                sdp: vec![]
            },
            CallEvent::Ended {
                call,
                reason: CallEnd::Abandoned
            }
        ]
    );
}

#[test]
fn ring_timeout_without_any_response_is_unreachable() {
    let t0 = Instant::now();
    let (mut ep, call, _) = placed(t0);
    ep.handle_timeout(t0 + Duration::from_secs(30));
    assert!(events(&mut ep).is_empty());
    ep.handle_timeout(t0 + TIMEOUT_64T1);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Unreachable
        }]
    );
}

#[test]
fn uri_host_takes_the_host_part() {
    assert_eq!(uri_host("sip:200@192.0.2.10"), "192.0.2.10");
    assert_eq!(
        uri_host("sip:200@192.0.2.10:5062;user=phone"),
        "192.0.2.10:5062"
    );
    assert_eq!(uri_host("sip:trunk.example.com"), "trunk.example.com");
}
