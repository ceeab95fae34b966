//! Conversation cases for `tests/dialog_conversations.rs` (emergencies); same builders and seed.
//!
//! Every emergency the triage names pages the on-call technician (an `on_call_alert` record the
//! paging ladder works on), and the caller hears "I'm alerting the on-call technician now; keep
//! your phone free" only once that page is on disk; when it cannot be, "the office will call
//! you first thing". With one line, "connect me to someone" cannot be bridged: the box says so
//! and pages, and the technician calls back after the caller hangs up.

use super::*;

const PROMISE: &str = "I'm alerting the on-call technician now; keep your phone free";
const OLD_PROMISE: &str = "will call you before heading out";

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Known caller, keypad repair → no heat → her house → her number → first window → yes.
    let keyed_no_heat = &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"];
    v.push(
        case(
            "no heat at 18F books the on-call and pages",
            Some(JANE),
            keyed_no_heat,
        )
        .temp(18.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["confirmation number", PROMISE])
        .never(&[OLD_PROMISE])
        .field("/urgency", "emergency")
        .field("/job_type_hint", "no_heat"),
    );
    v.push(
        case(
            "no heat at 55F is routine: nobody paged",
            Some(JANE),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .temp(55.0)
        .expect("job", &["job"])
        .never(&["alerting", "on-call"])
        .field("/urgency", "routine"),
    );
    v.push(
        case(
            "no cooling at 101F said in words pages",
            Some(JANE),
            &[
                "my air conditioner stopped working",
                "yes",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .temp(101.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&[
            "sounds like an emergency",
            "on-call technician out",
            PROMISE,
        ])
        .field("/job_type_hint", "no_cooling"),
    );
    v.push(
        case(
            "active water leak pages",
            Some(JANE),
            &[
                "water is leaking from the ac all over the floor",
                "yes",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job", "on_call_alert"])
        .says(&[PROMISE])
        .field("/urgency", "emergency"),
    );
    v.push(
        case(
            "offline emergency booking: the page is promised, not the old sentence",
            Some(JANE),
            keyed_no_heat,
        )
        .expect("job", &["job", "on_call_alert"])
        .says(&["You're on the schedule.", PROMISE])
        .never(&[OLD_PROMISE, "You're booked", "3 1 2, 5 5 5"]),
    );
    v.push(
        case(
            "online emergency booking pages too",
            Some(JANE),
            keyed_no_heat,
        )
        .online()
        .expect("job", &["job", "on_call_alert"])
        .says(&["You're booked.", PROMISE])
        .never(&[OLD_PROMISE, "office confirms"]),
    );
    v.push(
        case(
            "the page cannot be saved: the office calls first thing, no promise",
            Some(JANE),
            keyed_no_heat,
        )
        .fail_after(1)
        .expect("job", &["job"])
        .says(&[
            "confirmation number",
            "office will call you first thing",
            "911",
        ])
        .never(&[PROMISE]),
    );
    v.push(
        case(
            "speak to someone right now, house freezing: one line, page",
            Some(JANE),
            &["i need to speak to someone right now my house is freezing"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&["only line", PROMISE, "They'll call you back at"])
        .field("/kind", "on_call_alert")
        .field("/hazard", "no_heat")
        .field("/caller/phone_e164", JANE)
        .field("/caller_said", "right now"),
    );
    v.push(
        case(
            "this is an emergency pages at once",
            Some(NEW),
            &["this is an emergency"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&[PROMISE, "call 911"])
        .field("/hazard", "emergency")
        .field("/caller/phone_e164", NEW),
    );
    v.push(
        case(
            "I need the on-call tech pages at once",
            Some(JANE),
            &["i need the on call tech"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&[PROMISE])
        .field("/hazard", "emergency")
        .field("/caller_said", "on call tech"),
    );
    v.push(
        case(
            "keypad 0 in the emergency menu pages",
            None,
            &["dtmf:1", "dtmf:0"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&["press 1", "only line", PROMISE])
        .never(&["They'll call you back at"])
        .field("/hazard", "emergency"),
    );
    v.push(
        case(
            "connect me to someone during an emergency booking pages",
            Some(JANE),
            &["dtmf:2", "dtmf:1", "let me talk to someone"],
        )
        .temp(10.0)
        .expect("on_call_alert", &["on_call_alert"])
        .says(&["only line", PROMISE])
        .field("/hazard", "no_heat"),
    );
    v.push(
        case(
            "an emergency caller who hangs up half-way leaves a page, not a lead",
            Some(JANE),
            &["dtmf:2", "dtmf:1"],
        )
        .temp(5.0)
        .expect("on_call_alert", &["on_call_alert"])
        .field("/kind", "on_call_alert")
        .field("/hazard", "no_heat")
        .field("/caller/phone_e164", JANE),
    );
    v.push(
        case(
            "keyed emergency menu 2 then hang up pages",
            Some(NEW),
            &["dtmf:1", "dtmf:2"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .field("/hazard", "emergency"),
    );
    v.push(
        case(
            "a routine caller who asks for a person gets the office callback, no page",
            Some(JANE),
            &["can i talk to a real person", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["call you back"])
        .never(&["alerting", PROMISE]),
    );
    v.push(
        case(
            "not an emergency is not paged",
            Some(JANE),
            &["it's not an emergency, my thermostat screen is blank"],
        )
        .never(&[PROMISE])
        .expect("lead", &["lead"]),
    );
    around_the_clock(&mut v, keyed_no_heat);
    v
}

/// The clock the cases run at: every hour of a week (Monday 12 January 2026, midnight in
/// Chicago, on), and the hours around both DST changes. The daemon's own tests run at whatever
/// hour CI does; these pin it, so a window rule that fails at one hour (the 10 pm bug: an
/// emergency offered nothing from 10 pm to midnight) fails here at every run.
fn around_the_clock(v: &mut Vec<Case>, keyed_no_heat: &[&'static str]) {
    let monday = chrono::DateTime::parse_from_rfc3339("2026-01-12T06:00:00Z").expect("time");
    let dst = ["2026-03-08T04:00:00Z", "2026-11-01T03:00:00Z"]
        .map(|t| chrono::DateTime::parse_from_rfc3339(t).expect("time"));
    let hours = (0..168).map(|h| monday + chrono::Duration::hours(h)).chain(
        dst.iter()
            .flat_map(|d| (0..16).map(move |h| *d + chrono::Duration::minutes(30 * h))),
    );
    for (i, at) in hours.enumerate() {
        let now: &'static str = Box::leak(at.to_rfc3339().into_boxed_str());
        v.push(
            case(
                format!("no heat at 18F keyed at {now} books tonight and pages"),
                Some(JANE),
                keyed_no_heat,
            )
            .at(now)
            .temp(18.0)
            .expect("job", &["job", "on_call_alert"])
            .says(&["confirmation number", PROMISE])
            .field("/urgency", "emergency"),
        );
        if i % 3 == 0 {
            v.push(
                case(
                    format!("no heat at 55F keyed at {now} books a business day"),
                    Some(JANE),
                    keyed_no_heat,
                )
                .at(now)
                .temp(55.0)
                .expect("job", &["job"])
                .never(&["alerting"])
                .field("/urgency", "routine"),
            );
        }
    }
}
