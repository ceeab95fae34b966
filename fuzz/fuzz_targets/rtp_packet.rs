//! RTP and RFC 4733 payloads from any UDP sender: parsing must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = callbox::telephony::rtp::RtpPacket::parse(data) {
        let _ = callbox::telephony::dtmf::TelephoneEvent::parse(packet.payload);
    }
    let _ = callbox::telephony::dtmf::TelephoneEvent::parse(data);
});
