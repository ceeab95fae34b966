//! The whole SIP ingress: a datagram from an allowed peer into the endpoint, then its timers.
//! Whatever arrives, the endpoint must not panic and must keep answering. The parser's panic
//! guard would hide a panic in rsipstack from the fuzzer, so a caught one fails here too.
//! Crashes found are kept in `tests/assets/sip-crashes/` (see its README) and replayed there.
#![no_main]
use callbox::telephony::sip::{Endpoint, EndpointConfig};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let parsed = callbox::telephony::sip::message::parse(data, 8192);
    assert!(
        !matches!(
            parsed,
            Err(callbox::telephony::sip::message::MessageError::Panicked(_))
        ),
        "the SIP parser panicked (caught by its guard)"
    );
    let config = EndpointConfig {
        contact_addr: "127.0.0.1:5060".parse().expect("static"),
        allowed_peers: vec!["127.0.0.0/8".parse().expect("static")],
        stranger_rate_limit: 5,
        max_concurrent_calls: 2,
        invite_auth: false,
        require_registration: false,
        max_calls_per_source: 1,
        call_attempts_per_minute: 20,
        user: String::new(),
        realm: "callbox".into(),
        accounts: vec![("ata".into(), "secret".into())],
        max_register_expires: 3600,
        max_message_bytes: 8192,
        user_agent: "fuzz".into(),
    };
    let mut endpoint = Endpoint::new(config);
    let now = Instant::now();
    let peer = "127.0.0.1:5062".parse().expect("static");
    // Split on a marker so one input can be a sequence of datagrams (INVITE, then CANCEL…).
    for datagram in data.split(|b| *b == 0xFF) {
        endpoint.handle_datagram(now, peer, datagram);
        while let Some(event) = endpoint.poll_event() {
            if let callbox::telephony::sip::CallEvent::Offered { call, .. } = event {
                let _ = endpoint.answer(now, call, b"v=0\r\n");
            }
        }
    }
    endpoint.handle_timeout(now + Duration::from_secs(40));
    while endpoint.poll_transmit().is_some() {}
    assert_eq!(endpoint.stats().panics, 0, "a panic was caught in the SIP ingress");
});
