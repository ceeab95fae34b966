//! The dialog engine: an explicit state machine over the speech layer's turns and the keypad's
//! digits. **Sans-IO** like quinn-proto: it is handed the time, does no I/O, never sleeps.
//!
//! # API (what the SIP/speech wiring calls)
//!
//! ```text
//! let mut dialog = Dialog::new(CallContext { .. }, Arc<Script>, Sources { .. }, now);
//! let actions = dialog.start(now);                  // greeting, disclosure, first question
//! loop {
//!     for action in actions {
//!         Action::Say { text, barge_in }            // speak (barge_in=false: play to the end)
//!         Action::Listen(Listen { grammar, keypad, no_input_timeout, expect })
//!                                                   // recognise with the grammar (None = open)
//!         Action::Enqueue(payload)                  // durable enqueue, then feed the result:
//!             dialog.handle(now, Input::Recorded(outbox.enqueue(payload).await.map_err(..)))
//!         Action::Hangup                            // end the call
//!     }
//!     actions = dialog.handle(now, Input::Heard { text, confidence }
//!                                  | Input::Digits(keys) | Input::NoInput | Input::Hangup);
//! }
//! dialog.outcome();    // the record(s) the call produced, for the call record
//! dialog.transcript(); // every turn, both sides, with times
//! ```
//!
//! [`drive`] runs an input and every enqueue it causes against a synchronous [`RecordSink`]
//! (simulate and tests). While an `Enqueue` is outstanding the engine ignores caller input; a
//! `Hangup` then is remembered and the call ends quietly once the record is settled.
//!
//! # Rules it keeps
//!
//! - Triage first: a safety hazard heard where the caller describes the problem gets the fixed
//!   safety script (not barge-in-able) before anything else, then an on-call alert record.
//! - Nothing is called booked until [`Input::Recorded`] says `Ok`; a failed enqueue is said
//!   honestly and falls back to a callback request, then to the shop's number.
//! - Offline windows (not live capacity) are promised as "on the schedule; the office confirms".
//! - No routine window on a day the caller already has a visit; a repeat call about the same
//!   repair hears what is booked and leaves a note on that job, never a second job.
//! - A caller who speaks Spanish gets [`Action::Language`] and a Spanish keypad menu (when
//!   [`Script::spanish`]), or a message.
//! - Every question has a keypad alternative; silence or a miss gets `reprompts` re-prompts,
//!   then a keypad-only prompt, then the voicemail.
//! - Every call ends with a durable record: a hang-up before one leaves a lead with what was
//!   captured so far.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

use super::schedule::{speak_slot, to_local, OfferedSchedule, ScheduleSource, Slot};
use super::settings::{DialogConfig, TriageConfig};
use super::sources::{
    Appointment, Appointments, CustomerDirectory, KnownCustomer, RecordFailure, RecordSink,
};
mod spanish;
use spanish::is_spanish_step;

use super::understanding::{
    self as u, grammar, CallIntent, EmergencyKind, GrammarKind, Meta, OfferedWindow, RoutineKind,
    SafetyHazard, StreetAddress, Triage, TriageContext, WindowChoice, YesNo,
};
use crate::speech::answer::AnswerKind;
use crate::trade::phone::{self, DiallingPlan};
use crate::trade::{
    Address, AppointmentWindow, CallbackRequest, CallerInfo, CancellationRequest, Hazard,
    InvoiceCopyRequest, JobNote, JobRequest, LeadRequest, MembershipInterest, OnCallAlert, Payload,
    RecordId, RescheduleRequest, Urgency, VoicemailMessage,
};

/// What the wiring knows about the call when it is answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallContext {
    /// `<data_dir>/calls/<call_key>.json`; links every record to its call.
    pub call_key: String,
    /// Caller ID in E.164, when presented.
    pub caller_id: Option<String>,
    /// The shop number dialled (DNIS).
    pub dialled: Option<String>,
    /// Outdoor temperature at the shop, when a weather source has it (triage thresholds).
    pub outdoor_temp_f: Option<f32>,
    /// `outdoor_temp_f` is a fresh forecast (weather source `nws`): an outdoor temperature
    /// the caller states does not override it. An aging value or the climate rule does not
    /// count as measured: then the caller's figure decides.
    pub outdoor_measured: bool,
    /// Where the call's recording goes (relative to the data dir), for voicemail records.
    pub recording_path: Option<String>,
}

/// The shop's words and patience, from `[shop]`, `[dialog]` and `[triage]`.
#[derive(Debug, Clone)]
pub struct Script {
    /// Empty when the shop has no name configured (the default "the shop" is never spoken).
    pub shop_name: String,
    pub greeting: String,
    pub disclosure: String,
    pub office_phone: String,
    pub membership_offer: bool,
    pub membership_name: String,
    pub confirmation_prefix: String,
    pub confirmation_length: usize,
    pub reprompts: u32,
    pub no_input_timeout: Duration,
    /// `[dialog] low_confidence`: below it a name is spelled back with the read-back.
    pub low_confidence: f32,
    pub default_state: String,
    /// `[dialog] office_hours`, `service_area`, `prices`: answers to callers' questions
    /// (empty: the office calls back).
    pub office_hours: String,
    pub service_area: String,
    pub prices: String,
    /// `[dialog] zip_cities`: ZIP → (city, state when given).
    pub zip_cities: Vec<(String, String, Option<String>)>,
    pub timezone: Tz,
    /// The shop's dialling plan (`shop.default_country`): numbers the caller gives, and how
    /// numbers are read back.
    pub phone_plan: &'static DiallingPlan,
    pub cold_threshold_f: f32,
    pub hot_threshold_f: f32,
    pub vulnerable_words: Vec<String>,
    /// A routine caller who asks for a person a second time is paged for (`[alerts]
    /// insist_policy = "page"`); otherwise the office calls them back first thing.
    pub insist_pages: bool,
    /// The box can speak Spanish (a Spanish voice is configured and works): a caller who
    /// speaks it is offered Spanish; otherwise a message is taken.
    pub spanish: bool,
    /// Issue 15: the box can call out while this caller is on the line (`[sip]
    /// outbound_while_on_call`): a caller asking for a person is bridged to the on-call
    /// technician ([`Action::Bridge`]) once the page is on disk, instead of called back.
    pub bridge: bool,
    /// The box also hears Spanish (`[speech] spanish_model` is loaded): the Spanish branch
    /// takes its answers by voice as well as by key (the menu, what is wrong, sí/no, the
    /// number), and the wiring listens with the Spanish model (see [`Action::Language`]).
    pub spanish_speech: bool,
}

impl Script {
    /// The same script with the shop's policy for a routine caller who insists on a person.
    pub fn with_insist_pages(mut self, page: bool) -> Self {
        self.insist_pages = page;
        self
    }

    /// The same script, bridging callers who ask for a person when the box can call out
    /// while they are on the line.
    pub fn with_bridge(mut self, bridge: bool) -> Self {
        self.bridge = bridge;
        self
    }

    /// The same script, offering Spanish when the box has a Spanish voice.
    pub fn with_spanish(mut self, spanish: bool) -> Self {
        self.spanish = spanish;
        self
    }

    /// The same script, hearing Spanish answers when the box has a Spanish speech model
    /// (only with a Spanish voice: without one no Spanish is spoken).
    pub fn with_spanish_speech(mut self, speech: bool) -> Self {
        self.spanish_speech = speech && self.spanish;
        self
    }

    /// From `[dialog]` and `[triage]`, for the shop named `shop_name` in the IANA zone
    /// `shop_timezone` whose phone numbers follow `shop_country`'s dialling plan (`[shop]`).
    pub fn from_settings(
        shop_name: &str,
        shop_timezone: &str,
        shop_country: &str,
        d: &DialogConfig,
        triage: &TriageConfig,
    ) -> Script {
        // The default name ("the shop") and an empty one are never spoken: "Thanks for calling."
        let named =
            !shop_name.trim().is_empty() && !shop_name.trim().eq_ignore_ascii_case("the shop");
        Script {
            shop_name: if named {
                shop_name.trim().to_string()
            } else {
                String::new()
            },
            greeting: if named {
                d.greeting.replace("{shop}", shop_name.trim())
            } else {
                d.greeting.replace(" {shop}", "").replace("{shop}", "")
            },
            disclosure: d.disclosure.clone(),
            office_phone: if d.office_phone.trim().is_empty() {
                "the shop's main number".into()
            } else {
                d.office_phone.clone()
            },
            membership_offer: d.membership_offer,
            membership_name: d.membership_name.clone(),
            confirmation_prefix: d.confirmation_prefix.clone(),
            confirmation_length: d.confirmation_length.clamp(3, 8),
            reprompts: d.reprompts,
            no_input_timeout: Duration::from_secs(d.no_input_timeout_secs),
            low_confidence: d.low_confidence,
            default_state: d.default_state.clone(),
            zip_cities: d
                .zip_cities
                .iter()
                .filter_map(|z| parse_zip_city(z))
                .collect(),
            office_hours: d.office_hours.trim().to_string(),
            service_area: d.service_area.trim().to_string(),
            prices: d.prices.trim().to_string(),
            timezone: super::schedule::shop_zone(shop_timezone),
            // `config check` refuses an unknown country; a tool that skipped it gets the default.
            phone_plan: phone::dialling_plan(shop_country).unwrap_or_else(phone::default_plan),
            cold_threshold_f: triage.cold_threshold_f,
            hot_threshold_f: triage.hot_threshold_f,
            vulnerable_words: triage.vulnerable_words.clone(),
            insist_pages: false,
            spanish: false,
            bridge: false,
            spanish_speech: false,
        }
    }
}

/// The lookups the engine makes.
#[derive(Clone)]
pub struct Sources {
    pub customers: Arc<dyn CustomerDirectory>,
    pub appointments: Arc<dyn Appointments>,
    pub schedule: Arc<dyn ScheduleSource>,
}

/// One event from the call.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// What the recogniser heard (lowercase words).
    Heard { text: String, confidence: f32 },
    /// The caller's last spoken answer was cut off (the turn ended on the short silence of an
    /// answer that read whole) and they went on: `text` is what they said now, `whole` the
    /// whole answer (the last answer's words and these). The engine hears `whole` again as
    /// the answer to the question it was given to, repairing what it took from the piece
    /// ("one twenty three" + "maple street" → 123 Maple Street); when that answer already
    /// led to a record, `text` answers the current question instead.
    Continued {
        text: String,
        whole: String,
        confidence: f32,
    },
    /// Keys pressed (one digit, or an entry ended by `#`).
    Digits(String),
    /// The no-input timeout of the last `Listen` ran out.
    NoInput,
    /// The caller hung up.
    Hangup,
    /// The result of the last [`Action::Enqueue`].
    Recorded(Result<RecordId, RecordFailure>),
    /// How the [`Action::Bridge`] to the on-call technician ended.
    Bridged(BridgeOutcome),
}

/// What [`Action::Bridge`] is about: the page on disk (the record and its id).
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeRequest {
    pub alert: OnCallAlert,
    pub alert_id: RecordId,
}

/// How a bridge to the on-call technician ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeOutcome {
    /// The technician pressed 1 and talked with the caller; one of them hung up (the box
    /// ended the other leg).
    Talked,
    /// Busy, no answer, 2 pressed, no key within the wait, or the call could not be placed:
    /// the caller leaves a voicemail and the paging ladder goes on.
    NotTaken,
}

/// What the keypad may send for the current question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Keypad {
    /// One key answers (menus, yes/no, window choice).
    Digit,
    /// Digits ended by `#` (ZIP, phone, invoice number), at most `max`.
    UntilHash { max: usize },
}

/// Listen for the caller's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listen {
    /// Closed-set grammar for the recogniser, or `None` for open speech.
    pub grammar: Option<Vec<String>>,
    pub keypad: Keypad,
    pub no_input_timeout: Duration,
    /// What an open answer to this question is (a name, a street, a ZIP, …): the speech
    /// layer ends the turn sooner once what it heard reads as a whole answer of that kind.
    pub expect: Option<AnswerKind>,
}

/// What the wiring must do, in order.
// A few actions per turn; matching on `Action::Enqueue(payload)` without a Box is worth more
// than the bytes a smaller variant saves (as for `Payload` itself).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Say {
        text: String,
        barge_in: bool,
    },
    Listen(Listen),
    /// Enqueue durably; answer with [`Input::Recorded`] before any other input.
    Enqueue(Payload),
    Hangup,
    /// Speak in this language from here on (the voice for it, see `[voice] spanish_voice`).
    Language(Language),
    /// Issue 15: ring the on-call technician on a second line while the caller holds (hold
    /// audio), whisper who is calling, and on their 1 relay the two legs until one hangs up;
    /// answer with [`Input::Bridged`]. The call's `on_call_alert` is already on disk: the
    /// whisper says it, and the technician taking the call acknowledges it.
    Bridge(BridgeRequest),
}

/// The language the box speaks on a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    English,
    /// Issue 16: keypad-driven, with espeak-ng's Spanish voice.
    Spanish,
}

impl Language {
    /// The language's tag (BCP 47), as the speech layer names its voices.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
        }
    }
}

/// Who spoke a transcript turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Callbox,
    Caller,
}

/// One turn of the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub at: DateTime<Utc>,
    pub speaker: Speaker,
    pub text: String,
}

/// What the call produced, for the call record and `simulate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// "job", "safety_alert", "callback", "voicemail", "lead", "note", "reschedule",
    /// "cancellation", "invoice_copy", "membership_interest"; "none" while nothing is durable.
    pub kind: String,
    pub record_ids: Vec<RecordId>,
    pub records: Vec<Payload>,
    pub confirmation_number: Option<String>,
    /// A job was booked against live capacity (`false`: offline estimate the office confirms).
    pub booked_live: Option<bool>,
    /// An enqueue failed during the call (the caller was told).
    pub enqueue_failed: bool,
    /// The caller hung up before the call's business was done.
    pub caller_hung_up: bool,
}

/// What the caller wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    Repair,
    Maintenance,
    Callback,
    Membership,
    Invoice,
    Reschedule,
    Cancel,
    Eta,
    Note,
}

/// The question the box is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Menu,
    EmergencyMenu,
    AppointmentMenu,
    Problem,
    ConfirmLocation(usize),
    AskName,
    AskStreet,
    ConfirmStreet,
    AskCityZip,
    /// The ZIP was given without a city, and neither `[dialog] zip_cities` nor the bundled
    /// ZIP table knows it.
    AskCity,
    /// A city was given without a ZIP, and it has several.
    AskZip,
    ConfirmPhone,
    AskPhone,
    /// What a callback is about and when to call (asked once, skippable).
    AskCallbackDetails,
    OfferWindows,
    ConfirmBooking,
    ConfirmCancel,
    AskNote,
    AskInvoice,
    MembershipOffer,
    /// Issue 16: the Spanish keypad menu.
    SpanishMenu,
    /// With a Spanish model: what is wrong, in the caller's words (a key skips it).
    SpanishProblem,
    /// With a Spanish model: whether caller ID is the number to call back on.
    SpanishConfirmPhone,
    /// With a Spanish model: the number to call back on, said or keyed.
    SpanishAskPhone,
    Voicemail,
    /// Waiting for [`Input::Bridged`]: the technician's phone rings, the caller holds.
    Bridging,
    /// Waiting for [`Input::Recorded`].
    Recording(Pending),
    Ended,
}

/// The record being written, and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Job,
    Safety,
    /// The page to the on-call technician for an emergency that is not a hazard.
    Page,
    Request,
    Membership,
    FallbackCallback,
    Lead,
}

