//! RFC 4475 (SIP Torture Test Messages), all 49 messages, fed to the sans-I/O endpoint from
//! `tests/assets/rfc4475/<name>.sip` (one file per message, CRLF line ends, the RFC's
//! `<hex>` runs expanded to bytes). Each row names the RFC section, what the box must answer,
//! and, where the RFC leaves a choice, the RFC's words and the choice made.
//!
//! Provenance: the RFC text itself could not be fetched here. The message bytes come from the
//! RFC's messages as quoted in resiprocate's `resip/stack/test/RFC4475TortureTests.cxx`
//! (LF turned into CRLF, the binary part of `mpart01` kept with its bare LFs; every
//! Content-Length checked against its body: all agree except where the RFC means them not to,
//! and `multi01`, whose quoted body is 152 bytes for `l: 154`). Sections 3.1.1 to 3.2 quote
//! the RFC's words as that file carries them; the rows of 3.3 and 3.4 (the file has no
//! descriptions there) state the expected answer from the RFC's section titles and RFC 3261,
//! marked "(paraphrase)".
//!
//! The box is a user agent server, so "a proxy would…" clauses do not apply; where the RFC
//! says "an element" the UAS reading is taken.

use super::*;

/// What the box must do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A new call is offered to the application (100 Trying + 180 Ringing).
    Offered,
    /// A final response with this status (100 Trying may precede it), carrying `header`.
    Final(u16, Option<&'static str>),
    /// Nothing is sent (responses are never answered).
    Silent,
}
use Expect::*;

struct Case {
    name: &'static str,
    section: &'static str,
    expect: Expect,
    /// The RFC's words on what an element does with it (and the choice, where it leaves one).
    why: &'static str,
}

const SOURCE: &str = "192.0.2.1:5060";

