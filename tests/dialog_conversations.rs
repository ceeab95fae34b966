//! Conversations through the real `callbox simulate` binary: the real dialog engine, the real
//! queue (an Outbox in a temporary data dir) and the real cache seeded from
//! `tests/conversations/seed.json`. Input is recogniser-style text (lowercase, numbers as words,
//! fillers, near misses). Every case checks the outcome JSON *and* the queue's contents.
//!
//! Seed: Jane Doe (+13125550142, not a member, 123 Maple St, appointment tomorrow 8-10 am with
//! Mike), Bob Stone (+13125550177, member, two locations). Now: Tuesday 13 January 2026, 9 pm
//! in Chicago unless a case says otherwise.

use callbox::queue::{ListFilter, Outbox, QueueOptions};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

#[path = "dialog_tables/bridge.rs"]
mod bridge;
#[path = "dialog_tables/cut_off.rs"]
mod cut_off;
#[path = "dialog_tables/data.rs"]
mod data;
#[path = "dialog_tables/emergencies.rs"]
mod emergencies;
#[path = "dialog_tables/keypad.rs"]
mod keypad;
#[path = "dialog_tables/quality.rs"]
mod quality;
#[path = "dialog_tables/schedule.rs"]
mod schedule;
// Issue 16: the same table against the ServiceTitan test server, online and offline.
#[path = "conversations/servicetitan.rs"]
mod servicetitan;
#[path = "dialog_tables/spanish.rs"]
mod spanish;
mod support;
mod sync_support;

const JANE: &str = "+13125550142";
const BOB: &str = "+13125550177";
const NEW: &str = "+17735550199";
const NOW: &str = "2026-01-14T03:00:00Z";

#[derive(Clone)]
struct Case {
    name: String,
    caller: Option<&'static str>,
    online: bool,
    fail_after: Option<usize>,
    now: &'static str,
    temp: Option<f32>,
    lines: Vec<&'static str>,
    kind: &'static str,
    queue: Vec<&'static str>,
    said: Vec<&'static str>,
    not_said: Vec<&'static str>,
    fields: Vec<(&'static str, &'static str)>,
    safety_first: bool,
}

fn case(name: impl Into<String>, caller: Option<&'static str>, lines: &[&'static str]) -> Case {
    Case {
        name: name.into(),
        caller,
        online: false,
        fail_after: None,
        now: NOW,
        temp: None,
        lines: lines.to_vec(),
        kind: "",
        queue: Vec::new(),
        said: Vec::new(),
        not_said: Vec::new(),
        fields: Vec::new(),
        safety_first: false,
    }
}

