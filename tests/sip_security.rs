//! Issue 17 against the running daemon: nothing acts on a call before its ACK, media stays
//! pinned to the peer, and one source cannot hold every line.

mod common;

use common::*;
use std::time::Duration;

/// A caller that takes the 200 OK and never ACKs: the box ends the dialog after 64*T1 with a
/// BYE, and nothing of the call flow ever ran: no "call answered", no call record, nothing
/// queued (no lead, no ServiceTitan record, no alert).
#[test]
fn a_call_that_never_acks_leaves_nothing_behind() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let run = Sipp::new(daemon.sip, "never_ack.xml")
        .timeout(Duration::from_secs(90))
        .run();
    run.assert_ok(&daemon);
    std::thread::sleep(Duration::from_millis(500));
    let log = daemon.log();
    assert!(
        log.contains("no ACK for 200 OK"),
        "the box should have given up on the ACK:\n{}",
        daemon.log_tail(60)
    );
    assert!(
        !log.contains("call answered"),
        "the call flow started without an ACK:\n{}",
        daemon.log_tail(60)
    );
    assert!(
        daemon.call_records().is_empty(),
        "a call record was written for a call that never completed its handshake: {:#?}",
        daemon.call_records()
    );
    // `queue list` prints its column header and one line per record.
    let queued = daemon.queue(&["list"]);
    assert!(
        queued.lines().skip(1).all(|l| l.trim().is_empty()),
        "something was queued for a call that never completed its handshake: {queued}"
    );
}
