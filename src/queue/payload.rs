//! What the dialog hands to the queue and the ServiceTitan sync takes out: one variant per kind
//! of work a call can leave behind. These types are the contract between the two sides, so
//! they are plain data, serialisable, and only ever grow (new fields get `#[serde(default)]`;
//! anything else is a schema change with a migration in `record.rs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::RecordId;

/// The person on the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerInfo {
    /// Name as the caller gave it ("Jane Doe"); may be empty when they would not say.
    pub name: String,
    /// Caller ID in E.164 (+13125550142), when the line delivered one.
    #[serde(default)]
    pub phone_e164: Option<String>,
    /// A different number the caller asked to be called back on, in E.164.
    #[serde(default)]
    pub callback_phone_e164: Option<String>,
}

impl CallerInfo {
    /// The number to reach the caller on: the callback number they gave, else caller ID.
    pub fn best_phone(&self) -> Option<&str> {
        self.callback_phone_e164
            .as_deref()
            .or(self.phone_e164.as_deref())
    }
}

/// A service address, in the shape ServiceTitan's customer/location `address` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    /// Apartment, suite, unit.
    #[serde(default)]
    pub unit: Option<String>,
    pub city: String,
    /// State or province code ("TX").
    pub state: String,
    pub zip: String,
    /// Country as ServiceTitan spells it ("USA").
    pub country: String,
}

/// How soon the shop has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// No heat in winter, no cooling in a heat wave, gas smell, water on the floor.
    Emergency,
    /// Can wait for a normal appointment.
    Routine,
}

/// The appointment the caller agreed to, in UTC (ServiceTitan takes every time in UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentWindow {
    /// Start of the appointment (the capacity frame's `startUtc`).
    pub start_utc: DateTime<Utc>,
    /// End of the appointment.
    pub end_utc: DateTime<Utc>,
    /// Arrival window promised to the caller, when it differs from start..end.
    #[serde(default)]
    pub arrival_window_start_utc: Option<DateTime<Utc>>,
    #[serde(default)]
    pub arrival_window_end_utc: Option<DateTime<Utc>>,
}

/// A job booked on the call: becomes customer/location (when new) + job + appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    /// The call that produced it (`<data_dir>/calls/<call_key>.json`).
    pub call_key: String,
    pub caller: CallerInfo,
    /// ServiceTitan customer matched during the call (by phone); `None` = create one.
    #[serde(default)]
    pub known_customer_id: Option<i64>,
    /// ServiceTitan location confirmed with the caller; `None` = create one.
    #[serde(default)]
    pub known_location_id: Option<i64>,
    pub service_address: Address,
    /// One or two sentences for the job summary ("No heat, furnace clicks but won't light").
    pub problem_summary: String,
    /// What was said, for the job note.
    pub transcript: String,
    pub urgency: Urgency,
    /// The dialog's classification ("no_heat", "no_cooling", "maintenance"), mapped to a job
    /// type by the sync when `job_type_id` is not set.
    #[serde(default)]
    pub job_type_hint: Option<String>,
    /// Resolved ServiceTitan ids, when the dialog had them from the cache at booking time.
    #[serde(default)]
    pub business_unit_id: Option<i64>,
    #[serde(default)]
    pub job_type_id: Option<i64>,
    #[serde(default)]
    pub campaign_id: Option<i64>,
    /// The shop number the caller dialled (DNIS), which picks the marketing campaign.
    #[serde(default)]
    pub dialled_number: Option<String>,
    pub appointment: AppointmentWindow,
    /// Put the on-call technician on the appointment (emergencies after hours).
    #[serde(default)]
    pub assign_on_call_technician: bool,
    /// Booked while ServiceTitan was unreachable (slot chosen from cached capacity): the sync
    /// must check the slot is still free and fall back to a booking for a CSR if not.
    #[serde(default)]
    pub booked_offline: bool,
    /// What the caller was told to quote ("CB-7K3Q"); also shown on the job.
    pub confirmation_number: String,
}

