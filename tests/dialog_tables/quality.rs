//! Conversation cases for `tests/dialog_conversations.rs` (quality); same builders and seed.
//! Issue 16: a call that sounds like the shop's best dispatcher. Each case checks the record
//! that would reach ServiceTitan field by field, and the words the caller hears.

use super::*;

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    opening_and_reprompts(&mut v);
    read_back_and_corrections(&mut v);
    off_script(&mut v);
    scheduling(&mut v);
    variants(&mut v);
    v
}

/// Point 1: a short opening, re-prompts that restate the question with its keys, summaries
/// in the trade's words, no "the shop".
fn opening_and_reprompts(v: &mut Vec<Case>) {
    v.push(
        case(
            "q1 opening: unnamed shop is not 'the shop', caller says what's wrong",
            Some(NEW),
            &join(&[
                &["uh yeah my heat is not working at all"],
                NEW_CALLER,
                &["yes"],
            ]),
        )
        .temp(20.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&[
            "Thanks for calling. I'm an automated assistant.",
            "What's going on? Or press 1 for an emergency, 9 for the menu.",
            "To confirm: no heat at 123 Oak St, tonight between 10 pm and midnight.",
        ])
        .never(&["the shop", "uh yeah", "not working at all"])
        .field("/problem_summary", "no heat")
        .field("/urgency", "emergency")
        .field("/caller/name", "John Smith")
        .field("/service_address/street", "123 Oak St")
        .field("/service_address/city", "Springfield")
        .field("/service_address/zip", "62704")
        .field("/appointment/start_utc", "2026-01-14T04:00:00Z"),
    );
    v.push(
        case(
            "q1 known caller: greeted by name, no menu read",
            Some(JANE),
            &["the furnace is blowing cold air", "yes", "yes", "yes"],
        )
        .temp(20.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&[
            "Thanks for calling. Hi Jane. I'm an automated assistant.",
            "To confirm: no heat, furnace blowing cold air, tonight between 10 pm and midnight.",
        ])
        .never(&["press 2", "press 3", "Press 1 for yes"])
        .field("/problem_summary", "no heat, furnace blowing cold air")
        .field("/known_customer_id", "501")
        .field("/known_location_id", "601")
        .field("/caller/callback_phone_e164", "null")
        .field("/job_type_hint", "no_heat"),
    );
    v.push(
        case(
            "q1 keypad menu on 9",
            Some(JANE),
            &["dtmf:9", "dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"])
        .says(&["Please use your keypad. Press 1 for an emergency"])
        .field("/caller/name", "Jane Doe")
        .field("/caller/phone_e164", JANE)
        .field("/reason", "callback"),
    );
    v.push(
        case(
            "q1 re-prompt at the opening restates it shorter with the menu key",
            Some(JANE),
            &["purple monkey", "dtmf:9", "dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"])
        .says(&[
            "Sorry, I didn't catch that.",
            "Briefly, what's the problem? Or press 9 for the menu.",
        ])
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "q1 re-prompt at the name offers the callback key",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "silence",
                "john smith",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&[
            "Sorry, I didn't catch that.",
            "Your name, please? Or press 1 for a callback.",
        ])
        .field("/problem_summary", "furnace banging noise")
        .field("/job_type_hint", "noise")
        .field("/urgency", "routine")
        .field("/caller/name", "John Smith"),
    );
    v.push(
        case(
            "q1 re-prompt at a yes/no names the keys",
            Some(JANE),
            &[
                "the thermostat is blank",
                "hmm",
                "dtmf:1",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["Is it 123 Maple St? Press 1 for yes, 2 for no."])
        .field("/problem_summary", "thermostat display blank")
        .field("/job_type_hint", "thermostat")
        .field("/known_location_id", "601"),
    );
    v.push(
        case(
            "q1 routine windows: a choice without a key list for a talking caller",
            // Bob holds no visit: tomorrow's windows are his to take.
            Some(BOB),
            &["my ac is making a rattling noise", "yes", "yes", "the second one", "yes"],
        )
        .online()
        .expect("job", &["job"])
        .says(&[
            "I can offer tomorrow between 8 and 10 am, tomorrow between noon and 2 pm, or Thursday, January 15 between 9 and 11 am. Which works best?",
            "You're booked for tomorrow between noon and 2 pm.",
        ])
        .never(&["Press 1, 2"])
        .field("/problem_summary", "AC rattling noise")
        .field("/appointment/start_utc", "2026-01-14T18:00:00Z")
        .field("/booked_offline", "false"),
    );
    v.push(
        case(
            "q1 keying caller hears press 1 for yes once",
            Some(JANE),
            &["dtmf:2", "dtmf:4", "dtmf:1", "dtmf:1", "dtmf:1", "dtmf:1"],
        )
        .expect("job", &["job"])
        .says(&[
            "Is this for 123 Maple St? Press 1 for yes, 2 for no.",
            "Call you back on this number?",
        ])
        .never(&["this number? Press 1"])
        .field("/problem_summary", "service call")
        .field("/urgency", "routine"),
    );
    v.push(
        case(
            "q1 emergency at 9 pm: the window under way is never offered",
            Some(JANE),
            &["no heat", "yes", "yes", "yes"],
        )
        .temp(10.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&[
            "tonight between 10 pm and midnight. Shall I book it?",
            "You're on the schedule.",
        ])
        .never(&["between 8 and 10 pm", "Which works best"])
        .field("/appointment/start_utc", "2026-01-14T04:00:00Z")
        .field("/appointment/end_utc", "2026-01-14T06:00:00Z")
        .field("/assign_on_call_technician", "true"),
    );
    v.push(
        case(
            "q1 emergency: no to the one window, none later tonight → a callback",
            Some(JANE),
            &["no heat", "yes", "yes", "no", "yes"],
        )
        .temp(10.0)
        .expect("callback", &["callback"])
        .says(&["I don't have an opening I can offer right now"])
        .never(&["Which works best"])
        .field(
            "/reason",
            "wants service: no heat (no appointment window available",
        )
        .field("/caller/phone_e164", JANE)
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "q1 new caller answers the number question with another number",
            Some(NEW),
            &join(&[
                &["my furnace is making a banging noise"],
                &NEW_CALLER[..4],
                &[
                    "three one two five five five oh one nine nine",
                    "one",
                    "yes",
                ],
            ]),
        )
        .expect("job", &["job"])
        .says(&["Call you back on 7 7 3, 5 5 5, 0 1 9 9?"])
        .field("/caller/phone_e164", NEW)
        .field("/caller/callback_phone_e164", "+13125550199"),
    );
    v.push(
        case(
            "q1 a keyed callback number is read back",
            None,
            &["dtmf:5", "dtmf:3125550142#"],
        )
        .expect("callback", &["callback"])
        .says(&[
            "What number should we call? Key it, then pound.",
            "I have 3 1 2, 5 5 5, 0 1 4 2.",
        ])
        .field("/caller/callback_phone_e164", "+13125550142")
        .field("/caller/phone_e164", "null"),
    );
    v.push(
        case(
            "q1 lead after a hang-up carries the trade's summary",
            Some(NEW),
            &["uh my ac is making a rattling noise", "hangup"],
        )
        .expect("lead", &["lead"])
        .field("/summary", "AC rattling noise")
        .field("/caller/phone_e164", NEW)
        .field("/reason", "the name"),
    );
    v.push(
        case(
            "q1 callback reason in the trade's words",
            Some(NEW),
            &["water is leaking from my furnace", "dtmf:1", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "wants service: water leak, furnace")
        .field("/caller/phone_e164", NEW),
    );
}