/// Everything captured so far.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: String,
    customer: Option<KnownCustomer>,
    location_id: Option<i64>,
    address: Option<Address>,
    street: Option<StreetAddress>,
    city: String,
    /// A state the caller named ("springfield illinois"); else the shop's default state.
    state: Option<String>,
    zip: Option<String>,
    callback_phone: Option<String>,
    problem: String,
    triage: Option<Triage>,
    offered: OfferedSchedule,
    offered_labels: Vec<String>,
    later_asked: bool,
    /// "I can't see the live schedule" was said: later offers leave it out.
    offline_told: bool,
    /// The windows in hand are the first unconfirmed ones: the offer says so.
    say_offline: bool,
    /// The one window offered was read out as the booking confirmation itself.
    single_offer: bool,
    slot: Option<Slot>,
    appointment: Option<Appointment>,
    invoice_number: Option<String>,
    /// Why the office calls back, when the caller asked for something the box cannot answer.
    callback_reason: Option<String>,
    /// What the caller wants to be called back about, in their words ("my bill").
    callback_about: Option<String>,
    /// When they would like the call ("after 5 pm", "tomorrow morning").
    preferred_time: Option<String>,
    /// The callback's details were asked once (never again).
    callback_details_asked: bool,
    /// The name was heard with low confidence: it is spelled back with the read-back.
    name_unsure: bool,
    /// The new address was read back (once; a correction reads it again).
    read_back_said: bool,
    note: String,
    voicemail: String,
}

/// An emergency repeats a booked visit only when that visit is due within this many hours.
const REPEAT_EMERGENCY_WITHIN_HOURS: i64 = 12;

/// Letters and digits nobody mishears for each other on a phone line (no 0/O, 1/I, 5/S, 8/B).
const CONFIRMATION_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY234679";

/// See the module docs.
pub struct Dialog {
    ctx: CallContext,
    script: Arc<Script>,
    sources: Sources,
    step: Step,
    goal: Option<Goal>,
    misses: u32,
    captured: Captured,
    transcript: Vec<Turn>,
    outcome: Outcome,
    caller_gone: bool,
    last_prompt: Vec<Action>,
    now: DateTime<Utc>,
    /// No recogniser on this call: every question is asked in its keypad form.
    keypad_only: bool,
    /// Times a routine caller asked for a person.
    person_asks: u32,
    /// The page raised names a booking made on this call.
    page_after_booking: bool,
    /// The caller's last answer was keyed: questions name their keys.
    keys_last: bool,
    /// "Press 1 for yes, 2 for no" was said once: later yes/no questions leave it out.
    yes_no_taught: bool,
    /// The recogniser's confidence in the caller's last spoken answer.
    last_confidence: f32,
    /// The caller chose Spanish: the box speaks it, and listens to the keypad (and, with
    /// [`Script::spanish_speech`], to Spanish words).
    spanish: bool,
    /// The caller asked for a person and the box can bridge: once the page is on disk, the
    /// technician is rung ([`Action::Bridge`]).
    bridge_wanted: bool,
    /// The page raised on this call, for the bridge's whisper.
    paged: Option<OnCallAlert>,
    /// The bridge was tried and nobody took it: the voicemail that follows says the page
    /// goes on.
    bridge_missed: bool,
    /// The Spanish menu's choice by voice while the problem and the number are asked: '1'
    /// a page, '2' a callback.
    spanish_choice: Option<char>,
    /// The dialog as it was when the caller's last spoken answer arrived, while that answer
    /// can still be heard again whole ([`Input::Continued`]).
    before_answer: Option<Box<BeforeAnswer>>,
}

/// What a spoken answer may change in the dialog, as it was before the answer: restored to
/// hear a continued answer whole. Not kept once the answer led to a record (that cannot be
/// taken back) or ended the call.
#[derive(Debug, Clone)]
struct BeforeAnswer {
    step: Step,
    goal: Option<Goal>,
    misses: u32,
    captured: Captured,
    outcome: Outcome,
    last_prompt: Vec<Action>,
    person_asks: u32,
    page_after_booking: bool,
    keys_last: bool,
    yes_no_taught: bool,
    last_confidence: f32,
    spanish: bool,
}

impl Dialog {
    /// A new call. Looks the caller up by caller ID right away (the cache is in memory).
    pub fn new(
        ctx: CallContext,
        script: Arc<Script>,
        sources: Sources,
        now: DateTime<Utc>,
    ) -> Self {
        let mut captured = Captured::default();
        if let Some(phone) = ctx.caller_id.as_deref() {
            captured.customer = sources.customers.by_phone(phone).into_iter().next();
        }
        if let Some(c) = &captured.customer {
            captured.name = c.name.clone();
        }
        Dialog {
            ctx,
            script,
            sources,
            step: Step::Menu,
            goal: None,
            misses: 0,
            captured,
            transcript: Vec::new(),
            outcome: Outcome {
                kind: "none".into(),
                ..Outcome::default()
            },
            caller_gone: false,
            last_prompt: Vec::new(),
            now,
            keypad_only: false,
            person_asks: 0,
            page_after_booking: false,
            keys_last: false,
            yes_no_taught: false,
            last_confidence: 1.0,
            spanish: false,
            bridge_wanted: false,
            paged: None,
            bridge_missed: false,
            before_answer: None,
            spanish_choice: None,
        }
    }

    /// A call without a speech model: every question is asked in its keypad form from the
    /// start (not only after the re-prompts), so the caller is never asked to speak.
    pub fn keypad_only(mut self) -> Self {
        self.keypad_only = true;
        self
    }

    /// The greeting, the disclosure and the first question.
    pub fn start(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        self.now = now;
        let mut out = Vec::new();
        let hello = match &self.captured.customer {
            Some(c) if !c.name.is_empty() => format!(
                "{} Hi {}. {}",
                self.script.greeting,
                first_name(&c.name),
                self.script.disclosure,
            ),
            _ => format!("{} {}", self.script.greeting, self.script.disclosure),
        };
        self.say(&mut out, hello, true);
        self.ask(&mut out, Step::Menu, false);
        out
    }

    /// Every turn so far, both sides.
    pub fn transcript(&self) -> &[Turn] {
        &self.transcript
    }

