//! Conversation cases for `tests/dialog_conversations.rs` (issue 16: scheduling from real
//! capacity, repeat calls, Spanish, grammars); same builders and seed.
//!
//! Jane (seed) holds a furnace tune-up tomorrow (Wednesday 14 January) 8-10 am; live capacity
//! is Wednesday 8-10 and noon-2, Thursday 9-11, and Thursday 1-3 marked unavailable.
//! Repeat calls need an earlier call's queued job: [`repeat_call_is_not_booked_twice`] runs
//! two calls in one data directory.

use super::*;

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    same_day(&mut v);
    spanish(&mut v);
    v
}

/// No second visit on the day of the caller's visit; the next real windows, never an
/// unavailable one, never an invented one.
fn same_day(v: &mut Vec<Case>) {
    v.push(
        case(
            "s1 routine repair is not offered the day of the held visit",
            Some(JANE),
            &["the thermostat is blank", "yes", "yes", "yes"],
        )
        .online()
        .temp(55.0)
        .expect("job", &["job"])
        // Wednesday's windows are left out; Thursday 1-3 is unavailable: one real window.
        .says(&[
            "To confirm: thermostat display blank, Thursday, January 15 between 9 and 11 am. \
             Shall I book it?",
            "You're booked for Thursday, January 15 between 9 and 11 am",
        ])
        .never(&["tomorrow between", "between 1 and 3 pm"])
        .field("/appointment/start_utc", "2026-01-15T15:00:00Z")
        .field("/known_location_id", "601")
        .field("/urgency", "routine")
        .field("/booked_offline", "false"),
    );
    v.push(
        case(
            "s2 maintenance is not booked the day of the held tune-up",
            Some(JANE),
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
        .never(&["tomorrow between"])
        .field("/job_type_hint", "maintenance")
        .field("/appointment/start_utc", "2026-01-15T15:00:00Z"),
    );
    v.push(
        case(
            "s3 no to the only real window: windows past ServiceTitan's horizon, unconfirmed, \
             then a callback",
            Some(JANE),
            &[
                "the thermostat is blank",
                "yes",
                "yes",
                "no",
                "none of those",
            ],
        )
        .online()
        .temp(55.0)
        .expect("callback", &["callback"])
        .says(&[
            "Thursday, January 15 between 9 and 11 am. Shall I book it?",
            "I can't see the live schedule, so the office will confirm the time. I can offer \
             Friday, January 16",
            "office call you to find a time",
        ])
        // Configured windows inside the capacity's days would overlap Thursday 1-3 pm, which
        // ServiceTitan marks unavailable: never offered.
        .never(&[
            "You're booked",
            "between 1 and 3 pm",
            "between noon and 2 pm",
        ])
        .field("/reason", "none of the offered windows")
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "s4 an emergency still goes out tonight on the visit's eve",
            Some(JANE),
            &["the heat is out", "yes", "yes", "yes"],
        )
        .online()
        .temp(10.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["tonight between"])
        .field("/urgency", "emergency")
        .field("/appointment/start_utc", "2026-01-14T0"),
    );
    v.push(
        case(
            "s5 a member with no visit gets tomorrow's windows",
            Some(BOB),
            &[
                "the thermostat is blank",
                "yes",
                "yes",
                "the second one",
                "yes",
            ],
        )
        .online()
        .temp(55.0)
        .expect("job", &["job"])
        .says(&["I can offer tomorrow between 8 and 10 am"])
        .field("/appointment/start_utc", "2026-01-14T18:00:00Z")
        .field("/known_location_id", "611"),
    );
    v.push(
        case(
            "s6 the ETA question names the held visit",
            Some(JANE),
            &["uh whens the tech gonna be here"],
        )
        .expect("note", &["note"])
        .says(&["Mike is assigned and will arrive tomorrow between 8 and 10 am"])
        .field("/job_id", "9001")
        .field("/text", "Caller asked when the technician is coming"),
    );
}

