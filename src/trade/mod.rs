//! The trade's shared words: the caller, the service address, how urgent it is, the appointment
//! window, the safety hazard, and the work a call leaves behind (job, note, lead, callback,
//! voicemail, …) with its booking reference. The dialog produces these, the queue stores them,
//! the ServiceTitan sync and the on-call alerts consume them; none of those owns them.
//!
//! [`phone`] is the one set of phone-number rules (E.164, comparison, the ServiceTitan key,
//! masking for logs, spoken digit groups).
//!
//! Imports nothing of the crate but `infra`.

pub mod appointment;
pub mod caller;
pub mod hazard;
pub mod payload;
pub mod phone;
pub mod record_id;
pub mod redact;
pub mod request;

pub use appointment::{AppointmentWindow, Urgency};
pub use caller::{Address, CallerInfo};
pub use hazard::{Hazard, OnCallAlert};
pub use payload::{Payload, RecordKind};
pub use record_id::{InvalidRecordId, RecordId};
pub use request::{
    CallbackRequest, CancellationRequest, InvoiceCopyRequest, JobNote, JobRequest, LeadRequest,
    MembershipInterest, RescheduleRequest, VoicemailMessage,
};
