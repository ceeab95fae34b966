//! Transaction and dialog behaviour, driven with a synthetic clock.

use super::*;

pub(super) const ATA: &str = "192.168.1.20:5062";
pub(super) const BOX: &str = "192.168.1.10:5060";

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// The endpoint the tests drive (also the UAC tests'): the ATA allowed, one call.
pub(super) fn config() -> EndpointConfig {
    EndpointConfig {
        contact_addr: addr(BOX),
        allowed_peers: vec!["192.168.1.20/32".parse().expect("cidr")],
        stranger_rate_limit: 3,
        max_concurrent_calls: 1,
        invite_auth: false,
        require_registration: false,
        max_calls_per_source: 0,
        call_attempts_per_minute: 0,
        user: String::new(),
        realm: "callbox".into(),
        accounts: vec![],
        max_register_expires: 3600,
        max_message_bytes: 8192,
        user_agent: "callbox-test".into(),
    }
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn invite(branch: &str, call_id: &str, cseq: u32) -> Vec<u8> {
    format!(
        "INVITE sip:5551234@192.168.1.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch={branch};rport\r\n\
From: \"SMITH JOHN\" <sip:3125550142@192.168.1.20>;tag=ata1\r\n\
To: <sip:5551234@192.168.1.10>\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} INVITE\r\n\
Contact: <sip:3125550142@192.168.1.20:5062>\r\n\
Max-Forwards: 70\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn in_dialog(
    method: &str,
    branch: &str,
    call_id: &str,
    to_tag: &str,
    cseq: u32,
    body: &str,
) -> Vec<u8> {
    let ct = if body.is_empty() {
        String::new()
    } else if method == "INFO" {
        "Content-Type: application/dtmf-relay\r\n".to_string()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{method} sip:callbox@192.168.1.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch={branch};rport\r\n\
From: \"SMITH JOHN\" <sip:3125550142@192.168.1.20>;tag=ata1\r\n\
To: <sip:5551234@192.168.1.10>;tag={to_tag}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {cseq} {method}\r\n\
Max-Forwards: 70\r\n\
{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn drain(ep: &mut Endpoint) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        out.push(String::from_utf8_lossy(&t.payload).into_owned());
    }
    out
}

fn events(ep: &mut Endpoint) -> Vec<CallEvent> {
    let mut out = Vec::new();
    while let Some(e) = ep.poll_event() {
        out.push(e);
    }
    out
}

fn status_lines(msgs: &[String]) -> Vec<String> {
    msgs.iter()
        .map(|m| m.lines().next().unwrap_or("").to_string())
        .collect()
}

fn to_tag_of(response: &str) -> String {
    let to = response
        .lines()
        .find(|l| l.starts_with("To:"))
        .expect("To header");
    to.split("tag=").nth(1).expect("to tag").trim().to_string()
}

/// Rings a call and returns (endpoint, call key, 180 text).
fn ringing(now: Instant) -> (Endpoint, CallKey, String) {
    let mut ep = Endpoint::new(config());
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-1", "c1", 1));
    let sent = drain(&mut ep);
    assert_eq!(
        status_lines(&sent),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
    );
    let evs = events(&mut ep);
    let call = match &evs[..] {
        [CallEvent::Offered { call, offer }] => {
            assert_eq!(offer.request_uri_user.as_deref(), Some("5551234"));
            assert_eq!(offer.sdp, SDP.as_bytes());
            *call
        }
        other => panic!("expected one offer, got {other:?}"),
    };
    (ep, call, sent[1].clone())
}

fn established(now: Instant) -> (Endpoint, CallKey, String) {
    let (mut ep, call, ringing) = ringing(now);
    ep.answer(now, call, b"v=0\r\n").expect("answer");
    let sent = drain(&mut ep);
    assert_eq!(status_lines(&sent), ["SIP/2.0 200 OK"]);
    let tag = to_tag_of(&ringing);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("ACK", "z9hG4bK-ack", "c1", &tag, 1, ""),
    );
    assert_eq!(events(&mut ep), [CallEvent::Confirmed { call }]);
    (ep, call, tag)
}

#[test]
fn answer_carries_sdp_and_routes_by_rport() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    ep.answer(now, call, b"v=0\r\nm=audio 10000 RTP/AVP 0\r\n")
        .expect("answer");
    let t = ep.poll_transmit().expect("200");
    assert_eq!(t.destination, addr(ATA));
    let text = String::from_utf8_lossy(&t.payload);
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.contains("rport=5062"), "{text}");
    assert!(text.contains("Content-Type: application/sdp"), "{text}");
    assert!(text.ends_with("m=audio 10000 RTP/AVP 0\r\n"), "{text}");
    assert!(
        text.contains("Contact: <sip:callbox@192.168.1.10:5060>"),
        "{text}"
    );
}

