//! What the dialog hands to the queue and the ServiceTitan sync takes out: one variant per kind
//! of work a call can leave behind. These types are the contract between the two sides, so
//! they are plain data, serialisable, and only ever grow (new fields get `#[serde(default)]`;
//! anything else is a schema change with a migration in the queue's `record.rs`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::{
    CallbackRequest, CallerInfo, CancellationRequest, InvoiceCopyRequest, JobNote, JobRequest,
    LeadRequest, MembershipInterest, OnCallAlert, RescheduleRequest, Urgency, VoicemailMessage,
};

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
            // The office's booking or lead says when to call, as the caller asked.
            Payload::Callback(p) => match p.preferred_time.as_deref().map(str::trim) {
                Some(when) if !when.is_empty() => format!("{} (call {when})", p.reason),
                _ => p.reason.clone(),
            },
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
                let what = if p.hazard.is_safety() {
                    "SAFETY ALERT"
                } else {
                    "EMERGENCY (on-call technician paged)"
                };
                let mut text = format!("{what}: {}", p.hazard.label());
                if let Some(at) = p.address_line() {
                    text.push_str(&format!(" at {at}"));
                }
                if !p.caller_said.trim().is_empty() {
                    text.push_str(&format!(" (caller said: \"{}\")", p.caller_said.trim()));
                }
                if p.hazard.is_safety() {
                    text.push_str(
                        "; told to leave the building and call 911 / the gas utility from outside",
                    );
                }
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
