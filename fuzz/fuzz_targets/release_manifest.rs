//! Release metadata from an update server: verifying a root or a release manifest must never
//! panic, and nothing unsigned is ever accepted (as a release, a new root, or a kept link of
//! the rotation chain).
#![no_main]
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

use callbox::update::metadata::{Expectation, Root};
use callbox::update::PublicKey;

fuzz_target!(|data: &[u8]| {
    // A root trusting one fixed key; the fuzzer does not hold its secret, so any release it
    // makes must be refused.
    let key = PublicKey {
        scheme: "ed25519".into(),
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a".into(),
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap();
    let root = Root::new(vec![key], 1, now + chrono::Duration::days(365));
    let expect = Expectation {
        installed: "1.0.0".parse().unwrap(),
        highest_seen: None,
        arch: "aarch64".into(),
        channel: "stable".into(),
    };
    assert!(root.verify_release(data, now, &expect).is_err());
    assert!(root.verify_next(data).is_err());
    // The same bytes kept as a rotation link: the chain refuses them, without panicking.
    let links = std::collections::BTreeMap::from([(2u64, data.to_vec())]);
    assert!(callbox::update::trust::verify_chain(&root, &links).is_err());
    let _ = Root::verify_anchor(data);
});