#[test]
fn ok_is_retransmitted_with_backoff_until_ack() {
    let now = Instant::now();
    let (mut ep, call, ringing) = ringing(now);
    ep.answer(now, call, b"v=0\r\n").expect("answer");
    drain(&mut ep);
    // Timer G-style doubling from T1, capped at T2.
    let mut at = now;
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let next = ep.poll_timeout().expect("timer armed");
        gaps.push(next - at);
        at = next;
        ep.handle_timeout(at);
        assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    }
    assert_eq!(
        gaps,
        [500, 1000, 2000, 4000, 4000, 4000].map(Duration::from_millis)
    );
    let tag = to_tag_of(&ringing);
    ep.handle_datagram(
        at,
        addr(ATA),
        &in_dialog("ACK", "z9hG4bK-ack", "c1", &tag, 1, ""),
    );
    assert_eq!(events(&mut ep), [CallEvent::Confirmed { call }]);
    ep.handle_timeout(at + Duration::from_secs(10));
    assert!(drain(&mut ep).is_empty(), "no retransmission after ACK");
}

#[test]
fn lost_ack_ends_the_call_with_bye_after_64_t1() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    ep.answer(now, call, b"v=0\r\n").expect("answer");
    drain(&mut ep);
    let mut at = now;
    while at < now + TIMEOUT_64T1 {
        at = ep.poll_timeout().expect("armed");
        ep.handle_timeout(at);
    }
    let sent = drain(&mut ep);
    assert!(
        sent.iter()
            .any(|m| m.starts_with("BYE sip:3125550142@192.168.1.20:5062 ")),
        "{sent:?}"
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::AckTimeout
        }]
    );
    assert_eq!(ep.live_calls(), 0);
}

#[test]
fn invite_retransmission_is_absorbed_in_every_state() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-1", "c1", 1));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 180 Ringing"]);
    assert!(events(&mut ep).is_empty(), "no second call");
    ep.answer(now, call, b"v=0\r\n").expect("answer");
    drain(&mut ep);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-1", "c1", 1));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn late_invite_retransmission_after_ack_starts_no_call() {
    let now = Instant::now();
    let (mut ep, _, _) = established(now);
    ep.handle_datagram(
        now + Duration::from_secs(3),
        addr(ATA),
        &invite("z9hG4bK-1", "c1", 1),
    );
    assert!(drain(&mut ep).is_empty());
    assert!(events(&mut ep).is_empty());
}

#[test]
fn cancel_before_answer_gives_200_and_487() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    let cancel = String::from_utf8(invite("z9hG4bK-1", "c1", 1))
        .expect("text")
        .replacen("INVITE sip", "CANCEL sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    let cancel = cancel
        .split("Content-Type")
        .next()
        .expect("head")
        .to_string()
        + "Content-Length: 0\r\n\r\n";
    ep.handle_datagram(now, addr(ATA), cancel.as_bytes());
    let sent = drain(&mut ep);
    assert_eq!(
        status_lines(&sent),
        ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert!(sent[0].contains("CSeq: 1 CANCEL"));
    assert!(sent[1].contains("CSeq: 1 INVITE"));
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Cancelled
        }]
    );
    // 487 retransmitted until its ACK (same branch), then quiet.
    let t = ep.poll_timeout().expect("timer G");
    ep.handle_timeout(t);
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 487 Request Terminated"]
    );
    let tag = to_tag_of(&sent[1]);
    ep.handle_datagram(
        t,
        addr(ATA),
        &in_dialog("ACK", "z9hG4bK-1", "c1", &tag, 1, ""),
    );
    ep.handle_timeout(t + Duration::from_secs(4));
    assert!(drain(&mut ep).is_empty());
    ep.handle_timeout(t + T4 + Duration::from_millis(1));
    assert!(
        ep.invite_txs.is_empty(),
        "Timer I released the INVITE transaction"
    );
    // The CANCEL's own transaction lives for Timer J, then nothing is left.
    ep.handle_timeout(now + TIMEOUT_64T1 + Duration::from_millis(1));
    assert_eq!(ep.poll_timeout(), None, "all state released");
}