/// A note for a job: one already in ServiceTitan, or one this box queued and has not synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNote {
    pub call_key: String,
    /// ServiceTitan job id, when known.
    #[serde(default)]
    pub job_id: Option<i64>,
    /// Job number the caller quoted, when the id is not known.
    #[serde(default)]
    pub job_number: Option<String>,
    /// A job this box queued earlier and may not have synced yet: the note waits for it.
    #[serde(default)]
    pub queue_ref: Option<RecordId>,
    pub text: String,
}

/// Someone who wants work the box could not book (estimate, replacement quote, out of area).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadRequest {
    pub call_key: String,
    pub caller: CallerInfo,
    #[serde(default)]
    pub address: Option<Address>,
    /// What they want, for the lead summary.
    pub summary: String,
    /// Why it became a lead rather than a job ("wants a quote for a new system").
    pub reason: String,
}

/// "Have someone call me back."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRequest {
    pub call_key: String,
    pub caller: CallerInfo,
    pub reason: String,
    /// When they would like the call, in their words ("after 5 pm", "tomorrow morning").
    #[serde(default)]
    pub preferred_time: Option<String>,
}

/// A message left for the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailMessage {
    pub call_key: String,
    pub caller: CallerInfo,
    /// Recording, relative to the data directory (`recordings/<call_key>.wav`).
    #[serde(default)]
    pub recording_path: Option<String>,
    #[serde(default)]
    pub duration_secs: Option<u32>,
    /// Speech-to-text of the message; empty when none was made.
    #[serde(default)]
    pub transcript: String,
}

/// "Can you send me a copy of my invoice?"
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceCopyRequest {
    pub call_key: String,
    pub caller: CallerInfo,
    #[serde(default)]
    pub known_customer_id: Option<i64>,
    #[serde(default)]
    pub invoice_number: Option<String>,
    #[serde(default)]
    pub job_number: Option<String>,
    /// Where to send it, when the caller gave an address.
    #[serde(default)]
    pub send_to_email: Option<String>,
}

/// A caller asking about a maintenance plan / membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipInterest {
    pub call_key: String,
    pub caller: CallerInfo,
    #[serde(default)]
    pub known_customer_id: Option<i64>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub notes: String,
}

/// Move an existing appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescheduleRequest {
    pub call_key: String,
    pub caller: CallerInfo,
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(default)]
    pub job_number: Option<String>,
    #[serde(default)]
    pub appointment_id: Option<i64>,
    /// A job this box queued earlier (the caller rebooks before it synced).
    #[serde(default)]
    pub queue_ref: Option<RecordId>,
    pub new_window: AppointmentWindow,
    #[serde(default)]
    pub reason: String,
}

/// Cancel an existing job (ServiceTitan jobs are never deleted, only cancelled with a reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationRequest {
    pub call_key: String,
    pub caller: CallerInfo,
    #[serde(default)]
    pub job_id: Option<i64>,
    #[serde(default)]
    pub job_number: Option<String>,
    #[serde(default)]
    pub queue_ref: Option<RecordId>,
    /// In the caller's words; becomes the cancellation memo.
    pub reason: String,
    /// ServiceTitan cancel reason, when the dialog mapped one.
    #[serde(default)]
    pub cancel_reason_id: Option<i64>,
}

/// What the caller reported that made the box read the safety script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    Gas,
    CarbonMonoxide,
    Smoke,
    Burning,
    Sparking,
    /// Chosen from the keypad's emergency menu ("press 1 for gas, smoke or a CO alarm"): the
    /// caller did not say which.
    Unspecified,
}

impl Hazard {
    /// As the technician reads it ("gas smell").
    pub fn label(self) -> &'static str {
        match self {
            Hazard::Gas => "gas smell",
            Hazard::CarbonMonoxide => "carbon monoxide alarm",
            Hazard::Smoke => "smoke",
            Hazard::Burning => "burning smell",
            Hazard::Sparking => "sparking",
            Hazard::Unspecified => "gas, smoke or CO (keyed)",
        }
    }
}