/// Point 2: what reaches ServiceTitan is right: surnames, city and state, ZIP, numbers as
/// digits, a correction changes only its field.
fn read_back_and_corrections(v: &mut Vec<Case>) {
    for (i, (said, name)) in [
        ("its mary o connor", "Mary O'Connor"),
        ("my name is angus mc donald", "Angus McDonald"),
        ("this is maria de la cruz", "Maria De La Cruz"),
        ("uh it's sean o'connor", "Sean O'Connor"),
        ("m a r y smith", "Mary Smith"),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("q2 surname {i}: {said}"),
                Some(NEW),
                &[
                    "my furnace is making a banging noise",
                    said,
                    "one twenty three oak street",
                    "yes",
                    "springfield six two seven oh four",
                    "yes",
                    "one",
                    "yes",
                ],
            )
            .expect("job", &["job"])
            .field("/caller/name", name)
            .field("/service_address/street", "123 Oak St")
            .field("/service_address/zip", "62704")
            .field("/known_customer_id", "null"),
        );
    }
    v.push(
        case(
            "q2 city and state: springfield illinois",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "springfield illinois six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/city", "Springfield")
        .field("/service_address/state", "IL")
        .field("/service_address/zip", "62704"),
    );
    v.push(
        case(
            "q2 city and another state: gary indiana",
            Some(NEW),
            &[
                "the thermostat is blank",
                "john smith",
                "one twenty three oak street",
                "yes",
                "gary indiana four six four oh two",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/city", "Gary")
        .field("/service_address/state", "IN")
        .field("/service_address/zip", "46402"),
    );
    v.push(
        case(
            "q2 a ZIP alone gives the service area's city",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "six two six two nine",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .never(&["which city"])
        .field("/service_address/city", "Chatham")
        .field("/service_address/state", "IL")
        .field("/service_address/zip", "62629"),
    );
    v.push(
        case(
            "q2 an unknown ZIP alone (not in the bundled table either): the box asks the city",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "six two seven nine nine",
                "rochester",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["And which city is that in?"])
        .field("/service_address/city", "Rochester")
        .field("/service_address/zip", "62799"),
    );
    v.push(
        case(
            "q2 keyed ZIP of the service area gives its city",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "john smith",
                "one twenty three oak street",
                "yes",
                "dtmf:62701#",
                "dtmf:1",
                "dtmf:1",
                "dtmf:1",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/city", "Springfield")
        .field("/service_address/zip", "62701"),
    );
    v.push(
        case(
            "q2 at the confirmation: can we do thursday instead changes the day only",
            Some(NEW),
            &join(&[
                &["my furnace is making a banging noise"],
                NEW_CALLER,
                &[
                    "the first one",
                    "actually can we do thursday instead",
                    "the first one",
                    "yes",
                ],
            ]),
        )
        .expect("job", &["job"])
        .says(&["Thursday, January 15"])
        .never(&["I have Can"])
        .field("/service_address/street", "123 Oak St")
        .field("/appointment/start_utc", "2026-01-15T14:00:00Z")
        .field("/caller/name", "John Smith")
        .field("/problem_summary", "furnace banging noise"),
    );
    v.push(
        case(
            "q2 known caller: friday instead, online capacity",
            Some(JANE),
            &[
                "my furnace is making a banging noise",
                "yes",
                "yes",
                // Thursday, the one live window off her tune-up's day, as the confirmation.
                "how about friday instead",
                "one",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .says(&["I can offer Friday, January 16 between 8 and 10 am"])
        .field("/appointment/start_utc", "2026-01-16T14:00:00Z")
        .field("/problem_summary", "furnace banging noise")
        .field("/service_address/street", "123 Maple St")
        .field("/known_location_id", "601"),
    );
    v.push(
        case(
            "q2 a day asked for at the window choice",
            Some(JANE),
            &[
                "the thermostat is blank",
                "yes",
                "yes",
                "do you have anything monday",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["Monday, January 19"])
        .field("/appointment/start_utc", "2026-01-19T14:00:00Z")
        .field("/known_location_id", "601"),
    );
    v.push(
        case(
            "q2 street correction at the confirmation still works",
            Some(NEW),
            &join(&[
                &["my furnace is making a banging noise"],
                NEW_CALLER,
                &["one", "no i said maple", "yes"],
            ]),
        )
        .expect("job", &["job"])
        .field("/service_address/street", "123 Maple St")
        .field("/service_address/city", "Springfield"),
    );
    v.push(
        case(
            "q2 invoice: the last one is not invoice 1",
            Some(JANE),
            &["can i get a copy of my invoice", "the last one", "yes"],
        )
        .expect("invoice_copy", &["invoice_copy"])
        .field("/invoice_number", "null")
        .field("/known_customer_id", "501"),
    );
    v.push(
        case(
            "q2 invoice number said as words is digits",
            Some(JANE),
            &[
                "i need a copy of an invoice",
                "it's uh four four five seven two",
                "yes",
            ],
        )
        .expect("invoice_copy", &["invoice_copy"])
        .field("/invoice_number", "44572"),
    );
    v.push(
        case(
            "q2 gate code in a note is digits",
            Some(JANE),
            &[
                "can you tell the technician something",
                "the gate code is four four one two",
            ],
        )
        .expect("note", &["note"])
        .field("/text", "Gate code: 4412.")
        .field("/job_id", "9001"),
    );
    v.push(
        case(
            "q2 lockbox code in a note is digits",
            Some(JANE),
            &[
                "dtmf:4",
                "dtmf:4",
                "the key is in the lockbox code nine eight seven six",
            ],
        )
        .expect("note", &["note"])
        .field("/text", "Lockbox code: 9876.")
        .field("/job_number", "9001"),
    );
    v.push(
        case(
            "q2 spoken callback number read back",
            Some(JANE),
            &[
                "please have someone call me back",
                "anytime",
                "no",
                "three one two five five five oh one nine nine",
            ],
        )
        .expect("callback", &["callback"])
        .says(&["I have 3 1 2, 5 5 5, 0 1 9 9."])
        .field("/caller/callback_phone_e164", "+13125550199")
        .field("/caller/name", "Jane Doe"),
    );
}

/// Point 3: questions off the script, answered honestly or passed to the office.
fn off_script(v: &mut Vec<Case>) {
    v.push(
        case(
            "q3 are you a robot, then a booking",
            Some(JANE),
            &[
                "are you a robot",
                "the thermostat is blank",
                "yes",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&[
            "Yes, I'm an automated assistant, not a person.",
            "What's going on?",
        ])
        .never(&["didn't catch"])
        .field("/problem_summary", "thermostat display blank")
        .field("/known_customer_id", "501"),
    );
    v.push(
        case(
            "q3 is this a real person, asked at the address question",
            Some(JANE),
            &[
                "my furnace is making a banging noise",
                "wait is this a real person",
                "yes",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["not a person", "Is this for 123 Maple St?"])
        .field("/known_location_id", "601")
        .field("/problem_summary", "furnace banging noise"),
    );
    v.push(
        case(
            "q3 a quote is a sales callback, not a truck",
            Some(NEW),
            &["call me back about a quote for a new furnace", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["comfort advisor will call you about an estimate"])
        .never(&["I can offer", "confirmation number"])
        .field("/kind", "callback")
        .field("/reason", "sales: estimate requested (furnace)")
        .field("/caller/phone_e164", NEW),
    );
    v.push(
        case(
            "q3 an estimate for a new ac",
            Some(JANE),
            &["i'd like an estimate on a new air conditioner", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "sales: estimate requested (AC)")
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "q3 sorry wrong number: no record, no callback",
            Some(NEW),
            &["oh sorry wrong number"],
        )
        .expect("none", &[])
        .says(&["No problem. Goodbye."])
        .never(&["call you back"]),
    );
    v.push(
        case(
            "q3 hours without config: the office calls back",
            Some(NEW),
            &["what time do you open", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["The office will call you back with our hours."])
        .field("/reason", "asked for the office hours")
        .field("/caller/phone_e164", NEW),
    );
    v.push(
        case(
            "q3 price without config: the office calls with a price",
            Some(JANE),
            &["uh how much is a tune up", "yes"],
        )
        .expect("callback", &["callback"])
        .says(&["The office will call you with a price."])
        .never(&["dollars"])
        .field("/reason", "asked about a price (how much is a tune up)")
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "q3 service area without config: the office confirms",
            Some(NEW),
            &["do you service chatham", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "covers their area")
        .field("/caller/phone_e164", NEW),
    );
}

/// Point 4: real capacity only, one window as a yes/no, the held slot never offered again,
/// members hear their membership.
fn scheduling(v: &mut Vec<Case>) {
    v.push(
        case(
            "q4 member hears the membership at the booking",
            Some(BOB),
            &["my ac is making a weird noise", "yes", "yes", "one", "yes"],
        )
        .online()
        .expect("job", &["job"])
        .says(&["As a maintenance membership member, you have priority service."])
        .never(&["Would you like someone to tell you about it"])
        .field("/known_customer_id", "502")
        .field("/known_location_id", "611")
        .field("/service_address/street", "9 Elm Ave"),
    );
    v.push(
        case(
            "q4 none of those work → the next real windows",
            Some(BOB),
            &[
                "the thermostat is blank",
                "yes",
                "yes",
                "none of those work",
                "the first one",
                "yes",
            ],
        )
        .online()
        .temp(55.0)
        .expect("job", &["job"])
        .says(&["I can offer", "I can offer"])
        .never(&["Thursday, January 15 between 1 and 3 pm"])
        .field("/urgency", "routine")
        .field("/known_location_id", "611"),
    );
    v.push(
        case(
            "q4 online: the unavailable window is never offered",
            Some(JANE),
            &[
                "the thermostat is blank",
                "yes",
                "yes",
                "the last one",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .never(&["between 1 and 3 pm"])
        .field("/appointment/start_utc", "2026-01-15T15:00:00Z")
        .field("/booked_offline", "false"),
    );
    v.push(
        case(
            "q4 reschedule: the held window is not offered",
            Some(JANE),
            &[
                "i need to reschedule my appointment",
                "the first one",
                "yes",
            ],
        )
        .online()
        .expect("reschedule", &["reschedule"])
        .says(&[
            "Your appointment is tomorrow between 8 and 10 am",
            "I can offer tomorrow between noon and 2 pm",
        ])
        .field("/new_window/start_utc", "2026-01-14T18:00:00Z")
        .field("/job_id", "9001")
        .field("/appointment_id", "77"),
    );
    v.push(
        case(
            "q4 emergency at 2 am: one window, a yes/no",
            Some(JANE),
            &[
                "the furnace won't turn on and it's freezing",
                "yes",
                "yes",
                "yes",
            ],
        )
        .at("2026-01-14T08:10:00Z")
        .temp(5.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["Shall I book it?"])
        .never(&["Which works best"])
        .field("/urgency", "emergency")
        .field("/appointment/start_utc", "2026-01-14T09:00:00Z")
        .field("/problem_summary", "no heat, furnace not starting"),
    );
}

/// More recogniser-style variants of the points above, field by field.
fn variants(v: &mut Vec<Case>) {
    for (i, (said, summary, hint)) in [
        (
            "my heat pump is blowing cold air",
            "heat pump blowing cold air",
            "no_heat",
        ),
        (
            "uh the outside unit is making a grinding noise",
            "outdoor unit grinding noise",
            "noise",
        ),
        ("the boiler won't turn on", "boiler not starting", "no_heat"),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("qv summary {i}: {said}"),
                Some(JANE),
                &[said, "yes", "yes", "one", "yes"],
            )
            .temp(55.0)
            .expect("job", &["job"])
            .never(&[said])
            .field("/problem_summary", summary)
            .field("/job_type_hint", hint)
            .field("/known_location_id", "601"),
        );
    }
    for (i, said) in [
        "wrong number sorry",
        "oops i misdialed",
        "sorry i dialed the wrong number",
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(format!("qv wrong number {i}: {said}"), Some(JANE), &[said])
                .expect("none", &[])
                .says(&["No problem. Goodbye."])
                .never(&["call you back", "saved"]),
        );
    }
    for (i, said) in [
        "am i talking to a machine",
        "are you a real person or a recording",
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("qv robot {i}: {said}"),
                Some(NEW),
                &[said, "dtmf:5", "yes"],
            )
            .expect("callback", &["callback"])
            .says(&["Yes, I'm an automated assistant, not a person."])
            .field("/caller/phone_e164", NEW)
            .field("/kind", "callback"),
        );
    }
    v.push(
        case(
            "qv city and state: buffalo new york",
            Some(NEW),
            &[
                "the thermostat is blank",
                "john smith",
                "one twenty three oak street",
                "yes",
                "buffalo new york one four two oh two",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/service_address/city", "Buffalo")
        .field("/service_address/state", "NY")
        .field("/service_address/zip", "14202"),
    );
    v.push(
        case(
            "qv door code in a note is digits",
            Some(JANE),
            &[
                "i need to tell the technician something",
                "the door code is one two three four",
            ],
        )
        .expect("note", &["note"])
        .field("/text", "Door code: 1234.")
        .field("/job_id", "9001"),
    );
    for (i, (said, name)) in [
        ("my name is patrick mcdonald", "Patrick McDonald"),
        ("this is rosa del rio", "Rosa Del Rio"),
        ("it's kevin o brien", "Kevin O'Brien"),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("qv name {i}: {said}"),
                Some(NEW),
                &[
                    "dtmf:2",
                    "dtmf:4",
                    said,
                    "one twenty three oak street",
                    "yes",
                    "six two seven oh four",
                    "yes",
                    "one",
                    "yes",
                ],
            )
            .expect("job", &["job"])
            .field("/caller/name", name)
            .field("/service_address/city", "Springfield")
            .field("/service_address/zip", "62704")
            .field("/urgency", "routine"),
        );
    }
    v.push(
        case(
            "qv when do you close: the office calls back",
            Some(JANE),
            &["when do you close", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "asked for the office hours")
        .field("/caller/name", "Jane Doe"),
    );
    v.push(
        case(
            "qv a replacement quote for a known caller",
            Some(BOB),
            &["i want a quote to replace my furnace", "yes"],
        )
        .expect("callback", &["callback"])
        .never(&["I can offer"])
        .field("/reason", "sales: estimate requested (furnace)")
        .field("/caller/name", "Bob Stone"),
    );
}
