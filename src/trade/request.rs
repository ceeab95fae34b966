//! The work a call can ask for: a job, a note on a job, a lead, a callback, a voicemail, an
//! invoice copy, membership interest, a reschedule or a cancellation.

use serde::{Deserialize, Serialize};

use super::{Address, AppointmentWindow, CallerInfo, RecordId, Urgency};

/// Every `job_type_hint` the dialog gives a job (`dialog::engine`'s `job()`): the keys
/// `servicetitan.job_types` maps to the shop's job types. A job with none of them, or with one
/// the table leaves out, takes `servicetitan.default_job_type_id`.
pub const JOB_TYPE_HINTS: &[&str] = &[
    "no_heat",
    "no_cooling",
    "leak",
    "maintenance",
    "noise",
    "thermostat",
];

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
    /// The dialog's classification (one of [`JOB_TYPE_HINTS`], or none), mapped to a job type
    /// by the sync when `job_type_id` is not set.
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
