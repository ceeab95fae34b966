//! SIP intake and the endpoint's per-message cost: parse + validate an INVITE, write a
//! response, and a whole call (INVITE, answer, ACK, BYE) through the sans-IO endpoint.

use callbox::telephony::sip::message::{self, Inbound};
use callbox::telephony::sip::{CallEvent, Endpoint, EndpointConfig};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::time::Instant;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";

fn invite(call: u64) -> Vec<u8> {
    format!(
        "INVITE sip:5551234@192.168.1.10 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-{call};rport\r\n\
From: \"SMITH JOHN\" <sip:3125550142@192.168.1.20>;tag=ata{call}\r\n\
To: <sip:5551234@192.168.1.10>\r\n\
Call-ID: {call}@192.168.1.20\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:3125550142@192.168.1.20:5062>\r\n\
Max-Forwards: 70\r\n\
User-Agent: Grandstream HT813 1.0.5.4\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn config() -> EndpointConfig {
    EndpointConfig {
        contact_addr: "192.168.1.10:5060".parse().expect("static"),
        allowed_peers: vec!["192.168.1.0/24".parse().expect("static")],
        stranger_rate_limit: 5,
        max_concurrent_calls: 4,
        invite_auth: false,
        require_registration: false,
        max_calls_per_source: 0,
        call_attempts_per_minute: 0,
        user: String::new(),
        realm: "callbox".into(),
        accounts: vec![],
        max_register_expires: 3600,
        max_message_bytes: 8192,
        user_agent: "callbox-bench".into(),
    }
}

fn bench_parse(c: &mut Criterion) {
    let data = invite(1);
    let mut group = c.benchmark_group("sip_message");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_validate_invite", |b| {
        b.iter(|| match message::parse(black_box(&data), 8192) {
            Ok(Inbound::Request(r)) => black_box(r.cseq),
            _ => panic!("bench input must parse"),
        })
    });
    let vias = vec![
        "SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-1;rport=5062;received=192.168.1.20"
            .to_string(),
    ];
    group.bench_function("write_200_ok_with_sdp", |b| {
        b.iter(|| {
            black_box(message::write_response(
                200,
                "OK",
                &vias,
                "\"SMITH JOHN\" <sip:3125550142@192.168.1.20>;tag=ata1",
                "<sip:5551234@192.168.1.10>;tag=abc",
                "1@192.168.1.20",
                "1 INVITE",
                &[("Contact", "<sip:callbox@192.168.1.10:5060>".to_string())],
                Some(("application/sdp", SDP.as_bytes())),
            ))
        })
    });
    group.finish();
}

fn bench_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("sip_endpoint");
    group.throughput(Throughput::Elements(1));
    let peer = "192.168.1.20:5062".parse().expect("static");
    group.bench_function("whole_call_invite_answer_ack_bye", |b| {
        let mut endpoint = Endpoint::new(config());
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let now = Instant::now();
            endpoint.handle_datagram(now, peer, &invite(n));
            let mut tag = String::new();
            while let Some(t) = endpoint.poll_transmit() {
                let text = String::from_utf8_lossy(&t.payload);
                if let Some(found) = text.split("To: <sip:5551234@192.168.1.10>;tag=").nth(1) {
                    tag = found.split("\r\n").next().unwrap_or("").to_string();
                }
            }
            while let Some(ev) = endpoint.poll_event() {
                if let CallEvent::Offered { call, .. } = ev {
                    endpoint.answer(now, call, SDP.as_bytes()).expect("answer");
                }
            }
            while endpoint.poll_transmit().is_some() {}
            for (method, cseq) in [("ACK", 1), ("BYE", 2)] {
                let req = format!(
                    "{method} sip:callbox@192.168.1.10:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-{method}{n};rport\r\nFrom: <sip:3125550142@192.168.1.20>;tag=ata{n}\r\nTo: <sip:5551234@192.168.1.10>;tag={tag}\r\nCall-ID: {n}@192.168.1.20\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
                );
                endpoint.handle_datagram(now, peer, req.as_bytes());
            }
            while endpoint.poll_transmit().is_some() {}
            while endpoint.poll_event().is_some() {}
            // Release the transactions kept for retransmissions, as time would.
            endpoint.handle_timeout(now + std::time::Duration::from_secs(60));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_call);
criterion_main!(benches);