/// A caller reported a safety hazard: the on-call technician must hear of it within a minute
/// (the alert dispatcher sends it; see `crate::alert`), and the office in the morning (the sync
/// carries it to ServiceTitan as a booking or lead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallAlert {
    pub call_key: String,
    pub caller: CallerInfo,
    pub hazard: Hazard,
    /// Where, when the box knew it without asking (a known customer's only or confirmed
    /// location). The safety script sends the caller out of the building, so the box does not
    /// keep them on the line to ask.
    #[serde(default)]
    pub address: Option<Address>,
    /// ServiceTitan customer matched by caller ID.
    #[serde(default)]
    pub known_customer_id: Option<i64>,
    /// The caller's words that triggered the script; empty when keyed.
    #[serde(default)]
    pub caller_said: String,
    /// When the caller reported it (the call's clock).
    pub raised_at_utc: DateTime<Utc>,
}

impl OnCallAlert {
    /// "123 Maple St, Apt 2, Springfield IL 62704", or `None`.
    pub fn address_line(&self) -> Option<String> {
        self.address.as_ref().map(Address::one_line)
    }
}

impl Address {
    /// The address on one line, as a technician reads it.
    pub fn one_line(&self) -> String {
        let mut parts = vec![self.street.trim().to_string()];
        if let Some(unit) = self.unit.as_deref().filter(|u| !u.trim().is_empty()) {
            parts.push(unit.trim().to_string());
        }
        let place = format!(
            "{} {} {}",
            self.city.trim(),
            self.state.trim(),
            self.zip.trim()
        );
        parts.push(place.split_whitespace().collect::<Vec<_>>().join(" "));
        parts.retain(|p| !p.is_empty());
        parts.join(", ")
    }
}

/// One piece of work for ServiceTitan. Stored tagged by `kind`, so a record reads as
/// `{"kind": "job", "call_key": ..., ...}`.
// A handful of payloads exist per call; matching on `Payload::Job(job)` without a Box is worth
// more than the few hundred bytes a smaller variant wastes.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    Job(JobRequest),
    Note(JobNote),
    Lead(LeadRequest),
    Callback(CallbackRequest),
    Voicemail(VoicemailMessage),
    InvoiceCopy(InvoiceCopyRequest),
    MembershipInterest(MembershipInterest),
    Reschedule(RescheduleRequest),
    Cancellation(CancellationRequest),
    OnCallAlert(OnCallAlert),
}

/// The kind of a [`Payload`], without its data: for filters, counts and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Job,
    Note,
    Lead,
    Callback,
    Voicemail,
    InvoiceCopy,
    MembershipInterest,
    Reschedule,
    Cancellation,
    OnCallAlert,
}

impl RecordKind {
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Job,
        RecordKind::Note,
        RecordKind::Lead,
        RecordKind::Callback,
        RecordKind::Voicemail,
        RecordKind::InvoiceCopy,
        RecordKind::MembershipInterest,
        RecordKind::Reschedule,
        RecordKind::Cancellation,
        RecordKind::OnCallAlert,
    ];

    /// The name used in storage, the CLI and the status page ("invoice_copy").
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Job => "job",
            RecordKind::Note => "note",
            RecordKind::Lead => "lead",
            RecordKind::Callback => "callback",
            RecordKind::Voicemail => "voicemail",
            RecordKind::InvoiceCopy => "invoice_copy",
            RecordKind::MembershipInterest => "membership_interest",
            RecordKind::Reschedule => "reschedule",
            RecordKind::Cancellation => "cancellation",
            RecordKind::OnCallAlert => "on_call_alert",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RecordKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        RecordKind::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown kind `{s}` (one of: {})",
                    RecordKind::ALL.map(RecordKind::name).join(", ")
                )
            })
    }
}