#[test]
fn unacknowledged_error_response_gives_up_at_timer_h() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    ep.reject(now, call, 488, "Not Acceptable Here")
        .expect("reject");
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 488 Not Acceptable Here"]
    );
    let mut count = 0;
    while let Some(t) = ep.poll_timeout() {
        ep.handle_timeout(t);
        count += drain(&mut ep).len();
        assert!(t <= now + TIMEOUT_64T1 + Duration::from_millis(1));
    }
    assert!(count >= 8, "retransmitted {count} times");
}

#[test]
fn caller_bye_ends_the_call() {
    let now = Instant::now();
    let (mut ep, call, tag) = established(now);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("BYE", "z9hG4bK-bye", "c1", &tag, 2, ""),
    );
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::RemoteBye
        }]
    );
    // Its retransmission gets the same 200 and no second event.
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("BYE", "z9hG4bK-bye", "c1", &tag, 2, ""),
    );
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn bye_for_an_unknown_dialog_is_481() {
    let now = Instant::now();
    let (mut ep, _, _) = established(now);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("BYE", "z9hG4bK-x", "c1", "wrongtag", 2, ""),
    );
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    assert!(events(&mut ep).is_empty());
}

#[test]
fn box_hang_up_sends_bye_and_retransmits_until_answered() {
    let now = Instant::now();
    let (mut ep, call, _) = established(now);
    ep.hang_up(now, call).expect("hang up");
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 1);
    let bye = &sent[0];
    assert!(
        bye.starts_with("BYE sip:3125550142@192.168.1.20:5062 SIP/2.0"),
        "{bye}"
    );
    assert!(bye.contains("CSeq: 2 BYE"), "{bye}");
    assert!(
        bye.contains("To: \"SMITH JOHN\" <sip:3125550142@192.168.1.20>;tag=ata1"),
        "{bye}"
    );
    let t = ep.poll_timeout().expect("timer E");
    assert_eq!(t - now, T1);
    ep.handle_timeout(t);
    assert_eq!(drain(&mut ep).len(), 1, "BYE retransmitted");
    let branch = bye
        .split("branch=")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .expect("branch");
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch={branch}\r\n\
From: x;tag=1\r\nTo: y;tag=2\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    ep.handle_datagram(t, addr(ATA), ok.as_bytes());
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::LocalBye
        }]
    );
}

#[test]
fn unanswered_bye_times_out_at_timer_f() {
    let now = Instant::now();
    let (mut ep, call, _) = established(now);
    ep.hang_up(now, call).expect("hang up");
    drain(&mut ep);
    let mut last = now;
    while let Some(t) = ep.poll_timeout() {
        last = t;
        ep.handle_timeout(t);
    }
    assert_eq!(last - now, TIMEOUT_64T1);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::ByeTimeout
        }]
    );
}

#[test]
fn reinvite_for_hold_is_offered_and_answered() {
    let now = Instant::now();
    let (mut ep, call, tag) = established(now);
    let hold = SDP.to_string() + "a=sendonly\r\n";
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("INVITE", "z9hG4bK-re", "c1", &tag, 2, &hold),
    );
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 100 Trying"]);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Reoffer {
            call,
            sdp: hold.clone().into_bytes()
        }]
    );
    ep.answer_reoffer(now, call, b"v=0\r\na=recvonly\r\n")
        .expect("answer");
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("ACK", "z9hG4bK-ack2", "c1", &tag, 2, ""),
    );
    ep.handle_timeout(now + Duration::from_secs(5));
    assert!(drain(&mut ep).is_empty(), "re-INVITE 200 stopped by ACK");
    assert_eq!(ep.live_calls(), 1);
}

