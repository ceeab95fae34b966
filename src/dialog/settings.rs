//! The dialog layer's settings: `[call]`, `[triage]`, `[dialog]` and `[schedule]`, with their
//! validation.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::infra::settings::SettingIssue;

/// How calls are answered: which flow, how long, what is recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// WAV (8 kHz mono 16-bit, or any rate/channels, converted) played when a call is answered.
    /// Empty = a built-in tone prompt.
    pub greeting_wav: Option<PathBuf>,
    /// Longest call, in seconds.
    pub max_call_secs: u64,
    /// Hang up after this long with no digit, in seconds.
    pub idle_timeout_secs: u64,
    /// Digit that ends the call.
    pub hangup_digit: char,
    /// Record the caller's audio under `<data_dir>/recordings`.
    pub record: bool,
    /// Which call flow runs: the dialog (the product), the pre-speech answering flow, or the
    /// spoken echo stand-in.
    pub mode: CallMode,
    /// Phrases the `echo_turn` flow listens for; empty = open vocabulary.
    pub turn_grammar: Vec<String>,
    /// On SIGTERM, calls in progress may finish for this long (seconds); then the box ends
    /// the rest with a BYE. Each call's record is written either way.
    pub shutdown_grace_secs: u64,
    /// The kind of answer the `echo_turn` flow's open turns expect ("zip", "phone",
    /// "street_address", "name", "date", "yes_no", "description"); unset = any answer, the
    /// full trailing silence. Ignored when `turn_grammar` is set.
    pub turn_answer: Option<crate::speech::answer::AnswerKind>,
}

/// The call flow an answered call runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// The dialog engine: triage, booking, callbacks, messages, by voice or keypad.
    #[default]
    Dialog,
    /// Greeting, recording, digits (no speech).
    Answering,
    /// Greet, listen to one turn, say back what was heard (until the dialog issue's flow).
    EchoTurn,
}

/// How the box sorts a caller's problem into emergency or routine (safety hazards always get
/// the safety script; these keys only move the emergency line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// No heat at or below this outdoor temperature (°F) is an emergency.
    pub cold_threshold_f: f32,
    /// No cooling at or above this outdoor temperature (°F) is an emergency.
    pub hot_threshold_f: f32,
    /// Words that mark a vulnerable occupant, besides the built-in ones (elderly, baby, infant,
    /// newborn, oxygen, medical, pregnant, disabled, ...). Lowercase recogniser words.
    pub vulnerable_words: Vec<String>,
}

/// What the dialog engine says and how patient it is (see `dialog::engine`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DialogConfig {
    /// First words of every call; `{shop}` is replaced by `shop.name`.
    pub greeting: String,
    /// Said right after the greeting: callers must know they are talking to a machine.
    pub disclosure: String,
    /// The shop's number as it should be spoken when the box cannot help ("five five five,
    /// one two three, four five six seven"); empty = "the shop's main number".
    pub office_phone: String,
    /// Offer the maintenance membership to callers who are not members.
    pub membership_offer: bool,
    /// The membership's name as the shop sells it ("comfort club").
    pub membership_name: String,
    /// Confirmation numbers: this prefix, then `confirmation_length` letters and digits.
    pub confirmation_prefix: String,
    pub confirmation_length: usize,
    /// Re-prompts after silence or a misunderstanding before the keypad-only prompt.
    pub reprompts: u32,
    /// How long the box waits for the caller to start speaking or keying, in seconds.
    pub no_input_timeout_secs: u64,
    /// Below this recogniser confidence (0-1) a name is spelled back letter by letter with
    /// the read-back.
    pub low_confidence: f32,
    /// State/province code put on addresses taken on the phone ("IL").
    pub default_state: String,
    /// The service area's ZIP codes and their cities, "ZIP City[, ST]" ("62704 Springfield",
    /// "62629 Chatham, IL"): a caller who gives only the ZIP gets the city from here first,
    /// then from the bundled US ZIP table (`assets/zip/`, which also gives the ZIP of a city
    /// that has only one); a ZIP neither knows makes the box ask for the city.
    pub zip_cities: Vec<String>,
    /// The answer to "what time do you open" ("The office is open Monday to Friday, 8 to 5.");
    /// empty = the office calls back with the hours.
    pub office_hours: String,
    /// The answer to "do you service …" ("We cover Springfield and Sangamon County."); empty =
    /// the office calls back to confirm.
    pub service_area: String,
    /// The answer to "how much is …" ("A service call is 89 dollars."); empty = "the office
    /// will call you with a price" and a callback request.
    pub prices: String,
}