/// A caller who speaks Spanish: the Spanish voice and a keypad menu, or a message.
fn spanish(v: &mut Vec<Case>) {
    v.push(
        case(
            "es1 hola: Spanish menu, 2 for a callback",
            Some(NEW),
            &["hola", "dtmf:2"],
        )
        .expect("callback", &["callback"])
        .says(&[
            "[speaks es]",
            "Hola, soy un asistente automático.",
            "llame al 911",
            "Para que la oficina le llame, oprima 2.",
            "la oficina le llamará a primera hora",
            "Gracias por llamar. Adiós.",
        ])
        .never(&["Thanks for calling. Goodbye", "Sorry, I didn't catch that"])
        .field("/kind", "callback")
        .field("/reason", "Spanish-speaking caller (call back in Spanish)")
        .field("/caller/phone_e164", NEW),
    );
    v.push(
        case(
            "es2 no hablo inglés, 1: the on-call technician is paged",
            Some(JANE),
            &["no hablo inglés", "dtmf:1"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&["[speaks es]", "Ya avisé al técnico de guardia", "Adiós."])
        .field("/kind", "on_call_alert")
        .field("/hazard", "emergency")
        .field("/caller/phone_e164", JANE)
        .field("/known_customer_id", "501")
        .field("/caller_said", "no hablo"),
    );
    v.push(
        case(
            "es3 keypad: the menu's # for Spanish, 3 for a message",
            Some(NEW),
            &["dtmf:9", "dtmf:#", "dtmf:3", "necesito servicio", "dtmf:#"],
        )
        .expect("voicemail", &["voicemail"])
        .says(&[
            "Para español, oprima numeral.",
            "[speaks es]",
            "Deje su nombre, su número",
            "Su mensaje quedó guardado",
        ])
        .field(
            "/transcript",
            "[Spanish-speaking caller: listen to the recording]",
        )
        .field("/recording_path", "recordings/"),
    );
    v.push(
        case(
            "es4 a missed key is asked again in Spanish",
            Some(NEW),
            &["habla español", "silence", "dtmf:2"],
        )
        .expect("callback", &["callback"])
        .says(&["[speaks es]", "Perdón, no le entendí.", "Oprima 1"])
        .never(&["didn't catch"])
        .field("/reason", "Spanish-speaking caller"),
    );
    v.push(
        case(
            "es5 no caller ID: the callback becomes a message with the number",
            None,
            &[
                "hola buenas noches",
                "dtmf:2",
                "me llamo ana cinco cinco cinco",
            ],
        )
        .expect("voicemail", &["voicemail"])
        .says(&["No veo su número", "Deje su nombre"])
        .field("/transcript", "[Spanish-speaking caller"),
    );
    v.push(
        case(
            "es6 the page cannot be saved: told in Spanish, 911",
            Some(NEW),
            &["hola", "dtmf:1"],
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&["No pude avisar al técnico de guardia", "llame al 911"])
        .never(&["Ya avisé", "couldn't alert"]),
    );
    v.push(
        case(
            "es7 the callback cannot be saved: told in Spanish, then the office's number",
            Some(NEW),
            &["hola", "dtmf:2"],
        )
        .fail_after(0)
        .expect("none", &[])
        .says(&[
            "Lo siento, no pude guardar eso.",
            "no puedo guardar nada ahora",
        ])
        .never(&["la oficina le llamará a primera hora", "I'm sorry"]),
    );
}

/// `check` for a call made after `earlier` records were already queued in its data
/// directory: only this call's records are held against its expectations.
fn check_later(c: &Case, r: &Run, earlier: usize) -> Vec<String> {
    let this_call = Run {
        stdout: r.stdout.clone(),
        outcome: r.outcome.clone(),
        queue: r.queue.get(earlier..).unwrap_or_default().to_vec(),
    };
    check(c, &this_call)
}

/// Without a Spanish voice (`[voice] spanish_voice = ""`) a Spanish speaker leaves a message,
/// told so honestly in English, and the message is marked for the office.
#[test]
fn spanish_without_a_spanish_voice_takes_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = case(
        "es8 no Spanish voice: a message",
        Some(NEW),
        &["hola", "necesito servicio para mi calefaccion", "dtmf:#"],
    )
    .expect("voicemail", &["voicemail"])
    .says(&["I can only speak English", "leave your name"])
    .never(&["[speaks es]", "Hola, soy"])
    .field("/transcript", "[Spanish-speaking caller");
    let config = format!("{SHOP_CONFIG}[voice]\nspanish_voice = \"\"\n");
    let r = run_with(&c, dir.path(), &config);
    let errs = check(&c, &r);
    assert!(errs.is_empty(), "{errs:?}\n{}", r.stdout);
}