#[test]
fn out_of_order_cseq_in_dialog_is_500() {
    let now = Instant::now();
    let (mut ep, _, tag) = established(now);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("INFO", "z9hG4bK-i1", "c1", &tag, 5, ""),
    );
    drain(&mut ep);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("INFO", "z9hG4bK-i2", "c1", &tag, 4, ""),
    );
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 500 Server Internal Error"]
    );
}

#[test]
fn info_dtmf_relay_becomes_a_digit() {
    let now = Instant::now();
    let (mut ep, call, tag) = established(now);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog(
            "INFO",
            "z9hG4bK-i",
            "c1",
            &tag,
            2,
            "Signal=5\r\nDuration=160\r\n",
        ),
    );
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    assert_eq!(
        events(&mut ep),
        [CallEvent::Digit {
            call,
            digit: '5',
            duration_ms: 160
        }]
    );
}

#[test]
fn second_call_at_capacity_is_busy() {
    let now = Instant::now();
    let (mut ep, _, _) = established(now);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-2", "c2", 1));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 486 Busy Here"]);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn an_invite_for_another_user_is_not_found_when_sip_user_is_set() {
    let now = Instant::now();
    let mut ep = Endpoint::new(EndpointConfig {
        user: "callbox".into(),
        ..config()
    });
    // `invite` is addressed to sip:5551234@…, not to the box's user.
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-u1", "u1", 1));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 404 Not Found"]);
    assert!(events(&mut ep).is_empty());
    // The user part compares case-sensitively (RFC 3261 §19.1.4).
    let upper = String::from_utf8(invite("z9hG4bK-u2", "u2", 1))
        .expect("text")
        .replacen("INVITE sip:5551234@", "INVITE sip:CALLBOX@", 1);
    ep.handle_datagram(now, addr(ATA), upper.as_bytes());
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 404 Not Found"]);
    // Addressed to the box's user, the call is offered.
    let mine = String::from_utf8(invite("z9hG4bK-u3", "u3", 1))
        .expect("text")
        .replacen("INVITE sip:5551234@", "INVITE sip:callbox@", 1);
    ep.handle_datagram(now, addr(ATA), mine.as_bytes());
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
    );
    assert!(matches!(
        events(&mut ep).as_slice(),
        [CallEvent::Offered { .. }]
    ));
}

#[test]
fn without_sip_user_any_user_is_answered() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-a1", "a1", 1));
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
    );
}

#[test]
fn options_answers_with_allow() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    let options = String::from_utf8(invite("z9hG4bK-o", "o1", 1))
        .expect("text")
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    ep.handle_datagram(now, addr(ATA), options.as_bytes());
    let sent = drain(&mut ep);
    assert_eq!(status_lines(&sent), ["SIP/2.0 200 OK"]);
    assert!(
        sent[0].contains("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS"),
        "{}",
        sent[0]
    );
}

#[test]
fn unknown_and_unserved_methods() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    for (method, expected) in [
        ("FROB", "SIP/2.0 501 Not Implemented"),
        ("SUBSCRIBE", "SIP/2.0 405 Method Not Allowed"),
    ] {
        let text = String::from_utf8(invite(&format!("z9hG4bK-{method}"), "u1", 1))
            .expect("text")
            .replacen("INVITE sip", &format!("{method} sip"), 1)
            .replace("CSeq: 1 INVITE", &format!("CSeq: 1 {method}"));
        ep.handle_datagram(now, addr(ATA), text.as_bytes());
        assert_eq!(status_lines(&drain(&mut ep)), [expected]);
    }
}

#[test]
fn strangers_get_403_then_silence() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    let scanner = addr("203.0.113.7:5070");
    for _ in 0..10 {
        ep.handle_datagram(now, scanner, &invite("z9hG4bK-s", "s1", 1));
    }
    let sent = drain(&mut ep);
    assert_eq!(sent.len(), 3);
    assert!(status_lines(&sent)
        .iter()
        .all(|l| l == "SIP/2.0 403 Forbidden"));
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.live_calls(), 0);
    assert_eq!(ep.stats().dropped_strangers, 7);
}

