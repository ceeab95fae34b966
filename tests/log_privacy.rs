//! Callers' numbers in the log: at info level only their last four digits, unless
//! `log.full_numbers` is on for debugging. sipp calls as +13125550142 ("Test Caller").

mod common;

use common::*;

const NUMBER: &str = "3125550142";

fn call_and_log(config: DaemonConfig) -> String {
    let daemon = Daemon::start(config.set("log.filter", "info"));
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    let record = daemon.one_record();
    assert_eq!(
        record["caller"]["number"], "+13125550142",
        "the call record keeps the number whole"
    );
    daemon.log()
}

#[test]
fn caller_numbers_are_masked_at_info_level() {
    let _g = serial();
    let log = call_and_log(DaemonConfig::answering());
    assert!(log.contains("call answered"), "log:\n{log}");
    assert!(
        !log.contains(NUMBER),
        "the full number is in the log:\n{log}"
    );
    assert!(
        log.contains("***0142"),
        "the masked number is in the log:\n{log}"
    );
    assert!(
        !log.contains("Test Caller"),
        "the caller's name is in the log:\n{log}"
    );
}

#[test]
fn full_numbers_are_logged_with_the_key_on() {
    let _g = serial();
    let log = call_and_log(DaemonConfig::answering().set("log.full_numbers", true));
    assert!(log.contains("+13125550142"), "log:\n{log}");
}