const CASES: &[Case] = &[
    // ----- 3.1.1 Valid messages -------------------------------------------------------------
    Case { name: "wsinv", section: "3.1.1.1", expect: Final(481, None),
        why: "\"All elements should treat this as a well-formed request.\" It carries a To tag \
              the box never issued, so the well-formed answer of a UAS is 481." },
    Case { name: "intmeth", section: "3.1.1.2", expect: Final(501, Some("Allow")),
        why: "\"Endpoints will generate a 501 listing the methods they understand in an Allow \
              header field.\"" },
    Case { name: "esc01", section: "3.1.1.3", expect: Offered,
        why: "\"A parser must accept this as a well-formed message.\"" },
    Case { name: "escnull", section: "3.1.1.4", expect: Final(200, None),
        why: "\"This register request contains several URIs with nulls in the userpart. The \
              message is well formed - parsers must accept this message.\"" },
    Case { name: "esc02", section: "3.1.1.5", expect: Final(501, Some("Allow")),
        why: "\"A parser should accept this message as well formed. ... An endpoint would reject \
              this message with a 501.\"" },
    Case { name: "lwsdisp", section: "3.1.1.6", expect: Final(200, None),
        why: "\"Elements should accept this request as well formed.\"" },
    Case { name: "longreq", section: "3.1.1.7", expect: Offered,
        why: "\"This well-formed request contains header fields with many values and values \
              that are very long.\" A new INVITE with an SDP offer: the call is offered." },
    Case { name: "dblreq", section: "3.1.1.8", expect: Final(200, None),
        why: "\"A SIP element receiving this datagram would handle the REGISTER request normally \
              and ignore the extra bits that look like an INVITE request.\"" },
    Case { name: "semiuri", section: "3.1.1.9", expect: Final(200, None),
        why: "\"Receiving elements will accept this as a well-formed message.\"" },
    Case { name: "transports", section: "3.1.1.10", expect: Final(200, None),
        why: "\"Parsers must accept this message as well formed.\"" },
    Case { name: "mpart01", section: "3.1.1.11", expect: Final(405, Some("Allow")),
        why: "\"Parsers must accept this message as well formed\"; the box does not serve \
              MESSAGE, so the well-formed answer is 405 with Allow." },
    Case { name: "unreason", section: "3.1.1.12", expect: Silent,
        why: "\"This response is well formed. A parser must accept this message.\" It matches no \
              transaction of the box and is absorbed." },
    Case { name: "noreason", section: "3.1.1.13", expect: Silent,
        why: "\"This well-formed response contains no reason phrase. A parser must accept this \
              message.\" Absorbed." },
    // ----- 3.1.2 Invalid messages ----------------------------------------------------------
    Case { name: "badinv01", section: "3.1.2.1", expect: Final(400, None),
        why: "\"This message is syntactically invalid. An element receiving this request \
              should respond with a 400 Bad Request error.\"" },
    Case { name: "clerr", section: "3.1.2.2", expect: Final(400, None),
        why: "\"When sent over UDP (as this message ostensibly was), the receiving element should \
              respond with a 400 Bad Request error.\"" },
    Case { name: "ncl", section: "3.1.2.3", expect: Final(400, None),
        why: "Negative Content-Length (the RFC: \"the result must not be used as a counter or \
              array index\"): over UDP the datagram is refused with 400, the value never used." },
    Case { name: "scalar02", section: "3.1.2.4", expect: Final(400, None),
        why: "\"An element receiving this request should respond with a 400 Bad Request due \
              to the CSeq error.\"" },
    Case { name: "scalarlg", section: "3.1.2.5", expect: Silent,
        why: "\"An element receiving this response will simply discard it.\"" },
    Case { name: "quotbal", section: "3.1.2.6", expect: Final(400, None),
        why: "\"An element receiving this request should return a 400 Bad Request error.\"" },
    Case { name: "ltgtruri", section: "3.1.2.7", expect: Final(400, None),
        why: "\"It is reasonable always to reject a request with this error with a 400 Bad \
              Request.\"" },
    Case { name: "lwsruri", section: "3.1.2.8", expect: Final(400, None),
        why: "\"An element receiving this request should respond with a 400 Bad Request.\"" },
    Case { name: "lwsstart", section: "3.1.2.9", expect: Final(400, None),
        why: "\"It is acceptable to reject this request as malformed.\" Chosen: 400, the \
              start line is read strictly (single SP, RFC 3261 25.1)." },
    Case { name: "trws", section: "3.1.2.10", expect: Final(400, None),
        why: "\"It is acceptable to reject this request as malformed.\" Chosen: 400." },
    Case { name: "escruri", section: "3.1.2.11", expect: Final(400, None),
        why: "\"It is acceptable for an element to reject this request with a 400 Bad \
              Request.\" Chosen: 400; a Request-URI with headers is never a call for the box." },
    Case { name: "baddate", section: "3.1.2.12", expect: Offered,
        why: "\"an element shouldn't do that unless the contents of the Date header field \
              were actually important to its processing ... could ignore this value \
              altogether\". The box never reads Date: ignored, the call is offered." },
    Case { name: "regbadct", section: "3.1.2.13", expect: Final(400, None),
        why: "\"It is reasonable for an element receiving this request to respond with a 400 \
              Bad Request.\" Chosen: 400." },
    Case { name: "badaspec", section: "3.1.2.14", expect: Final(400, None),
        why: "\"It is reasonable to reject this request with a 400 Bad Request response.\" \
              Chosen: 400." },
    Case { name: "baddn", section: "3.1.2.15", expect: Final(400, None),
        why: "\"It is reasonable always to reject this kind of error with a 400 Bad Request \
              response.\" Chosen: 400." },
    Case { name: "badvers", section: "3.1.2.16", expect: Final(505, None),
        why: "\"The element should respond to the request with a 505 Version Not Supported \
              error.\"" },
    Case { name: "mismatch01", section: "3.1.2.17", expect: Final(400, None),
        why: "\"Any element receiving this request will respond with a 400 Bad Request.\"" },
    Case { name: "mismatch02", section: "3.1.2.18", expect: Final(501, Some("Allow")),
        why: "\"Any element receiving this response should respond with a 501 Not \
              Implemented. A 400 Bad Request is also acceptable, but choosing a 501 ... has \
              better future-proof characteristics.\" Chosen: 501." },
    Case { name: "bigcode", section: "3.1.2.19", expect: Silent,
        why: "\"An element receiving this response should simply drop it.\"" },
    // ----- 3.2 Transaction layer -----------------------------------------------------------
    Case { name: "badbranch", section: "3.2.1", expect: Final(200, None),
        why: "\"A parser must not break when receiving this message ... or it could fall back \
              to the RFC 2543-style transaction identifier.\" Chosen: fall back, 200." },
    // ----- 3.3 Application layer -----------------------------------------------------------
    Case { name: "insuf", section: "3.3.1", expect: Final(400, None),
        why: "(paraphrase) Call-ID, From and To missing: \"should respond with a 400 Bad Request\"." },
    Case { name: "unkscm", section: "3.3.2", expect: Final(416, None),
        why: "(paraphrase) Request-URI of an unknown scheme: \"should respond with a 416 Unsupported URI \
              Scheme\"." },
    Case { name: "novelsc", section: "3.3.3", expect: Final(416, None),
        why: "(paraphrase) soap.beep: a scheme the box does not serve; a UAS answers 416." },
    Case { name: "unksm2", section: "3.3.4", expect: Final(400, None),
        why: "(paraphrase) To and Contact with non-SIP schemes on a REGISTER: the registrar cannot bind \
              them; \"should respond with a 400\" (chosen over 416: the Request-URI is SIP)." },
    Case { name: "bext01", section: "3.3.5", expect: Final(420, Some("Unsupported")),
        why: "(paraphrase) Unknown Require option: \"must respond with a 420 Bad Extension\" listing it in \
              Unsupported." },
    Case { name: "invut", section: "3.3.6", expect: Final(415, Some("Accept")),
        why: "(paraphrase) Unknown Content-Type with Content-Disposition: session: \"should respond with \
              a 415 Unsupported Media Type\" and an Accept header field." },
    Case { name: "regaut01", section: "3.3.7", expect: Final(401, Some("WWW-Authenticate")),
        why: "(paraphrase) Unknown Authorization scheme: \"should respond with a 401\" challenging with a \
              scheme it knows (tested with the registrar requiring auth)." },
    Case { name: "multi01", section: "3.3.8", expect: Final(400, None),
        why: "(paraphrase) Multiple values in single-value header fields (CSeq, Call-ID, From, To, \
              Max-Forwards): \"should respond with a 400 Bad Request\"." },
    Case { name: "mcl01", section: "3.3.9", expect: Final(400, None),
        why: "(paraphrase) Multiple Content-Length values: \"should respond with a 400 Bad Request\"." },
    Case { name: "bcast", section: "3.3.10", expect: Silent,
        why: "(paraphrase) A 200 OK whose Via names a broadcast address; responses are never answered \
              (and never routed by their Via)." },
    Case { name: "zeromf", section: "3.3.11", expect: Final(200, None),
        why: "(paraphrase) Max-Forwards 0 on OPTIONS: \"An endpoint receiving this request should respond \
              as normal; a proxy answers 483\"." },
    Case { name: "cparam01", section: "3.3.12", expect: Final(200, None),
        why: "(paraphrase) Contact header parameters on a REGISTER: well formed, \"should be accepted\"." },
    Case { name: "cparam02", section: "3.3.13", expect: Final(200, None),
        why: "(paraphrase) Contact URI parameters on a REGISTER: well formed, accepted." },
    Case { name: "regescrt", section: "3.3.14", expect: Final(400, None),
        why: "(paraphrase) A Contact with an escaped Route header on a REGISTER: the registrar must not \
              store it; \"should respond with a 400\"." },
    Case { name: "sdp01", section: "3.3.15", expect: Final(406, None),
        why: "(paraphrase) INVITE whose Accept lists no type the box can answer with: \"should respond \
              with a 406 Not Acceptable\"." },
    // ----- 3.4 Backward compatibility ------------------------------------------------------
    Case { name: "inv2543", section: "3.4.1", expect: Offered,
        why: "(paraphrase) An RFC 2543 INVITE (no branch, no Content-Length): \"should be accepted\"; the \
              transaction is keyed the RFC 2543 way." },
];