#[test]
fn malformed_requests_get_400_or_nothing() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    let text = String::from_utf8(invite("z9hG4bK-m", "m1", 1)).expect("text");
    let long_length = text.replace(
        &format!("Content-Length: {}", SDP.len()),
        "Content-Length: 9999",
    );
    ep.handle_datagram(now, addr(ATA), long_length.as_bytes());
    let sent = drain(&mut ep);
    assert_eq!(
        status_lines(&sent),
        ["SIP/2.0 400 Content-Length exceeds the message body"]
    );
    ep.handle_datagram(now, addr(ATA), b"\x00\x01garbage");
    ep.handle_datagram(now, addr(ATA), &vec![b'x'; 20_000]);
    assert!(drain(&mut ep).is_empty());
    assert!(events(&mut ep).is_empty());
    // A normal call still goes through.
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-ok", "ok1", 1));
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
    );
}

fn register(branch: &str, cseq: u32, auth: Option<&str>) -> Vec<u8> {
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:192.168.1.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch={branch};rport\r\n\
From: <sip:ht813@192.168.1.10>;tag=r1\r\n\
To: <sip:ht813@192.168.1.10>\r\n\
Call-ID: reg1\r\n\
CSeq: {cseq} REGISTER\r\n\
Contact: <sip:ht813@192.168.1.20:5062>\r\n\
Expires: 600\r\n\
{auth}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn register_with_digest_challenge_and_expiry() {
    use md5::{Digest, Md5};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let now = Instant::now();
    let mut cfg = config();
    cfg.accounts = vec![("ht813".into(), "pa55".into())];
    cfg.max_register_expires = 300;
    let mut ep = Endpoint::new(cfg);
    ep.handle_datagram(now, addr(ATA), &register("z9hG4bK-r1", 1, None));
    let sent = drain(&mut ep);
    assert_eq!(status_lines(&sent), ["SIP/2.0 401 Unauthorized"]);
    let md5_challenge = sent[0]
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate:") && l.contains("MD5"))
        .expect("MD5 challenge");
    let nonce = md5_challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce");
    let digest = |password: &str| {
        let ha1 = hex(&Md5::digest(format!("ht813:callbox:{password}")));
        let ha2 = hex(&Md5::digest("REGISTER:sip:192.168.1.10"));
        let response = hex(&Md5::digest(format!("{ha1}:{nonce}:{ha2}")));
        format!(
            "Digest username=\"ht813\", realm=\"callbox\", nonce=\"{nonce}\", uri=\"sip:192.168.1.10\", response=\"{response}\", algorithm=MD5"
        )
    };
    ep.handle_datagram(
        now,
        addr(ATA),
        &register("z9hG4bK-r2", 2, Some(&digest("wrong"))),
    );
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 403 Forbidden"]);
    ep.handle_datagram(
        now,
        addr(ATA),
        &register("z9hG4bK-r3", 3, Some(&digest("pa55"))),
    );
    let sent = drain(&mut ep);
    assert_eq!(status_lines(&sent), ["SIP/2.0 200 OK"]);
    assert!(
        sent[0].contains("Contact: <sip:ht813@192.168.1.20:5062>;expires=300"),
        "Expires capped: {}",
        sent[0]
    );
    assert_eq!(ep.registrations(now).len(), 1);
    assert!(ep.registrations(now + Duration::from_secs(301)).is_empty());
}

#[test]
fn a_call_the_application_never_answers_is_refused() {
    let now = Instant::now();
    let (mut ep, call, _) = ringing(now);
    let t = ep.poll_timeout().expect("ring limit armed");
    assert_eq!(t - now, RING_LIMIT);
    ep.handle_timeout(t);
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 480 Temporarily Unavailable"]
    );
    assert_eq!(
        events(&mut ep),
        [CallEvent::Ended {
            call,
            reason: CallEnd::Rejected(480)
        }]
    );
}

#[test]
fn hang_up_before_ack_waits_for_the_ack() {
    let now = Instant::now();
    let (mut ep, call, ringing) = ringing(now);
    ep.answer(now, call, b"v=0\r\n").expect("answer");
    drain(&mut ep);
    ep.hang_up(now, call).expect("hang up");
    assert!(drain(&mut ep).is_empty(), "no BYE before the ACK");
    let tag = to_tag_of(&ringing);
    ep.handle_datagram(
        now,
        addr(ATA),
        &in_dialog("ACK", "z9hG4bK-ack", "c1", &tag, 1, ""),
    );
    let sent = drain(&mut ep);
    assert!(sent.iter().any(|m| m.starts_with("BYE ")), "{sent:?}");
}