impl Case {
    fn expect(mut self, kind: &'static str, queue: &[&'static str]) -> Self {
        self.kind = kind;
        self.queue = queue.to_vec();
        self
    }
    fn says(mut self, s: &[&'static str]) -> Self {
        self.said.extend_from_slice(s);
        self
    }
    fn never(mut self, s: &[&'static str]) -> Self {
        self.not_said.extend_from_slice(s);
        self
    }
    /// JSON pointer into the first record → substring of its value.
    fn field(mut self, pointer: &'static str, value: &'static str) -> Self {
        self.fields.push((pointer, value));
        self
    }
    fn online(mut self) -> Self {
        self.online = true;
        self
    }
    fn fail_after(mut self, n: usize) -> Self {
        self.fail_after = Some(n);
        self
    }
    fn at(mut self, now: &'static str) -> Self {
        self.now = now;
        self
    }
    fn temp(mut self, t: f32) -> Self {
        self.temp = Some(t);
        self
    }
    fn safety(mut self) -> Self {
        self.safety_first = true;
        self
    }
}

/// A new caller's details after the problem: name, street, city/ZIP, caller ID ok.
const NEW_CALLER: &[&str] = &[
    "my name is john smith",
    "one twenty three oak street",
    "yes",
    "springfield six two seven oh four",
    "yes",
];

fn join(parts: &[&[&'static str]]) -> Vec<&'static str> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();

    // --- Safety script: first, not interrupted, an on-call alert in the queue.
    for (i, (said, hazard)) in [
        ("i smell gas in the basement", "gas"),
        (
            "uh my carbon monoxide alarm is going off",
            "carbon_monoxide",
        ),
        ("there's smoke coming out of the furnace", "smoke"),
        ("it smells like something burning from the vents", "burning"),
        ("the outside unit is sparking", "sparking"),
        ("um i think i smell gas near the water heater", "gas"),
        ("the see oh detector keeps beeping", "carbon_monoxide"),
        ("smells like rotten eggs in the kitchen", "gas"),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(format!("safety {i}: {said}"), Some(JANE), &[said])
                .expect("safety_alert", &["on_call_alert"])
                .safety()
                .says(&["This is important", "alerted our on-call technician"])
                .never(&["name", "street"])
                .field("/kind", "on_call_alert")
                .field("/hazard", hazard)
                .field("/caller_said", said)
                .field("/caller/phone_e164", JANE)
                // Jane's one location, known from caller ID: the technician knows where to go.
                .field("/address/street", "123 Maple")
                .field("/raised_at_utc", "2026-01-14T03:00:05Z"),
        );
    }
    v.push(
        case("safety by keypad", None, &["dtmf:1", "dtmf:1"])
            .expect("safety_alert", &["on_call_alert"])
            .safety()
            .says(&["press 1", "911"])
            .field("/hazard", "unspecified"),
    );
    v.push(
        case(
            "safety said at the problem question",
            Some(NEW),
            &["dtmf:2", "i smell gas"],
        )
        .expect("safety_alert", &["on_call_alert"])
        .safety()
        .field("/caller/phone_e164", NEW)
        .field("/hazard", "gas")
        // A new caller's address is not known, and the box does not keep them inside to ask.
        .field("/address", "null"),
    );
    v.push(
        case(
            "safety alert record fails: still told to call 911",
            Some(JANE),
            &["i smell gas"],
        )
        .fail_after(0)
        .expect("none", &[])
        .safety()
        .says(&["leave the building", "call 911"])
        .never(&["alerted our on-call"]),
    );
    v.push(
        case(
            "no gas smell is not a hazard",
            Some(JANE),
            &[
                "i don't smell gas but the furnace won't turn on",
                "dtmf:1",
                "dtmf:1",
                "dtmf:1",
                "dtmf:1",
            ],
        )
        .expect("job", &["job", "on_call_alert"])
        .never(&["This is important"]),
    );

    // --- Known caller, keypad only, end to end.
    v.push(
        case(
            "known caller keypad emergency booking",
            Some(JANE),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .expect("job", &["job", "on_call_alert"])
        .says(&[
            "Hi Jane",
            "Is this for 123 Maple St",
            "on the schedule",
            "confirmation number",
        ])
        .field("/known_customer_id", "501")
        .field("/known_location_id", "601")
        .field("/urgency", "emergency")
        .field("/job_type_hint", "no_heat"),
    );
    v.push(
        case(
            // Issue 16: Bob, who holds no visit (Jane's tune-up day is not offered to her).
            "known caller keypad routine (mild weather) online",
            Some(BOB),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:2", "dtmf:1"],
        )
        .online()
        .temp(55.0)
        .expect("job", &["job"])
        .says(&[
            "tomorrow between 8 and 10 am",
            "You're booked for tomorrow between noon and 2 pm",
        ])
        .never(&["office confirms"])
        .field("/urgency", "routine")
        .field("/appointment/start_utc", "2026-01-14T18:00:00Z")
        .field("/booked_offline", "false"),
    );
    v.push(
        case(
            "known caller keypad maintenance gets membership offer, accepts",
            Some(JANE),
            &["dtmf:3", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .online()
        .expect("job", &["job", "membership_interest"])
        .says(&[
            "maintenance visit",
            "maintenance membership",
            "someone will call you about the membership",
        ])
        .field("/job_type_hint", "maintenance"),
    );
    v.push(
        case(
            "maintenance membership offer declined",
            Some(JANE),
            // Issue 16: one window (not on her tune-up's day), offered as the confirmation.
            &[
                "i'd like to schedule a tune up",
                "yes",
                "yes",
                "yes",
                "no thanks",
            ],
        )
        .online()
        .expect("job", &["job"])
        .says(&["maintenance membership"]),
    );
    v.push(
        case(
            "member is not offered the membership",
            Some(BOB),
            &["dtmf:3", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .online()
        .expect("job", &["job"])
        .never(&["members of our"])
        .field("/known_location_id", "611"),
    );
    v.push(
        case(
            "member picks the second location",
            Some(BOB),
            &[
                "my ac is making a weird noise",
                "no",
                "yes",
                "yes",
                "two",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .says(&["Is this for 40 Oak St"])
        .field("/known_location_id", "612")
        .field("/service_address/city", "Chatham"),
    );
    v.push(
        case(
            "known caller speech, different callback number",
            Some(JANE),
            &[
                "the furnace is blowing cold air",
                "yeah",
                "no",
                "three one two five five five oh one nine nine",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job", "on_call_alert"])
        .field("/caller/callback_phone_e164", "+13125550199"),
    );
    v.push(
        case(
            "known caller new address",
            Some(JANE),
            &[
                "my heat pump is not working",
                "no it's a different house",
                "forty five north oak avenue",
                "yes",
                "chatham six two six two nine",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job", "on_call_alert"])
        .field("/service_address/street", "45 N Oak Ave")
        .field("/service_address/zip", "62629"),
    );

    // --- New callers, speech.
    v.push(
        case(
            "new caller routine booking offline",
            Some(NEW),
            &join(&[
                &["the thermostat is blank"],
                NEW_CALLER,
                &["the first one", "yes"],
            ]),
        )
        .temp(55.0)
        .expect("job", &["job"])
        .says(&[
            "can't see the live schedule",
            "on the schedule",
            "office confirms in the morning",
        ])
        .never(&["You're booked"])
        .field("/caller/name", "John Smith")
        .field("/service_address/street", "123 Oak St")
        .field("/service_address/city", "Springfield")
        .field("/booked_offline", "true"),
    );
    v.push(
        case(
            "new caller online booking",
            Some(NEW),
            &join(&[
                &["my furnace is making a banging noise"],
                NEW_CALLER,
                &["tomorrow morning", "yes"],
            ]),
        )
        .online()
        .expect("job", &["job"])
        .says(&["You're booked for tomorrow between 8 and 10 am"])
        .field("/appointment/start_utc", "2026-01-14T14:00:00Z")
        .field("/known_customer_id", "null"),
    );
    v.push(
        case(
            "repair: no i said maple",
            Some(NEW),
            &join(&[&[
                "my furnace is making a banging noise",
                "this is john smith",
                "one twenty three oak street",
                "no i said maple",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "the first one",
                "yes",
            ]]),
        )
        .expect("job", &["job"])
        .says(&["I have 123 Oak St", "I have 123 Maple St"])
        .field("/service_address/street", "123 Maple St"),
    );
    v.push(
        case(
            "repair: wrong house number",
            Some(NEW),
            &[
                "furnace making noise",
                "john smith",
                "one twenty three maple street",
                "no i said one twenty five",
                "yes",
                "six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/street", "125 Maple St"),
    );
    v.push(
        case(
            "repair at the booking confirmation",
            Some(NEW),
            &[
                "furnace making noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "six two seven oh four",
                "yes",
                "one",
                "no it's maple not oak",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/street", "123 Maple St"),
    );
    v.push(
        case(
            "new caller keyed zip and phone",
            None,
            &[
                "my ac is leaking water",
                "john smith",
                "one twenty three oak street",
                "yes",
                "dtmf:62704#",
                "dtmf:3125550142#",
                "dtmf:1",
                "dtmf:1",
            ],
        )
        .expect("job", &["job", "on_call_alert"])
        .field("/service_address/zip", "62704")
        .field("/caller/callback_phone_e164", "+13125550142")
        .field("/urgency", "emergency")
        .field("/job_type_hint", "leak"),
    );
    v.push(
        case(
            "new caller by keypad becomes a callback",
            Some(NEW),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .expect("callback", &["callback"])
        // Issue 16: the name question offers the keypad in fewer words.
        .says(&["press 1 for a callback"])
        .field("/reason", "no heat"),
    );
    v.push(
        case(
            "new caller without caller id keys everything",
            None,
            &["dtmf:2", "dtmf:2", "dtmf:1", "dtmf:3125550142#"],
        )
        .expect("callback", &["callback"])
        .field("/caller/callback_phone_e164", "+13125550142"),
    );
    v.push(
        case(
            "window later then pick",
            Some(JANE),
            &[
                "furnace making noise",
                "yes",
                "yes",
                "something later",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I can offer", "I can offer"]),
    );
    v.push(
        case(
            "window none twice → callback",
            Some(JANE),
            &[
                "furnace making noise",
                "yes",
                "yes",
                "none of those",
                "none of those",
            ],
        )
        .expect("callback", &["callback"])
        .field("/reason", "none of the offered windows"),
    );
    v.push(
        case(
            "window keyed 9 for later",
            Some(JANE),
            &[
                "dtmf:2", "dtmf:4", "dtmf:1", "dtmf:1", "dtmf:9", "dtmf:2", "dtmf:1",
            ],
        )
        .expect("job", &["job"]),
    );
    v.push(
        case(
            "decline booking then pick another",
            Some(JANE),
            &[
                "furnace making noise",
                "yes",
                "yes",
                "one",
                "no",
                "two",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["let's pick another time"]),
    );

    // --- Triage: thresholds and vulnerable occupants.
    v.push(
        case(
            "no heat at 20F is an emergency",
            Some(JANE),
            &["the heat is out", "yes", "yes", "one", "yes"],
        )
        .temp(20.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["sounds like an emergency", "tonight"])
        .field("/urgency", "emergency")
        .field("/assign_on_call_technician", "true"),
    );
    v.push(
        case(
            "no heat at 60F is routine",
            Some(JANE),
            &["the heat is out", "yes", "yes", "one", "yes"],
        )
        .temp(60.0)
        .expect("job", &["job"])
        .never(&["sounds like an emergency"])
        .field("/urgency", "routine"),
    );
    v.push(
        case(
            "no heat at 60F with a baby is an emergency",
            Some(JANE),
            &[
                "the heat is out and i have a newborn baby",
                "yes",
                "yes",
                "one",
                "yes",
            ],
        )
        .temp(60.0)
        .expect("job", &["job", "on_call_alert"])
        .field("/urgency", "emergency"),
    );
    v.push(
        case(
            "no cooling at 98F is an emergency",
            Some(JANE),
            &["the ac stopped cooling", "yes", "yes", "one", "yes"],
        )
        .temp(98.0)
        .expect("job", &["job", "on_call_alert"])
        .field("/urgency", "emergency")
        .field("/job_type_hint", "no_cooling"),
    );
    v.push(
        case(
            "no cooling at 75F is routine",
            Some(JANE),
            &["the ac stopped cooling", "yes", "yes", "one", "yes"],
        )
        .temp(75.0)
        .expect("job", &["job"])
        .field("/urgency", "routine"),
    );
    v.push(
        case(
            "water leak is always an emergency",
            Some(JANE),
            &[
                "there's water leaking all over the floor from the furnace",
                "yes",
                "yes",
                "one",
                "yes",
            ],
        )
        .temp(60.0)
        .expect("job", &["job", "on_call_alert"])
        .field("/urgency", "emergency"),
    );
    v.push(
        case(
            "emergency at 2 am: on-call within the hour",
            Some(JANE),
            &["no heat", "yes", "yes", "one", "yes"],
        )
        .at("2026-01-14T08:10:00Z")
        .temp(10.0)
        .expect("job", &["job", "on_call_alert"])
        .field("/appointment/start_utc", "2026-01-14T09:00:00Z"),
    );
    v.push(
        case(
            "emergency online with an on-call shift is booked live",
            Some(JANE),
            &["no heat", "yes", "yes", "one", "yes"],
        )
        .online()
        .temp(10.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["tonight between", "You're booked."])
        .field("/booked_offline", "false"),
    );

    // --- DST: spring-forward weekend; the Monday window is 8 am CDT = 13:00 UTC.
    v.push(
        case(
            "DST spring forward: Monday 8 am is 13:00 UTC",
            Some(JANE),
            &[
                "the thermostat is not working",
                "yes",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .at("2026-03-08T02:00:00Z")
        .expect("job", &["job"])
        .says(&["Monday, March 9 between 8 and 10 am"])
        .field("/appointment/start_utc", "2026-03-09T13:00:00Z")
        .field("/appointment/end_utc", "2026-03-09T15:00:00Z"),
    );
    v.push(
        case(
            "DST fall back: Monday 8 am is 14:00 UTC",
            Some(JANE),
            &[
                "the thermostat is not working",
                "yes",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .at("2026-11-01T02:00:00Z")
        .expect("job", &["job"])
        .says(&["Monday, November 2 between 8 and 10 am"])
        .field("/appointment/start_utc", "2026-11-02T14:00:00Z"),
    );
    v.push(
        case(
            "before DST: Friday 8 am CST is 14:00 UTC",
            Some(JANE),
            &["the thermostat is not working", "yes", "yes", "one", "yes"],
        )
        .at("2026-03-05T03:00:00Z")
        .expect("job", &["job"])
        .field("/appointment/start_utc", "2026-03-05T14:00:00Z"),
    );

    // --- Existing appointments.
    v.push(
        case(
            "when is my technician coming",
            Some(JANE),
            &["when is my technician coming"],
        )
        .expect("note", &["note"])
        .says(&["Mike is assigned and will arrive tomorrow between 8 and 10 am"])
        .field("/job_id", "9001"),
    );
    v.push(
        case("eta by keypad", Some(JANE), &["dtmf:4", "dtmf:1"])
            .expect("note", &["note"])
            .says(&["Mike"]),
    );
    v.push(
        case(
            "reschedule",
            Some(JANE),
            &[
                "i need to reschedule my appointment",
                "the second one",
                "yes",
            ],
        )
        .online()
        .expect("reschedule", &["reschedule"])
        .says(&["Your appointment is tomorrow between 8 and 10 am"])
        // Issue 16: the held window (tomorrow 8-10 am) is not offered again, so the second
        // window offered is Thursday's.
        .never(&["I can offer tomorrow between 8 and 10 am"])
        .field("/job_id", "9001")
        .field("/appointment_id", "77")
        .field("/new_window/start_utc", "2026-01-15T15:00:00Z"),
    );
    v.push(
        case(
            "reschedule by keypad",
            Some(JANE),
            // Issue 16: two windows now (the held one is not offered): Thursday's is key 2.
            &["dtmf:4", "dtmf:2", "dtmf:2", "dtmf:1"],
        )
        .online()
        .expect("reschedule", &["reschedule"])
        .field("/new_window/start_utc", "2026-01-15T15:00:00Z"),
    );
    v.push(
        case(
            "cancel",
            Some(JANE),
            &["i want to cancel my appointment", "yes"],
        )
        .expect("cancellation", &["cancellation"])
        .field("/job_id", "9001")
        .field("/reason", "cancel my appointment"),
    );
    v.push(
        case(
            "cancel by keypad",
            Some(JANE),
            &["dtmf:4", "dtmf:3", "dtmf:1"],
        )
        .expect("cancellation", &["cancellation"]),
    );
    v.push(
        case(
            "cancel declined then eta",
            Some(JANE),
            &["cancel my appointment", "no", "dtmf:1"],
        )
        .expect("note", &["note"])
        .says(&["I won't cancel it"]),
    );
    v.push(
        case(
            "add a note",
            Some(JANE),
            &[
                "can you tell the technician something",
                "the gate code is four four one two",
            ],
        )
        .expect("note", &["note"])
        .says(&[
            "What would you like me to tell the technician",
            "added that",
        ])
        .field("/text", "gate code"),
    );
    v.push(
        case(
            "add a note with text",
            Some(JANE),
            &["dtmf:4", "dtmf:4", "the dog will be in the backyard"],
        )
        .expect("note", &["note"])
        .says(&["added that to your job"])
        .field("/text", "dog will be in the backyard")
        .field("/job_id", "9001"),
    );
    v.push(
        case(
            "no appointment for a new caller → callback",
            Some(NEW),
            &["when is my technician coming", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["don't see an upcoming appointment"]),
    );

    // --- Requests.
    v.push(
        case(
            "callback request",
            Some(NEW),
            &["can someone call me back", "john smith", "anytime", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/caller/phone_e164", NEW)
        .field("/caller/name", "John Smith")
        .field("/preferred_time", "any time"),
    );
    v.push(
        case("callback by keypad", Some(JANE), &["dtmf:5", "dtmf:1"])
            .expect("callback", &["callback"])
            .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "operator request becomes a callback",
            Some(JANE),
            &["i want to talk to a real person", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["no one in the office"]),
    );
    v.push(
        case("operator by 0", Some(JANE), &["dtmf:0", "dtmf:1"]).expect("callback", &["callback"]),
    );
    v.push(
        case(
            "voicemail",
            Some(NEW),
            &[
                "i'd like to leave a message",
                "hi this is sam at the bakery please call me about a quote",
            ],
        )
        .expect("voicemail", &["voicemail"])
        .field("/transcript", "call me about a quote")
        .field("/recording_path", "recordings/"),
    );
    v.push(
        case(
            "voicemail by keypad, empty",
            Some(NEW),
            &["dtmf:6", "dtmf:#"],
        )
        .expect("voicemail", &["voicemail"]),
    );
    v.push(
        case(
            "invoice copy with number",
            Some(JANE),
            &[
                "can i get a copy of my invoice",
                "four five six seven",
                "yes",
            ],
        )
        .expect("invoice_copy", &["invoice_copy"])
        .field("/invoice_number", "4567")
        .field("/known_customer_id", "501"),
    );
    v.push(
        case(
            "invoice copy keyed",
            Some(JANE),
            &["dtmf:7", "dtmf:4567#", "dtmf:1"],
        )
        .expect("invoice_copy", &["invoice_copy"])
        .field("/invoice_number", "4567"),
    );
    v.push(
        case(
            "invoice copy without number",
            Some(JANE),
            &["dtmf:7", "dtmf:#", "dtmf:1"],
        )
        .expect("invoice_copy", &["invoice_copy"])
        .field("/invoice_number", "null"),
    );
    v.push(
        case(
            "membership question",
            Some(NEW),
            &["tell me about your maintenance plan", "yes"],
        )
        .expect("membership_interest", &["membership_interest"]),
    );
    v.push(
        case("membership by keypad", Some(JANE), &["dtmf:8", "dtmf:1"])
            .expect("membership_interest", &["membership_interest"])
            .field("/known_customer_id", "501"),
    );

    // --- Re-prompts: two, then the keypad, then the voicemail.
    v.push(
        case(
            "silence twice then keypad answer",
            Some(JANE),
            &["silence", "silence", "dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"])
        .says(&["didn't catch that", "didn't catch that"]),
    );
    v.push(
        case(
            "silence to voicemail",
            Some(NEW),
            &[
                "silence",
                "silence",
                "silence",
                "silence",
                "please call me back about my furnace",
            ],
        )
        .expect("voicemail", &["voicemail"])
        .says(&["didn't catch", "Please use your keypad", "take a message"])
        .field("/transcript", "please call me back"),
    );
    v.push(
        case(
            "gibberish to voicemail",
            Some(NEW),
            &[
                "blah blah",
                "purple monkey",
                "banana",
                "dishwasher",
                "silence",
            ],
        )
        .expect("voicemail", &["voicemail"])
        .says(&["Please use your keypad", "take a message"]),
    );
    v.push(
        case(
            "silence at the address confirmation",
            Some(JANE),
            &[
                "furnace making noise",
                "silence",
                "silence",
                "silence",
                "dtmf:1",
                "dtmf:1",
                "dtmf:1",
                "dtmf:1",
            ],
        )
        .expect("job", &["job"]),
    );
    v.push(
        case(
            "misheard windows then keypad",
            Some(JANE),
            &[
                "furnace making noise",
                "yes",
                "yes",
                "pizza",
                "huh",
                "dtmf:2",
                "dtmf:1",
            ],
        )
        .expect("job", &["job"]),
    );
    v.push(
        case(
            "repeat request",
            Some(JANE),
            &["say that again", "dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"]),
    );
    v.push(
        case(
            "silence at the name goes to voicemail, then hangup",
            Some(NEW),
            &[
                "furnace making noise",
                "silence",
                "silence",
                "silence",
                "silence",
                "hangup",
            ],
        )
        .expect("voicemail", &["voicemail"]),
    );

    // --- Hang-ups at each stage → a lead with what was captured.
    for (i, (stage, lines, fields)) in [
        ("greeting", vec!["hangup"], vec![("/summary", "hung up")]),
        (
            "problem",
            vec!["dtmf:2", "hangup"],
            vec![("/reason", "problem")],
        ),
        (
            "name",
            vec!["furnace making noise", "hangup"],
            vec![("/summary", "furnace making noise")],
        ),
        (
            "street",
            vec!["furnace making noise", "john smith", "hangup"],
            vec![("/caller/name", "John Smith")],
        ),
        (
            "street confirm",
            vec![
                "furnace making noise",
                "john smith",
                "one twenty three oak street",
                "hangup",
            ],
            vec![("/address/street", "123 Oak St")],
        ),
        (
            "zip",
            vec![
                "furnace making noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "hangup",
            ],
            vec![("/reason", "city and ZIP")],
        ),
        (
            "phone",
            vec![
                "furnace making noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "six two seven oh four",
                "hangup",
            ],
            vec![("/address/zip", "62704")],
        ),
        (
            "windows",
            join(&[&["furnace making noise"], NEW_CALLER, &["hangup"]]),
            vec![("/reason", "appointment windows")],
        ),
        (
            "confirm",
            join(&[&["furnace making noise"], NEW_CALLER, &["one", "hangup"]]),
            vec![("/reason", "booking confirmation")],
        ),
        (
            "end of input",
            vec!["furnace making noise"],
            vec![("/summary", "furnace")],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c =
            case(format!("hangup {i} at {stage}"), Some(NEW), &[]).expect("lead", &["lead"]);
        c.lines = lines;
        for (p, val) in fields {
            c = c.field(p, val);
        }
        v.push(c.field("/caller/phone_e164", NEW));
    }
    v.push(
        case(
            "known caller hangs up at address → lead with customer name",
            Some(JANE),
            &["furnace making noise", "hangup"],
        )
        .expect("lead", &["lead"])
        .field("/caller/name", "Jane Doe")
        .field("/reason", "service address"),
    );
    v.push(
        case(
            "hangup after booking adds nothing",
            Some(JANE),
            &[
                "dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "hangup",
            ],
        )
        .expect("job", &["job", "on_call_alert"]),
    );
    v.push(
        case(
            "goodbye before anything → lead",
            Some(NEW),
            &["never mind bye"],
        )
        .expect("lead", &["lead"]),
    );

    // --- Enqueue failure honesty.
    v.push(
        case(
            "disk full: job and fallback fail",
            Some(JANE),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&["not booked", "can't save anything", "911"])
        .never(&["You're booked", "on the schedule", "confirmation number"]),
    );
    v.push(
        case(
            "disk full offline speech booking",
            Some(NEW),
            &join(&[&["furnace making noise"], NEW_CALLER, &["one", "yes"]]),
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&["not booked"])
        .never(&["confirmation number"]),
    );
    v.push(
        case(
            "callback fails: no false promise",
            Some(JANE),
            &["dtmf:5", "dtmf:1"],
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&["couldn't save that"])
        .never(&["office will call you back first thing"]),
    );
    v.push(
        case(
            "membership after booking fails but job stands",
            Some(JANE),
            &["dtmf:3", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .fail_after(1)
        .expect("job", &["job"])
        .says(&["confirmation number", "couldn't save that"]),
    );
    v.push(
        case(
            "voicemail fails honestly",
            Some(NEW),
            &["dtmf:6", "please call me"],
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&["couldn't save that"])
        .never(&["Your message is saved"]),
    );

    // --- Offline vs online wording.
    v.push(
        case(
            "offline routine says office confirms",
            Some(JANE),
            &["furnace making noise", "yes", "yes", "one", "yes"],
        )
        .expect("job", &["job"])
        .says(&["office confirms in the morning"])
        .field("/booked_offline", "true"),
    );
    v.push(
        case(
            // Issue 16: Bob, who holds no visit (Jane's held window is never offered again).
            "online routine says booked",
            Some(BOB),
            &["furnace making noise", "yes", "yes", "one", "yes"],
        )
        .online()
        .expect("job", &["job"])
        .says(&["You're booked for tomorrow between 8 and 10 am"])
        .never(&["can't see the live schedule"])
        .field("/booked_offline", "false"),
    );
    v.push(
        case(
            "online skips unavailable capacity",
            Some(JANE),
            &["furnace making noise", "yes", "yes", "three", "yes"],
        )
        .online()
        .expect("job", &["job"])
        .field("/appointment/start_utc", "2026-01-15T15:00:00Z"),
    );
    v.push(
        case(
            "go back to the menu",
            Some(JANE),
            &["dtmf:4", "start over", "dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"]),
    );
    v.push(
        case(
            "fillers and stutters",
            Some(JANE),
            &[
                "uh so um the the furnace is uh making a a noise",
                "yeah yeah",
                "uh huh",
                "the uh first one",
                "yep",
            ],
        )
        .expect("job", &["job"])
        .field("/job_type_hint", "noise"),
    );
    v.push(
        case(
            "dialled number kept on the job",
            Some(JANE),
            &["dtmf:2", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .expect("job", &["job", "on_call_alert"])
        .field("/dialled_number", "+15551234567")
        .field("/transcript", "[keys 1]"),
    );
    v
}

struct Run {
    stdout: String,
    outcome: Value,
    queue: Vec<callbox::queue::Record>,
}

/// The shop's configuration in every case: the service area's ZIP codes (issue 16: a ZIP
/// alone gives its city; a ZIP not listed makes the box ask for the city).
const SHOP_CONFIG: &str =
    "[dialog]\nzip_cities = [\"62704 Springfield\", \"62701 Springfield\", \"62629 Chatham, IL\"]\n";

fn run(c: &Case, dir: &Path) -> Run {
    run_with(c, dir, SHOP_CONFIG)
}

/// `run` with `config` as the box's configuration file.
fn run_with(c: &Case, dir: &Path, config: &str) -> Run {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations/seed.json");
    run_from(c, dir, config, Some(&seed))
}

/// `run_with` with the cache seeded from `seed`, or (`None`) as `dir/data/cache` already holds
/// it (filled from ServiceTitan: `servicetitan.rs`).
fn run_from(c: &Case, dir: &Path, config: &str, seed: Option<&Path>) -> Run {
    let data = dir.join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callbox"));
    cmd.arg("--config")
        .arg(dir.join("none.toml"))
        .args(["simulate", "--data-dir"])
        .arg(&data)
        .args(["--now", c.now, "--dialled", "+15551234567"]);
    if let Some(seed) = seed {
        cmd.arg("--seed").arg(seed);
    }
    if let Some(id) = c.caller {
        cmd.args(["--caller-id", id]);
    }
    if !c.online {
        cmd.arg("--offline");
    }
    if let Some(n) = c.fail_after {
        cmd.args(["--fail-enqueue-after", &n.to_string()]);
    }
    if let Some(t) = c.temp {
        cmd.args(["--outdoor-temp-f", &t.to_string()]);
    }
    std::fs::write(dir.join("none.toml"), config).expect("config");
    let mut child = cmd
        .env_remove("CALLBOX_STORAGE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callbox simulate");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for l in &c.lines {
            // The box may hang up before reading everything: a closed pipe is fine.
            let _ = writeln!(stdin, "{l}");
        }
    }
    let out = child.wait_with_output().expect("simulate output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}: simulate failed: {}\n{stdout}",
        c.name,
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let outcome: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{}: last line is not JSON ({e}): {last}", c.name));
    let (outbox, _) = Outbox::open(&data.join("queue"), QueueOptions::default()).expect("queue");
    let queue = outbox.list(&ListFilter::default()).expect("list");
    Run {
        stdout,
        outcome,
        queue,
    }
}

/// A case's data directory, in memory (`/dev/shm`) when there is one: the table is about the
/// dialog and the records queued, not the disk's fsync speed, which was most of its time on a
/// disk (231 cases sequentially: 27 s on the disk, 7.5 s in memory).
fn case_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir")
}

/// How many cases run at once: `CONVERSATION_THREADS` (1: one by one), else twice the
/// machine's cores, 2 to 4: a case mostly waits (process start-up, the sync's clock ticks),
/// so 4 at a time on 2 cores is still faster than 2 (ServiceTitan mode: 54 s, 29 s, 20 s for
/// 1, 2, 4 at a time).
fn case_threads() -> usize {
    std::env::var("CONVERSATION_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(2, |n| 2 * n.get())
                .clamp(2, 4)
        })
        .max(1)
}

/// `f` over `items` on `case_threads()` threads (each case has its own data directory and its
/// own `callbox simulate` process), results in the items' order (tests/README.md: CI time).
fn on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let lanes = vec![(); case_threads()];
    on_lanes(&lanes, items, |_, item| f(item))
}

/// `f` over `items` on one thread per lane, each thread handing its own lane (e.g. its own
/// ServiceTitan test server) to every item it takes; results in the items' order.
fn on_lanes<L: Sync, T: Sync, R: Send>(
    lanes: &[L],
    items: &[T],
    f: impl Fn(&L, &T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = lanes
            .iter()
            .take(items.len().max(1))
            .map(|lane| {
                let (next, f) = (&next, &f);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(lane, item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn check(c: &Case, r: &Run) -> Vec<String> {
    let mut errs = Vec::new();
    let says: Vec<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("callbox: "))
        .collect();
    if r.outcome["outcome"] != c.kind {
        errs.push(format!("outcome {} != {}", r.outcome["outcome"], c.kind));
    }
    let kinds: Vec<String> = r.queue.iter().map(|q| q.kind().to_string()).collect();
    if kinds != c.queue {
        errs.push(format!("queue {kinds:?} != {:?}", c.queue));
    }
    // The outcome names exactly the records the queue holds, with the same payloads.
    let ids: Vec<String> = r.queue.iter().map(|q| q.id.to_string()).collect();
    let out_ids: Vec<String> = r.outcome["record_ids"]
        .as_array()
        .map(|a| a.iter().map(value_text).collect())
        .unwrap_or_default();
    if ids != out_ids {
        errs.push(format!("record ids {out_ids:?} != queue {ids:?}"));
    }
    for (q, p) in r
        .queue
        .iter()
        .zip(r.outcome["records"].as_array().into_iter().flatten())
    {
        let stored = serde_json::to_value(&q.payload).unwrap_or_default();
        if &stored != p {
            errs.push(format!(
                "queued payload differs from outcome: {stored} vs {p}"
            ));
        }
    }
    let first = r
        .queue
        .first()
        .map(|q| serde_json::to_value(&q.payload).unwrap_or_default());
    for (pointer, want) in &c.fields {
        let got = first
            .as_ref()
            .and_then(|f| f.pointer(pointer))
            .map(value_text)
            .unwrap_or_else(|| "<missing>".into());
        if !got.contains(want) {
            errs.push(format!("{pointer} = {got:?}, wanted {want:?}"));
        }
    }
    // In order, across the whole call (two phrases may share a turn).
    let spoken = says.join("\n");
    let mut from = 0;
    for want in &c.said {
        match spoken[from..].find(want) {
            Some(i) => from += i + want.len(),
            None => errs.push(format!("did not say {want:?} (in order)")),
        }
    }
    for never in &c.not_said {
        if let Some(s) = says.iter().skip(2).find(|s| s.contains(never)) {
            errs.push(format!("said {never:?}: {s}"));
        }
    }
    if c.kind == "job" {
        let conf = value_text(&r.outcome["confirmation_number"]);
        if !conf.starts_with("CB-") || !says.iter().any(|s| s.contains("confirmation number")) {
            errs.push(format!("confirmation number {conf} not given"));
        }
    }
    if c.safety_first {
        match says.iter().position(|s| s.contains("This is important")) {
            None => errs.push("no safety script".into()),
            Some(i) => {
                // Right after the question the hazard answered: nothing else in between.
                let before = says[i - 1];
                if !(before.contains("ress 1") || before.contains('?')) {
                    errs.push(format!("safety script came after {before:?}"));
                }
            }
        }
    }
    errs
}

/// The whole conversation table: this file's cases and every table file's. The plain run, the
/// speaking-time test and the ServiceTitan mode all take it from here, so a table file is added
/// once.
fn table() -> Vec<Case> {
    let mut cases = cases();
    cases.extend(emergencies::cases());
    cases.extend(quality::cases());
    cases.extend(data::cases());
    cases.extend(schedule::cases());
    cases.extend(keypad::cases());
    cases.extend(cut_off::cases());
    cases.extend(spanish::cases());
    cases
}

#[test]
fn conversations() {
    let cases = table();
    assert!(cases.len() >= 80, "only {} conversations", cases.len());
    let started = std::time::Instant::now();
    let runs = on_threads(&cases, |c| {
        let dir = case_dir();
        run(c, dir.path())
    });
    let mut failures = Vec::new();
    for (c, r) in cases.iter().zip(&runs) {
        let errs = check(c, r);
        if !errs.is_empty() {
            failures.push(format!(
                "--- {}\n  {}\n{}",
                c.name,
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
        "{} conversations, {} failed, in {:.1} s",
        cases.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A test that must be able to fail: a wrong expectation is caught.
#[test]
fn checker_catches_a_wrong_outcome() {
    let dir = case_dir();
    let c = case("wrong on purpose", Some(JANE), &["dtmf:5", "dtmf:1"]).expect("job", &["job"]);
    let r = run(&c, dir.path());
    let errs = check(&c, &r);
    assert!(errs.iter().any(|e| e.contains("outcome")), "{errs:?}");
    assert!(errs.iter().any(|e| e.contains("queue")), "{errs:?}");
}

/// Words as espeak-ng speaks them: a number of three or more digits is read digit by digit
/// or as "one hundred twenty three", about one word a digit.
fn spoken_words(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(|c| c.is_alphanumeric()))
        .map(|w| {
            let digits = w.chars().filter(char::is_ascii_digit).count();
            if digits > 2 && digits == w.chars().filter(|c| c.is_alphanumeric()).count() {
                digits
            } else {
                1
            }
        })
        .sum()
}

/// Issue 16: the box's speech per conversation, at the configured espeak-ng rate, with a
/// shop name of three words. Fails when the opening is over 25 words, a known caller's
/// emergency booking (at a location on the account) takes more than 45 s of the box's speech,
/// or a new caller's booking (or a known caller's at a new address) more than 75 s. A call
/// where the caller asked for other windows is measured but not held to the budget. Prints every conversation's figures, and the median and max per class (kept in
/// `benches/README.md`).
#[test]
fn speaking_time_over_the_table() {
    const SHOP: &str = "Frosty Air Heating";
    let rate = callbox::config::VoiceConfig::default().rate_wpm;
    let config = format!("[shop]\nname = \"{SHOP}\"\n{SHOP_CONFIG}");
    let cases = table();
    let secs = |words: usize| words as f64 * 60.0 / f64::from(rate);
    let mut known_emergency = Vec::new();
    let mut new_booking = Vec::new();
    let mut all = Vec::new();
    let mut failures = Vec::new();
    let started = std::time::Instant::now();
    let runs = on_threads(&cases, |c| {
        let dir = case_dir();
        run_with(c, dir.path(), &config)
    });
    println!(
        "{} conversations simulated in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    for (c, r) in cases.iter().zip(&runs) {
        let lines: Vec<&str> = r
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("callbox: "))
            .filter(|l| !l.starts_with('['))
            .collect();
        let words: usize = lines.iter().map(|l| spoken_words(l)).sum();
        // The opening: everything said before the caller's first turn.
        let opening: usize = r.outcome["transcript"]
            .as_array()
            .into_iter()
            .flatten()
            .take_while(|t| t["speaker"] == "callbox")
            .map(|t| spoken_words(t["text"].as_str().unwrap_or_default()))
            .sum();
        if opening > 25 {
            failures.push(format!("{}: opening of {opening} words", c.name));
        }
        let first = r
            .queue
            .first()
            .map(|q| serde_json::to_value(&q.payload).unwrap_or_default());
        let job = first
            .as_ref()
            .filter(|f| f["kind"] == "job" && r.outcome["outcome"] == "job");
        // A known customer at an address not on the account goes through a new caller's
        // questions (street, city and ZIP): the new caller's budget.
        // A caller who asks for other days hears more windows: measured, not budgeted.
        let detour = lines.iter().filter(|l| l.contains("I can offer")).count() > 1;
        let job = job.filter(|_| !detour);
        let class = match job {
            Some(j) if j["known_location_id"].is_null() => Some(("new caller booking", 75.0)),
            Some(j) if j["urgency"] == "emergency" => Some(("known caller emergency", 45.0)),
            _ => None,
        };
        println!("{:>4} words {:>6.1} s  {}", words, secs(words), c.name);
        all.push(secs(words));
        if let Some((name, budget)) = class {
            if name == "new caller booking" {
                new_booking.push(secs(words));
            } else {
                known_emergency.push(secs(words));
            }
            if secs(words) > budget {
                failures.push(format!(
                    "{}: {name} took {:.1} s of speech ({words} words), over {budget} s",
                    c.name,
                    secs(words)
                ));
            }
        }
    }
    let stats = |v: &mut Vec<f64>| -> (f64, f64) {
        v.sort_by(f64::total_cmp);
        let median = v.get(v.len() / 2).copied().unwrap_or_default();
        (median, v.last().copied().unwrap_or_default())
    };
    for (name, v) in [
        ("known caller emergency booking", &mut known_emergency),
        ("new caller booking", &mut new_booking),
        ("every conversation", &mut all),
    ] {
        let n = v.len();
        let (median, max) = stats(v);
        println!("{name}: {n} conversations, median {median:.1} s, max {max:.1} s at {rate} wpm");
    }
    assert!(
        !known_emergency.is_empty() && !new_booking.is_empty(),
        "no bookings measured"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn spoken_words_counts_long_numbers_digit_by_digit() {
    assert_eq!(spoken_words("Is this for 123 Maple St?"), 8);
    assert_eq!(spoken_words("tonight between 8 and 10 pm"), 6);
    assert_eq!(spoken_words("C B, 7 K 3 Q."), 6);
}