/// When the box offers appointments when it cannot see live capacity, and how long live
/// capacity stays trustworthy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Days with regular appointments: "mon" … "sun".
    pub business_days: Vec<String>,
    /// First arrival window starts at this local time ("HH:MM").
    pub business_hours_start: String,
    /// Last arrival window ends by this local time ("HH:MM").
    pub business_hours_end: String,
    /// Length of an arrival window, in hours.
    pub arrival_window_hours: u32,
    /// The on-call technician's evening arrival windows, local "HH:MM-HH:MM".
    pub on_call_windows: Vec<String>,
    /// Windows read to the caller at once (2 or 3).
    pub windows_offered: usize,
    /// Cached capacity older than this (seconds) is not trusted: the box offers windows from
    /// the hours above and says the office confirms them.
    pub capacity_max_age_secs: u64,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            greeting_wav: None,
            max_call_secs: 600,
            idle_timeout_secs: 60,
            hangup_digit: '#',
            record: true,
            mode: CallMode::Dialog,
            turn_grammar: Vec::new(),
            shutdown_grace_secs: 20,
            turn_answer: None,
        }
    }
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            cold_threshold_f: 40.0,
            hot_threshold_f: 90.0,
            vulnerable_words: Vec::new(),
        }
    }
}

impl Default for DialogConfig {
    fn default() -> Self {
        DialogConfig {
            greeting: "Thanks for calling {shop}.".into(),
            // Short by design: the opening (greeting, this, the question) stays under 25 words.
            disclosure: "I'm an automated assistant.".into(),
            office_phone: String::new(),
            membership_offer: true,
            membership_name: "maintenance membership".into(),
            confirmation_prefix: "CB".into(),
            confirmation_length: 4,
            reprompts: 2,
            no_input_timeout_secs: 6,
            low_confidence: 0.6,
            default_state: "IL".into(),
            zip_cities: Vec::new(),
            office_hours: String::new(),
            service_area: String::new(),
            prices: String::new(),
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            business_hours_start: "08:00".into(),
            business_hours_end: "17:00".into(),
            arrival_window_hours: 2,
            on_call_windows: ["18:00-20:00", "20:00-22:00", "22:00-00:00"]
                .map(String::from)
                .to_vec(),
            windows_offered: 3,
            capacity_max_age_secs: 900,
        }
    }
}

impl CallConfig {
    /// Checks `[call]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let call = self;
        if let Some(wav) = &call.greeting_wav {
            if wav.as_os_str().is_empty() {
                v.push(SettingIssue::error(
                    "call.greeting_wav",
                    "is empty; remove the key to use the built-in prompt",
                ));
            } else if !wav.is_file() {
                v.push(SettingIssue::error(
                    "call.greeting_wav",
                    format!("file {} does not exist", wav.display()),
                ));
            }
        }
        if call.max_call_secs == 0 {
            v.push(SettingIssue::error(
                "call.max_call_secs",
                "must be greater than 0",
            ));
        }
        if call.shutdown_grace_secs > 3600 {
            v.push(SettingIssue::error(
                "call.shutdown_grace_secs",
                "must be at most 3600 (systemd's TimeoutStopSec must exceed it)",
            ));
        }
        if call.idle_timeout_secs == 0 {
            v.push(SettingIssue::error(
                "call.idle_timeout_secs",
                "must be greater than 0",
            ));
        }
        if !matches!(call.hangup_digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            v.push(SettingIssue::error(
                "call.hangup_digit",
                format!(
                    "`{}` is not a DTMF digit (0-9, *, #, A-D)",
                    call.hangup_digit.escape_default()
                ),
            ));
        }
    }
}

impl TriageConfig {
    /// Checks `[triage]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let triage = self;
        // Outdoor temperatures a shop in North America can meet; outside that it is a typo
        // (Celsius, a missing digit) that would silently turn every call into an emergency.
        for (key, value) in [
            ("triage.cold_threshold_f", triage.cold_threshold_f),
            ("triage.hot_threshold_f", triage.hot_threshold_f),
        ] {
            if !value.is_finite() || !(-40.0..=130.0).contains(&value) {
                v.push(SettingIssue::error(
                    key,
                    format!("must be between -40 and 130 °F ({value} given)"),
                ));
            }
        }
        if triage.cold_threshold_f >= triage.hot_threshold_f {
            v.push(SettingIssue::error(
                "triage.cold_threshold_f",
                format!(
                    "must be below triage.hot_threshold_f ({} >= {})",
                    triage.cold_threshold_f, triage.hot_threshold_f
                ),
            ));
        }
        for (i, word) in triage.vulnerable_words.iter().enumerate() {
            // Matched against recogniser output, which is lowercase words: anything else
            // would never match and the shop would believe it does.
            let ok = !word.trim().is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '\'');
            if !ok {
                v.push(SettingIssue::error(
                    format!("triage.vulnerable_words[{i}]"),
                    format!("`{word}` must be lowercase words (a-z, spaces, apostrophes)"),
                ));
            }
        }
    }
}

