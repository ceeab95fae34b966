//! Why the caller is calling, among what the box can do.

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

/// The reason for the call in an utterance.
pub fn call_intent(_text: &str) -> Option<CallIntent> {
    None
}