fn invite_from(ip: &str, branch: &str, call_id: &str) -> Vec<u8> {
    String::from_utf8(invite(branch, call_id, 1))
        .expect("text")
        .replace("192.168.1.20:5062;branch", &format!("{ip}:5062;branch"))
        .into_bytes()
}

fn limited(max_per_source: usize, attempts: u32) -> Endpoint {
    Endpoint::new(EndpointConfig {
        allowed_peers: vec!["192.168.1.0/24".parse().expect("cidr")],
        max_concurrent_calls: 3,
        invite_auth: false,
        max_calls_per_source: max_per_source,
        call_attempts_per_minute: attempts,
        ..config()
    })
}

fn final_status(ep: &mut Endpoint) -> Vec<String> {
    status_lines(&drain(ep))
        .into_iter()
        .filter(|l| !l.contains(" 100 "))
        .collect()
}

#[test]
fn one_source_cannot_hold_every_line() {
    let now = Instant::now();
    let mut ep = limited(1, 0);
    let flood = addr("192.168.1.50:5062");
    ep.handle_datagram(now, flood, &invite_from("192.168.1.50", "z9hG4bK-f1", "f1"));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
    for i in 2..6 {
        let (b, c) = (format!("z9hG4bK-f{i}"), format!("f{i}"));
        ep.handle_datagram(now, flood, &invite_from("192.168.1.50", &b, &c));
        assert_eq!(
            final_status(&mut ep),
            ["SIP/2.0 486 Busy Here"],
            "INVITE {i}"
        );
    }
    // The ATA still gets a line.
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-ata", "ata", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
    assert_eq!(ep.live_calls(), 2);
}

#[test]
fn call_attempts_are_rate_limited_per_source() {
    let now = Instant::now();
    let mut ep = limited(0, 3);
    let flood = addr("192.168.1.50:5062");
    let mut answers = Vec::new();
    for i in 0..6 {
        let (b, c) = (format!("z9hG4bK-a{i}"), format!("a{i}"));
        ep.handle_datagram(now, flood, &invite_from("192.168.1.50", &b, &c));
        answers.extend(final_status(&mut ep));
        // Each ringing call is refused at once so only the attempt rate can bite.
        for e in events(&mut ep) {
            if let CallEvent::Offered { call, .. } = e {
                ep.reject(now, call, 480, "Temporarily Unavailable")
                    .expect("reject");
                drain(&mut ep);
            }
        }
    }
    let refused = answers.iter().filter(|a| a.contains(" 503 ")).count();
    assert_eq!(refused, 3, "{answers:?}");
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-ata", "ata", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
    // A retransmission of a refused INVITE is absorbed, not counted again.
    ep.handle_datagram(now, flood, &invite_from("192.168.1.50", "z9hG4bK-a5", "a5"));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 503 Service Unavailable"]);
}

