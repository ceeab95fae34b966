//! Understanding: what a caller meant, from what a small recogniser on a phone line heard.
//!
//! Pure, deterministic, sans-IO functions the dialog engine calls on each recogniser result
//! (or keypad entry). Input is what Vosk's small model produces on 8 kHz audio: lowercase, no
//! punctuation, numbers as words ("one twenty three maple street"), fillers, repetitions and
//! near-miss words. Every function first runs [`normalize`], so callers may pass raw text.
//!
//! - [`normalize()`] — tokens without fillers or stutters.
//! - [`numbers`] — number words to digits; ZIP codes, phone numbers, DTMF digit strings.
//! - [`address`] — street addresses ("four five six north oak avenue apartment two").
//! - [`callback`] — a callback's preferred time ("after 5 pm") and what it is about.
//! - [`mod@yes_no`] — every spoken and keyed form of yes and no.
//! - [`mod@triage`] — safety hazard, emergency or routine; the safety classifier is high-recall.
//! - [`windows`] — which offered appointment window the caller picked.
//! - [`mod@repair`] — corrections ("no i said maple") and meta-commands (repeat, operator, ...).
//! - [`intent`] — why the caller is calling.
//! - [`names`] — the caller's name, spoken or spelled.
//! - [`places`] — US state names after a city.
//! - [`zips`] — the bundled US ZIP table: a ZIP's city and state, a city's one ZIP.
//! - [`questions`] — hours, prices, service area, "are you a robot", quotes, wrong numbers.
//! - [`summary`] — the problem in the trade's words, for read-backs and the job summary.
//! - [`language`] — a caller who speaks Spanish.
//! - [`spanish`] — the Spanish branch's answers by voice (sí/no, the menu, numbers in words).
//! - [`repeat`] — a repeat call: the problem an upcoming visit is already booked for.
//! - [`mod@grammar`] — phrase lists for the recogniser's closed-set turns.

pub mod address;
pub mod callback;
pub mod grammar;
pub mod intent;
pub mod language;
pub mod names;
mod normalize;
pub mod numbers;
pub mod places;
pub mod questions;
pub mod repair;
pub mod repeat;
pub mod spanish;
pub mod summary;
pub mod triage;
pub mod windows;
pub mod yes_no;
pub mod zips;

pub use address::{street_address, Directional, StreetAddress, StreetSuffix};
pub use grammar::{grammar, GrammarKind, UNKNOWN};
pub use intent::{call_intent, CallIntent};
pub use names::person_name;
pub use normalize::{normalize, Normalized};
pub use numbers::{dtmf_digits, parse_number_words, phone_number, zip_code};
pub use questions::{caller_question, CallerQuestion};
pub use repair::{meta_intent, repair, Meta};
pub use summary::trade_summary;
pub use triage::{
    symptom_words, triage, wants_on_call, EmergencyKind, RoutineKind, SafetyHazard, Triage,
    TriageContext,
};
pub use windows::{choose_window, requested_day, OfferedWindow, WindowChoice};
pub use yes_no::{yes_no, YesNo};
