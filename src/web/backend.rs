//! What the page shows and changes, as the app (the composition root) supplies it.
//!
//! The web layer owns these view types; the app fills them from the status handle, the call
//! records, the queue, the alerts and the configuration (`src/app/console.rs`). Methods are
//! synchronous and may touch the disk: handlers call them on the blocking pool. The few that
//! wait on the network or another process return a future.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::error::SettingsErrors;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the backend could not do what the page asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// 404: no such call, record or recording.
    #[error("{0}")]
    NotFound(String),
    /// 409: not in a state that allows it (e.g. retry of a record that is syncing).
    #[error("{0}")]
    Refused(String),
    /// 503: the store or service behind it is not available right now (e.g. the queue did
    /// not open, the voice is missing).
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged by the backend; the message is safe to show (no secrets).
    #[error("{0}")]
    Internal(String),
}

/// Everything the dashboard shows. Times are already in the shop's zone, as text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DashboardView {
    pub shop_name: String,
    pub version: String,
    pub uptime_secs: u64,
    /// The line: the ATA's last SIP contact (any request or answer from an allowed peer).
    pub ata_last_contact: Option<String>,
    pub ata_address: Option<String>,
    pub calls_in_progress: u32,
    pub line_capacity: u32,
    /// "reachable", "unreachable" or "unknown", with the reason when not reachable.
    pub internet: Reachability,
    pub servicetitan: Reachability,
    /// Queue records by state name ("pending", "syncing", "synced", "needs_attention", …).
    pub queue: BTreeMap<String, u64>,
    /// The queue could not be opened: why (the box answers but cannot book).
    pub queue_problem: Option<String>,
    pub last_sync: Option<String>,
    pub alerts_pending: u64,
    /// "loaded (<model path>)" or "keypad only: <reason>".
    pub speech: String,
    pub speech_loaded: bool,
    pub disk: DiskView,
    pub services: Vec<ServiceView>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reachability {
    /// "reachable", "unreachable" or "unknown".
    pub state: String,
    /// When it was last seen either way, shop time.
    pub checked: Option<String>,
    /// Why not, when unreachable.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiskView {
    /// Recordings and call records, MiB.
    pub used_mb: u64,
    /// `storage.recordings_budget_mb`.
    pub budget_mb: u64,
    /// Free on the data partition, MiB.
    pub free_mb: u64,
}

/// One supervised service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceView {
    pub name: String,
    /// "running", "restarting", "stopped", "failed", "disabled".
    pub state: String,
    pub restarts: u32,
    pub last_error: Option<String>,
}

/// Calls in one shop-local day, by outcome ("job", "lead", "callback", "voicemail", "none" …).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DayCalls {
    /// `YYYY-MM-DD`, shop time.
    pub date: String,
    pub by_outcome: BTreeMap<String, u32>,
}

/// Which calls the list shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallQuery {
    /// `YYYY-MM-DD`, shop time.
    pub day: Option<String>,
    pub outcome: Option<String>,
    /// Digits match the caller's number; other text the caller's name (case-insensitive).
    pub search: Option<String>,
    pub offset: usize,
    /// At most this many (the backend caps it).
    pub limit: usize,
}

