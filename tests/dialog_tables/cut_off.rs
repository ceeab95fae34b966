//! Conversation cases for `tests/dialog_conversations.rs` (issue 18): a caller the box cut off
//! (the turn ended on the short silence of an answer that read whole) who goes on talking.
//! `more:<words>` is that continuation; the engine hears the last answer and these words as
//! one answer, at the question it was given to, and repairs what it took from the piece.

use super::*;

pub fn cases() -> Vec<Case> {
    vec![
        // "one twenty three" is no street: the box asks again, and "maple street" arrives over
        // the question: the street is the whole answer, not a miss of the new question.
        case(
            "cut off: one twenty three … maple street",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "this is john smith",
                "one twenty three",
                "more:maple street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have 123 Maple St"])
        .field("/service_address/street", "123 Maple St")
        .field("/transcript", "caller: … maple street"),
        // The street read whole ("one twenty three maple") and was read back; the caller goes on
        // over the read-back: the street becomes the whole answer, and the yes that follows
        // confirms it.
        case(
            "cut off: one twenty three maple … street, read back again",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "this is john smith",
                "one twenty three maple",
                "more:street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .says(&["I have 123 Maple St"])
        .field("/service_address/street", "123 Maple St"),
        // A name cut after the first name: the rest completes it (not an answer to the street
        // question that followed).
        case(
            "cut off: my name is john … smith",
            Some(NEW),
            &[
                "my furnace is making a banging noise",
                "my name is john",
                "more:smith",
                "one twenty three oak street",
                "yes",
                "springfield six two seven oh four",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .expect("job", &["job"])
        .field("/caller/name", "John Smith")
        .field("/service_address/street", "123 Oak St"),
    ]
}
