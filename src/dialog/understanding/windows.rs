//! Which of the offered appointment windows the caller chose: by ordinal ("the second one"),
//! by time ("nine to eleven", "tomorrow morning") or none of them.

use chrono::NaiveDateTime;

/// An appointment window read to the caller, in the shop's local wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedWindow {
    pub start_local: NaiveDateTime,
    pub end_local: NaiveDateTime,
    /// What the prompt said ("tomorrow between nine and eleven").
    pub label: String,
}

/// The caller's answer to "which of these windows?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowChoice {
    /// Index into the offered windows.
    Offered(usize),
    /// Several windows fit ("morning" with two mornings offered): ask between these.
    Ambiguous(Vec<usize>),
    /// "none of those", "something else".
    NoneOfThese,
    /// "something later", "next week": none of these, offer later ones.
    Later,
}

/// The window chosen in `text` among `offered`, with `now_local` for "today", "tomorrow".
pub fn choose_window(
    _text: &str,
    _offered: &[OfferedWindow],
    _now_local: NaiveDateTime,
) -> Option<WindowChoice> {
    None
}