fn config(accounts: Vec<(String, Secret)>) -> EndpointConfig {
    EndpointConfig {
        contact_addr: "192.0.2.200:5060".parse().expect("addr"),
        allowed_peers: vec!["192.0.2.0/24".parse().expect("cidr")],
        stranger_rate_limit: 3,
        max_concurrent_calls: 4,
        invite_auth: false,
        require_registration: false,
        max_calls_per_source: 0,
        call_attempts_per_minute: 0,
        user: String::new(),
        realm: "callbox".into(),
        accounts,
        max_register_expires: 3600,
        max_message_bytes: 8192,
        user_agent: "callbox-test".into(),
    }
}

fn message(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/assets/rfc4475/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What the endpoint did with one message, in the terms of [`Expect`].
fn outcome(case: &Case) -> (Expect, Vec<String>) {
    let accounts = if case.name == "regaut01" {
        vec![("user".to_string(), Secret::new("pw".to_string()))]
    } else {
        vec![]
    };
    let mut ep = Endpoint::new(config(accounts));
    let now = Instant::now();
    ep.handle_datagram(now, SOURCE.parse().expect("addr"), &message(case.name));
    let mut sent = Vec::new();
    while let Some(t) = ep.poll_transmit() {
        sent.push(String::from_utf8_lossy(&t.payload).into_owned());
    }
    let offered =
        std::iter::from_fn(|| ep.poll_event()).any(|e| matches!(e, CallEvent::Offered { .. }));
    let statuses: Vec<u16> = sent
        .iter()
        .filter_map(|m| m.strip_prefix("SIP/2.0 "))
        .filter_map(|m| m.get(..3)?.parse().ok())
        .collect();
    let got = if offered && statuses == [100, 180] {
        Offered
    } else if let Some(&status) = statuses.iter().find(|s| **s >= 200) {
        let header = match case.expect {
            Final(_, Some(h)) if has_header(&sent, h) => Some(h),
            _ => None,
        };
        Final(status, header)
    } else if sent.is_empty() && !offered {
        Silent
    } else {
        Final(0, None)
    };
    (got, sent)
}

fn has_header(sent: &[String], name: &str) -> bool {
    sent.iter().any(|m| {
        m.split("\r\n").any(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
    })
}

#[test]
fn all_49_messages_are_present() {
    assert_eq!(CASES.len(), 49);
    for case in CASES {
        assert!(!message(case.name).is_empty(), "{}", case.name);
        assert!(!case.why.is_empty() && !case.section.is_empty());
    }
}

#[test]
fn every_message_gets_the_answer_the_rfc_names() {
    let mut failures = Vec::new();
    for case in CASES {
        let (got, sent) = outcome(case);
        if got != case.expect {
            failures.push(format!(
                "{} (RFC 4475 §{}): expected {:?}, got {:?}\n  RFC: {}\n  sent: {:?}",
                case.name,
                case.section,
                case.expect,
                got,
                case.why,
                sent.iter()
                    .map(|m| m.lines().next().unwrap_or(""))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 49 wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