impl Payload {
    pub fn kind(&self) -> RecordKind {
        match self {
            Payload::Job(_) => RecordKind::Job,
            Payload::Note(_) => RecordKind::Note,
            Payload::Lead(_) => RecordKind::Lead,
            Payload::Callback(_) => RecordKind::Callback,
            Payload::Voicemail(_) => RecordKind::Voicemail,
            Payload::InvoiceCopy(_) => RecordKind::InvoiceCopy,
            Payload::MembershipInterest(_) => RecordKind::MembershipInterest,
            Payload::Reschedule(_) => RecordKind::Reschedule,
            Payload::Cancellation(_) => RecordKind::Cancellation,
            Payload::OnCallAlert(_) => RecordKind::OnCallAlert,
        }
    }

    /// The call this work came from.
    pub fn call_key(&self) -> &str {
        match self {
            Payload::Job(p) => &p.call_key,
            Payload::Note(p) => &p.call_key,
            Payload::Lead(p) => &p.call_key,
            Payload::Callback(p) => &p.call_key,
            Payload::Voicemail(p) => &p.call_key,
            Payload::InvoiceCopy(p) => &p.call_key,
            Payload::MembershipInterest(p) => &p.call_key,
            Payload::Reschedule(p) => &p.call_key,
            Payload::Cancellation(p) => &p.call_key,
            Payload::OnCallAlert(p) => &p.call_key,
        }
    }

    /// The caller, for every kind that has one (notes do not).
    pub fn caller(&self) -> Option<&CallerInfo> {
        match self {
            Payload::Job(p) => Some(&p.caller),
            Payload::Note(_) => None,
            Payload::Lead(p) => Some(&p.caller),
            Payload::Callback(p) => Some(&p.caller),
            Payload::Voicemail(p) => Some(&p.caller),
            Payload::InvoiceCopy(p) => Some(&p.caller),
            Payload::MembershipInterest(p) => Some(&p.caller),
            Payload::Reschedule(p) => Some(&p.caller),
            Payload::Cancellation(p) => Some(&p.caller),
            Payload::OnCallAlert(p) => Some(&p.caller),
        }
    }

    /// One line for `callbox queue list` and logs.
    pub fn headline(&self) -> String {
        let who = self
            .caller()
            .map(|c| match (c.name.trim(), c.best_phone()) {
                ("", Some(p)) => p.to_string(),
                ("", None) => "unknown caller".to_string(),
                (n, _) => n.to_string(),
            })
            .unwrap_or_default();
        let what = match self {
            Payload::Job(p) => format!(
                "{} {} ({})",
                match p.urgency {
                    Urgency::Emergency => "EMERGENCY",
                    Urgency::Routine => "routine",
                },
                p.problem_summary,
                p.confirmation_number
            ),
            Payload::Note(p) => p.text.clone(),
            Payload::Lead(p) => p.summary.clone(),
            Payload::Callback(p) => p.reason.clone(),
            Payload::Voicemail(p) => p.transcript.clone(),
            Payload::InvoiceCopy(p) => p
                .invoice_number
                .clone()
                .or_else(|| p.job_number.clone())
                .unwrap_or_default(),
            Payload::MembershipInterest(p) => p.notes.clone(),
            Payload::Reschedule(p) => p.reason.clone(),
            Payload::Cancellation(p) => p.reason.clone(),
            Payload::OnCallAlert(p) => {
                let mut text = format!("SAFETY ALERT: {}", p.hazard.label());
                if let Some(at) = p.address_line() {
                    text.push_str(&format!(" at {at}"));
                }
                if !p.caller_said.trim().is_empty() {
                    text.push_str(&format!(" (caller said: \"{}\")", p.caller_said.trim()));
                }
                text.push_str(
                    "; told to leave the building and call 911 / the gas utility from outside",
                );
                text
            }
        };
        let line = if who.is_empty() {
            what
        } else {
            format!("{who}: {what}")
        };
        line.replace(['\n', '\r', '\t'], " ")
    }
}
