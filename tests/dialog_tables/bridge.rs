//! Conversation cases for `tests/dialog_conversations.rs` (issue 15, the bridge): a box that
//! can call out while the caller holds the line (`[sip] outbound_while_on_call = true`, a SIP
//! trunk or a second line) puts a caller who asks for a person through to the on-call
//! technician. The `on_call_alert` is on disk first; the caller hears "Connecting you …" (never
//! "only line"), the box rings the technician (`[rings the on-call technician]`), and
//! `technician:<how>` lines say how that call ended: taken → the call is over; busy, no answer
//! or passed → "nobody could take the call", a voicemail (kept with the call's record) and
//! the page goes on. These run with the bridge setting on (their own test below); the
//! one-line wording is `emergencies.rs`'s.

use super::*;

const CONNECTING: &str = "Connecting you to the on-call technician now, please stay on the line";
const RINGS: &str = "[rings the on-call technician]";
const NOBODY: &str = "nobody could take the call";
const STILL_PAGING: &str = "still paging the on-call technician";
const PROMISE: &str = "I'm alerting the on-call technician now; keep your phone free";

/// The shop's configuration with a trunk: the bridge is possible, and a routine caller who
/// insists on a person is paged for.
fn bridge_config() -> String {
    format!(
        "{SHOP_CONFIG}[sip]\noutbound_target = \"127.0.0.1:5062\"\noutbound_while_on_call = true\n\
         [alerts]\ninsist_policy = \"page\"\n"
    )
}

/// A case and what its transcript (the outcome's, both sides) must contain.
struct BridgeCase {
    case: Case,
    transcript: Vec<&'static str>,
}

fn bridged(case: Case, transcript: &[&'static str]) -> BridgeCase {
    BridgeCase {
        case,
        transcript: transcript.to_vec(),
    }
}

fn cases() -> Vec<BridgeCase> {
    vec![
        bridged(
            case(
                "speak to someone right now, house freezing: the technician takes the call",
                Some(JANE),
                &[
                    "i need to speak to someone right now my house is freezing",
                    "technician:takes",
                ],
            )
            .expect("on_call_alert", &["on_call_alert"])
            .says(&[CONNECTING, RINGS, "[hangs up]"])
            .never(&["only line", PROMISE, NOBODY])
            .field("/hazard", "no_heat")
            .field("/caller/phone_e164", JANE)
            .field("/caller_said", "right now"),
            &["[bridged to the on-call technician]"],
        ),
        bridged(
            case(
                "connect me during an emergency booking: technician busy, voicemail, page goes on",
                Some(JANE),
                &[
                    "dtmf:2",
                    "dtmf:1",
                    "let me talk to someone",
                    "technician:busy",
                    "it's jane the furnace is out and the baby is cold please call",
                ],
            )
            .temp(10.0)
            .expect("on_call_alert", &["on_call_alert", "voicemail"])
            .says(&[
                CONNECTING,
                RINGS,
                NOBODY,
                "leave your name",
                STILL_PAGING,
                "911",
            ])
            .never(&["only line"])
            .field("/hazard", "no_heat"),
            &[
                "[the on-call technician did not take the call]",
                "furnace is out",
            ],
        ),
        bridged(
            case(
                "keypad 0 in the emergency menu: no answer, the caller hangs up in the voicemail",
                None,
                &["dtmf:1", "dtmf:0", "technician:no-answer", "hangup"],
            )
            .expect("on_call_alert", &["on_call_alert", "voicemail"])
            .says(&["press 1", CONNECTING, RINGS, NOBODY, "leave your name"])
            .never(&["only line", STILL_PAGING])
            .field("/hazard", "emergency"),
            &["[hung up]"],
        ),
        bridged(
            case(
                "the technician passes: voicemail by keypad pound",
                Some(NEW),
                &["this is an emergency", "technician:passes", "dtmf:#"],
            )
            .expect("on_call_alert", &["on_call_alert", "voicemail"])
            .says(&[CONNECTING, RINGS, NOBODY, STILL_PAGING])
            .field("/caller/phone_e164", NEW),
            &["[the on-call technician did not take the call]"],
        ),
        bridged(
            case(
                "the caller hangs up while the technician's phone rings: the page stands, no voicemail",
                Some(JANE),
                &["i need the on call tech", "hangup"],
            )
            .expect("on_call_alert", &["on_call_alert"])
            .says(&[CONNECTING, RINGS])
            .never(&[NOBODY, "leave your name"])
            .field("/caller_said", "on call tech"),
            &["[hung up]"],
        ),
        bridged(
            case(
                "a routine caller who insists on a person is bridged (insist_policy = page)",
                Some(JANE),
                &[
                    "can i talk to a real person",
                    "i want to talk to a person",
                    "technician:takes",
                ],
            )
            .expect("on_call_alert", &["on_call_alert"])
            .says(&["call you back", CONNECTING, RINGS])
            .never(&["only line"])
            .field("/hazard", "person_requested"),
            &["[bridged to the on-call technician]"],
        ),
        bridged(
            case(
                "a routine caller asking once still gets the office callback, no bridge",
                Some(JANE),
                &["can i talk to a real person", "yes"],
            )
            .expect("callback", &["callback"])
            .says(&["call you back"])
            .never(&[CONNECTING, RINGS, PROMISE]),
            &[],
        ),
    ]
}

/// The cases above with the bridge setting on, through the real `callbox simulate`.
#[test]
fn bridge_conversations() {
    let config = bridge_config();
    let mut failures = Vec::new();
    let cases = cases();
    for b in &cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run_with(&b.case, dir.path(), &config);
        let mut errs = check(&b.case, &r);
        let transcript = r.outcome["transcript"].to_string();
        for want in &b.transcript {
            if !transcript.contains(want) {
                errs.push(format!("transcript lacks {want:?}"));
            }
        }
        if !errs.is_empty() {
            failures.push(format!(
                "--- {}\n  {}\n{}",
                b.case.name,
                errs.join("\n  "),
                r.stdout
                    .lines()
                    .filter(|l| l.starts_with("callbox: "))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    println!(
        "{} bridge conversations, {} failed",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Without the setting (one line) the same request is not bridged: the checker catches a
/// bridge expectation run against today's box.
#[test]
fn one_line_box_never_bridges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = &cases()[0];
    let r = run(&b.case, dir.path());
    let errs = check(&b.case, &r);
    assert!(errs.iter().any(|e| e.contains(CONNECTING)), "{errs:?}");
    assert!(
        errs.iter().any(|e| e.contains("only line")),
        "the one-line wording: {errs:?}"
    );
}