impl DialogConfig {
    /// Checks `[dialog]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let d = self;
        if d.greeting.trim().is_empty() {
            v.push(SettingIssue::error("dialog.greeting", "must not be empty"));
        }
        // A caller has a right to know it is a machine; an empty disclosure would hide it.
        if d.disclosure.trim().is_empty() {
            v.push(SettingIssue::error(
                "dialog.disclosure",
                "must not be empty: callers must hear that this is an automated assistant",
            ));
        }
        if d.membership_offer && d.membership_name.trim().is_empty() {
            v.push(SettingIssue::error(
                "dialog.membership_name",
                "must not be empty while dialog.membership_offer is on",
            ));
        }
        if !(1..=4).contains(&d.confirmation_prefix.len())
            || !d
                .confirmation_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase())
        {
            v.push(SettingIssue::error(
                "dialog.confirmation_prefix",
                "must be 1 to 4 capital letters (A-Z)",
            ));
        }
        // Short enough to say and write down, long enough not to collide within a season.
        if !(3..=8).contains(&d.confirmation_length) {
            v.push(SettingIssue::error(
                "dialog.confirmation_length",
                format!("must be 3 to 8 ({} given)", d.confirmation_length),
            ));
        }
        if d.reprompts > 5 {
            v.push(SettingIssue::error(
                "dialog.reprompts",
                format!("must be 0 to 5 ({} given)", d.reprompts),
            ));
        }
        if !(0.0..=1.0).contains(&d.low_confidence) {
            v.push(SettingIssue::error(
                "dialog.low_confidence",
                format!("must be 0 to 1 ({} given)", d.low_confidence),
            ));
        }
        if !(2..=30).contains(&d.no_input_timeout_secs) {
            v.push(SettingIssue::error(
                "dialog.no_input_timeout_secs",
                format!("must be 2 to 30 ({} given)", d.no_input_timeout_secs),
            ));
        }
        if d.default_state.len() != 2 || !d.default_state.chars().all(|c| c.is_ascii_uppercase()) {
            v.push(SettingIssue::error(
                "dialog.default_state",
                format!(
                    "`{}` must be a two-letter state code (\"IL\")",
                    d.default_state
                ),
            ));
        }
    }
}

impl ScheduleConfig {
    /// Checks `[schedule]`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let s = self;
        if s.business_days.is_empty() {
            v.push(SettingIssue::error(
                "schedule.business_days",
                "must name at least one day",
            ));
        }
        for (i, day) in s.business_days.iter().enumerate() {
            if super::schedule::parse_weekday(day).is_none() {
                v.push(SettingIssue::error(
                    format!("schedule.business_days[{i}]"),
                    format!("`{day}` is not one of mon, tue, wed, thu, fri, sat, sun"),
                ));
            }
        }
        let start = super::schedule::parse_clock(&s.business_hours_start);
        let end = super::schedule::parse_clock(&s.business_hours_end);
        if start.is_none() {
            v.push(SettingIssue::error(
                "schedule.business_hours_start",
                format!("`{}` is not a time HH:MM", s.business_hours_start),
            ));
        }
        if end.is_none() {
            v.push(SettingIssue::error(
                "schedule.business_hours_end",
                format!("`{}` is not a time HH:MM", s.business_hours_end),
            ));
        }
        if !(1..=8).contains(&s.arrival_window_hours) {
            v.push(SettingIssue::error(
                "schedule.arrival_window_hours",
                format!("must be 1 to 8 ({} given)", s.arrival_window_hours),
            ));
        } else if let (Some(a), Some(b)) = (start, end) {
            if b <= a || (b - a) < chrono::Duration::hours(i64::from(s.arrival_window_hours)) {
                v.push(SettingIssue::error(
                    "schedule.business_hours_end",
                    "must leave room for at least one arrival window after business_hours_start",
                ));
            }
        }
        for (i, w) in s.on_call_windows.iter().enumerate() {
            if super::schedule::parse_clock_range(w).is_none() {
                v.push(SettingIssue::error(
                    format!("schedule.on_call_windows[{i}]"),
                    format!("`{w}` is not a window HH:MM-HH:MM"),
                ));
            }
        }
        if !(2..=3).contains(&s.windows_offered) {
            v.push(SettingIssue::error(
                "schedule.windows_offered",
                format!("must be 2 or 3 ({} given)", s.windows_offered),
            ));
        }
        if s.capacity_max_age_secs < 60 {
            v.push(SettingIssue::error(
                "schedule.capacity_max_age_secs",
                "must be at least 60",
            ));
        }
    }
}
