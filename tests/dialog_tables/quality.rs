//! Conversation cases for `tests/dialog_conversations.rs` (quality); same builders and seed.
//! Issue 16: a call that sounds like the shop's best dispatcher. Each case checks the record
//! that would reach ServiceTitan field by field, and the words the caller hears.

use super::*;

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    opening_and_reprompts(&mut v);
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
        .expect("job", &["job"])
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
        .expect("job", &["job"])
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
        .says(&["Sorry, I didn't catch that.", "Your name, please? Or press 1 for a callback."])
        .field("/problem_summary", "furnace banging noise")
        .field("/job_type_hint", "noise")
        .field("/urgency", "routine")
        .field("/caller/name", "John Smith"),
    );
    v.push(
        case(
            "q1 re-prompt at a yes/no names the keys",
            Some(JANE),
            &["the thermostat is blank", "hmm", "dtmf:1", "yes", "one", "yes"],
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
            Some(JANE),
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
        .says(&["Is this for 123 Maple St? Press 1 for yes, 2 for no.", "Call you back on this number?"])
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
        .expect("job", &["job"])
        .says(&["tonight between 10 pm and midnight. Shall I book it?", "You're on the schedule for tonight between 10 pm and midnight."])
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
        .field("/reason", "wants service: no heat (no appointment window available")
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
                &["three one two five five five oh one nine nine", "one", "yes"],
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
        .says(&["What number should we call? Key it, then pound.", "I have 3 1 2, 5 5 5, 0 1 4 2."])
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