    /// The transcript as text for a job note: "[21:04:05] callbox: …".
    pub fn transcript_text(&self) -> String {
        self.transcript
            .iter()
            .map(|t| {
                let who = match t.speaker {
                    Speaker::Callbox => "callbox",
                    Speaker::Caller => "caller",
                };
                format!("[{}] {who}: {}", t.at.format("%H:%M:%S"), t.text)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Whether the call is over (the engine said `Hangup` or the caller left and the last
    /// record is settled).
    pub fn is_ended(&self) -> bool {
        self.step == Step::Ended
    }

    /// One event; returns what to do.
    pub fn handle(&mut self, now: DateTime<Utc>, input: Input) -> Vec<Action> {
        self.now = now;
        let mut out = Vec::new();
        match input {
            Input::Recorded(result) => {
                if let Step::Recording(p) = self.step {
                    self.recorded(&mut out, p, result);
                }
            }
            Input::Hangup => self.hung_up(&mut out),
            Input::Bridged(outcome) => {
                if self.step == Step::Bridging {
                    self.bridged(&mut out, outcome);
                }
            }
            _ if matches!(self.step, Step::Ended | Step::Recording(_) | Step::Bridging) => {}
            Input::Continued {
                text,
                whole,
                confidence,
            } => self.continued(&mut out, text, whole, confidence),
            input => {
                // A spoken answer may be continued: keep the dialog as it was before it.
                let snapshot = matches!(input, Input::Heard { .. }).then(|| self.snapshot());
                self.answered(&mut out, input);
                self.before_answer = snapshot.filter(|_| self.can_hear_again(&out));
            }
        }
        out
    }

    fn snapshot(&self) -> Box<BeforeAnswer> {
        Box::new(BeforeAnswer {
            step: self.step,
            goal: self.goal,
            misses: self.misses,
            captured: self.captured.clone(),
            outcome: self.outcome.clone(),
            last_prompt: self.last_prompt.clone(),
            person_asks: self.person_asks,
            page_after_booking: self.page_after_booking,
            keys_last: self.keys_last,
            yes_no_taught: self.yes_no_taught,
            last_confidence: self.last_confidence,
            spanish: self.spanish,
        })
    }

    /// Whether the answer just handled (whose actions are `out`) can still be taken back.
    fn can_hear_again(&self, out: &[Action]) -> bool {
        !out.iter()
            .any(|a| matches!(a, Action::Enqueue(_) | Action::Hangup))
            && !matches!(
                self.step,
                Step::Ended | Step::Recording(_) | Step::Voicemail
            )
            && !self.caller_gone
    }

    /// The caller went on with an answer that was cut off: the whole answer, heard again
    /// from where the dialog was when the first piece came (the piece's effect undone).
    fn continued(&mut self, out: &mut Vec<Action>, text: String, whole: String, confidence: f32) {
        let Some(before) = self.before_answer.take() else {
            // Nothing to repair (the piece led to a record): the words answer the question
            // asked now.
            self.answered(out, Input::Heard { text, confidence });
            return;
        };
        let b = *before;
        self.step = b.step;
        self.goal = b.goal;
        self.misses = b.misses;
        self.captured = b.captured.clone();
        self.outcome = b.outcome.clone();
        self.last_prompt = b.last_prompt.clone();
        self.person_asks = b.person_asks;
        self.page_after_booking = b.page_after_booking;
        self.keys_last = b.keys_last;
        self.yes_no_taught = b.yes_no_taught;
        self.last_confidence = b.last_confidence;
        self.spanish = b.spanish;
        let heard_at = self.transcript.len();
        self.answered(
            out,
            Input::Heard {
                text: whole,
                confidence,
            },
        );
        // The transcript keeps what was said when: the first piece is already in it, so this
        // turn shows the words that went on with it.
        if let Some(turn) = self.transcript.get_mut(heard_at) {
            if turn.speaker == Speaker::Caller {
                turn.text = format!("… {text}");
            }
        }
        // A further piece joins this whole answer and is heard from the same point again.
        if self.can_hear_again(out) {
            self.before_answer = Some(Box::new(b));
        }
    }

    /// The caller hung up: a voicemail in progress is kept, and a call without a record yet
    /// leaves a lead.
    fn hung_up(&mut self, out: &mut Vec<Action>) {
        self.log(Speaker::Caller, "[hung up]".into());
        self.caller_gone = true;
        self.outcome.caller_hung_up = self.outcome.record_ids.is_empty();
        match self.step {
            Step::Ended | Step::Recording(_) => {}
            // The page is on disk; the wiring ends the technician's leg.
            Step::Bridging => self.step = Step::Ended,
            Step::Voicemail => self.enqueue_voicemail(out),
            // An emergency caller who hangs up half-way is still paged for.
            // So is a Spanish caller who chose the emergency and left before the number.
            _ if self.outcome.record_ids.is_empty()
                && (self.is_emergency() || self.spanish_choice == Some('1')) =>
            {
                self.page(out, None)
            }
            _ if self.outcome.record_ids.is_empty() => self.enqueue_lead(out),
            _ => self.step = Step::Ended,
        }
    }

    /// The caller's answer to the question (words, keys or silence).
    fn answered(&mut self, out: &mut Vec<Action>, input: Input) {
        let answer = self.hear(input);
        if self.step == Step::Voicemail {
            self.voicemail_turn(out, answer);
            return;
        }
        // Spanish words are read by the Spanish branch only: the English meta-commands and
        // corrections would misread them ("no" is not "go back").
        let spanish_words = self.spanish && matches!(answer, Answer::Said(_));
        if !spanish_words && self.meta_command(out, &answer) {
            return;
        }
        if !spanish_words && self.correction(out, &answer) {
            return;
        }
        if self.step_turn(out, &answer) {
            self.misses = 0;
        } else {
            self.missed(out);
        }
    }

    /// Writes the caller's turn into the transcript.
    fn hear(&mut self, input: Input) -> Answer {
        match input {
            Input::Heard { text, confidence } => {
                self.keys_last = false;
                self.last_confidence = confidence;
                self.log(Speaker::Caller, text.clone());
                Answer::Said(text)
            }
            Input::Digits(d) => {
                self.keys_last = true;
                self.log(Speaker::Caller, format!("[keys {d}]"));
                Answer::Keys(d)
            }
            Input::Continued { text, .. } => {
                // Only reached through `continued`, which hands the whole answer as `Heard`.
                self.log(Speaker::Caller, text.clone());
                Answer::Said(text)
            }
            Input::NoInput | Input::Recorded(_) | Input::Hangup | Input::Bridged(_) => {
                self.log(Speaker::Caller, "[silence]".into());
                Answer::Nothing
            }
        }
    }

    /// Meta-commands work at every question: repeat, operator, go back, goodbye. `true` when
    /// the answer was one.
    fn meta_command(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let meta = match answer {
            Answer::Said(t) => u::meta_intent(t),
            Answer::Keys(k) if k.len() == 1 => k.chars().next().and_then(Meta::from_key),
            _ => None,
        };
        // "are you a robot" at any question: the honest answer, then the question again.
        let robot = answer
            .text()
            .and_then(u::caller_question)
            .is_some_and(|q| q == u::CallerQuestion::Robot);
        // "is this a real person" asks; "i want a real person" is the operator request.
        let asks = answer.text().is_some_and(|t| {
            u::normalize(t).has_any(&["is this", "are you", "am i talking", "is that"])
        });
        if robot && (meta.is_none() || asks) {
            self.say(
                out,
                "Yes, I'm an automated assistant, not a person. I can book service or have the \
                 office call you."
                    .into(),
                true,
            );
            out.extend(self.last_prompt.clone());
            return true;
        }
        if self.spanish && meta == Some(Meta::Operator) {
            self.spanish_operator(out);
            return true;
        }
        match meta {
            Some(Meta::Repeat) => out.extend(self.last_prompt.clone()),
            Some(Meta::Operator) if self.urgent(answer) => {
                if let Some(t) = answer.text() {
                    if let t @ Triage::Emergency(_) = u::triage(t, &self.triage_context()) {
                        self.captured.triage = Some(t);
                    }
                }
                self.person_page(out);
            }
            None if matches!(self.step, Step::Menu | Step::EmergencyMenu | Step::Problem)
                && answer.text().is_some_and(|t| {
                    u::wants_on_call(t) && u::triage(t, &self.triage_context()) == Triage::Unclear
                }) =>
            {
                self.bridge_wanted = self.script.bridge && !self.spanish;
                self.page(out, None);
            }
            Some(Meta::Operator) if self.person_asks >= 1 && self.script.insist_pages => {
                self.person_asks += 1;
                self.person_page(out);
            }
            Some(Meta::Operator) => {
                self.person_asks += 1;
                self.say(
                    out,
                    "There's no one in the office right now, so I'll have someone call you back."
                        .into(),
                    true,
                );
                self.goal = Some(Goal::Callback);
                self.after_identity(out);
            }
            Some(Meta::GoBack) => self.ask(out, Step::Menu, false),
            Some(Meta::Goodbye) if self.outcome.record_ids.is_empty() => {
                self.caller_gone = true;
                self.say(out, "Okay. Goodbye.".into(), true);
                self.enqueue_lead(out);
            }
            _ => return false,
        }
        true
    }

    /// A caller asking for a person is paged for: bridged to the technician when the box can
    /// call out while they hold the line, else told it cannot put them through.
    fn person_page(&mut self, out: &mut Vec<Action>) {
        if self.script.bridge && !self.spanish {
            self.bridge_wanted = true;
        } else {
            self.say(
                out,
                "I can't put you through while you're on our only line.".into(),
                true,
            );
        }
        self.page(out, None);
    }

    /// The technician's leg ended: over after a talk; else the caller leaves a message and
    /// the page (already on disk) goes on.
    fn bridged(&mut self, out: &mut Vec<Action>, outcome: BridgeOutcome) {
        match outcome {
            BridgeOutcome::Talked => {
                self.log(
                    Speaker::Callbox,
                    "[bridged to the on-call technician]".into(),
                );
                out.push(Action::Hangup);
                self.step = Step::Ended;
            }
            BridgeOutcome::NotTaken => {
                self.log(
                    Speaker::Callbox,
                    "[the on-call technician did not take the call]".into(),
                );
                self.bridge_missed = true;
                self.say(
                    out,
                    "I'm sorry, nobody could take the call right now.".into(),
                    true,
                );
                self.ask(out, Step::Voicemail, false);
            }
        }
    }

    /// An emergency already (triage, the emergency menu), or the caller says it cannot wait.
    fn urgent(&self, answer: &Answer) -> bool {
        let said = answer.text().map(|t| {
            u::wants_on_call(t)
                || matches!(
                    u::triage(t, &self.triage_context()),
                    Triage::Emergency(_) | Triage::Safety(_)
                )
        });
        self.is_emergency() || self.step == Step::EmergencyMenu || said == Some(true)
    }

    fn is_emergency(&self) -> bool {
        matches!(self.captured.triage, Some(Triage::Emergency(_)))
    }

    /// What the page names: the emergency triage found, else "emergency".
    fn page_hazard(&self) -> Hazard {
        match self.captured.triage {
            _ if self.captured.problem.starts_with("emergency:") => Hazard::Emergency,
            Some(Triage::Emergency(EmergencyKind::NoHeat)) => Hazard::NoHeat,
            Some(Triage::Emergency(EmergencyKind::NoCooling)) => Hazard::NoCooling,
            Some(Triage::Emergency(EmergencyKind::WaterLeak)) => Hazard::WaterLeak,
            _ if self.person_asks >= 2 => Hazard::PersonRequested,
            _ => Hazard::Emergency,
        }
    }

    /// Queues the page to the on-call technician (for the job booked on this call, if any);
    /// the caller hears the promise only once it is on disk.
    fn page(&mut self, out: &mut Vec<Action>, job_record_id: Option<String>) {
        let said = self
            .transcript
            .iter()
            .filter(|t| t.speaker == Speaker::Caller && !t.text.starts_with('['))
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        let p = Payload::OnCallAlert(OnCallAlert {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            hazard: self.page_hazard(),
            address: self
                .captured
                .address
                .clone()
                .or_else(|| self.captured.street.as_ref().map(|_| self.new_address())),
            known_customer_id: self.captured.customer.as_ref().map(|c| c.id),
            caller_said: said,
            raised_at_utc: self.now,
            job_record_id,
        });
        self.page_after_booking =
            matches!(&p, Payload::OnCallAlert(a) if a.job_record_id.is_some());
        if let Payload::OnCallAlert(a) = &p {
            self.paged = Some(a.clone());
        }
        self.enqueue(out, p, Pending::Page);
    }

    /// The page is on disk: the promise, and the line freed for the call back (or, when the
    /// box can bridge, the technician rung while the caller holds).
    fn page_raised(&mut self, out: &mut Vec<Action>) {
        let request = self
            .paged
            .clone()
            .zip(self.outcome.record_ids.last().cloned())
            .filter(|_| self.bridge_wanted && !self.spanish)
            .map(|(alert, alert_id)| BridgeRequest { alert, alert_id });
        if let Some(request) = request {
            self.say(
                out,
                "Connecting you to the on-call technician now, please stay on the line.".into(),
                false,
            );
            out.push(Action::Bridge(request));
            self.step = Step::Bridging;
            return;
        }
        if self.spanish {
            // A number the caller gave (not caller ID) is read back as the one called.
            let number = match &self.captured.callback_phone {
                Some(p) if Some(p) != self.ctx.caller_id.as_ref() => {
                    format!("al {}", self.script.phone_plan.spoken(p))
                }
                _ => "a este número".to_string(),
            };
            self.say(
                out,
                format!(
                    "Ya avisé al técnico de guardia; le llamará {number}. Mantenga su teléfono \
                     libre. Si alguien está en peligro, llame al 911."
                ),
                true,
            );
            self.goodbye_after_page(out);
            return;
        }
        // After a booking the caller has just confirmed the number: not read again.
        let phone = (!self.page_after_booking)
            .then(|| {
                self.captured
                    .callback_phone
                    .clone()
                    .or(self.ctx.caller_id.clone())
            })
            .flatten()
            .map(|p| {
                format!(
                    " They'll call you back at {}.",
                    self.script.phone_plan.spoken(&p)
                )
            })
            .unwrap_or_default();
        self.say(
            out,
            format!(
                "I'm alerting the on-call technician now; keep your phone free.{phone} If \
                 anyone's in danger, call 911."
            ),
            true,
        );
        self.goodbye_after_page(out);
    }

    fn log(&mut self, speaker: Speaker, text: String) {
        self.transcript.push(Turn {
            at: self.now,
            speaker,
            text,
        });
    }

    fn say(&mut self, out: &mut Vec<Action>, text: String, barge_in: bool) {
        self.log(Speaker::Callbox, text.clone());
        out.push(Action::Say { text, barge_in });
    }

    fn goodbye(&mut self, out: &mut Vec<Action>) {
        let bye = if self.spanish {
            "Gracias por llamar. Adiós."
        } else {
            "Thanks for calling. Goodbye."
        };
        self.hang_up_after(out, bye);
    }

    /// After the on-call page's promise: the caller is told to keep the phone free, so the
    /// box lets it go at once.
    fn goodbye_after_page(&mut self, out: &mut Vec<Action>) {
        let bye = if self.spanish { "Adiós." } else { "Goodbye." };
        self.hang_up_after(out, bye);
    }

    fn hang_up_after(&mut self, out: &mut Vec<Action>, bye: &str) {
        self.say(out, bye.into(), true);
        out.push(Action::Hangup);
        self.step = Step::Ended;
    }

    fn triage_context(&self) -> TriageContext {
        TriageContext {
            outdoor_temp_f: self.ctx.outdoor_temp_f,
            outdoor_measured: self.ctx.outdoor_measured,
            cold_threshold_f: self.script.cold_threshold_f,
            hot_threshold_f: self.script.hot_threshold_f,
            vulnerable_occupant: false,
            extra_vulnerable_words: self.script.vulnerable_words.clone(),
        }
    }

    fn listen(&self, grammar: Option<Vec<String>>, keypad: Keypad) -> Action {
        Action::Listen(Listen {
            grammar,
            keypad,
            no_input_timeout: self.script.no_input_timeout,
            expect: None,
        })
    }

    /// What an open answer at `step` is; `None` where the answer is free or a grammar's.
    fn expected_answer(step: Step) -> Option<AnswerKind> {
        match step {
            Step::AskName => Some(AnswerKind::Name),
            Step::AskStreet => Some(AnswerKind::StreetAddress),
            // "Is that right?" heard openly: "yes" is whole, "no, it's 125 …" is not.
            Step::ConfirmStreet => Some(AnswerKind::YesNo),
            Step::AskCityZip => Some(AnswerKind::Zip),
            Step::AskPhone => Some(AnswerKind::Phone),
            Step::AskNote => Some(AnswerKind::Description),
            _ => None,
        }
    }

    /// Asks the question of `step`; `keypad_only` after the re-prompts are used up.
    fn ask(&mut self, out: &mut Vec<Action>, step: Step, keypad_only: bool) {
        self.step = step;
        let keypad_only = keypad_only || self.keypad_only;
        if let Some((text, listen)) = self.question(step, keypad_only) {
            if text.contains(Self::yes_no_keys(true)) {
                self.yes_no_taught = true;
            }
            self.prompt(out, text, listen);
        }
    }

    /// What the box asks at `step`, and how it listens for the answer; `None` when it waits
    /// for nothing from the caller.
    fn question(&self, step: Step, keypad_only: bool) -> Option<(String, Action)> {
        let hints = keypad_only || self.keys_last;
        let mut question = self
            .spanish_question(step)
            .or_else(|| self.menu_question(step, keypad_only))
            .or_else(|| self.address_question(step, keypad_only, hints))
            .or_else(|| self.phone_question(step, hints))
            .or_else(|| self.booking_question(step, hints))
            .or_else(|| self.request_question(step, hints));
        if let Some((_, Action::Listen(listen))) = question.as_mut() {
            listen.expect = Self::expected_answer(step);
        }
        question
    }

    /// How a yes/no question names its keys: spoken to callers who key (or re-prompted),
    /// left out for callers who talk (the keys work either way).
    fn yes_no_keys(hints: bool) -> &'static str {
        if hints {
            " Press 1 for yes, 2 for no."
        } else {
            ""
        }
    }

    /// "Press 1 for yes, 2 for no" the first time a keying caller hears a yes/no question.
    fn yn(&self, hints: bool) -> &'static str {
        Self::yes_no_keys(hints && !self.yes_no_taught)
    }

    /// The question of `step` again in fewer words, naming its keys: the re-prompt.
    fn short_question(&self, step: Step) -> Option<String> {
        if let Some(text) = self.spanish_short_question(step) {
            return Some(text);
        }
        let yn = Self::yes_no_keys(true);
        Some(match step {
            Step::Menu => "Briefly, what's the problem? Or press 9 for the menu.".into(),
            Step::EmergencyMenu => {
                "Press 1 for gas, smoke or a carbon monoxide alarm, 2 for anything else.".into()
            }
            Step::AppointmentMenu => {
                "Press 1 for the arrival time, 2 to reschedule, 3 to cancel, 4 for a note.".into()
            }
            Step::Problem => {
                "Briefly, what's wrong? Press 1 for no heat, 2 no cooling, 3 a leak, 4 other."
                    .into()
            }
            Step::ConfirmLocation(i) => {
                let street = self
                    .captured
                    .customer
                    .as_ref()
                    .and_then(|c| c.locations.get(i))
                    .map(|l| l.address.street.clone())
                    .unwrap_or_default();
                format!("Is it {street}?{yn}")
            }
            Step::AskName if self.goal == Some(Goal::Callback) => {
                "Your name, please? Or press 1 to skip.".into()
            }
            Step::AskName => "Your name, please? Or press 1 for a callback.".into(),
            Step::AskCallbackDetails => {
                "What's the call about, and when? Or press 1 to skip.".into()
            }
            Step::AskStreet => "The street address? Or press 1 for a callback.".into(),
            Step::ConfirmStreet => {
                let street = self
                    .captured
                    .street
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                format!("Is it {street}?{yn}")
            }
            Step::AskCityZip => "The ZIP code? You can key it, then pound.".into(),
            Step::AskCity => "Which city or town?".into(),
            Step::AskZip => "The ZIP code? You can key it, then pound.".into(),
            Step::ConfirmPhone => format!("Call you back on this number?{yn}"),
            Step::AskPhone => "Your phone number? Or key it, then pound.".into(),
            Step::OfferWindows => {
                let n = self.captured.offered_labels.len();
                if n == 1 {
                    format!("Does {} work?{yn}", self.captured.offered_labels[0])
                } else {
                    let keys = (1..=n)
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("Which time? Press {keys}, or 9 for later.")
                }
            }
            Step::ConfirmBooking => format!("Book {}?{yn}", self.slot_label()),
            Step::ConfirmCancel => format!("Cancel it?{yn}"),
            Step::AskNote => "What should I tell the technician? Or press 1 for a callback.".into(),
            Step::AskInvoice => "The invoice number? Key it, then pound, or just pound.".into(),
            Step::MembershipOffer => format!("Hear about the membership?{yn}"),
            Step::SpanishMenu => {
                "Oprima 1 para una emergencia, 2 para que le llamen, 3 para un mensaje.".into()
            }
            Step::SpanishProblem | Step::SpanishConfirmPhone | Step::SpanishAskPhone => {
                return None
            }
            Step::Voicemail | Step::Bridging | Step::Recording(_) | Step::Ended => return None,
        })
    }

    /// The menus and the problem question.
    fn menu_question(&self, step: Step, keypad_only: bool) -> Option<(String, Action)> {
        let question = match step {
            Step::Menu => (
                if keypad_only {
                    format!(
                        "Please use your keypad. Press 1 for an emergency, 2 to book a repair, 3 \
                         for a maintenance visit, 4 about an existing appointment, 5 for a \
                         callback, 6 to leave a message, 7 for a copy of an invoice, or 8 about \
                         memberships.{}",
                        if self.script.spanish {
                            " Para español, oprima numeral."
                        } else {
                            ""
                        }
                    )
                } else {
                    // The opening: the caller says what is wrong; the menu is the keypad's.
                    "What's going on? Or press 1 for an emergency, 9 for the menu.".to_string()
                },
                self.listen(None, Keypad::Digit),
            ),
            Step::EmergencyMenu => (
                "If you smell gas or burning, see smoke or sparks, or a carbon monoxide alarm is \
             going off, press 1. For no heat, no cooling or water leaking, press 2."
                    .to_string(),
                self.listen(Some(grammar(GrammarKind::Triage)), Keypad::Digit),
            ),
            Step::AppointmentMenu => (
                "About your appointment: press 1 or say when is my technician coming, 2 to \
             reschedule, 3 to cancel, or 4 to add a note for the technician."
                    .to_string(),
                self.listen(
                    Some(grammar(GrammarKind::MenuChoice(&[
                        "when is my technician coming",
                        "reschedule",
                        "cancel",
                        "add a note",
                    ]))),
                    Keypad::Digit,
                ),
            ),
            Step::SpanishMenu => (
                "Hola, soy un asistente automático. Si huele a gas o ve humo, salga de la casa y \
                 llame al 911. Para una emergencia, oprima 1. Para que la oficina le llame, \
                 oprima 2. Para dejar un mensaje, oprima 3."
                    .to_string(),
                self.listen(None, Keypad::Digit),
            ),
            Step::Problem => (
                if keypad_only {
                    "Please use your keypad: press 1 for no heat, 2 for no cooling, 3 for water \
                 leaking, or 4 for something else."
                        .to_string()
                } else {
                    "What's wrong? Press 1 no heat, 2 no cooling, 3 a leak, 4 other.".to_string()
                },
                self.listen(Some(grammar(GrammarKind::Triage)), Keypad::Digit),
            ),
            _ => return None,
        };
        Some(question)
    }

    /// Who and where: the known location, the name, the street, the city and ZIP.
    fn address_question(
        &self,
        step: Step,
        keypad_only: bool,
        hints: bool,
    ) -> Option<(String, Action)> {
        let yn = self.yn(hints);
        let yes_no = || Some(grammar(GrammarKind::YesNo));
        let question = match step {
            Step::ConfirmLocation(i) => {
                let street = self
                    .captured
                    .customer
                    .as_ref()
                    .and_then(|c| c.locations.get(i))
                    .map(|l| l.address.street.clone())
                    .unwrap_or_default();
                (
                    format!("Is this for {street}?{yn}"),
                    self.listen(yes_no(), Keypad::Digit),
                )
            }
            Step::AskName if self.goal == Some(Goal::Callback) && !keypad_only => (
                "Sure. May I have your name?".to_string(),
                self.listen(None, Keypad::Digit),
            ),
            Step::AskName => (
                if keypad_only {
                    "If you can't speak right now, press 1 and the office will call you back."
                        .to_string()
                } else {
                    "May I have your first and last name? Or press 1 for a callback.".to_string()
                },
                self.listen(None, Keypad::Digit),
            ),
            Step::AskStreet => (
                if keypad_only {
                    "I'm having trouble hearing the street. Press 1 and the office will call you \
                 back to take it."
                        .to_string()
                } else {
                    "What's the street address for the service?".to_string()
                },
                self.listen(None, Keypad::Digit),
            ),
            Step::ConfirmStreet => {
                let street = self
                    .captured
                    .street
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                (
                    format!("I have {street}. Is that right?{yn}"),
                    self.listen(None, Keypad::Digit),
                )
            }
            Step::AskCityZip => (
                "And the city and ZIP code?".to_string(),
                self.listen(None, Keypad::UntilHash { max: 9 }),
            ),
            Step::AskCity => (
                "And which city is that in?".to_string(),
                self.listen(None, Keypad::Digit),
            ),
            Step::AskZip => (
                "And the ZIP code?".to_string(),
                self.listen(
                    Some(grammar(GrammarKind::Digits)),
                    Keypad::UntilHash { max: 5 },
                ),
            ),
            _ => return None,
        };
        Some(question)
    }

    /// The number to call back on.
    fn phone_question(&self, step: Step, hints: bool) -> Option<(String, Action)> {
        let yes_no = || Some(grammar(GrammarKind::YesNo));
        let yn = self.yn(hints);
        let question = match step {
            Step::ConfirmPhone => {
                // A known caller's number is on the account; a new caller hears it read back.
                let text = if self.captured.customer.is_some() {
                    format!("Call you back on this number?{yn}")
                } else {
                    let phone = self
                        .ctx
                        .caller_id
                        .as_deref()
                        .map(|p| self.script.phone_plan.spoken(p))
                        .unwrap_or_default();
                    format!("Call you back on {phone}?{yn}")
                };
                (text, self.listen(yes_no(), Keypad::Digit))
            }
            Step::AskPhone => (
                if hints {
                    "What number should we call? Key it, then pound.".to_string()
                } else {
                    "What number should we call?".to_string()
                },
                self.listen(
                    Some(grammar(GrammarKind::Digits)),
                    Keypad::UntilHash { max: 11 },
                ),
            ),
            _ => return None,
        };
        Some(question)
    }

    /// The windows, the booking and the cancellation.
    fn booking_question(&self, step: Step, hints: bool) -> Option<(String, Action)> {
        let yes_no = || Some(grammar(GrammarKind::YesNo));
        let yn = self.yn(hints);
        let offline = if self.captured.offered.live {
            ""
        } else {
            "I can't see the live schedule, so the office will confirm the time. "
        };
        let question = match step {
            Step::OfferWindows => {
                let labels = &self.captured.offered_labels;
                // Said once, with the first unconfirmed windows (live ones may come first).
                let offline = if self.captured.say_offline {
                    offline
                } else {
                    ""
                };
                let text = match labels.as_slice() {
                    // One window: a yes/no, not "which works best?".
                    [one] => format!("{offline}The first opening is {one}. Does that work?{yn}"),
                    _ => {
                        let (last, rest) = labels.split_last().unwrap_or((&labels[0], &[]));
                        let keys = if hints {
                            let keys = (1..=labels.len())
                                .map(|i| i.to_string())
                                .collect::<Vec<_>>()
                                .join(", ");
                            format!(" Press {keys}, or 9 for later times.")
                        } else {
                            String::new()
                        };
                        // Windows on one day name the day once: "Thursday, January 15
                        // between 8 and 10 am, 10 am and noon, or noon and 2 pm".
                        let split: Vec<Option<(&str, &str)>> =
                            labels.iter().map(|l| l.split_once(" between ")).collect();
                        let one_day = split
                            .iter()
                            .map(|p| p.map(|(day, _)| day))
                            .collect::<Option<Vec<_>>>()
                            .filter(|days| days.windows(2).all(|w| w[0] == w[1]))
                            .and_then(|days| days.first().copied());
                        match one_day {
                            Some(day) => {
                                let times: Vec<&str> =
                                    split.iter().flatten().map(|(_, t)| *t).collect();
                                let (last_time, first_times) =
                                    times.split_last().unwrap_or((&"", &[]));
                                format!(
                                    "{offline}I can offer {day} between {}, or {last_time}. \
                                     Which works best?{keys}",
                                    first_times.join(", ")
                                )
                            }
                            None => format!(
                                "{offline}I can offer {}, or {last}. Which works best?{keys}",
                                rest.join(", ")
                            ),
                        }
                    }
                };
                (
                    text,
                    self.listen(Some(grammar(GrammarKind::WindowChoice)), Keypad::Digit),
                )
            }
            Step::ConfirmBooking => {
                let label = self.slot_label();
                let street = self.service_address().street;
                let what = if self.goal == Some(Goal::Reschedule) {
                    "To confirm, I'll move your appointment to".to_string()
                } else if self.captured.location_id.is_some() {
                    // The caller has just said yes to the location on the account.
                    format!("To confirm: {},", self.problem_summary())
                } else {
                    format!("To confirm: {} at {street},", self.problem_summary())
                };
                (
                    format!("{what} {label}. Shall I book it?{yn}"),
                    // Yes, no, or another day ("can we do thursday instead").
                    self.listen(Some(grammar(GrammarKind::Confirmation)), Keypad::Digit),
                )
            }
            Step::ConfirmCancel => {
                let when = self.appointment_label();
                (
                    format!("You'd like to cancel your appointment {when}. Is that right?{yn}"),
                    self.listen(yes_no(), Keypad::Digit),
                )
            }
            _ => return None,
        };
        Some(question)
    }

    /// The note, the invoice, the membership offer and the voicemail.
    fn request_question(&self, step: Step, hints: bool) -> Option<(String, Action)> {
        let yes_no = || Some(grammar(GrammarKind::YesNo));
        let yn = self.yn(hints);
        let question = match step {
            Step::AskNote => (
                "What would you like me to tell the technician? Or press 1 to have the office \
             call you back instead."
                    .to_string(),
                self.listen(None, Keypad::Digit),
            ),
            Step::AskInvoice => (
                "Which invoice? Say or key the invoice number, then pound. If you don't have it, \
             just press pound."
                    .to_string(),
                self.listen(
                    Some(grammar(GrammarKind::Digits)),
                    Keypad::UntilHash { max: 12 },
                ),
            ),
            Step::MembershipOffer => (
                format!(
                    "One more thing: members of our {} get yearly tune-ups and priority service. \
                 Would you like someone to tell you about it?{yn}",
                    self.script.membership_name
                ),
                self.listen(yes_no(), Keypad::Digit),
            ),
            Step::AskCallbackDetails => {
                let about_known = self.captured.callback_about.is_some()
                    || self.captured.callback_reason.is_some();
                let text = match (about_known, self.captured.preferred_time.is_some()) {
                    (false, false) => "What's it about, and when's a good time to call?",
                    (false, true) => "And what's it about?",
                    _ => "When's a good time to call?",
                };
                (text.to_string(), self.listen(None, Keypad::Digit))
            }
            Step::Voicemail if self.spanish => (
                "Deje su nombre, su número y lo que necesita después del tono; luego oprima \
                 numeral o cuelgue."
                    .to_string(),
                self.listen(None, Keypad::UntilHash { max: 1 }),
            ),
            Step::Voicemail => (
                "Please leave your name, number and what you need after the tone, then press \
             pound or hang up."
                    .to_string(),
                self.listen(None, Keypad::UntilHash { max: 1 }),
            ),
            _ => return None,
        };
        Some(question)
    }

    /// Says the question and listens; remembers it (without uninterruptible texts) for
    /// "repeat that".
    fn prompt(&mut self, out: &mut Vec<Action>, text: String, listen: Action) {
        let mut prompt = Vec::new();
        self.say(&mut prompt, text, true);
        prompt.push(listen);
        self.last_prompt = prompt
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    Action::Say {
                        barge_in: false,
                        ..
                    }
                )
            })
            .cloned()
            .collect();
        out.extend(prompt);
    }

    /// Silence or a miss: re-prompt, then keypad only, then the voicemail.
    fn missed(&mut self, out: &mut Vec<Action>) {
        self.misses += 1;
        let step = self.step;
        if self.spanish {
            // Keys only (the recogniser is English): the question again, then a message.
            if self.misses <= self.script.reprompts && is_spanish_step(step) {
                self.say(out, "Perdón, no le entendí.".into(), true);
                if let (Some(text), Some((_, listen))) =
                    (self.short_question(step), self.question(step, true))
                {
                    self.prompt(out, text, listen);
                }
            } else {
                self.misses = 0;
                self.ask(out, Step::Voicemail, false);
            }
            return;
        }
        if self.misses <= self.script.reprompts {
            self.say(out, "Sorry, I didn't catch that.".into(), true);
            match (self.short_question(step), self.question(step, false)) {
                (Some(text), Some((_, listen))) if !self.keypad_only => {
                    self.step = step;
                    self.prompt(out, text, listen);
                }
                _ => self.ask(out, step, false),
            }
        } else if self.misses == self.script.reprompts + 1 {
            self.ask(out, step, true);
        } else {
            self.misses = 0;
            self.say(
                out,
                "I'm sorry, I'm having trouble understanding. Let me take a message for the \
                 office."
                    .into(),
                true,
            );
            self.ask(out, Step::Voicemail, false);
        }
    }

    /// The answer to the current question; `false` when it did not answer it.
    fn step_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match self.step {
            Step::Menu => self.menu_turn(out, answer),
            Step::EmergencyMenu => self.emergency_menu_turn(out, answer),
            Step::AppointmentMenu => self.appointment_menu_turn(out, answer),
            Step::Problem => self.problem_turn(out, answer),
            Step::ConfirmLocation(i) => self.confirm_location(out, answer, i),
            Step::AskName => self.name_turn(out, answer),
            Step::AskStreet => self.street_turn(out, answer),
            Step::ConfirmStreet => self.confirm_street(out, answer),
            Step::AskCityZip => self.city_zip_turn(out, answer),
            Step::AskCity => self.city_turn(out, answer),
            Step::AskZip => self.zip_turn(out, answer),
            Step::ConfirmPhone => self.confirm_phone(out, answer),
            Step::AskPhone => self.phone_turn(out, answer),
            Step::AskCallbackDetails => self.callback_details_turn(out, answer),
            Step::OfferWindows => self.window_turn(out, answer),
            Step::ConfirmBooking => self.confirm_booking(out, answer),
            Step::ConfirmCancel => self.confirm_cancel(out, answer),
            Step::AskNote => self.note_turn(out, answer),
            Step::AskInvoice => self.invoice_turn(out, answer),
            Step::MembershipOffer => self.membership_turn(out, answer),
            Step::SpanishMenu if self.script.spanish_speech => {
                self.spanish_menu_by_voice(out, answer)
            }
            Step::SpanishMenu => self.spanish_menu_turn(out, answer),
            Step::SpanishProblem => self.spanish_problem_turn(out, answer),
            Step::SpanishConfirmPhone => self.spanish_confirm_phone(out, answer),
            Step::SpanishAskPhone => self.spanish_phone_turn(out, answer),
            Step::Voicemail | Step::Bridging | Step::Recording(_) | Step::Ended => true,
        }
    }

    /// The emergency menu: a safety hazard, or another emergency.
    fn emergency_menu_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.key(), answer.text()) {
            (Some('1'), _) => {
                self.safety(out, None);
                true
            }
            (Some('2'), _) => {
                self.captured.problem = "emergency: no heat, no cooling or water leak".into();
                self.captured.triage = Some(Triage::Emergency(EmergencyKind::NoHeat));
                self.goal = Some(Goal::Repair);
                self.identify(out);
                true
            }
            (_, Some(t)) => self.problem_text(out, t),
            _ => false,
        }
    }

    /// What the caller wants done about an existing appointment.
    fn appointment_menu_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let goal = match (answer.key(), answer.text().and_then(u::call_intent)) {
            (Some('1'), _) | (_, Some(CallIntent::WhereIsTechnician)) => Goal::Eta,
            (Some('2'), _) | (_, Some(CallIntent::Reschedule)) => Goal::Reschedule,
            (Some('3'), _) | (_, Some(CallIntent::Cancel)) => Goal::Cancel,
            (Some('4'), _) | (_, Some(CallIntent::AddNote)) => Goal::Note,
            _ => return false,
        };
        self.appointment_goal(out, goal);
        true
    }

    /// What is wrong with the system, in words or by key.
    fn problem_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.key(), answer.text()) {
            (Some(k @ '1'..='4'), _) => {
                let words = match k {
                    '1' => "no heat",
                    '2' => "no cooling",
                    '3' => "water leaking",
                    _ => "something else is wrong with my system",
                };
                self.problem_text(out, words)
            }
            (_, Some(t)) => self.problem_text(out, t),
            _ => false,
        }
    }

    /// Whether the caller is calling about the known location `i`; or which one, named by
    /// its street ("the one on oak street") or its name on the account ("the rental").
    fn confirm_location(&mut self, out: &mut Vec<Action>, answer: &Answer, i: usize) -> bool {
        let named = match (answer.text(), &self.captured.customer) {
            (Some(t), Some(c)) => {
                let places: Vec<(&str, &str)> = c
                    .locations
                    .iter()
                    .map(|l| (l.name.as_str(), l.address.street.as_str()))
                    .collect();
                u::places::location_choice(t, &places)
            }
            _ => None,
        };
        if let Some(j) = named {
            if j != i {
                let street = self
                    .captured
                    .customer
                    .as_ref()
                    .and_then(|c| c.locations.get(j))
                    .map(|l| l.address.street.clone())
                    .unwrap_or_default();
                // The caller hears which one the booking is for.
                self.say(out, format!("Okay, {street}."), true);
            }
            return self.confirm_location(out, &Answer::Said("yes".into()), j);
        }
        // "no it's at 55 pine street": a place not on the account, a new location for this
        // customer (never a new customer).
        let new_street = answer.text().and_then(u::street_address);
        if let (Some(street), false) = (new_street, answer.yes_no() == Some(YesNo::Yes)) {
            self.captured.street = Some(street);
            self.ask(out, Step::ConfirmStreet, false);
            return true;
        }
        match answer.yes_no() {
            Some(YesNo::Yes) => {
                let loc = self
                    .captured
                    .customer
                    .as_ref()
                    .and_then(|c| c.locations.get(i))
                    .cloned();
                if let Some(loc) = loc {
                    self.captured.location_id = loc.id;
                    self.captured.address = Some(loc.address);
                }
                self.after_identity(out);
                true
            }
            Some(YesNo::No) => {
                let more = self
                    .captured
                    .customer
                    .as_ref()
                    .is_some_and(|c| c.locations.len() > i + 1);
                if more {
                    self.ask(out, Step::ConfirmLocation(i + 1), false);
                } else {
                    self.ask(out, Step::AskStreet, false);
                }
                true
            }
            None => false,
        }
    }

    /// The caller's name, or a key for a callback instead.
    fn name_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.key(), answer.text().and_then(u::person_name)) {
            (Some(_), _) => {
                self.goal = Some(Goal::Callback);
                self.after_identity(out);
                true
            }
            (_, Some(name)) => {
                self.captured.name = name;
                self.captured.name_unsure = self.last_confidence < self.script.low_confidence;
                if self.goal == Some(Goal::Callback) {
                    self.callback_next(out);
                } else {
                    self.ask(out, Step::AskStreet, false);
                }
                true
            }
            _ => false,
        }
    }

    /// The service street, or a key for a callback instead.
    fn street_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.key(), answer.text().and_then(u::street_address)) {
            (Some(_), _) => {
                self.goal = Some(Goal::Callback);
                self.after_identity(out);
                true
            }
            (_, Some(street)) => {
                self.captured.street = Some(street);
                self.ask(out, Step::ConfirmStreet, false);
                true
            }
            _ => false,
        }
    }

    /// The city and ZIP code of a new address.
    fn city_zip_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let (city, state) = match answer.text() {
            Some(t) => {
                let (city, state) = u::places::split_state(t);
                (city_words(&city), state.map(String::from))
            }
            None => (String::new(), None),
        };
        let Some(zip) = answer.raw().and_then(u::zip_code) else {
            // A city without its ZIP: the city's one ZIP, else the ZIP is asked.
            return self.city_without_zip(out, city, state);
        };
        self.captured.city = city;
        self.captured.state = state;
        self.zip_given(out, zip, answer.text().is_some());
        true
    }

    /// A ZIP for the new address: the city (and state) the caller did not say come from the
    /// shop's `[dialog] zip_cities`, else the bundled US table; a city neither knows is asked
    /// (by voice only: a keying caller cannot say it, the office completes it).
    fn zip_given(&mut self, out: &mut Vec<Action>, zip: String, spoken: bool) {
        let shop = self.script.zip_cities.iter().find(|z| z.0 == zip);
        let bundled = u::zips::place_of(&zip);
        if self.captured.city.is_empty() {
            if let Some((_, city, state)) = shop {
                self.captured.city = city.clone();
                if self.captured.state.is_none() {
                    self.captured.state = state.clone();
                }
            } else if let Some(place) = bundled {
                self.captured.city = place.city.to_string();
            }
        }
        if self.captured.state.is_none() {
            let shop_state = shop.and_then(|(_, _, st)| st.clone());
            self.captured.state = shop_state.or_else(|| bundled.map(|p| p.state.to_string()));
        }
        self.captured.zip = Some(zip);
        if self.captured.city.is_empty() && spoken && !self.keypad_only {
            self.ask(out, Step::AskCity, false);
            return;
        }
        self.captured.address = Some(self.new_address());
        self.after_address(out);
    }

    /// "chatham" without a ZIP: the ZIP of a city that has only one (the shop's table, then
    /// the bundled one, in the state said or the shop's), else the ZIP is asked. A city
    /// neither table knows is not taken (a re-prompt asks for the ZIP).
    fn city_without_zip(
        &mut self,
        out: &mut Vec<Action>,
        city: String,
        state: Option<String>,
    ) -> bool {
        if city.is_empty() {
            return false;
        }
        let in_state = state
            .clone()
            .unwrap_or_else(|| self.script.default_state.clone());
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let shop: Vec<&(String, String, Option<String>)> = self
            .script
            .zip_cities
            .iter()
            .filter(|(_, c, st)| {
                same(c, &city) && st.as_deref().is_none_or(|st| same(st, &in_state))
            })
            .collect();
        let bundled = u::zips::places_of_city(&city, Some(&in_state));
        // Issue 16: a street the shop already serves in that city has its ZIP on record.
        if let Some(zip) = self.known_street_zip(&city, &in_state) {
            self.captured.city = bundled.first().map(|p| p.city.to_string()).unwrap_or(city);
            self.captured.state = state.or_else(|| bundled.first().map(|p| p.state.to_string()));
            self.zip_given(out, zip, true);
            return true;
        }
        if shop.is_empty() && bundled.is_empty() {
            return false;
        }
        let mut zips: Vec<&str> = shop.iter().map(|z| z.0.as_str()).collect();
        zips.extend(bundled.iter().map(|p| p.zip));
        zips.sort_unstable();
        zips.dedup();
        self.captured.city = bundled.first().map(|p| p.city.to_string()).unwrap_or(city);
        self.captured.state = state.or_else(|| bundled.first().map(|p| p.state.to_string()));
        match zips.as_slice() {
            [one] => {
                let zip = one.to_string();
                self.zip_given(out, zip, true);
            }
            _ => self.ask(out, Step::AskZip, false),
        }
        true
    }

    /// The one ZIP the caller's street has among the addresses already known in `city`
    /// (same house number, street name, suffix and direction, same state or none); `None`
    /// when no street was given, none is known there, or they disagree.
    fn known_street_zip(&self, city: &str, state: &str) -> Option<String> {
        let street = self.captured.street.as_ref()?;
        let same_street = |s: &StreetAddress| {
            s.number == street.number
                && s.street_name.eq_ignore_ascii_case(&street.street_name)
                && s.suffix == street.suffix
                && s.direction == street.direction
        };
        let mut zips: Vec<String> = self
            .sources
            .customers
            .addresses_in_city(city)
            .into_iter()
            .filter(|a| a.state.is_empty() || a.state.eq_ignore_ascii_case(state))
            .filter(|a| u::street_address(&a.street).is_some_and(|s| same_street(&s)))
            .map(|a| a.zip.trim().to_string())
            .filter(|z| z.len() == 5 && z.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        zips.sort_unstable();
        zips.dedup();
        match zips.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        }
    }

    /// The ZIP of a city that has several.
    fn zip_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match answer.raw().and_then(u::zip_code) {
            Some(zip) => {
                self.zip_given(out, zip, answer.text().is_some());
                true
            }
            None => false,
        }
    }

    /// The city of a ZIP the box does not know.
    fn city_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let Some(text) = answer.text() else {
            return false;
        };
        let (city, state) = u::places::split_state(text);
        let city = city_words(&city);
        if city.is_empty() {
            return false;
        }
        self.captured.city = city;
        if state.is_some() {
            self.captured.state = state.map(String::from);
        }
        self.captured.address = Some(self.new_address());
        self.after_address(out);
        true
    }

    /// What a callback is about and when to call, from what the caller said (kept when a
    /// later answer says nothing of it).
    fn note_callback_details(&mut self, text: &str) {
        let d = u::callback::callback_details(text);
        if d.preferred_time.is_some() {
            self.captured.preferred_time = d.preferred_time;
        }
        if d.about.is_some() {
            self.captured.callback_about = d.about;
        }
    }

    /// A callback the caller asked for by voice: a new caller's name, then what it is about
    /// and when (once, in one question), then the number.
    fn callback_next(&mut self, out: &mut Vec<Action>) {
        if self.keypad_only {
            self.after_identity(out);
            return;
        }
        if self.captured.customer.is_none() && self.captured.name.is_empty() {
            self.ask(out, Step::AskName, false);
            return;
        }
        let about_known =
            self.captured.callback_about.is_some() || self.captured.callback_reason.is_some();
        let all_known = about_known && self.captured.preferred_time.is_some();
        if !self.captured.callback_details_asked && !all_known {
            self.captured.callback_details_asked = true;
            self.ask(out, Step::AskCallbackDetails, false);
            return;
        }
        self.after_identity(out);
    }

    /// What the callback is about and when; a key skips it.
    fn callback_details_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.text(), answer.key()) {
            (Some(t), _) => self.note_callback_details(t),
            (None, Some(_)) => {}
            (None, None) => return false,
        }
        self.after_identity(out);
        true
    }

    /// Whether caller ID is the number to call back on.
    fn confirm_phone(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        // "is 512 555 0331 the best number?" answered with a number: that number (keyed "1"
        // or "2" is the yes/no, not a number).
        let said_number = answer
            .text()
            .and_then(|t| u::phone_number(t, self.script.phone_plan));
        if let Some(e164) = said_number {
            self.captured.callback_phone = Some(e164);
            self.after_phone(out);
            return true;
        }
        match answer.yes_no() {
            Some(YesNo::Yes) => {
                self.captured.callback_phone = self.ctx.caller_id.clone();
                self.after_phone(out);
                true
            }
            Some(YesNo::No) => {
                self.ask(out, Step::AskPhone, false);
                true
            }
            None => false,
        }
    }

    /// The number to call back on, by the shop's dialling plan.
    fn phone_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match answer
            .raw()
            .and_then(|text| u::phone_number(text, self.script.phone_plan))
        {
            Some(e164) => {
                // Read back as the shop's plan groups it: the caller hears a wrong digit.
                let spoken = self.script.phone_plan.spoken(&e164);
                self.say(out, format!("I have {spoken}."), true);
                self.captured.callback_phone = Some(e164);
                self.after_phone(out);
                true
            }
            None => false,
        }
    }

    /// Whether to cancel the appointment.
    fn confirm_cancel(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match answer.yes_no() {
            Some(YesNo::Yes) => {
                let p = self.cancellation();
                self.enqueue(out, p, Pending::Request);
                true
            }
            Some(YesNo::No) => {
                self.say(out, "Okay, I won't cancel it.".into(), true);
                self.ask(out, Step::AppointmentMenu, false);
                true
            }
            None => false,
        }
    }

    /// The note for the technician (a hazard in it gets the safety script).
    fn note_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match (answer.key(), answer.text()) {
            (Some(_), _) => {
                self.goal = Some(Goal::Callback);
                self.after_identity(out);
                true
            }
            (_, Some(t)) if !u::normalize(t).is_empty() => {
                if let Triage::Safety(h) = u::triage(t, &self.triage_context()) {
                    self.captured.problem = t.to_string();
                    self.safety(out, Some(h));
                    return true;
                }
                self.captured.note = t.to_string();
                let p = self.note();
                self.enqueue(out, p, Pending::Request);
                true
            }
            _ => false,
        }
    }

    /// The invoice number, or that the caller does not have it.
    fn invoice_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let digits = answer
            .raw()
            .map(u::numbers::dtmf_digits)
            .unwrap_or_default();
        // A spoken invoice number has at least three digits: "the last one" is not invoice 1.
        let spoken = answer
            .text()
            .map(u::numbers::digits_in)
            .filter(|d| d.len() >= 3)
            .unwrap_or_default();
        let number = if digits.is_empty() { spoken } else { digits };
        let dont_know = answer.text().is_some_and(|t| {
            u::normalize(t).has_any(&[
                "don't know",
                "don't have",
                "not sure",
                "no",
                "last one",
                "latest",
                "most recent",
                "the last",
            ])
        });
        if number.is_empty() && !dont_know && answer.key() != Some('#') {
            return false;
        }
        self.captured.invoice_number = (!number.is_empty()).then_some(number);
        self.after_identity(out);
        true
    }

    /// Whether the caller wants to hear about the membership.
    fn membership_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        match answer.yes_no() {
            Some(YesNo::Yes) => {
                let p = self.membership();
                self.enqueue(out, p, Pending::Membership);
                true
            }
            Some(YesNo::No) => {
                self.goodbye(out);
                true
            }
            None => false,
        }
    }

    fn menu_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        if let Some(k) = answer.key() {
            let goal = match k {
                '1' => {
                    self.ask(out, Step::EmergencyMenu, false);
                    return true;
                }
                '2' => {
                    self.goal = Some(Goal::Repair);
                    self.ask(out, Step::Problem, false);
                    return true;
                }
                '3' => Goal::Maintenance,
                '4' => {
                    self.ask(out, Step::AppointmentMenu, false);
                    return true;
                }
                '5' => Goal::Callback,
                '6' => {
                    self.ask(out, Step::Voicemail, false);
                    return true;
                }
                '7' => Goal::Invoice,
                '8' => Goal::Membership,
                '9' => {
                    self.ask(out, Step::Menu, true);
                    return true;
                }
                '#' if self.script.spanish => {
                    self.spanish_start(out);
                    return true;
                }
                _ => return false,
            };
            self.start_goal(out, goal);
            return true;
        }
        let Some(text) = answer.text() else {
            return false;
        };
        // Triage first: a hazard wins over whatever else the caller asked.
        if let Triage::Safety(h) = u::triage(text, &self.triage_context()) {
            self.captured.problem = text.to_string();
            self.safety(out, Some(h));
            return true;
        }
        if u::language::wants_spanish(text) {
            self.spanish_start(out);
            return true;
        }
        if let Some(q) = u::caller_question(text) {
            if self.caller_question(out, q, text) {
                return true;
            }
        }
        let goal = match u::call_intent(text) {
            Some(CallIntent::NewProblem) => return self.problem_text(out, text),
            Some(CallIntent::Maintenance) => Goal::Maintenance,
            Some(CallIntent::Reschedule) => Goal::Reschedule,
            Some(CallIntent::Cancel) => Goal::Cancel,
            Some(CallIntent::WhereIsTechnician) => Goal::Eta,
            Some(CallIntent::AddNote) => Goal::Note,
            Some(CallIntent::Callback) => {
                self.note_callback_details(text);
                self.goal = Some(Goal::Callback);
                self.callback_next(out);
                return true;
            }
            Some(CallIntent::InvoiceCopy) => Goal::Invoice,
            Some(CallIntent::Membership) => Goal::Membership,
            Some(CallIntent::Voicemail) => {
                self.ask(out, Step::Voicemail, false);
                return true;
            }
            None => return false,
        };
        if goal == Goal::Maintenance {
            self.captured.problem = text.to_string();
        }
        self.start_goal(out, goal);
        true
    }

    /// Hours, service area, prices, a quote, a wrong number: answered from `[dialog]`, or the
    /// office calls back. `false` when the question is left to the rest of the menu.
    fn caller_question(&mut self, out: &mut Vec<Action>, q: u::CallerQuestion, text: &str) -> bool {
        use u::CallerQuestion as Q;
        let (answer, callback) = match q {
            Q::WrongNumber => {
                self.say(out, "No problem. Goodbye.".into(), true);
                out.push(Action::Hangup);
                self.step = Step::Ended;
                return true;
            }
            Q::Robot => return false,
            Q::Quote => {
                let what = u::trade_summary(text, None);
                let what = if what == "service call" {
                    "new equipment".to_string()
                } else {
                    what.replace(" problem", "")
                };
                (
                    "Our comfort advisor will call you about an estimate; no truck is sent for \
                     that."
                        .to_string(),
                    Some(format!("sales: estimate requested ({what})")),
                )
            }
            Q::Hours if !self.script.office_hours.is_empty() => {
                (self.script.office_hours.clone(), None)
            }
            Q::ServiceArea if !self.script.service_area.is_empty() => {
                (self.script.service_area.clone(), None)
            }
            Q::Price if !self.script.prices.is_empty() => (self.script.prices.clone(), None),
            Q::Hours => (
                "The office will call you back with our hours.".to_string(),
                Some("asked for the office hours".to_string()),
            ),
            Q::ServiceArea => (
                "The office will call you to confirm we cover your area.".to_string(),
                Some("asked whether the shop covers their area".to_string()),
            ),
            Q::Price => (
                "The office will call you with a price.".to_string(),
                Some(format!(
                    "asked about a price ({})",
                    u::normalize(text).text()
                )),
            ),
        };
        self.say(out, answer, true);
        match callback {
            Some(reason) => {
                self.captured.callback_reason = Some(reason);
                self.captured.preferred_time = u::callback::callback_details(text).preferred_time;
                self.goal = Some(Goal::Callback);
                self.after_identity(out);
            }
            None => self.ask(out, Step::Menu, false),
        }
        true
    }

    /// Issue 16: the caller speaks Spanish. With a Spanish voice the box switches to it and
    /// a keypad menu (emergency page, callback, message); without one it takes a message.
    fn spanish_start(&mut self, out: &mut Vec<Action>) {
        self.misses = 0;
        if !self.script.spanish {
            self.say(
                out,
                "I'm sorry, I can only speak English. Please leave a message; the office will \
                 call you back."
                    .into(),
                true,
            );
            self.captured.callback_reason = Some("Spanish-speaking caller".into());
            self.ask(out, Step::Voicemail, false);
            return;
        }
        self.spanish = true;
        out.push(Action::Language(Language::Spanish));
        self.ask(out, Step::SpanishMenu, false);
    }

    /// The Spanish keypad menu: 1 pages the on-call technician, 2 a callback, 3 a message.
    /// Without caller ID nobody could call back: 1 and 2 take a message with the number.
    fn spanish_menu_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let key = answer.key();
        if matches!(key, Some('1' | '2')) && self.spanish_number_unknown(out) {
            return true;
        }
        match key {
            Some('1') => self.spanish_page(out),
            Some('2') => self.spanish_callback(out),
            Some('3') => self.ask(out, Step::Voicemail, false),
            _ => return false,
        }
        true
    }

    /// Keypad 0 (a person) in Spanish: as in English, nobody is in the office, so the office
    /// calls back, here in Spanish (the Spanish menu's 2; the call ends once it is saved).
    fn spanish_operator(&mut self, out: &mut Vec<Action>) {
        self.person_asks += 1;
        if self.spanish_number_unknown(out) {
            return;
        }
        self.say(out, "No hay nadie en la oficina ahora.".into(), true);
        self.spanish_callback(out);
    }

    /// Without caller ID nobody could call back: the caller is asked for a message with the
    /// number instead (`true`).
    fn spanish_number_unknown(&mut self, out: &mut Vec<Action>) -> bool {
        if self.ctx.caller_id.is_some() {
            return false;
        }
        self.say(
            out,
            "No veo su número: dígalo en el mensaje, por favor.".into(),
            true,
        );
        self.ask(out, Step::Voicemail, false);
        true
    }

    fn spanish_page(&mut self, out: &mut Vec<Action>) {
        self.captured.problem = "emergency: Spanish-speaking caller (keypad)".into();
        self.page(out, None);
    }

    fn spanish_callback(&mut self, out: &mut Vec<Action>) {
        self.goal = Some(Goal::Callback);
        self.captured.callback_reason = Some("Spanish-speaking caller".into());
        let p = self.callback(Some("call back in Spanish"));
        self.enqueue(out, p, Pending::Request);
    }

    fn start_goal(&mut self, out: &mut Vec<Action>, goal: Goal) {
        match goal {
            Goal::Reschedule | Goal::Cancel | Goal::Eta | Goal::Note => {
                self.appointment_goal(out, goal)
            }
            Goal::Maintenance => {
                self.goal = Some(goal);
                self.captured.triage = Some(Triage::Routine(RoutineKind::Maintenance));
                if self.captured.problem.is_empty() {
                    self.captured.problem = "maintenance visit".into();
                }
                self.identify(out);
            }
            Goal::Invoice => {
                self.goal = Some(goal);
                self.ask(out, Step::AskInvoice, false);
            }
            _ => {
                self.goal = Some(goal);
                self.after_identity(out);
            }
        }
    }

    /// The caller described a problem (or keyed one): triage it.
    fn problem_text(&mut self, out: &mut Vec<Action>, text: &str) -> bool {
        let t = u::triage(text, &self.triage_context());
        match t {
            Triage::Safety(h) => {
                self.captured.problem = text.to_string();
                self.safety(out, Some(h));
            }
            Triage::Unclear => return false,
            _ => {
                self.captured.problem = text.to_string();
                self.captured.triage = Some(t);
                if matches!(t, Triage::Routine(RoutineKind::Maintenance)) {
                    self.goal = Some(Goal::Maintenance);
                } else {
                    self.goal = Some(Goal::Repair);
                }
                if let Triage::Emergency(_) = t {
                    self.say(
                        out,
                        "That sounds like an emergency; let's get the on-call technician out."
                            .into(),
                        true,
                    );
                }
                self.identify(out);
            }
        }
        true
    }

    /// The fixed safety script, then the on-call alert record.
    fn safety(&mut self, out: &mut Vec<Action>, hazard: Option<SafetyHazard>) {
        self.captured.triage = hazard.map(Triage::Safety);
        let script = match hazard {
            _ if self.spanish => Self::spanish_safety_script(hazard),
            Some(SafetyHazard::Gas) | None => {
                "This is important. If you smell gas, leave the building now and take everyone \
                 with you. Don't switch lights or anything electrical on or off, and don't use \
                 your phone inside. Once you're outside, call 911 or the gas company's emergency \
                 line."
            }
            Some(SafetyHazard::CarbonMonoxide) => {
                "This is important. If a carbon monoxide alarm is going off, get everyone out of \
                 the building now, leave the door open behind you, and call 911 once you're \
                 outside. Don't go back in until the fire department says it's safe."
            }
            Some(SafetyHazard::Smoke | SafetyHazard::Burning | SafetyHazard::Sparking) => {
                "This is important. If you see smoke, sparks or flames, or smell burning, turn \
                 the system off at the thermostat only if you can do it safely, get everyone out \
                 of the building, and call 911 from outside."
            }
        };
        // The script is in `out` before the enqueue: the caller hears it whatever the queue does.
        self.say(out, script.into(), false);
        let hazard = match hazard {
            Some(SafetyHazard::Gas) => Hazard::Gas,
            Some(SafetyHazard::CarbonMonoxide) => Hazard::CarbonMonoxide,
            Some(SafetyHazard::Smoke) => Hazard::Smoke,
            Some(SafetyHazard::Burning) => Hazard::Burning,
            Some(SafetyHazard::Sparking) => Hazard::Sparking,
            None => Hazard::Unspecified,
        };
        // Only an address the box already knows: the caller is being sent outside, not asked.
        let only_location = self
            .captured
            .customer
            .as_ref()
            .filter(|c| c.locations.len() == 1)
            .and_then(|c| c.locations.first())
            .map(|l| l.address.clone());
        let p = Payload::OnCallAlert(OnCallAlert {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            hazard,
            address: self.captured.address.clone().or(only_location),
            known_customer_id: self.captured.customer.as_ref().map(|c| c.id),
            caller_said: self.captured.problem.clone(),
            raised_at_utc: self.now,
            job_record_id: None,
        });
        self.enqueue(out, p, Pending::Safety);
    }

    /// Find out where: a known customer's locations, else a new caller's details. A repeat
    /// call about a repair already booked is told so first, and not booked twice.
    fn identify(&mut self, out: &mut Vec<Action>) {
        if self.repeat_call(out) {
            return;
        }
        let has_locations = self
            .captured
            .customer
            .as_ref()
            .is_some_and(|c| !c.locations.is_empty());
        if self.captured.address.is_some() {
            self.after_address(out);
        } else if has_locations {
            self.ask(out, Step::ConfirmLocation(0), false);
        } else if self.captured.name.is_empty() {
            self.ask(out, Step::AskName, false);
        } else {
            self.ask(out, Step::AskStreet, false);
        }
    }

    /// The caller's upcoming visits (ServiceTitan's, and jobs this box queued), soonest first.
    fn upcoming_visits(&self) -> Vec<Appointment> {
        let customer_id = self.captured.customer.as_ref().map(|c| c.id);
        if customer_id.is_none() && self.ctx.caller_id.is_none() {
            return Vec::new();
        }
        self.sources
            .appointments
            .upcoming(customer_id, self.ctx.caller_id.as_deref(), self.now)
    }

    /// Issue 16: the same caller calling again about the same repair (same kind of work as an
    /// upcoming visit, see [`u::repeat`]) hears what is already booked, and the visit's job
    /// gets a note instead of a second job. An emergency is a repeat only of a visit due
    /// within [`REPEAT_EMERGENCY_WITHIN_HOURS`]: one booked for later is not tonight's help.
    fn repeat_call(&mut self, out: &mut Vec<Action>) -> bool {
        let (Some(Goal::Repair), Some(heard)) = (self.goal, self.captured.triage) else {
            return false;
        };
        let soon = self.now + chrono::Duration::hours(REPEAT_EMERGENCY_WITHIN_HOURS);
        let Some(visit) = self.upcoming_visits().into_iter().find(|a| {
            u::repeat::is_repeat(heard, &a.summary)
                && (self.urgency() == Urgency::Routine || a.start_utc <= soon)
        }) else {
            return false;
        };
        self.captured.appointment = Some(visit.clone());
        let when = self.appointment_label();
        let summary = self.problem_summary();
        self.say(
            out,
            format!(
                "You're already booked for {summary} {when}, so I won't book it twice. \
                 I'll tell the technician you called again."
            ),
            true,
        );
        let p = Payload::Note(JobNote {
            call_key: self.ctx.call_key.clone(),
            job_id: visit.job_id,
            job_number: visit.job_number.clone(),
            queue_ref: visit.queue_ref.clone(),
            text: format!(
                "Caller called again about the same problem ({summary}); told the visit {when} \
                 stands. Caller said: {}",
                self.captured.problem.trim()
            ),
        });
        self.enqueue(out, p, Pending::Request);
        true
    }

    fn after_address(&mut self, out: &mut Vec<Action>) {
        // A new address (and a new caller's name) is read back once, before the number.
        if self.captured.street.is_some() && !self.keypad_only && !self.captured.read_back_said {
            self.captured.read_back_said = true;
            self.read_back(out);
        }
        self.after_identity(out);
    }

    /// "I have John Smith, Springfield 6 2 7 0 4.": a new caller's name (spelled when the
    /// recogniser was unsure of it) and the new address's city and ZIP, which reach
    /// ServiceTitan as said here. A correction follows ([`Self::correction`]).
    fn read_back(&mut self, out: &mut Vec<Action>) {
        let zip = self
            .captured
            .zip
            .as_deref()
            .map(spoken_digits)
            .unwrap_or_default();
        let place = [self.captured.city.as_str(), zip.as_str()]
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let name = &self.captured.name;
        let who = if self.captured.customer.is_none() && !name.is_empty() {
            if self.captured.name_unsure {
                format!("{name}, {}", spell_out(name))
            } else {
                name.clone()
            }
        } else {
            String::new()
        };
        let text = match (who.is_empty(), place.is_empty()) {
            (true, true) => return,
            (false, true) => format!("I have {who}."),
            (true, false) => format!("I have {place}."),
            (false, false) => format!("I have {who}, {place}."),
        };
        self.say(out, text, true);
    }

    /// Once a new caller's name or address is taken, at any later question: "can you spell
    /// that" (the name letter by letter), "no my name is …" / "it's spelled s m y t h e" (the
    /// name), "no the zip is …" (the ZIP, and its city). Only the field it is about changes;
    /// the question is asked again. `true` when the answer was one.
    fn correction(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let Some(text) = answer.text() else {
            return false;
        };
        if matches!(
            self.step,
            Step::Menu
                | Step::EmergencyMenu
                | Step::AppointmentMenu
                | Step::Problem
                | Step::AskName
                | Step::AskCityZip
                | Step::AskZip
                | Step::AskCity
                | Step::AskNote
                | Step::AskCallbackDetails
                | Step::Voicemail
                | Step::Recording(_)
                | Step::Ended
        ) {
            return false;
        }
        let n = u::normalize(text);
        let new_name = self.captured.customer.is_none() && !self.captured.name.is_empty();
        let spell_words = ["spell", "spelled", "spelling", "spelt"];
        // At the street, a spelling is the street's.
        let about_spelling = spell_words.iter().any(|w| n.has(w))
            && !matches!(self.step, Step::AskStreet | Step::ConfirmStreet);
        // "my name is …", "the name's …"; not "what's the technician's name".
        let names_self = n.has_any(&["my name", "name is", "name's"]);
        if new_name && (about_spelling || names_self) {
            let spelled = u::names::spelled_words(text);
            // "my name is …" names the whole name; "it's spelled s m y t h e" the word spelled
            // (the surname, unless the caller spells more than one word); "can you spell that"
            // names nothing.
            let heard = if names_self {
                u::person_name(text)
            } else if spelled.len() >= 2 {
                Some(spelled.join(" "))
            } else if let Some(word) = spelled.first() {
                let mut words: Vec<String> = self
                    .captured
                    .name
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                let first_again = words.first().is_some_and(|w| w.eq_ignore_ascii_case(word));
                let len = words.len();
                if !first_again && len >= 2 {
                    words[len - 1] = word.clone();
                } else if !first_again {
                    words = vec![word.clone()];
                }
                Some(words.join(" "))
            } else {
                None
            };
            let name = match heard {
                Some(name) => {
                    self.captured.name = name;
                    self.captured.name_unsure = false;
                    self.captured.name.clone()
                }
                None if about_spelling => self.captured.name.clone(),
                None => return false,
            };
            let spelled = spell_out(&name);
            self.say(out, format!("I have {name}: {spelled}."), true);
            self.ask(out, self.step, false);
            return true;
        }
        if self.captured.zip.is_some() && self.captured.street.is_some() && n.has("zip") {
            let Some(zip) = u::zip_code(text) else {
                return false;
            };
            let shop = self.script.zip_cities.iter().find(|z| z.0 == zip);
            if let Some((_, city, state)) = shop {
                self.captured.city = city.clone();
                if state.is_some() {
                    self.captured.state = state.clone();
                }
            } else if let Some(place) = u::zips::place_of(&zip) {
                self.captured.city = place.city.to_string();
                self.captured.state = Some(place.state.to_string());
            }
            self.captured.zip = Some(zip);
            self.captured.address = Some(self.new_address());
            self.read_back(out);
            self.ask(out, self.step, false);
            return true;
        }
        false
    }

    /// Name/address settled (or not needed): the callback number, then the goal's next step.
    fn after_identity(&mut self, out: &mut Vec<Action>) {
        if self.captured.callback_phone.is_none() {
            if self.ctx.caller_id.is_some() {
                self.ask(out, Step::ConfirmPhone, false);
            } else {
                self.ask(out, Step::AskPhone, false);
            }
            return;
        }
        self.after_phone(out);
    }

    fn after_phone(&mut self, out: &mut Vec<Action>) {
        match self.goal {
            Some(Goal::Repair | Goal::Maintenance) => self.offer_windows(out, None),
            Some(Goal::Reschedule) => self.offer_windows(out, None),
            Some(Goal::Membership) => {
                let p = self.membership();
                self.enqueue(out, p, Pending::Request);
            }
            Some(Goal::Invoice) => {
                let p = Payload::InvoiceCopy(InvoiceCopyRequest {
                    call_key: self.ctx.call_key.clone(),
                    caller: self.caller_info(),
                    known_customer_id: self.captured.customer.as_ref().map(|c| c.id),
                    invoice_number: self.captured.invoice_number.clone(),
                    job_number: None,
                    send_to_email: None,
                });
                self.enqueue(out, p, Pending::Request);
            }
            _ => {
                let p = self.callback(None);
                self.enqueue(out, p, Pending::Request);
            }
        }
    }

    fn appointment_goal(&mut self, out: &mut Vec<Action>, goal: Goal) {
        self.goal = Some(goal);
        let customer_id = self.captured.customer.as_ref().map(|c| c.id);
        let appt = self
            .sources
            .appointments
            .upcoming(customer_id, self.ctx.caller_id.as_deref(), self.now)
            .into_iter()
            .next();
        let Some(appt) = appt else {
            self.say(
                out,
                "I don't see an upcoming appointment for this number, so I'll have the office \
                 call you back about it."
                    .into(),
                true,
            );
            self.goal = Some(Goal::Callback);
            self.after_identity(out);
            return;
        };
        self.captured.appointment = Some(appt.clone());
        let when = self.appointment_label();
        match goal {
            Goal::Eta => {
                let who = match &appt.technician {
                    Some(t) => format!("{t} is assigned and will arrive"),
                    None => "A technician will be assigned and will arrive".into(),
                };
                self.say(out, format!("{who} {when}."), true);
                let p = Payload::Note(JobNote {
                    call_key: self.ctx.call_key.clone(),
                    job_id: appt.job_id,
                    job_number: appt.job_number.clone(),
                    queue_ref: appt.queue_ref.clone(),
                    text: format!(
                        "Caller asked when the technician is coming; told: {who} {when}."
                    ),
                });
                self.enqueue(out, p, Pending::Request);
            }
            Goal::Reschedule => {
                self.say(
                    out,
                    format!("Your appointment is {when}. Let's find a new time."),
                    true,
                );
                self.captured.triage = Some(Triage::Routine(RoutineKind::Other));
                self.captured.callback_phone = self.ctx.caller_id.clone();
                self.offer_windows(out, None);
            }
            Goal::Cancel => self.ask(out, Step::ConfirmCancel, false),
            _ => self.ask(out, Step::AskNote, false),
        }
    }

    fn urgency(&self) -> Urgency {
        match self.captured.triage {
            Some(Triage::Emergency(_) | Triage::Safety(_)) => Urgency::Emergency,
            _ => Urgency::Routine,
        }
    }

    fn offer_windows(&mut self, out: &mut Vec<Action>, after: Option<DateTime<Utc>>) {
        // An emergency hears the first window as a yes/no; routine work a choice of three.
        let count = if self.urgency() == Urgency::Emergency && self.goal != Some(Goal::Reschedule) {
            1
        } else {
            3
        };
        // Issue 16: no second visit on a day the caller already has one (routine work; an
        // emergency goes out tonight whatever else is booked). A reschedule moves the visit
        // it is about, so only the held window itself is left out.
        let tz = self.script.timezone;
        let visit_days: Vec<_> =
            if self.urgency() == Urgency::Routine && self.goal != Some(Goal::Reschedule) {
                self.upcoming_visits()
                    .iter()
                    .map(|a| to_local(tz, a.start_utc).date())
                    .collect()
            } else {
                Vec::new()
            };
        let mut offered = self.sources.schedule.offer(
            self.urgency(),
            after.unwrap_or(self.now),
            self.now,
            // Room for the windows of the days left out.
            count + 2 + visit_days.len() * 4,
        );
        // Never a window already under way, nor the one the caller already holds.
        let held = self.captured.appointment.as_ref().map(|a| a.start_utc);
        offered.slots.retain(|s| {
            s.start_utc >= self.now
                && Some(s.start_utc) != held
                && !visit_days.contains(&to_local(tz, s.start_utc).date())
        });
        offered.slots.truncate(count);
        if offered.slots.is_empty() {
            self.say(
                out,
                "I don't have an opening I can offer right now, so I'll have the office call you \
                 to set a time."
                    .into(),
                true,
            );
            let p = self.callback(Some("no appointment window available on the call"));
            self.enqueue(out, p, Pending::Request);
            return;
        }
        self.captured.offered_labels = offered
            .slots
            .iter()
            .map(|s| speak_slot(tz, s, self.now))
            .collect();
        self.captured.say_offline = !offered.live && !self.captured.offline_told;
        self.captured.offline_told |= !offered.live;
        self.captured.offered = offered;
        self.captured.single_offer = false;
        if after.is_some() {
            self.captured.later_asked = true;
        }
        // One window and a job to book: the offer is the read-back ("To confirm: … Shall I
        // book it?"), one question instead of two.
        if self.captured.offered.slots.len() == 1 && self.goal != Some(Goal::Reschedule) {
            self.captured.slot = self.captured.offered.slots.first().copied();
            self.captured.single_offer = true;
            self.ask(out, Step::ConfirmBooking, false);
            return;
        }
        self.ask(out, Step::OfferWindows, false);
    }

    /// Which offered window the answer picks, if any.
    fn window_choice(&self, answer: &Answer) -> Option<WindowChoice> {
        let n = self.captured.offered.slots.len();
        match (answer.key(), answer.text()) {
            (Some('9'), _) => Some(WindowChoice::Later),
            (Some(k), _) => k
                .to_digit(10)
                .map(|d| d as usize)
                .filter(|d| (1..=n).contains(d))
                .map(|d| WindowChoice::Offered(d - 1)),
            (_, Some(t)) => {
                let tz = self.script.timezone;
                let offered: Vec<OfferedWindow> = self
                    .captured
                    .offered
                    .slots
                    .iter()
                    .zip(&self.captured.offered_labels)
                    .map(|(s, l)| OfferedWindow {
                        start_local: to_local(tz, s.start_utc),
                        end_local: to_local(tz, s.end_utc),
                        label: l.clone(),
                    })
                    .collect();
                u::choose_window(t, &offered, to_local(tz, self.now))
            }
            _ => None,
        }
    }

    fn window_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        // One window offered as a yes/no.
        let single = self.captured.offered.slots.len() == 1;
        let choice = match answer.yes_no() {
            Some(YesNo::Yes) if single => Some(WindowChoice::Offered(0)),
            Some(YesNo::No) if single => Some(WindowChoice::NoneOfThese),
            _ => self.window_choice(answer),
        };
        // A day that is not among the windows offered: that day's windows.
        if choice.is_none() && self.day_change(out, answer) {
            return true;
        }
        match choice {
            Some(WindowChoice::Offered(i)) => {
                self.captured.slot = self.captured.offered.slots.get(i).copied();
                self.ask(out, Step::ConfirmBooking, false);
                true
            }
            Some(WindowChoice::Later | WindowChoice::NoneOfThese) => {
                self.none_suit(out);
                true
            }
            Some(WindowChoice::Ambiguous(_)) | None => false,
        }
    }

    /// The caller asks for another day than the window in hand ("can we do thursday
    /// instead"): that day's real windows (or the next after it), the rest of the booking
    /// unchanged. `false` when the answer names no other day.
    fn day_change(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let tz = self.script.timezone;
        let Some(day) = answer
            .text()
            .and_then(|t| u::requested_day(t, to_local(tz, self.now)))
        else {
            return false;
        };
        let current = self
            .captured
            .slot
            .filter(|_| self.step == Step::ConfirmBooking)
            .map(|s| to_local(tz, s.start_utc).date());
        let offered_days: Vec<_> = self
            .captured
            .offered
            .slots
            .iter()
            .map(|s| to_local(tz, s.start_utc).date())
            .collect();
        if current == Some(day) || (current.is_none() && offered_days.contains(&day)) {
            return false;
        }
        let Some(midnight) = day.and_hms_opt(0, 0, 0) else {
            return false;
        };
        let later_asked = self.captured.later_asked;
        self.captured.slot = None;
        self.offer_windows(
            out,
            Some(super::schedule::to_utc(tz, midnight).max(self.now)),
        );
        // A day asked for is not "something later": "none of those" still gets more windows.
        self.captured.later_asked = later_asked;
        true
    }

    /// None of the windows offered suits: the next real windows once, then a callback.
    fn none_suit(&mut self, out: &mut Vec<Action>) {
        let last = self.captured.offered.slots.last().map(|s| s.end_utc);
        if self.captured.later_asked || last.is_none() {
            self.say(
                out,
                "Then I'll have the office call you to find a time that works.".into(),
                true,
            );
            let p = self.callback(Some("none of the offered windows suited the caller"));
            self.enqueue(out, p, Pending::Request);
        } else {
            self.offer_windows(out, last);
        }
    }

    fn confirm_street(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        // A correction first: "no i said maple" is a no that carries the right answer.
        if self.apply_repair(answer) {
            self.ask(out, Step::ConfirmStreet, false);
            return true;
        }
        match answer.yes_no() {
            Some(YesNo::Yes) => {
                self.ask(out, Step::AskCityZip, false);
                return true;
            }
            Some(YesNo::No) => {
                if let Some(street) = answer.text().and_then(u::street_address) {
                    self.captured.street = Some(street);
                    self.ask(out, Step::ConfirmStreet, false);
                } else {
                    self.captured.street = None;
                    self.ask(out, Step::AskStreet, false);
                }
                return true;
            }
            None => {}
        }
        // A whole new address without a "no": take it.
        if let Some(street) = answer.text().and_then(u::street_address) {
            self.captured.street = Some(street);
            self.ask(out, Step::ConfirmStreet, false);
            return true;
        }
        false
    }

    /// "no i said maple": corrects the street heard; returns whether it did.
    fn apply_repair(&mut self, answer: &Answer) -> bool {
        let (Some(text), Some(street)) = (answer.text(), self.captured.street.clone()) else {
            return false;
        };
        let previous = street.street_name.to_lowercase();
        let Some(fixed) = u::repair(&previous, text).or_else(|| {
            u::repair(&street.number, text).filter(|f| u::parse_number_words(f).is_some())
        }) else {
            return false;
        };
        let mut street = street;
        if let Some(whole) = u::street_address(&fixed) {
            street = whole;
        } else if let Some(n) = u::parse_number_words(&fixed) {
            street.number = n.to_string();
        } else {
            street.street_name = u::names::title_case(&fixed);
        }
        self.captured.street = Some(street);
        if self.captured.address.is_some() {
            self.captured.address = Some(self.new_address());
        }
        true
    }

    fn confirm_booking(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        // "actually can we do thursday instead": the day changes, nothing else.
        if self.day_change(out, answer) {
            return true;
        }
        if self.apply_repair(answer) {
            self.ask(out, Step::ConfirmBooking, false);
            return true;
        }
        // The single window offered as the confirmation: "the first one" / "one" takes it.
        let took_window = self.captured.single_offer
            && matches!(self.window_choice(answer), Some(WindowChoice::Offered(0)));
        let yes_no = if took_window {
            Some(YesNo::Yes)
        } else {
            answer.yes_no()
        };
        match yes_no {
            Some(YesNo::Yes) => {
                let p = if self.goal == Some(Goal::Reschedule) {
                    self.reschedule()
                } else {
                    self.job()
                };
                self.enqueue(out, p, Pending::Job);
                true
            }
            Some(YesNo::No) if self.captured.single_offer => {
                self.none_suit(out);
                true
            }
            Some(YesNo::No) => {
                self.say(out, "Okay, let's pick another time.".into(), true);
                self.offer_windows(out, None);
                true
            }
            None => false,
        }
    }

    fn voicemail_turn(&mut self, out: &mut Vec<Action>, answer: Answer) {
        if let Answer::Said(t) = answer {
            if !self.captured.voicemail.is_empty() {
                self.captured.voicemail.push(' ');
            }
            self.captured.voicemail.push_str(&t);
        }
        self.say(out, "Thank you, I've got your message.".into(), true);
        self.enqueue_voicemail(out);
    }

    fn enqueue_voicemail(&mut self, out: &mut Vec<Action>) {
        let p = Payload::Voicemail(VoicemailMessage {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            recording_path: self.ctx.recording_path.clone(),
            duration_secs: None,
            transcript: if self.spanish
                || self.captured.callback_reason.as_deref() == Some("Spanish-speaking caller")
            {
                // The recogniser is English: the recording is what the office listens to.
                format!(
                    "[Spanish-speaking caller: listen to the recording] {}",
                    self.captured.voicemail
                )
                .trim_end()
                .to_string()
            } else {
                self.captured.voicemail.clone()
            },
        });
        self.enqueue(out, p, Pending::Request);
    }

    fn enqueue_lead(&mut self, out: &mut Vec<Action>) {
        let stage = step_name(self.step);
        let summary = if self.captured.problem.is_empty() {
            format!("Caller hung up during {stage}")
        } else {
            self.problem_summary()
        };
        let p = Payload::Lead(LeadRequest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            address: self
                .captured
                .address
                .clone()
                .or_else(|| self.captured.street.as_ref().map(|_| self.new_address())),
            summary,
            reason: format!(
                "caller hung up before finishing ({stage}); call them back. Transcript:\n{}",
                self.transcript_text()
            ),
        });
        self.enqueue(out, p, Pending::Lead);
    }

    fn enqueue(&mut self, out: &mut Vec<Action>, payload: Payload, pending: Pending) {
        self.step = Step::Recording(pending);
        self.outcome.records.push(payload.clone());
        out.push(Action::Enqueue(payload));
    }

    /// The last enqueue settled.
    fn recorded(
        &mut self,
        out: &mut Vec<Action>,
        pending: Pending,
        result: Result<RecordId, RecordFailure>,
    ) {
        let payload = self.outcome.records.last().cloned();
        let id = match result {
            Ok(id) => id,
            Err(e) => {
                self.not_recorded(out, pending, e);
                return;
            }
        };
        self.count_record(id.clone(), pending, payload.as_ref());
        if let (Pending::Job, Some(Payload::Job(job))) = (pending, payload.as_ref()) {
            if job.assign_on_call_technician {
                // An emergency on the schedule: the technician is paged now, even if the
                // caller has already hung up.
                if !self.caller_gone {
                    self.outcome.confirmation_number = Some(job.confirmation_number.clone());
                    self.outcome.booked_live = Some(!job.booked_offline);
                    let text = self.booked_text(job);
                    self.say(out, text, true);
                }
                self.page(out, Some(id.to_string()));
                return;
            }
        }
        if self.caller_gone {
            self.step = Step::Ended;
            return;
        }
        match pending {
            Pending::Job => self.job_booked(out, payload.as_ref()),
            Pending::Safety => self.alert_raised(out),
            Pending::Page => self.page_raised(out),
            Pending::Membership => {
                self.say(
                    out,
                    "Great, someone will call you about the membership.".into(),
                    true,
                );
                self.goodbye(out);
            }
            Pending::Request | Pending::FallbackCallback => {
                self.request_saved(out, payload.as_ref())
            }
            Pending::Lead => self.step = Step::Ended,
        }
    }

    /// The enqueue failed: the record is not the call's, and the caller hears so.
    fn not_recorded(&mut self, out: &mut Vec<Action>, pending: Pending, e: RecordFailure) {
        self.outcome.records.pop();
        self.outcome.enqueue_failed = true;
        self.log(Speaker::Callbox, format!("[record failed: {e}]"));
        self.record_failed(out, pending);
    }

    /// The record is durable: it joins the outcome, and names the call's kind when it is the
    /// first (a safety alert always does).
    fn count_record(&mut self, id: RecordId, pending: Pending, payload: Option<&Payload>) {
        self.outcome.record_ids.push(id);
        if self.outcome.kind == "none" || pending == Pending::Safety {
            self.outcome.kind = match (&pending, payload) {
                (Pending::Safety, _) => "safety_alert".into(),
                (_, Some(p)) => p.kind().name().into(),
                _ => "none".into(),
            };
        }
    }

    /// The job is on disk: the caller hears the window and the confirmation number, then the
    /// membership offer (maintenance, non-members) or goodbye.
    fn job_booked(&mut self, out: &mut Vec<Action>, payload: Option<&Payload>) {
        let Some(Payload::Job(job)) = payload else {
            let label = self.slot_label();
            self.say(
                out,
                format!("Your appointment request is in for {label}; the office will confirm it."),
                true,
            );
            self.goodbye(out);
            return;
        };
        self.outcome.confirmation_number = Some(job.confirmation_number.clone());
        self.outcome.booked_live = Some(!job.booked_offline);
        let text = self.booked_text(job);
        self.say(out, text, true);
        let member = self.captured.customer.as_ref().is_some_and(|c| c.member);
        if self.goal == Some(Goal::Maintenance) && self.script.membership_offer && !member {
            self.ask(out, Step::MembershipOffer, false);
            return;
        }
        self.goodbye(out);
    }

    /// "You're booked for …" (or on the schedule, offline), and the confirmation number twice.
    fn booked_text(&self, job: &JobRequest) -> String {
        let label = self.slot_label();
        let number = speak_confirmation(&job.confirmation_number);
        let mut text = if job.booked_offline && !job.assign_on_call_technician {
            format!("You're on the schedule for {label}; the office confirms in the morning.")
        } else if job.booked_offline {
            // Tonight's on-call visit, its window read in the question just before: the
            // technician's call is the confirmation.
            "You're on the schedule.".to_string()
        } else if job.assign_on_call_technician {
            // The window was read in the question just before.
            "You're booked.".to_string()
        } else {
            format!("You're booked for {label}.")
        };
        // A member hears their membership (and is never offered one).
        if self.captured.customer.as_ref().is_some_and(|c| c.member) {
            text.push_str(&format!(
                " As a {} member, you have priority service.",
                self.script.membership_name
            ));
        }
        text.push_str(&format!(" Your confirmation number: {number}."));
        text
    }

    /// The on-call alert is on disk: the caller is told who calls back, and to get to safety.
    fn alert_raised(&mut self, out: &mut Vec<Action>) {
        let phone = self
            .captured
            .callback_phone
            .clone()
            .or(self.ctx.caller_id.clone())
            .map(|p| self.script.phone_plan.spoken(&p));
        let text = match (self.spanish, phone) {
            (true, Some(p)) => format!(
                "Ya avisé al técnico de guardia, que le llamará al {p}. Cuelgue ahora y \
                 póngase a salvo."
            ),
            (true, None) => {
                "Ya avisé al técnico de guardia. Cuelgue ahora y póngase a salvo.".to_string()
            }
            (false, p) => format!(
                "I've alerted our on-call technician, who will call you back{}. Please hang \
                 up now and get to safety.",
                p.map(|p| format!(" at {p}")).unwrap_or_default()
            ),
        };
        self.say(out, text, false);
        out.push(Action::Hangup);
        self.step = Step::Ended;
    }

    /// A request for the office is on disk: what happens next, then goodbye.
    fn request_saved(&mut self, out: &mut Vec<Action>, payload: Option<&Payload>) {
        let text = match payload {
            Some(Payload::Callback(_)) if self.spanish => {
                "Listo: la oficina le llamará a primera hora."
            }
            Some(Payload::Voicemail(_)) if self.spanish => {
                "Su mensaje quedó guardado para la oficina."
            }
            Some(Payload::Callback(_)) => {
                "I've saved your request, and the office will call you back first thing."
            }
            Some(Payload::Voicemail(_)) if self.bridge_missed => {
                "Your message is saved, and I'm still paging the on-call technician; keep your \
                 phone free. If anyone's in danger, call 911."
            }
            Some(Payload::Voicemail(_)) => "Your message is saved for the office.",
            Some(Payload::Note(_)) => "I've added that to your job.",
            Some(Payload::Cancellation(_)) => {
                "Your cancellation request is in; the office will confirm it."
            }
            Some(Payload::InvoiceCopy(_)) => {
                "I've asked the office to send you a copy of your invoice."
            }
            Some(Payload::MembershipInterest(_)) => "Someone will call you about the membership.",
            _ => "That's saved for the office.",
        };
        self.say(out, text.into(), true);
        self.goodbye(out);
    }

    /// `record_failed` for a caller on the Spanish menu (a page, a callback or a message).
    fn record_failed_in_spanish(&mut self, out: &mut Vec<Action>, pending: Pending, office: &str) {
        let text = match pending {
            Pending::Request => {
                self.say(out, "Lo siento, no pude guardar eso.".into(), true);
                let p = self.callback(Some("the box could not save the caller's request"));
                self.enqueue(out, p, Pending::FallbackCallback);
                return;
            }
            Pending::Page => "No pude avisar al técnico de guardia; la oficina le llamará a \
                              primera hora. Si alguien está en peligro, llame al 911."
                .to_string(),
            _ => format!(
                "Lo siento, no puedo guardar nada ahora. Llame al {office} por la mañana. Si es \
                 una emergencia, llame al 911."
            ),
        };
        self.say(out, text, true);
        out.push(Action::Hangup);
        self.step = Step::Ended;
    }

    /// Honesty: the caller hears that it did not work, then the next-best durable record.
    fn record_failed(&mut self, out: &mut Vec<Action>, pending: Pending) {
        if self.caller_gone {
            self.step = Step::Ended;
            return;
        }
        let office = self.script.office_phone.clone();
        if self.spanish {
            self.record_failed_in_spanish(out, pending, &office);
            return;
        }
        match pending {
            Pending::Job | Pending::Request | Pending::Membership => {
                let what = if pending == Pending::Job {
                    "I'm sorry, I couldn't save your appointment, so you are not booked yet."
                } else {
                    "I'm sorry, I couldn't save that."
                };
                self.say(out, what.into(), true);
                let p = self.callback(Some("the box could not save the caller's request"));
                self.enqueue(out, p, Pending::FallbackCallback);
            }
            Pending::Safety => {
                self.say(
                    out,
                    format!(
                        "I couldn't reach the on-call technician's alert. Once you're safely \
                         outside, call 911, and call us at {office}."
                    ),
                    false,
                );
                out.push(Action::Hangup);
                self.step = Step::Ended;
            }
            Pending::Page => {
                self.say(
                    out,
                    "I couldn't alert the on-call technician; the office will call you first \
                     thing. If anyone's in danger, call 911."
                        .into(),
                    true,
                );
                out.push(Action::Hangup);
                self.step = Step::Ended;
            }
            Pending::FallbackCallback | Pending::Lead => {
                self.say(
                    out,
                    format!(
                        "I'm sorry, I can't save anything right now. Please call {office} in the \
                         morning. If this is an emergency, call 911."
                    ),
                    true,
                );
                out.push(Action::Hangup);
                self.step = Step::Ended;
            }
        }
    }

    fn caller_info(&self) -> CallerInfo {
        CallerInfo {
            name: self.captured.name.clone(),
            phone_e164: self.ctx.caller_id.clone(),
            callback_phone_e164: self
                .captured
                .callback_phone
                .clone()
                .filter(|p| Some(p) != self.ctx.caller_id.as_ref()),
        }
    }

    fn new_address(&self) -> Address {
        let street = self.captured.street.clone();
        Address {
            street: street
                .as_ref()
                .map(|s| {
                    let mut s = s.clone();
                    s.unit = None;
                    s.to_string()
                })
                .unwrap_or_default(),
            unit: street.and_then(|s| s.unit),
            city: self.captured.city.clone(),
            state: self
                .captured
                .state
                .clone()
                .unwrap_or_else(|| self.script.default_state.clone()),
            zip: self.captured.zip.clone().unwrap_or_default(),
            country: "USA".into(),
        }
    }

    fn service_address(&self) -> Address {
        self.captured
            .address
            .clone()
            .unwrap_or_else(|| self.new_address())
    }

    fn slot_label(&self) -> String {
        self.captured
            .slot
            .map(|s| speak_slot(self.script.timezone, &s, self.now))
            .unwrap_or_default()
    }

    fn appointment_label(&self) -> String {
        self.captured
            .appointment
            .as_ref()
            .map(|a| {
                let slot = Slot {
                    start_utc: a.start_utc,
                    end_utc: a.end_utc,
                };
                speak_slot(self.script.timezone, &slot, self.now)
            })
            .unwrap_or_default()
    }

    /// The problem in the trade's words ("no heat, furnace blowing cold air"), never the
    /// caller's raw text (that stays in the transcript).
    fn problem_summary(&self) -> String {
        let p = self.captured.problem.trim();
        if p.is_empty() {
            "service".into()
        } else if p.starts_with("emergency:") {
            // The box's own words for a keyed emergency.
            p.to_string()
        } else {
            u::trade_summary(p, self.captured.triage)
        }
    }

    /// Short, speakable, deterministic for a call: hashed from the call key and the time.
    fn confirmation_number(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.ctx.call_key.as_bytes());
        h.update(self.now.to_rfc3339().as_bytes());
        h.update(self.outcome.record_ids.len().to_le_bytes());
        let digest = h.finalize();
        let code: String = digest
            .iter()
            .take(self.script.confirmation_length)
            .map(|b| CONFIRMATION_ALPHABET[usize::from(*b) % CONFIRMATION_ALPHABET.len()] as char)
            .collect();
        format!("{}-{code}", self.script.confirmation_prefix)
    }

    fn job(&self) -> Payload {
        let slot = self.captured.slot.unwrap_or(Slot {
            start_utc: self.now,
            end_utc: self.now,
        });
        let hint = match self.captured.triage {
            Some(
                Triage::Emergency(EmergencyKind::NoHeat) | Triage::Routine(RoutineKind::NoHeat),
            ) => Some("no_heat"),
            Some(
                Triage::Emergency(EmergencyKind::NoCooling)
                | Triage::Routine(RoutineKind::NoCooling),
            ) => Some("no_cooling"),
            Some(Triage::Emergency(EmergencyKind::WaterLeak)) => Some("leak"),
            Some(Triage::Routine(RoutineKind::Maintenance)) => Some("maintenance"),
            Some(Triage::Routine(RoutineKind::Noise)) => Some("noise"),
            Some(Triage::Routine(RoutineKind::Thermostat)) => Some("thermostat"),
            _ => None,
        };
        let urgency = self.urgency();
        Payload::Job(JobRequest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            known_customer_id: self.captured.customer.as_ref().map(|c| c.id),
            known_location_id: self.captured.location_id,
            service_address: self.service_address(),
            problem_summary: self.problem_summary(),
            transcript: self.transcript_text(),
            urgency,
            job_type_hint: hint.map(String::from),
            business_unit_id: None,
            job_type_id: None,
            campaign_id: None,
            dialled_number: self.ctx.dialled.clone(),
            appointment: AppointmentWindow {
                start_utc: slot.start_utc,
                end_utc: slot.end_utc,
                arrival_window_start_utc: None,
                arrival_window_end_utc: None,
            },
            assign_on_call_technician: urgency == Urgency::Emergency,
            booked_offline: !self.captured.offered.live,
            confirmation_number: self.confirmation_number(),
        })
    }

    fn reschedule(&self) -> Payload {
        let appt = self.captured.appointment.clone();
        let slot = self.captured.slot.unwrap_or(Slot {
            start_utc: self.now,
            end_utc: self.now,
        });
        Payload::Reschedule(RescheduleRequest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            job_id: appt.as_ref().and_then(|a| a.job_id),
            job_number: appt.as_ref().and_then(|a| a.job_number.clone()),
            appointment_id: appt.as_ref().and_then(|a| a.appointment_id),
            queue_ref: appt.as_ref().and_then(|a| a.queue_ref.clone()),
            new_window: AppointmentWindow {
                start_utc: slot.start_utc,
                end_utc: slot.end_utc,
                arrival_window_start_utc: None,
                arrival_window_end_utc: None,
            },
            reason: "caller asked to reschedule".into(),
        })
    }

    fn cancellation(&self) -> Payload {
        let appt = self.captured.appointment.clone();
        let said = self
            .transcript
            .iter()
            .filter(|t| t.speaker == Speaker::Caller && !t.text.starts_with('['))
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" / ");
        Payload::Cancellation(CancellationRequest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            job_id: appt.as_ref().and_then(|a| a.job_id),
            job_number: appt.as_ref().and_then(|a| a.job_number.clone()),
            queue_ref: appt.as_ref().and_then(|a| a.queue_ref.clone()),
            reason: if said.is_empty() {
                "cancelled by phone (keypad)".into()
            } else {
                format!("cancelled by phone: {said}")
            },
            cancel_reason_id: None,
        })
    }

    fn note(&self) -> Payload {
        let appt = self.captured.appointment.clone();
        Payload::Note(JobNote {
            call_key: self.ctx.call_key.clone(),
            job_id: appt.as_ref().and_then(|a| a.job_id),
            job_number: appt.as_ref().and_then(|a| a.job_number.clone()),
            queue_ref: appt.as_ref().and_then(|a| a.queue_ref.clone()),
            text: note_text(&self.captured.note),
        })
    }

    fn membership(&self) -> Payload {
        Payload::MembershipInterest(MembershipInterest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            known_customer_id: self.captured.customer.as_ref().map(|c| c.id),
            address: self.captured.address.clone(),
            notes: format!("interested in the {}", self.script.membership_name),
        })
    }

    fn callback(&self, why: Option<&str>) -> Payload {
        let mut reason = match self.goal {
            Some(Goal::Repair) | Some(Goal::Maintenance) => {
                format!("wants service: {}", self.problem_summary())
            }
            Some(Goal::Reschedule) => "about an existing appointment (reschedule)".into(),
            Some(Goal::Cancel) => "about an existing appointment (cancel)".into(),
            Some(Goal::Eta) => "asked when the technician is coming".into(),
            Some(Goal::Note) => "has information for the technician".into(),
            _ if self.captured.callback_reason.is_some() => {
                self.captured.callback_reason.clone().unwrap_or_default()
            }
            Some(Goal::Callback) if self.captured.callback_about.is_some() => format!(
                "caller asked for a callback: {}",
                self.captured.callback_about.clone().unwrap_or_default()
            ),
            _ if !self.captured.problem.is_empty() => {
                format!("wants service: {}", self.problem_summary())
            }
            _ => "caller asked for a callback".into(),
        };
        if let Some(why) = why {
            reason = format!("{reason} ({why})");
        }
        Payload::Callback(CallbackRequest {
            call_key: self.ctx.call_key.clone(),
            caller: self.caller_info(),
            reason,
            preferred_time: self.captured.preferred_time.clone(),
        })
    }
}