/// One page of calls, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    /// How many calls match the query in all.
    pub total: usize,
    /// The outcomes any stored call has, for the filter.
    pub outcomes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallSummary {
    pub key: String,
    /// RFC 3339, UTC.
    pub answered_at: String,
    /// Shop time, e.g. `2026-12-04 21:14`.
    pub answered_local: String,
    /// E.164 as presented, or "anonymous"/"unavailable".
    pub caller_number: String,
    pub caller_name: Option<String>,
    pub duration_secs: u64,
    pub outcome: String,
    /// "emergency", "urgent", "routine" … or empty when the dialog did not triage.
    pub urgency: String,
    pub confirmation_number: Option<String>,
    pub has_recording: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallDetail {
    pub summary: CallSummary,
    pub end_reason: String,
    /// Both sides, in order.
    pub transcript: Vec<TranscriptTurn>,
    /// Keys pressed, e.g. `1 (rfc4733) at 0:12`.
    pub digits: Vec<String>,
    /// The queue records the call produced.
    pub records: Vec<QueueRow>,
    /// Why the recording stopped early or is missing, when it did.
    pub recording_note: Option<String>,
    /// How the on-call page the call raised ended, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged: Option<PagedView>,
    /// How the caller could answer, the call record's dialog mode: "speech", "keypad_only" (no
    /// usable speech model) or "keypad_only_memory" (the memory held speech for no more calls
    /// at once); `None` for a call the dialog did not take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Who took a call's on-call page and when, or that nobody did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PagedView {
    /// "acknowledged" or "exhausted".
    pub outcome: String,
    pub by: Option<String>,
    /// "phone" or "web".
    pub channel: Option<String>,
    /// Shop time.
    pub at_local: Option<String>,
    /// Page calls placed.
    pub calls: usize,
    /// The alert's queue record.
    pub alert: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TranscriptTurn {
    /// Since the answer, `m:ss`.
    pub at: String,
    /// "box" or "caller".
    pub speaker: String,
    pub text: String,
}

/// Which queue records the queue page shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueQuery {
    pub state: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueRow {
    pub id: String,
    /// "job", "lead", "callback", "on_call_alert", …
    pub kind: String,
    pub state: String,
    /// Shop time.
    pub created_local: String,
    /// Who it is about, as the office would say it (name and masked number).
    pub about: String,
    pub call_key: Option<String>,
    /// ServiceTitan ids it has so far: ("customer", "123"), ("job", "456"), …
    pub servicetitan_ids: Vec<(String, String)>,
    /// Why it needs a person, when it does.
    pub attention: Option<String>,
    pub attempts: u32,
    /// The page offers "retry" (needs attention or deferred).
    pub retryable: bool,
}

/// Who is on call and what the alerts did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OnCallView {
    pub now: Option<OnCallPerson>,
    pub next: Option<OnCallPerson>,
    /// Where the names come from: "ServiceTitan on-call shifts (cached 21:02)" or "config".
    pub source: String,
    pub alerts: Vec<AlertRow>,
    /// E.g. "no alert channel configured".
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OnCallPerson {
    pub name: String,
    pub phone: Option<String>,
    /// Shop time, e.g. "until 07:00 Sat".
    pub when: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub created_local: String,
    /// What it is about: the hazard or reason, the caller (masked), the address.
    pub summary: String,
    /// "pending", "delivered", "failed: …".
    pub delivery: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    /// The caller's call key when they left a voicemail (issue 15): the page links the
    /// call's detail, where the recording plays.
    #[serde(default)]
    pub voicemail_call: Option<String>,
}

/// Every config section as the settings page shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SettingsView {
    pub sections: Vec<SettingsSection>,
    /// Saved changes that take effect only after a restart.
    pub restart_pending: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SettingsSection {
    pub name: String,
    pub fields: Vec<SettingField>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SettingField {
    /// `<section>.<key>`, e.g. `shop.name`.
    pub key: String,
    /// How the field is edited.
    pub kind: FieldKind,
    /// The value in effect; `null` for a secret (never sent).
    pub value: serde_json::Value,
    /// For a secret: whether one is set.
    pub secret_set: bool,
    /// What the example config says of the key.
    pub help: String,
    /// Changing it needs a restart (the page says so).
    pub needs_restart: bool,
    /// Where the value comes from: "default", "file", "page" or "environment" (the page cannot
    /// change an environment override).
    pub source: String,
    /// What the check says of the value in effect, when anything.
    pub issue: Option<String>,
    /// Spoken by the box: the page offers "hear it".
    pub is_prompt: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    #[default]
    Text,
    Number,
    Bool,
    /// A list, edited one item per line.
    List,
    /// Write-only.
    Secret,
}

/// What a saved change did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Applied {
    /// Keys in effect from the next call on.
    pub applied: Vec<String>,
    /// Keys saved that take effect after a restart.
    pub restart_needed: Vec<String>,
}

/// ServiceTitan "test connection": each step passes or fails with the reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionReport {
    pub steps: Vec<ConnectionStep>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionStep {
    /// "token", "customer lookup", "capacity".
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// A restart asked for from the page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestartPlan {
    /// Calls still in progress; the restart waits for them.
    pub calls_in_progress: u32,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpdatesView {
    pub version: String,
    pub channel: Option<String>,
    pub last_check: Option<String>,
    pub last_result: Option<String>,
    /// The updater is wired; when false, `missing` says what is.
    pub available: bool,
    pub missing: Option<String>,
}

/// One line of the log, numbered so the page asks only for newer ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    pub seq: u64,
    pub text: String,
}

/// What the page shows and changes.
pub trait WebBackend: Send + Sync + 'static {
    /// The status `callbox status` prints, as JSON (`GET /api/status`). Quick: status handles.
    fn status(&self) -> serde_json::Value;
    /// The dashboard's facts. Quick: status handles and in-memory counts.
    fn dashboard(&self) -> DashboardView;
    /// Calls per shop-local day for the last `days` days, oldest first, today last.
    fn calls_per_day(&self, days: u32) -> Vec<DayCalls>;
    fn calls(&self, query: &CallQuery) -> CallPage;
    fn call(&self, key: &str) -> Result<CallDetail, BackendError>;
    /// The call's recording (a WAV file under the data directory).
    fn recording(&self, key: &str) -> Result<PathBuf, BackendError>;
    fn queue(&self, query: &QueueQuery) -> Result<Vec<QueueRow>, BackendError>;
    /// Puts a record that needs attention back in line (as `callbox queue retry`).
    fn retry(&self, id: &str) -> Result<QueueRow, BackendError>;
    /// Every record as JSON lines (as `callbox queue export`), secrets excluded.
    fn export_queue(&self) -> Result<Vec<u8>, BackendError>;
    fn on_call(&self) -> OnCallView;
    /// An office person takes alert `id` by hand (`by`: who, as they typed it): noted in the
    /// alert and the caller's call record, and the paging ladder stops. Refused when someone
    /// already took it.
    fn acknowledge_alert(&self, id: &str, by: &str) -> Result<AlertRow, BackendError>;
    fn settings(&self) -> SettingsView;
    /// Validates the changed keys (`<section>.<key>` → value; a secret's empty string leaves
    /// it unchanged) against the whole configuration, keeps them across restarts, and applies
    /// what can be applied without dropping a call. Nothing is saved when any key is wrong.
    fn apply_settings(
        &self,
        changes: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Applied, SettingsErrors>;
    /// Token, customer lookup and capacity against ServiceTitan with the saved credentials.
    fn test_connection(&self) -> BoxFuture<'_, ConnectionReport>;
    /// `text` in the box's own voice, as a WAV file.
    fn hear(&self, text: String) -> BoxFuture<'_, Result<Vec<u8>, BackendError>>;
    /// Restarts the box once the line is idle (systemd starts it again).
    fn restart(&self) -> Result<RestartPlan, BackendError>;
    fn updates(&self) -> UpdatesView;
    fn check_updates(&self) -> BoxFuture<'_, UpdatesView>;
    /// Log lines after `after` (0: the newest `limit`), oldest first; already redacted.
    fn log_tail(&self, after: u64, limit: usize) -> Vec<LogLine>;
    /// A `.tar.gz` of logs, config, status and versions with every secret removed.
    fn support_bundle(&self) -> Result<Vec<u8>, BackendError>;
}