#[test]
fn invites_must_authenticate_when_configured() {
    use md5::{Digest, Md5};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let now = Instant::now();
    let mut cfg = config();
    cfg.accounts = vec![("ht813".into(), "pa55".into())];
    cfg.invite_auth = true;
    let mut ep = Endpoint::new(cfg);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-i1", "auth1", 1));
    let sent = drain(&mut ep);
    assert_eq!(
        status_lines(&sent),
        ["SIP/2.0 407 Proxy Authentication Required"]
    );
    assert!(events(&mut ep).is_empty(), "no call before authentication");
    let challenges: Vec<&str> = sent[0]
        .lines()
        .filter(|l| l.starts_with("Proxy-Authenticate:"))
        .collect();
    assert!(challenges.iter().any(|c| c.contains("SHA-256")), "{sent:?}");
    let md5 = challenges
        .iter()
        .find(|c| c.contains("MD5"))
        .expect("MD5 challenge");
    let nonce = md5
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce");
    let uri = "sip:5551234@192.168.1.10";
    let credentials = |password: &str| {
        let ha1 = hex(&Md5::digest(format!("ht813:callbox:{password}")));
        let ha2 = hex(&Md5::digest(format!("INVITE:{uri}")));
        let response = hex(&Md5::digest(format!("{ha1}:{nonce}:{ha2}")));
        format!(
            "Digest username=\"ht813\", realm=\"callbox\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5"
        )
    };
    let with_auth = |branch: &str, cseq: u32, password: &str| {
        String::from_utf8(invite(branch, "auth1", cseq))
            .expect("text")
            .replace(
                "Max-Forwards: 70\r\n",
                &format!(
                    "Max-Forwards: 70\r\nProxy-Authorization: {}\r\n",
                    credentials(password)
                ),
            )
            .into_bytes()
    };
    ep.handle_datagram(now, addr(ATA), &with_auth("z9hG4bK-i2", 2, "wrong"));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 403 Forbidden"]);
    ep.handle_datagram(now, addr(ATA), &with_auth("z9hG4bK-i3", 3, "pa55"));
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"]
    );
    assert!(matches!(&events(&mut ep)[..], [CallEvent::Offered { .. }]));
}

/// A REGISTER from the ATA answered with the right MD5 digest, `expires` seconds.
fn register_as_ht813(ep: &mut Endpoint, now: Instant, from: SocketAddr, cseq: u32, expires: u32) {
    use md5::{Digest, Md5};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let with_expires = |branch: &str, cseq: u32, auth: Option<&str>| {
        String::from_utf8(register(branch, cseq, auth))
            .expect("text")
            .replace("Expires: 600", &format!("Expires: {expires}"))
            .into_bytes()
    };
    ep.handle_datagram(
        now,
        from,
        &with_expires(&format!("z9hG4bK-q{cseq}"), cseq, None),
    );
    let sent = drain(ep);
    let nonce = sent[0]
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce");
    let ha1 = hex(&Md5::digest("ht813:callbox:pa55"));
    let ha2 = hex(&Md5::digest("REGISTER:sip:192.168.1.10"));
    let response = hex(&Md5::digest(format!("{ha1}:{nonce}:{ha2}")));
    let auth = format!(
        "Digest username=\"ht813\", realm=\"callbox\", nonce=\"{nonce}\", uri=\"sip:192.168.1.10\", response=\"{response}\", algorithm=MD5"
    );
    let branch = format!("z9hG4bK-r{cseq}");
    ep.handle_datagram(now, from, &with_expires(&branch, cseq + 1, Some(&auth)));
    assert_eq!(status_lines(&drain(ep)), ["SIP/2.0 200 OK"]);
}

fn registered_mode() -> EndpointConfig {
    EndpointConfig {
        allowed_peers: vec!["192.168.1.0/24".parse().expect("cidr")],
        max_concurrent_calls: 4,
        require_registration: true,
        accounts: vec![("ht813".into(), "pa55".into())],
        ..config()
    }
}

