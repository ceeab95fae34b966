//! Conversation cases for `tests/dialog_conversations.rs` (clean data, issue 16); same
//! builders and seed. What reaches ServiceTitan, field by field: the city and state of a ZIP
//! from the bundled US table (the shop's `zip_cities` first), the ZIP of a city that has one,
//! a new caller's name and ZIP read back (spelled on request or when the recogniser was
//! unsure), corrections that change only their field, a known customer's locations chosen by
//! name or street (a new one is a new location, not a new customer), and callbacks with the
//! caller's name, what it is about and when to call.
//!
//! The shop's `zip_cities` in these runs know 62704 and 62701 (Springfield) and 62629
//! (Chatham, IL); every other ZIP and city below comes from the bundled table.

use super::*;

pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    zip_table(&mut v);
    read_back_and_spelling(&mut v);
    locations(&mut v);
    callbacks(&mut v);
    v
}

/// A new caller's booking up to `place`, the answer to "the city and ZIP code?".
fn new_caller(place: &'static str) -> Vec<&'static str> {
    vec![
        "my furnace is making a banging noise",
        "john smith",
        "one twenty three oak street",
        "yes",
        place,
    ]
}

/// The end of a routine booking: callback number yes, the first window, yes.
const BOOK: &[&str] = &["yes", "one", "yes"];

/// Point 1: the bundled ZIP table.
fn zip_table(v: &mut Vec<Case>) {
    for (i, (said, city, state, zip, read)) in [
        (
            "six zero six one four",
            "Chicago",
            "IL",
            "60614",
            "I have John Smith, Chicago 6 0 6 1 4.",
        ),
        (
            "one zero zero zero one",
            "New York",
            "NY",
            "10001",
            "I have John Smith, New York 1 0 0 0 1.",
        ),
        (
            "it's four six four oh two",
            "Gary",
            "IN",
            "46402",
            "I have John Smith, Gary 4 6 4 0 2.",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("d1 zip alone {i}: {said} → city and state from the bundled table"),
                Some(NEW),
                &join(&[&new_caller(said), BOOK]),
            )
            .expect("job", &["job"])
            .says(&[read])
            .never(&["which city", "And the ZIP code?"])
            .field("/service_address/city", city)
            .field("/service_address/state", state)
            .field("/service_address/zip", zip)
            .field("/caller/name", "John Smith")
            .field("/known_customer_id", "null"),
        );
    }
    for (i, (said, city, state, zip)) in [
        ("rochester", "Rochester", "IL", "62563"),
        ("uh it's pleasant plains", "Pleasant Plains", "IL", "62677"),
        ("chatham new jersey", "Chatham", "NJ", "07928"),
        ("williamsville illinois", "Williamsville", "IL", "62693"),
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("d1 city without a zip {i}: {said} has one ZIP"),
                Some(NEW),
                &join(&[&new_caller(said), BOOK]),
            )
            .expect("job", &["job"])
            .never(&["And the ZIP code?", "which city"])
            .field("/service_address/city", city)
            .field("/service_address/state", state)
            .field("/service_address/zip", zip)
            .field("/service_address/street", "123 Oak St"),
        );
    }
    v.push(
        case(
            "d1 a city with several ZIPs: the ZIP is asked, by voice",
            Some(NEW),
            &join(&[&new_caller("springfield"), &["six two seven oh four"], BOOK]),
        )
        .expect("job", &["job"])
        .says(&[
            "And the ZIP code?",
            "I have John Smith, Springfield 6 2 7 0 4.",
        ])
        .field("/service_address/city", "Springfield")
        .field("/service_address/state", "IL")
        .field("/service_address/zip", "62704"),
    );
    v.push(
        case(
            "d1 a city with several ZIPs: the ZIP keyed",
            Some(NEW),
            &join(&[&new_caller("springfield"), &["dtmf:62701#"], BOOK]),
        )
        .expect("job", &["job"])
        .says(&["And the ZIP code?"])
        .field("/service_address/city", "Springfield")
        .field("/service_address/zip", "62701"),
    );
    v.push(
        case(
            "d1 a place no table knows is not taken: the ZIP is asked again",
            Some(NEW),
            &join(&[&new_caller("blorpington"), &["six two six two nine"], BOOK]),
        )
        .expect("job", &["job"])
        .says(&["The ZIP code? You can key it, then pound."])
        .never(&["Blorpington"])
        .field("/service_address/city", "Chatham")
        .field("/service_address/zip", "62629"),
    );
    v.push(
        case(
            "d1 the shop's zip_cities come before the table for a ZIP alone",
            Some(NEW),
            &join(&[&new_caller("six two six two nine"), BOOK]),
        )
        .expect("job", &["job"])
        .says(&["I have John Smith, Chatham 6 2 6 2 9."])
        .field("/service_address/city", "Chatham")
        .field("/service_address/state", "IL"),
    );
    v.push(
        case(
            "d1 the caller's city is kept beside a table ZIP",
            Some(NEW),
            &join(&[&new_caller("leland grove six two seven oh four"), BOOK]),
        )
        .expect("job", &["job"])
        .field("/service_address/city", "Leland Grove")
        .field("/service_address/zip", "62704"),
    );
}