/// Issue 16: the same caller calling again about the same repair hears what is booked and
/// gets a note on that job, not a second job; a different problem is booked, on another day.
#[test]
fn repeat_call_is_not_booked_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Call 1: a new caller books a routine no-heat visit (offline: configured windows).
    let first = case(
        "repeat: first call books",
        Some(NEW),
        &join(&[
            &["my furnace is blowing cold air"],
            NEW_CALLER,
            &["the first one", "yes"],
        ]),
    )
    .temp(55.0)
    .expect("job", &["job"])
    .field("/problem_summary", "no heat");
    let r1 = run(&first, dir.path());
    let errs = check(&first, &r1);
    assert!(errs.is_empty(), "first call: {errs:?}\n{}", r1.stdout);
    let job_id = r1.queue[0].id.to_string();
    let booked_start = r1.queue[0].payload_json()["appointment"]["start_utc"].clone();

    // Call 2, later that evening: the same problem in other words.
    let again = case(
        "repeat: second call about the same problem",
        Some(NEW),
        &["uh yeah the furnace is still blowing cold air"],
    )
    .at("2026-01-14T03:30:00Z")
    .temp(55.0)
    .expect("note", &["note"])
    .says(&[
        "You're already booked for no heat, furnace blowing cold air",
        "so I won't book it twice",
        "I've added that to your job.",
    ])
    .never(&["May I have your", "I can offer", "Shall I book it"]);
    let r2 = run(&again, dir.path());
    let errs = check_later(&again, &r2, 1);
    assert!(errs.is_empty(), "second call: {errs:?}\n{}", r2.stdout);
    let note = r2.queue[1].payload_json();
    assert_eq!(note["kind"], "note", "{note}");
    assert_eq!(note["queue_ref"].as_str(), Some(job_id.as_str()), "{note}");
    assert!(
        note["text"]
            .as_str()
            .is_some_and(|t| t.contains("called again") && t.contains("still blowing cold air")),
        "{note}"
    );
    let jobs = r2
        .queue
        .iter()
        .filter(|q| q.kind().to_string() == "job")
        .count();
    assert_eq!(jobs, 1, "booked twice");

    // Call 3: another problem (a leak, an emergency) is not a repeat: it is booked.
    let other = case(
        "repeat: a different problem is booked",
        Some(NEW),
        &join(&[
            &["now there's water leaking from the ac"],
            NEW_CALLER,
            &["yes"],
        ]),
    )
    .at("2026-01-14T03:40:00Z")
    .expect("job", &["job", "on_call_alert"])
    .never(&["already booked"])
    .field("/job_type_hint", "leak")
    .field("/urgency", "emergency");
    let r3 = run(&other, dir.path());
    let errs = check_later(&other, &r3, 2);
    assert!(errs.is_empty(), "third call: {errs:?}\n{}", r3.stdout);
    assert_ne!(
        r3.queue[2].payload_json()["appointment"]["start_utc"],
        booked_start,
        "the emergency went on the first job's window"
    );
}

/// A routine visit for a caller whose earlier call queued a job is not put on that job's day.
#[test]
fn no_second_visit_on_the_day_of_a_queued_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = case(
        "same day: first call books Wednesday",
        Some(BOB),
        &[
            "my ac is making a weird noise",
            "yes",
            "yes",
            "the first one",
            "yes",
        ],
    )
    .online()
    .expect("job", &["job"])
    .field("/appointment/start_utc", "2026-01-14T14:00:00Z");
    let r1 = run(&first, dir.path());
    let errs = check(&first, &r1);
    assert!(errs.is_empty(), "first call: {errs:?}\n{}", r1.stdout);

    let second = case(
        "same day: a thermostat visit goes to Thursday",
        Some(BOB),
        &["the thermostat is blank", "yes", "yes", "yes"],
    )
    .online()
    .at("2026-01-14T03:20:00Z")
    .temp(55.0)
    .expect("job", &["job"])
    .says(&["Thursday, January 15 between 9 and 11 am. Shall I book it?"])
    .never(&["tomorrow between"]);
    let r2 = run(&second, dir.path());
    let errs = check_later(&second, &r2, 1);
    assert!(errs.is_empty(), "second call: {errs:?}\n{}", r2.stdout);
    let job = r2.queue[1].payload_json();
    assert_eq!(
        job["appointment"]["start_utc"], "2026-01-15T15:00:00Z",
        "{job}"
    );
}

trait PayloadJson {
    fn payload_json(&self) -> Value;
}

impl PayloadJson for callbox::queue::Record {
    fn payload_json(&self) -> Value {
        serde_json::to_value(&self.payload).unwrap_or_default()
    }
}