/// What the caller gave.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Said(String),
    Keys(String),
    Nothing,
}

impl Answer {
    /// A single key press.
    fn key(&self) -> Option<char> {
        match self {
            Answer::Keys(k) => {
                // "1" and "1#" are the key 1; a bare "#" is the key # ("I don't have it").
                let body = k.trim_end_matches('#');
                let mut chars = body.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some(c),
                    (None, _) if !k.is_empty() => Some('#'),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Answer::Said(t) => Some(t),
            _ => None,
        }
    }

    /// Spoken or keyed, for digit fields.
    fn raw(&self) -> Option<&str> {
        match self {
            Answer::Said(t) | Answer::Keys(t) => Some(t),
            Answer::Nothing => None,
        }
    }

    fn yes_no(&self) -> Option<YesNo> {
        match self {
            Answer::Said(t) => u::yes_no(t),
            Answer::Keys(_) => self.key().and_then(YesNo::from_key),
            Answer::Nothing => None,
        }
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Menu => "the opening question",
        Step::EmergencyMenu => "the emergency question",
        Step::AppointmentMenu => "the appointment menu",
        Step::Problem => "the problem description",
        Step::ConfirmLocation(_) => "the service address",
        Step::AskName => "the name",
        Step::AskStreet | Step::ConfirmStreet => "the street address",
        Step::AskCityZip | Step::AskCity | Step::AskZip => "the city and ZIP",
        Step::ConfirmPhone | Step::AskPhone => "the callback number",
        Step::AskCallbackDetails => "what the call is about",
        Step::OfferWindows => "the appointment windows",
        Step::ConfirmBooking => "the booking confirmation",
        Step::ConfirmCancel => "the cancellation",
        Step::AskNote => "the note",
        Step::AskInvoice => "the invoice number",
        Step::MembershipOffer => "the membership offer",
        Step::SpanishMenu => "the Spanish menu",
        Step::SpanishProblem => "the problem, in Spanish",
        Step::SpanishConfirmPhone | Step::SpanishAskPhone => "the callback number, in Spanish",
        Step::Voicemail => "the message",
        Step::Bridging => "the call to the on-call technician",
        Step::Recording(_) | Step::Ended => "the end of the call",
    }
}

/// "62704" → "6 2 7 0 4": read digit by digit.
fn spoken_digits(digits: &str) -> String {
    digits
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "Angus McDonald" → "A N G U S, M C D O N A L D".
fn spell_out(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphabetic())
                .flat_map(char::to_uppercase)
                .map(String::from)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn first_name(name: &str) -> &str {
    name.split_whitespace().next().unwrap_or(name)
}

/// City words from "springfield six two seven oh four": everything that is not a number or a
/// lead-in word.
fn city_words(text: &str) -> String {
    const SKIP: &[&str] = &[
        "zip", "code", "is", "it's", "my", "the", "in", "and", "city", "of", "it", "its",
    ];
    let n = u::normalize(text);
    let words: Vec<&str> = n
        .tokens()
        .iter()
        .map(String::as_str)
        .filter(|w| {
            !SKIP.contains(w)
                && !u::numbers::is_number_word(w)
                && !w.chars().all(|c| c.is_ascii_digit())
        })
        .collect();
    u::names::title_case(&words.join(" "))
}

/// A note for the technician; a gate, door or lockbox code in it is written as digits first
/// ("Gate code: 4412."), the caller's words after it.
fn note_text(said: &str) -> String {
    let n = u::normalize(said);
    let digits = u::numbers::digits_in(said);
    let code = [
        "gate", "door", "lockbox", "lock box", "garage", "alarm", "code",
    ]
    .iter()
    .find(|w| n.has_phrase(w))
    .filter(|_| n.has("code") && digits.len() >= 3);
    let what = match code {
        None => return format!("From the caller: {said}"),
        Some(&"gate") => "Gate",
        Some(&"door") => "Door",
        Some(&"lockbox" | &"lock box") => "Lockbox",
        Some(&"garage") => "Garage",
        Some(&"alarm") => "Alarm",
        Some(_) => "Access",
    };
    format!("{what} code: {digits}. From the caller: {said}")
}

/// "62629 Chatham, IL" → ("62629", "Chatham", Some("IL")); `None` without a 5-digit ZIP and a
/// city.
pub fn parse_zip_city(entry: &str) -> Option<(String, String, Option<String>)> {
    let (zip, rest) = entry.trim().split_once(char::is_whitespace)?;
    if zip.len() != 5 || !zip.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (city, state) = match rest.rsplit_once(',') {
        Some((c, st)) if !st.trim().is_empty() => (c.trim(), Some(st.trim().to_uppercase())),
        _ => (rest.trim(), None),
    };
    (!city.is_empty()).then(|| (zip.to_string(), city.to_string(), state))
}

/// "CB-7K3Q" → "C B, 7 K 3 Q".
pub fn speak_confirmation(code: &str) -> String {
    code.split('-')
        .map(|part| part.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Handles `input`, then carries out every enqueue it causes on `sink` and feeds the result
/// back, until the engine waits for the caller again. Returns every action, enqueues included.
pub fn drive(
    dialog: &mut Dialog,
    sink: &mut dyn RecordSink,
    now: DateTime<Utc>,
    input: Input,
) -> Vec<Action> {
    let mut all = dialog.handle(now, input);
    let mut i = 0;
    while i < all.len() {
        if let Action::Enqueue(payload) = &all[i] {
            let result = sink.enqueue(payload);
            let more = dialog.handle(now, Input::Recorded(result));
            all.extend(more);
        }
        i += 1;
    }
    all
}

#[cfg(test)]
mod tests;
