//! The offline-first outbox: every job, note, lead and request a call produces waits here until
//! the ServiceTitan sync has delivered it, across power cuts, killed processes and days offline.
//!
//! Storage is sled 0.34.7 (`<data_dir>/queue/db`), guarded against its known weak spots:
//!
//! - **Damage after unclean stops** (sled #1533, #1509, #1166 on Raspbian): every value is an
//!   envelope with a CRC-32 of its body, checked for every record at start-up; a bad record is
//!   moved to the `quarantine` tree and the rest go on. Every change is also appended to an
//!   fsynced JSON-lines mirror (`<data_dir>/queue/mirror/outbox.jsonl`). If sled will not open,
//!   its directory is moved aside to `db.corrupt-<time>` and the queue is rebuilt from the
//!   mirror; if it opens but lost or rolled back records, the start-up check restores them
//!   from the mirror (the higher `revision` wins).
//! - **Space not reclaimed under insert/delete** (sled #1124, #1333): `Mode::LowSpace`, a small
//!   cache, synced records compacted after the retention, the mirror rotated and pruned; the
//!   growth test runs 100,000 enqueue/sync/compact cycles and checks the directory plateaus.
//!
//! [`Outbox::enqueue`] returns only once the record is flushed in sled *and* fsynced in the
//! mirror: the dialog tells the caller "booked" after that and not before.
//!
//! The sync worker drives a record through [`Outbox::next_due`] → [`Outbox::begin_sync`] →
//! [`Outbox::checkpoint`]… → [`Outbox::mark_synced`] (or [`Outbox::schedule_retry`] /
//! [`Outbox::mark_needs_attention`]), and sleeps on [`Outbox::subscribe`] and
//! [`Outbox::next_wakeup`] when nothing is due.

pub mod cli;
mod mirror;
mod outbox;
mod record;
pub mod settings;

#[cfg(test)]
mod tests;

pub use outbox::{
    CompactReport, ImportReport, ListFilter, OpenReport, Outbox, QuarantinedRecord, QueueCounts,
    QueueStatus,
};
pub use record::{
    AlertDelivery, CreateStep, PageAcknowledgement, PageAttempt, PageContact, PageProgress, Record,
    RecordState, StateName, SyncProgress, SCHEMA_VERSION,
};
// The trade types the queue stores live in `crate::trade`; re-exported so queue users keep
// one import path.
pub use crate::trade::{
    Address, AppointmentWindow, CallbackRequest, CallerInfo, CancellationRequest, Hazard,
    InvalidRecordId, InvoiceCopyRequest, JobNote, JobRequest, LeadRequest, MembershipInterest,
    OnCallAlert, Payload, RecordId, RecordKind, RescheduleRequest, Urgency, VoicemailMessage,
};

use std::time::Duration;

/// How the queue behaves; built from the `[queue]` configuration section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Synced records are kept this long (for the status page and `queue list`), then compacted.
    pub retention: Duration,
    /// A record that failed this many sync attempts goes to needs-attention instead of retrying.
    pub max_attempts_before_attention: u32,
    /// The mirror file is rotated when it grows past this many bytes (and at midnight UTC).
    pub mirror_max_bytes: u64,
    /// Rotated mirror files kept (the newest ones); older ones are deleted.
    pub mirror_keep_files: usize,
    /// sled's page cache. Small: the queue holds hundreds of records, and a Pi has little RAM.
    pub cache_capacity_bytes: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            retention: Duration::from_secs(30 * 24 * 3600),
            max_attempts_before_attention: 20,
            mirror_max_bytes: 4 * 1024 * 1024,
            mirror_keep_files: 8,
            cache_capacity_bytes: 8 * 1024 * 1024,
        }
    }
}

impl QueueOptions {
    /// From `[queue]`.
    pub fn from_settings(config: &settings::QueueConfig) -> QueueOptions {
        QueueOptions {
            retention: Duration::from_secs(u64::from(config.retention_days) * 24 * 3600),
            max_attempts_before_attention: config.max_attempts_before_attention,
            mirror_max_bytes: config.mirror_max_bytes,
            mirror_keep_files: config.mirror_keep_files,
            ..QueueOptions::default()
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The SD card (or the queue's partition) is full. Nothing was acknowledged.
    #[error("disk full while {context}: {source}")]
    DiskFull {
        context: String,
        source: std::io::Error,
    },
    /// The database or a record failed its integrity check.
    #[error("queue storage is corrupt: {0}")]
    Corrupt(String),
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A record could not be serialised, or an imported line parsed.
    #[error("cannot encode or decode a record: {0}")]
    Encode(String),
    #[error("no record {0} in the queue")]
    NotFound(RecordId),
    /// The record is not in a state that allows the operation (e.g. retry of a synced record).
    #[error("record {id} is {state}; cannot {action}")]
    InvalidTransition {
        id: RecordId,
        state: StateName,
        action: &'static str,
    },
    /// Another process (a running `callbox run`) holds the queue.
    #[error("the queue at {path} is in use by another process (is callbox running?)")]
    Locked { path: String },
    /// sled refused in a way that is neither I/O nor corruption.
    #[error("queue storage error: {0}")]
    Storage(String),
}

impl QueueError {
    /// Classifies an I/O error: a full disk is its own error, because the dialog must tell the
    /// caller something different and the status page must say so.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> QueueError {
        let context = context.into();
        if is_disk_full(&source) {
            QueueError::DiskFull { context, source }
        } else {
            QueueError::Io { context, source }
        }
    }

    pub(crate) fn sled(context: &str, err: sled::Error) -> QueueError {
        match err {
            sled::Error::Io(e) => QueueError::io(context, e),
            sled::Error::Corruption { at, .. } => {
                QueueError::Corrupt(format!("{context}: sled reports corruption at {at:?}"))
            }
            sled::Error::ReportableBug(msg) => {
                QueueError::Corrupt(format!("{context}: sled internal error: {msg}"))
            }
            other => QueueError::Storage(format!("{context}: {other}")),
        }
    }

    pub fn is_disk_full(&self) -> bool {
        matches!(self, QueueError::DiskFull { .. })
    }
}

/// ENOSPC / EDQUOT, however it arrives: sled re-creates io::Errors from their kind and Debug
/// text when it clones them, which loses the OS code but keeps the kind and the message.
fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    if matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) {
        return true;
    }
    if matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT)) {
        return true;
    }
    let text = format!("{e:?}");
    text.contains("No space left") || text.contains("StorageFull")
}