#[test]
fn registered_mode_answers_only_the_live_binding_s_address_and_port() {
    let now = Instant::now();
    let mut ep = Endpoint::new(registered_mode());
    // Before any registration: 403, and no call.
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-u0", "u0", 1));
    let sent = drain(&mut ep);
    assert_eq!(status_lines(&sent), ["SIP/2.0 403 Forbidden"]);
    assert!(sent[0].contains("Warning: 399 callbox"), "{}", sent[0]);
    assert!(events(&mut ep).is_empty());

    register_as_ht813(&mut ep, now, addr(ATA), 1, 120);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-u1", "u1", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
    assert!(matches!(&events(&mut ep)[..], [CallEvent::Offered { .. }]));

    // The same host from another port, and another host on the allow-list: 403.
    let other_port = addr("192.168.1.20:5063");
    ep.handle_datagram(now, other_port, &invite("z9hG4bK-u2", "u2", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 403 Forbidden"]);
    let guest = addr("192.168.1.77:5062");
    ep.handle_datagram(now, guest, &invite_from("192.168.1.77", "z9hG4bK-u3", "u3"));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 403 Forbidden"]);
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.stats().unregistered, 3);

    // Once the binding has expired: 403 again; a re-registration lets calls in again.
    let later = now + Duration::from_secs(121);
    ep.handle_timeout(later);
    drain(&mut ep);
    events(&mut ep);
    ep.handle_datagram(later, addr(ATA), &invite("z9hG4bK-u4", "u4", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 403 Forbidden"]);
    register_as_ht813(&mut ep, later, addr(ATA), 10, 120);
    ep.handle_datagram(later, addr(ATA), &invite("z9hG4bK-u5", "u5", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
}

#[test]
fn registered_mode_keeps_digest_auth_on_top() {
    let now = Instant::now();
    let mut ep = Endpoint::new(EndpointConfig {
        invite_auth: true,
        ..registered_mode()
    });
    register_as_ht813(&mut ep, now, addr(ATA), 1, 300);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-v1", "v1", 1));
    assert_eq!(
        status_lines(&drain(&mut ep)),
        ["SIP/2.0 407 Proxy Authentication Required"],
        "a registered source still authenticates its INVITEs"
    );
    assert!(events(&mut ep).is_empty());
}

fn options(branch: &str) -> Vec<u8> {
    String::from_utf8(invite(branch, "opt", 1))
        .expect("text")
        .replacen("INVITE sip", "OPTIONS sip", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS")
        .into_bytes()
}

#[test]
fn a_parser_panic_drops_the_datagram_counts_it_and_the_endpoint_goes_on() {
    let now = Instant::now();
    let mut ep = Endpoint::new(config());
    let mut datagram = message::PANIC_IN_PARSER.to_vec();
    datagram.extend_from_slice(&invite("z9hG4bK-p1", "p1", 1));
    ep.handle_datagram(now, addr(ATA), &datagram);
    assert!(drain(&mut ep).is_empty(), "nothing is answered");
    assert!(events(&mut ep).is_empty(), "no call");
    assert_eq!(ep.stats().panics, 1);
    ep.handle_datagram(now, addr(ATA), &options("z9hG4bK-p2"));
    assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
    ep.handle_datagram(now, addr(ATA), &invite("z9hG4bK-p3", "p3", 1));
    assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
}

/// Every input in `tests/assets/sip-crashes/` (malformed datagrams, and any input that ever
/// crashed the parser or the endpoint) goes through the parser and the endpoint as the fuzz
/// target feeds them (0xFF splits one file into several datagrams, then the timers run): no
/// panic, not even a caught one, and afterwards the endpoint still answers OPTIONS and rings
/// an INVITE.
#[test]
fn the_crash_corpus_is_replayed_without_a_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/assets/sip-crashes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/assets/sip-crashes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus shrank: {files:?}");
    for file in files {
        let name = file.display().to_string();
        let data = std::fs::read(&file).expect("read");
        let caught = std::panic::catch_unwind(|| {
            let parsed = message::parse(&data, 8192);
            assert!(
                !matches!(parsed, Err(MessageError::Panicked(_))),
                "the parser panicked"
            );
            let now = Instant::now();
            let mut ep = Endpoint::new(EndpointConfig {
                allowed_peers: vec!["192.168.1.0/24".parse().expect("cidr")],
                max_concurrent_calls: 2,
                accounts: vec![("ht813".into(), "pa55".into())],
                ..config()
            });
            for datagram in data.split(|b| *b == 0xFF) {
                ep.handle_datagram(now, addr(ATA), datagram);
                for e in events(&mut ep) {
                    if let CallEvent::Offered { call, .. } = e {
                        let _ = ep.answer(now, call, b"v=0\r\n");
                    }
                }
            }
            ep.handle_timeout(now + Duration::from_secs(40));
            drain(&mut ep);
            events(&mut ep);
            assert_eq!(ep.stats().panics, 0);
            let later = now + Duration::from_secs(41);
            ep.handle_datagram(later, addr(ATA), &options("z9hG4bK-after-o"));
            assert_eq!(status_lines(&drain(&mut ep)), ["SIP/2.0 200 OK"]);
            ep.handle_datagram(later, addr(ATA), &invite("z9hG4bK-after-i", "after", 1));
            assert_eq!(final_status(&mut ep), ["SIP/2.0 180 Ringing"]);
        });
        assert!(caught.is_ok(), "{name} made the SIP ingress panic");
    }
}
