//! Why the caller is calling, among what the box can do.

use super::normalize::{normalize, Normalized};
use super::triage::{triage, Triage, TriageContext};

/// The reason for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallIntent {
    /// Something is wrong with the equipment: triage it.
    NewProblem,
    Reschedule,
    Cancel,
    /// "when is my technician coming", "eta".
    WhereIsTechnician,
    /// "call me back".
    Callback,
    /// "leave a message".
    Voicemail,
    /// "tell the tech that ...".
    AddNote,
    /// "copy of my invoice".
    InvoiceCopy,
    /// "tune up", "annual service".
    Maintenance,
    /// Membership / service agreement questions.
    Membership,
}

const MEMBERSHIP: &[&str] = &[
    "membership",
    "maintenance plan",
    "service plan",
    "service agreement",
    "maintenance agreement",
    "comfort club",
    "club",
    "renew",
    "renewal",
];
const RESCHEDULE: &[&str] = &[
    "reschedule",
    "re schedule",
    "change my appointment",
    "change the appointment",
    "move my appointment",
    "move the appointment",
    "change the time",
    "different time",
    "different day",
    "can't make it",
    "won't be home",
    "won't be there",
    "push it back",
];
const CANCEL: &[&str] = &[
    "cancel",
    "cancellation",
    "don't need",
    "no longer need",
    "don't need the appointment",
    "call off",
];
const WHERE_IS_TECHNICIAN: &[&str] = &[
    "eta",
    "e t a",
    "when is my technician",
    "when is the technician",
    "when is my tech",
    "when is the tech",
    "whens the tech",
    "when's the tech",
    "whens my tech",
    "when's my tech",
    "gonna be here",
    "going to be here",
    "what time is the tech",
    "what time is my tech",
    "when will",
    "where is",
    "where's",
    "is someone coming",
    "is somebody coming",
    "is anyone coming",
    "still coming",
    "on the way",
    "on his way",
    "on her way",
    "on their way",
    "running late",
    "late",
    "supposed to be here",
    "hasn't shown",
    "didn't show",
    "no show",
    "technician coming",
    "tech coming",
    "arrive",
    "arriving",
    "what time is",
];
const INVOICE: &[&str] = &[
    "invoice",
    "bill",
    "billing",
    "receipt",
    "statement",
    "copy of",
];
const ADD_NOTE: &[&str] = &[
    "add a note",
    "note",
    "notes",
    "tell the tech",
    "tell the technician",
    "tell him",
    "tell them",
    "let the tech know",
    "let the technician know",
    "let him know",
    "let them know",
    "message for the tech",
    "message for the technician",
    "gate code",
];
const MAINTENANCE: &[&str] = &[
    "tune up",
    "tuneup",
    "maintenance",
    "check up",
    "checkup",
    "annual service",
    "annual",
    "inspection",
    "seasonal",
    "precision",
];
const CALLBACK: &[&str] = &[
    "call me back",
    "call back",
    "callback",
    "have someone call",
    "have somebody call",
    "give me a call",
    "return my call",
    "call me",
];
const VOICEMAIL: &[&str] = &["leave a message", "voicemail", "voice mail", "message"];
const NEW_PROBLEM: &[&str] = &[
    "repair",
    "broken",
    "not working",
    "isn't working",
    "service call",
    "come out",
    "appointment",
    "schedule",
    "book",
    "problem",
    "issue",
    "emergency",
    "fix",
];

/// The reason for the call in an utterance, checked in this order:
///
/// 1. a safety hazard or emergency is always [`CallIntent::NewProblem`]: triage comes first,
///    whatever else the caller asked;
/// 2. membership words (so "cancel my membership" is not an appointment cancellation);
/// 3. reschedule, cancel, where is the technician, invoice copy, add a note;
/// 4. maintenance ("tune up"), then any other described problem is a new problem;
/// 5. callback, voicemail; a bare "member" last.
pub fn call_intent(text: &str) -> Option<CallIntent> {
    let n = normalize(text);
    let triaged = triage(text, &TriageContext::default());
    if matches!(triaged, Triage::Safety(_) | Triage::Emergency(_)) {
        return Some(CallIntent::NewProblem);
    }
    let ordered: &[(&[&str], CallIntent)] = &[
        (MEMBERSHIP, CallIntent::Membership),
        (RESCHEDULE, CallIntent::Reschedule),
        (CANCEL, CallIntent::Cancel),
        (WHERE_IS_TECHNICIAN, CallIntent::WhereIsTechnician),
        (INVOICE, CallIntent::InvoiceCopy),
        (ADD_NOTE, CallIntent::AddNote),
        (MAINTENANCE, CallIntent::Maintenance),
    ];
    if let Some((_, intent)) = ordered.iter().find(|(words, _)| n.has_any(words)) {
        return Some(*intent);
    }
    if triaged != Triage::Unclear || n.has_any(NEW_PROBLEM) {
        return Some(CallIntent::NewProblem);
    }
    weak_intent(&n)
}

fn weak_intent(n: &Normalized) -> Option<CallIntent> {
    if n.has_any(CALLBACK) {
        Some(CallIntent::Callback)
    } else if n.has_any(VOICEMAIL) {
        Some(CallIntent::Voicemail)
    } else if n.has_any(&["member", "members"]) {
        Some(CallIntent::Membership)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CallIntent::*;

    #[test]
    fn intents() {
        let cases: &[(&str, Option<CallIntent>)] = &[
            ("my furnace is broken", Some(NewProblem)),
            ("i smell gas", Some(NewProblem)),
            (
                "i want to cancel my appointment but i smell gas",
                Some(NewProblem),
            ),
            ("my heat is out can you call me back", Some(NewProblem)),
            ("the ac is making a weird noise", Some(NewProblem)),
            ("i need to schedule a repair", Some(NewProblem)),
            ("i need to reschedule", Some(Reschedule)),
            ("can i move my appointment to friday", Some(Reschedule)),
            ("i can't make it tomorrow", Some(Reschedule)),
            ("cancel my appointment", Some(Cancel)),
            ("i want to cancel", Some(Cancel)),
            ("cancel my tune up", Some(Cancel)),
            ("when is my technician coming", Some(WhereIsTechnician)),
            ("what's the eta", Some(WhereIsTechnician)),
            ("is someone coming", Some(WhereIsTechnician)),
            ("the tech is running late", Some(WhereIsTechnician)),
            (
                "uh whens the tech gonna be here tomorrow",
                Some(WhereIsTechnician),
            ),
            ("what time is the tech coming", Some(WhereIsTechnician)),
            ("call me back", Some(Callback)),
            ("can you have someone call me", Some(Callback)),
            ("i'd like to leave a message", Some(Voicemail)),
            ("voicemail", Some(Voicemail)),
            ("add a note to my job", Some(AddNote)),
            (
                "tell the tech that the gate code is one two three four",
                Some(AddNote),
            ),
            ("let the technician know the dog is out", Some(AddNote)),
            ("i need a copy of my invoice", Some(InvoiceCopy)),
            ("can you send me my bill", Some(InvoiceCopy)),
            ("receipt", Some(InvoiceCopy)),
            ("i want a tune up", Some(Maintenance)),
            ("annual service", Some(Maintenance)),
            ("schedule a check up", Some(Maintenance)),
            ("membership", Some(Membership)),
            ("cancel my membership", Some(Membership)),
            (
                "i have a question about my maintenance plan",
                Some(Membership),
            ),
            ("i'm a member", Some(Membership)),
            ("hello", None),
            ("", None),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, call_intent(text), *want))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }
}
