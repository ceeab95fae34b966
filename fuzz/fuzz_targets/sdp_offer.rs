//! SDP offers from the network: parse and negotiate must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offer) = callbox::telephony::sdp::parse_offer(&text) {
        let media = callbox::config::MediaConfig::default();
        if let Ok(n) = callbox::telephony::sdp::negotiate(&offer, &media) {
            let _ = callbox::telephony::sdp::build_answer(&n, [127, 0, 0, 1].into(), 10000, 1, 1);
        }
    }
});