/// Points 2 and 3: the read-back, spelling, corrections of one field.
fn read_back_and_spelling(v: &mut Vec<Case>) {
    v.push(
        case(
            "d3 a new caller hears name, city and ZIP once, before the number",
            Some(NEW),
            &join(&[&new_caller("springfield six two seven oh four"), BOOK]),
        )
        .expect("job", &["job"])
        .says(&[
            "I have 123 Oak St. Is that right?",
            "I have John Smith, Springfield 6 2 7 0 4.",
            "Call you back on",
        ])
        .never(&["J O H N"])
        .field("/caller/name", "John Smith")
        .field("/service_address/zip", "62704"),
    );
    v.push(
        case(
            "d3 the ZIP corrected at the read-back: only the ZIP (and its city) change",
            Some(NEW),
            &join(&[
                &new_caller("springfield six two seven oh four"),
                &["no the zip is six two seven oh one"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .says(&[
            "I have John Smith, Springfield 6 2 7 0 4.",
            "I have John Smith, Springfield 6 2 7 0 1.",
        ])
        .field("/service_address/zip", "62701")
        .field("/service_address/street", "123 Oak St")
        .field("/caller/name", "John Smith"),
    );
    v.push(
        case(
            "d3 a ZIP correction to another town takes the town's name",
            Some(NEW),
            &join(&[
                &new_caller("six two seven oh four"),
                &["wait the zip code is six two five six three"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .says(&["I have John Smith, Rochester 6 2 5 6 3."])
        .field("/service_address/city", "Rochester")
        .field("/service_address/zip", "62563"),
    );
    v.push(
        case(
            "d2 can you spell that: the name letter by letter, then the question again",
            Some(NEW),
            &join(&[
                &new_caller("springfield six two seven oh four"),
                &["can you spell that"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .says(&["I have John Smith: J O H N, S M I T H.", "Call you back on"])
        .field("/caller/name", "John Smith"),
    );
    v.push(
        case(
            "d2 low confidence: the name is spelled back with the read-back",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "conf:0.41 my name is angus mc donald",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have Angus McDonald, A N G U S, M C D O N A L D, Springfield 6 2 7 0 4."])
        .field("/caller/name", "Angus McDonald"),
    );
    v.push(
        case(
            "d2 sure of the name: not spelled",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "conf:0.93 my name is angus mc donald",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have Angus McDonald, Springfield 6 2 7 0 4."])
        .never(&["A N G U S"]),
    );
    v.push(
        case(
            "d2 the caller spells the surname: only the surname changes",
            Some(NEW),
            &join(&[
                &new_caller("springfield six two seven oh four"),
                &["no it's spelled s m y t h e"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .says(&["I have John Smythe: J O H N, S M Y T H E."])
        .field("/caller/name", "John Smythe")
        .field("/service_address/zip", "62704")
        .field("/service_address/street", "123 Oak St"),
    );
    v.push(
        case(
            "d2 my name is …: the name corrected, the address kept",
            Some(NEW),
            &join(&[
                &new_caller("springfield six two seven oh four"),
                &["no my name is jon smith"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .says(&["I have Jon Smith: J O N, S M I T H."])
        .field("/caller/name", "Jon Smith")
        .field("/service_address/city", "Springfield"),
    );
    v.push(
        case(
            "d2 a question naming someone else's name leaves the caller's alone",
            Some(NEW),
            &join(&[
                &new_caller("springfield six two seven oh four"),
                &["what's the technician's name"],
                BOOK,
            ]),
        )
        .expect("job", &["job"])
        .never(&["I have What"])
        .field("/caller/name", "John Smith"),
    );
    v.push(
        case(
            "d2 a name spelled at the name question",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "it's mary k o w a l s k i",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have Mary Kowalski, Springfield 6 2 7 0 4."])
        .field("/caller/name", "Mary Kowalski"),
    );
    v.push(
        case(
            "d2 the caller spells m c d o n a l d",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "my name is angus m c d o n a l d",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have Angus McDonald, Springfield 6 2 7 0 4."])
        .field("/caller/name", "Angus McDonald"),
    );
    v.push(
        case(
            "d2 a spelling at the street is the street's, not the name's",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "john smith",
                "one twenty three oak street",
                "it's spelled o a k",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .never(&["J O H N"])
        .field("/caller/name", "John Smith"),
    );
}

/// Point 4: a known customer's locations.
fn locations(v: &mut Vec<Case>) {
    for (i, said) in [
        "no the rental",
        "it's the one on oak street",
        "no it's for the rental property",
    ]
    .into_iter()
    .enumerate()
    {
        v.push(
            case(
                format!("d4 location by description {i}: {said}"),
                Some(BOB),
                &["my ac is making a weird noise", said, "yes", "one", "yes"],
            )
            .online()
            .expect("job", &["job"])
            .says(&["Is this for 9 Elm Ave?", "Okay, 40 Oak St."])
            .never(&["Is this for 40 Oak St?"])
            .field("/known_customer_id", "502")
            .field("/known_location_id", "612")
            .field("/service_address/street", "40 Oak St")
            .field("/service_address/city", "Chatham")
            .field("/caller/name", "Bob Stone"),
        );
    }
    v.push(
        case(
            "d4 the first location named by its street",
            Some(BOB),
            &[
                "my ac is making a weird noise",
                "yeah the elm avenue one",
                "yes",
                "one",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .never(&["Okay, 9 Elm Ave."])
        .field("/known_location_id", "611")
        .field("/service_address/street", "9 Elm Ave"),
    );
    v.push(
        case(
            "d4 a new address for a known customer is a new location, not a new customer",
            Some(BOB),
            &[
                "my ac is making a weird noise",
                "no it's at fifty five pine street",
                "yes",
                "chatham",
                "yes",
                "one",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .says(&[
            "I have 55 Pine St. Is that right?",
            "I have Chatham 6 2 6 2 9.",
        ])
        .never(&["May I have your", "Bob Stone, Chatham"])
        .field("/known_customer_id", "502")
        .field("/known_location_id", "null")
        .field("/service_address/street", "55 Pine St")
        .field("/service_address/city", "Chatham")
        .field("/service_address/zip", "62629")
        .field("/caller/name", "Bob Stone"),
    );
    v.push(
        case(
            "d4 no to both locations: the street is asked, the customer kept",
            Some(BOB),
            &[
                "my ac is making a weird noise",
                "no",
                "no",
                "seven seventy seven birch lane",
                "yes",
                "rochester",
                "yes",
                "one",
                "yes",
            ],
        )
        .online()
        .expect("job", &["job"])
        .says(&["What's the street address for the service?"])
        .field("/known_customer_id", "502")
        .field("/known_location_id", "null")
        .field("/service_address/street", "777 Birch Ln")
        .field("/service_address/zip", "62563"),
    );
}

/// Point 5: callbacks with the name, what it is about and when.
fn callbacks(v: &mut Vec<Case>) {
    v.push(
        case(
            "d5 a new caller's callback: name, reason and time from one sentence",
            Some(NEW),
            &[
                "can you call me back about the paperwork after five",
                "john smith",
                "yes",
            ],
        )
        .expect("callback", &["callback"])
        .says(&["Sure. May I have your name?"])
        .never(&["when's a good time", "what's it about"])
        .field("/kind", "callback")
        .field("/caller/name", "John Smith")
        .field("/reason", "caller asked for a callback: the paperwork")
        .field("/preferred_time", "after 5 pm")
        .field("/caller/phone_e164", NEW),
    );
    v.push(
        case(
            "d5 a known caller asked what it is about and when",
            Some(JANE),
            &[
                "can someone call me back",
                "it's about the estimate you sent um tomorrow morning",
                "yes",
            ],
        )
        .expect("callback", &["callback"])
        .says(&["What's it about, and when's a good time to call?"])
        .never(&["May I have your name"])
        .field("/caller/name", "Jane Doe")
        .field(
            "/reason",
            "caller asked for a callback: the estimate you sent",
        )
        .field("/preferred_time", "tomorrow morning"),
    );
    v.push(
        case(
            "d5 the time given first: only what it is about is asked",
            Some(JANE),
            &[
                "please call me back tomorrow after three thirty",
                "a question about my invoice",
                "yes",
            ],
        )
        .expect("callback", &["callback"])
        .says(&["And what's it about?"])
        .field(
            "/reason",
            "caller asked for a callback: a question about my invoice",
        )
        .field("/preferred_time", "tomorrow after 3:30 pm"),
    );
    v.push(
        case(
            "d5 the details skipped with a key: a plain callback",
            Some(JANE),
            &["can someone call me back", "dtmf:1", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "caller asked for a callback")
        .field("/preferred_time", "null"),
    );
    v.push(
        case(
            "d5 any time",
            Some(NEW),
            &[
                "i need someone to call me back",
                "my name is maria de la cruz",
                "about a new thermostat anytime is fine",
                "yes",
            ],
        )
        .expect("callback", &["callback"])
        .field("/caller/name", "Maria De La Cruz")
        .field("/preferred_time", "any time")
        .field("/reason", "a new thermostat"),
    );
    v.push(
        case(
            "d5 a keyed callback asks nothing it cannot hear",
            Some(JANE),
            &["dtmf:5", "dtmf:1"],
        )
        .expect("callback", &["callback"])
        .never(&["what's it about", "good time"])
        .field("/reason", "caller asked for a callback")
        .field("/preferred_time", "null"),
    );
    v.push(
        case(
            "d5 a price question keeps the caller's time",
            Some(JANE),
            &["how much is a tune up call me after six", "yes"],
        )
        .expect("callback", &["callback"])
        .field("/reason", "price")
        .field("/preferred_time", "after 6 pm"),
    );
}
