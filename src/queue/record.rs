//! A queued record, its id, its state, and how it is stored: an envelope carrying the schema
//! version and a CRC-32 of the body, so a damaged value is detected on read instead of being
//! synced as garbage, and an old value is migrated instead of failing to parse.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::trade::record_id::RANDOM_MASK;
use crate::trade::{Hazard, Payload, RecordId, RecordKind};

/// Schema version written by this build. Bump it and add a step to [`migrate`] whenever a
/// stored field changes meaning or shape (new optional fields with `#[serde(default)]` don't).
pub const SCHEMA_VERSION: u32 = 4;

/// Makes ids that sort in the order they were made, even within one millisecond and even when
/// the clock steps back (a Pi has no RTC: before NTP it may boot with an older time).
#[derive(Debug, Default)]
pub(crate) struct IdGenerator {
    last_ms: u64,
    last_random: u128,
}

impl IdGenerator {
    /// Never hands out an id below `id` (the largest one already stored).
    pub(crate) fn observe(&mut self, id: &RecordId) {
        let (ms, random) = id.parts();
        if (ms, random) > (self.last_ms, self.last_random) {
            self.last_ms = ms;
            self.last_random = random;
        }
    }

    pub(crate) fn next(&mut self, now: DateTime<Utc>) -> RecordId {
        let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            // Leave headroom so increments within this millisecond cannot overflow.
            self.last_random = rand::random::<u128>() & (RANDOM_MASK >> 1);
        } else if self.last_random >= RANDOM_MASK {
            self.last_ms += 1;
            self.last_random = 0;
        } else {
            self.last_random += 1;
        }
        RecordId::from_parts(self.last_ms, self.last_random)
    }
}

/// Where a record is on its way to ServiceTitan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Waiting to be sent (first time, or again after a failure at `next_attempt_at`).
    Queued,
    /// Being sent; a record found in this state at start-up was interrupted and is resumed.
    Syncing,
    /// In ServiceTitan; the ids are in `progress`.
    Synced,
    /// Sending it cannot succeed without a person (bad data, rejected, too many failures).
    NeedsAttention { reason: String },
}

impl RecordState {
    pub fn name(&self) -> StateName {
        match self {
            RecordState::Queued => StateName::Queued,
            RecordState::Syncing => StateName::Syncing,
            RecordState::Synced => StateName::Synced,
            RecordState::NeedsAttention { .. } => StateName::NeedsAttention,
        }
    }
}

impl fmt::Display for RecordState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordState::NeedsAttention { reason } => write!(f, "needs-attention ({reason})"),
            other => f.write_str(other.name().label()),
        }
    }
}

/// A [`RecordState`] without its data: for filters and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    Queued,
    Syncing,
    Synced,
    NeedsAttention,
}

impl StateName {
    pub const ALL: [StateName; 4] = [
        StateName::Queued,
        StateName::Syncing,
        StateName::Synced,
        StateName::NeedsAttention,
    ];

    /// As printed and accepted by the CLI.
    pub fn label(self) -> &'static str {
        match self {
            StateName::Queued => "queued",
            StateName::Syncing => "syncing",
            StateName::Synced => "synced",
            StateName::NeedsAttention => "needs-attention",
        }
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for StateName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        StateName::ALL
            .into_iter()
            .find(|n| n.label() == wanted || (wanted == "attention" && *n == Self::NeedsAttention))
            .ok_or_else(|| {
                format!(
                    "unknown state `{s}` (one of: {})",
                    StateName::ALL.map(StateName::label).join(", ")
                )
            })
    }
}

/// How far the sync got. The sync writes a checkpoint after every step that created something
/// in ServiceTitan, so a retry after a crash or timeout resumes after the last step reached and
/// never creates the same customer, job or booking twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncProgress {
    /// Customer found or created.
    pub customer_id: Option<i64>,
    /// Location found or created.
    pub location_id: Option<i64>,
    pub job_id: Option<i64>,
    /// Job number as the shop sees it in ServiceTitan.
    pub job_number: Option<String>,
    /// The job's first appointment.
    pub appointment_id: Option<i64>,
    /// The call summary/transcript note was added to the job.
    pub note_added: bool,
    /// The on-call technician was assigned to the appointment.
    pub technician_assigned: bool,
    /// CSR booking created instead of (or before) a job.
    pub booking_id: Option<i64>,
    pub lead_id: Option<i64>,
    /// What the record finally became in ServiceTitan: "job", "booking", "lead", "note",
    /// "reschedule", "cancellation".
    pub created_as: Option<String>,
    /// The appointment was moved to the caller's new window (reschedule records).
    pub rescheduled: bool,
    /// The job was canceled (cancellation records).
    pub canceled: bool,
    /// Creates that were sent and whose answer was never checkpointed: each may or may not
    /// exist in ServiceTitan, so the next attempt looks it up before creating it. Set (and
    /// made durable) before a create is sent, cleared by the checkpoint that records its id.
    /// `callbox queue retry` keeps it: a suspect step stays suspect.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub in_doubt: BTreeSet<CreateStep>,
}

/// A create the sync sends to ServiceTitan, as named in [`SyncProgress::in_doubt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateStep {
    Customer,
    Location,
    Job,
    Note,
    Technician,
    Booking,
    Lead,
    Reschedule,
    Cancel,
}

impl CreateStep {
    pub const ALL: [CreateStep; 9] = [
        CreateStep::Customer,
        CreateStep::Location,
        CreateStep::Job,
        CreateStep::Note,
        CreateStep::Technician,
        CreateStep::Booking,
        CreateStep::Lead,
        CreateStep::Reschedule,
        CreateStep::Cancel,
    ];
}

impl SyncProgress {
    /// Whether `step` may already exist in ServiceTitan (sent, answer never recorded).
    pub fn doubts(&self, step: CreateStep) -> bool {
        self.in_doubt.contains(&step)
    }
}

/// How far an on-call alert got to the technician's phone. A lane of its own beside `state`:
/// the alert dispatcher moves this, the ServiceTitan sync moves `state` and `progress`, and
/// every change is a read-modify-write of the stored record under the queue's lock, so neither
/// undoes the other's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertDelivery {
    /// Waiting to be sent (set at enqueue for on-call alerts, cleared once delivered).
    pub pending: bool,
    /// Delivery attempts started.
    pub attempts: u32,
    /// Not before this time (back-off after a failure).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Channels that accepted it: a retry sends only to the others.
    pub delivered_to: Vec<String>,
    /// When the last channel accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The paging ladder's progress (`crate::alert::ladder`), when one runs for this alert:
    /// written before and after every page call, so a restart resumes where it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageProgress>,
}

/// How far the paging ladder got: whom it pages (fixed when it starts), where it is, every
/// call it made, and who acknowledged. Plain data; the ladder's rules are in
/// `crate::alert::ladder`. Its serde shape only ever grows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageProgress {
    /// The contacts in the order they are paged (the on-call technician or the configured
    /// list, then the backup, then the owner), as they were when the ladder started.
    pub contacts: Vec<PageContact>,
    /// Index into `contacts` of the contact being paged now.
    pub step: usize,
    /// Passes over the whole list started (1 for the first).
    pub round: u32,
    pub step_started_at: Option<DateTime<Utc>>,
    /// Calls placed to the current contact in this step.
    pub calls_this_step: u32,
    /// Not before this time (the pause between two calls to one contact).
    pub next_call_at: Option<DateTime<Utc>>,
    /// A call placed and not yet answered for: a restart finds it here and counts it as
    /// interrupted (the contact is called again; nobody acknowledged it).
    pub calling: Option<PageAttempt>,
    /// Every call made, oldest first.
    pub attempts: Vec<PageAttempt>,
    pub acknowledged: Option<PageAcknowledgement>,
    /// Set when the ladder stopped: "acknowledged", or "exhausted" (nobody took it).
    pub ended: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// One person the ladder pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageContact {
    pub name: String,
    /// E.164 number or SIP URI the page call dials.
    pub to: String,
    /// "on_call" (ServiceTitan's shift), "contact" (the configured list), "backup", "owner".
    pub role: String,
}

/// One page call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageAttempt {
    /// Index into the contacts.
    pub contact: usize,
    pub channel: String,
    pub started_at: Option<DateTime<Utc>>,
    /// "accepted", "passed", "no_response", "no_answer", "busy", "declined", "failed: …",
    /// "interrupted" (the box restarted during the call); empty while in progress.
    pub outcome: String,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Who took the alert.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageAcknowledgement {
    pub by: String,
    pub at: Option<DateTime<Utc>>,
    /// "phone" (pressed 1 on the page call), "web" (the page's On-call view), …
    pub channel: String,
}

impl AlertDelivery {
    /// Untouched: not an alert. Left out of the stored form so other records keep their shape.
    pub fn is_unused(&self) -> bool {
        *self == AlertDelivery::default()
    }

    /// Due for a delivery attempt at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.pending && self.next_attempt_at.is_none_or(|t| t <= now)
    }
}

/// One unit of work in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: RecordId,
    /// Schema version of this record's stored form (always [`SCHEMA_VERSION`] once loaded).
    pub schema_version: u32,
    /// Bumped on every stored change; at start-up it tells whether sled or the mirror file
    /// holds the newer copy of a record.
    #[serde(default)]
    pub revision: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub payload: Payload,
    pub state: RecordState,
    /// Sync attempts started (begin_sync calls), for the shop and the logs.
    #[serde(default)]
    pub attempts: u32,
    /// Attempts that failed for a reason of this record's own (not a ServiceTitan outage, not
    /// the box's storage): after `max_attempts_before_attention` it needs a person.
    #[serde(default)]
    pub failures: u32,
    /// Not before this time (back-off after a failure); `None` = as soon as possible.
    #[serde(default)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The most recent failure, for the shop and the logs.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it reached ServiceTitan; compaction counts retention from here.
    #[serde(default)]
    pub synced_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub progress: SyncProgress,
    /// Delivery to the on-call technician (on-call alerts only).
    #[serde(default, skip_serializing_if = "AlertDelivery::is_unused")]
    pub alert: AlertDelivery,
}

impl Record {
    pub(crate) fn new(id: RecordId, payload: Payload, now: DateTime<Utc>) -> Record {
        let alert = AlertDelivery {
            pending: payload.kind() == RecordKind::OnCallAlert,
            ..AlertDelivery::default()
        };
        Record {
            id,
            schema_version: SCHEMA_VERSION,
            revision: 1,
            created_at: now,
            updated_at: now,
            payload,
            state: RecordState::Queued,
            attempts: 0,
            failures: 0,
            next_attempt_at: None,
            last_error: None,
            synced_at: None,
            progress: SyncProgress::default(),
            alert,
        }
    }

    pub fn kind(&self) -> RecordKind {
        self.payload.kind()
    }
}

/// The stored form of a record: `{"v": 2, "crc32": …, "body": "<record JSON>"}`. The body is a
/// string so the checksum covers exactly the bytes that were written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub v: u32,
    pub crc32: u32,
    pub body: String,
}

impl Envelope {
    pub(crate) fn seal(record: &Record) -> Result<Envelope, serde_json::Error> {
        let body = serde_json::to_string(record)?;
        Ok(Envelope {
            v: SCHEMA_VERSION,
            crc32: crc32fast::hash(body.as_bytes()),
            body,
        })
    }

    /// Checks the checksum, migrates and parses. The error is the quarantine reason.
    pub(crate) fn open(&self) -> Result<Opened, String> {
        let actual = crc32fast::hash(self.body.as_bytes());
        if actual != self.crc32 {
            return Err(format!(
                "checksum mismatch (stored {:08x}, computed {actual:08x})",
                self.crc32
            ));
        }
        let value: serde_json::Value =
            serde_json::from_str(&self.body).map_err(|e| format!("body is not JSON: {e}"))?;
        record_from_value(value, self.v)
    }
}

/// A record read from storage or an export, and the schema version it was stored with.
#[derive(Debug)]
pub(crate) struct Opened {
    pub record: Record,
    pub migrated_from: Option<u32>,
}

/// Brings a record of schema `version` up to [`SCHEMA_VERSION`] and parses it.
pub(crate) fn record_from_value(value: serde_json::Value, version: u32) -> Result<Opened, String> {
    let value = migrate(value, version)?;
    let mut record: Record =
        serde_json::from_value(value).map_err(|e| format!("not a valid record: {e}"))?;
    record.schema_version = SCHEMA_VERSION;
    Ok(Opened {
        record,
        migrated_from: (version != SCHEMA_VERSION).then_some(version),
    })
}

/// Schema migrations, one step per version.
///
/// v1 (first field trial) had no sync checkpoints: no `progress`, no `synced_at`, no
/// `revision`, and kept the last failure in `error`. v2 adds them; a v1 record in `syncing`
/// is put back to `queued`, because without checkpoints nothing says how far it got and the
/// sync must start by looking it up in ServiceTitan.
///
/// v3 adds the `on_call_alert` kind and its delivery lane (`alert`). A v2 safety alert was a
/// callback whose reason starts with [`LEGACY_SAFETY_MARKER`]; one the office has not had yet
/// (queued or syncing) becomes an on-call alert, so the technician still hears of it. Synced
/// or set-aside ones stay callbacks: paging someone about an old report helps nobody.
pub(crate) fn migrate(
    mut value: serde_json::Value,
    version: u32,
) -> Result<serde_json::Value, String> {
    if version == 0 || version > SCHEMA_VERSION {
        return Err(format!(
            "schema version {version} is not one this build reads (1..={SCHEMA_VERSION})"
        ));
    }
    let Some(obj) = value.as_object_mut() else {
        return Err("record is not a JSON object".into());
    };
    if version < 2 {
        if let Some(error) = obj.remove("error") {
            obj.insert("last_error".into(), error);
        }
        obj.entry("progress")
            .or_insert_with(|| serde_json::json!({}));
        obj.entry("revision")
            .or_insert_with(|| serde_json::json!(1));
        if obj.get("state").and_then(|s| s.as_str()) == Some("syncing") {
            obj.insert("state".into(), serde_json::json!("queued"));
        }
    }
    if version < 3 {
        migrate_legacy_safety_callback(obj);
    }
    if version < 4 {
        migrate_suspicion_from_attempts(obj);
    }
    obj.insert("schema_version".into(), serde_json::json!(SCHEMA_VERSION));
    Ok(value)
}

/// Before v4 a record was "suspect" (look up before every create) when it had been attempted
/// before; v4 names the creates in doubt. An unfinished record that was attempted keeps that
/// suspicion for every step it has not recorded.
fn migrate_suspicion_from_attempts(obj: &mut serde_json::Map<String, serde_json::Value>) {
    let attempted = obj
        .get("attempts")
        .and_then(|a| a.as_u64())
        .is_some_and(|a| a > 0);
    let unfinished = obj.get("state").and_then(|s| s.as_str()) != Some("synced");
    if !(attempted && unfinished) {
        return;
    }
    let progress = obj
        .entry("progress")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(progress) = progress.as_object_mut() {
        progress.insert(
            "in_doubt".into(),
            serde_json::to_value(CreateStep::ALL).unwrap_or_default(),
        );
    }
}

/// How a v2 engine began the reason of a safety-alert callback.
pub(crate) const LEGACY_SAFETY_MARKER: &str = "SAFETY ALERT for the on-call technician: ";

fn migrate_legacy_safety_callback(obj: &mut serde_json::Map<String, serde_json::Value>) {
    let unfinished = matches!(
        obj.get("state").and_then(|s| s.as_str()),
        Some("queued" | "syncing")
    );
    let Some(payload) = obj.get("payload").and_then(|p| p.as_object()) else {
        return;
    };
    let is_callback = payload.get("kind").and_then(|k| k.as_str()) == Some("callback");
    let Some(rest) = payload
        .get("reason")
        .and_then(|r| r.as_str())
        .and_then(|r| r.strip_prefix(LEGACY_SAFETY_MARKER))
    else {
        return;
    };
    if !is_callback || !unfinished {
        return;
    }
    // "gas smell. Caller was told … Caller said: \"i smell gas\""
    let hazard = [
        Hazard::Gas,
        Hazard::CarbonMonoxide,
        Hazard::Smoke,
        Hazard::Burning,
        Hazard::Sparking,
    ]
    .into_iter()
    .find(|h| rest.starts_with(h.label()))
    .unwrap_or(Hazard::Unspecified);
    let said = rest
        .split_once("Caller said: \"")
        .map(|(_, s)| s.trim_end_matches('"').to_string())
        .unwrap_or_default();
    let raised_at = obj
        .get("created_at")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let alert = serde_json::json!({
        "kind": "on_call_alert",
        "call_key": payload.get("call_key").cloned().unwrap_or_default(),
        "caller": payload.get("caller").cloned().unwrap_or_default(),
        "hazard": hazard,
        "caller_said": said,
        "raised_at_utc": raised_at,
    });
    obj.insert("payload".into(), alert);
    obj.insert("alert".into(), serde_json::json!({ "pending": true }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let mut gen = IdGenerator::default();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0).unwrap();
        let a = gen.next(t0);
        let b = gen.next(t0);
        let c = gen.next(t0 + chrono::Duration::milliseconds(1));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.as_str().len(), 29);
        assert_eq!(RecordId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.timestamp(), Some(t0));
        assert_eq!(c.timestamp(), Some(t0 + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn ids_stay_ordered_when_the_clock_steps_back() {
        let mut gen = IdGenerator::default();
        let late = Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0).unwrap();
        let stored = gen.next(late);
        let mut fresh = IdGenerator::default();
        fresh.observe(&stored);
        let early = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 10).unwrap();
        let next = fresh.next(early);
        assert!(next > stored);
    }

    #[test]
    fn bad_ids_are_rejected() {
        for s in [
            "",
            "cb-",
            "xx-01J9Z3X5Q8R6T2W4Y7A0B1C3D5",
            "cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D",
            "cb-01J9Z3X5Q8R6T2W4Y7A0B1C3DU",
            "cb-81J9Z3X5Q8R6T2W4Y7A0B1C3D5",
        ] {
            assert!(RecordId::parse(s).is_err(), "{s}");
        }
        assert!(RecordId::parse("cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5").is_ok());
        assert!(serde_json::from_str::<RecordId>("\"nope\"").is_err());
    }

    #[test]
    fn state_names_parse() {
        assert_eq!(
            "needs-attention".parse::<StateName>(),
            Ok(StateName::NeedsAttention)
        );
        assert_eq!(
            "needs_attention".parse::<StateName>(),
            Ok(StateName::NeedsAttention)
        );
        assert_eq!("Queued".parse::<StateName>(), Ok(StateName::Queued));
        assert!("done".parse::<StateName>().is_err());
    }

    #[test]
    fn future_schema_is_refused() {
        let err = migrate(serde_json::json!({}), SCHEMA_VERSION + 1).unwrap_err();
        assert!(err.contains("not one this build reads"), "{err}");
    }

    fn v2_callback(state: &str, reason: &str) -> serde_json::Value {
        serde_json::json!({
            "id": "cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5",
            "schema_version": 2,
            "revision": 1,
            "created_at": "2026-01-14T03:00:05Z",
            "updated_at": "2026-01-14T03:00:05Z",
            "payload": {
                "kind": "callback",
                "call_key": "20260114T030000Z-abc",
                "caller": {"name": "Jane Doe", "phone_e164": "+13125550142"},
                "reason": reason,
                "preferred_time": "immediately"
            },
            "state": state,
            "progress": {}
        })
    }

    #[test]
    fn unsent_v2_safety_callbacks_become_on_call_alerts() {
        let reason = format!(
            "{LEGACY_SAFETY_MARKER}carbon monoxide alarm. Caller was told to leave the building \
             and call 911 / the gas utility from outside. Caller said: \"my co alarm is going off\""
        );
        let opened = record_from_value(v2_callback("queued", &reason), 2).unwrap();
        assert_eq!(opened.migrated_from, Some(2));
        let r = opened.record;
        let Payload::OnCallAlert(a) = &r.payload else {
            panic!("not migrated: {:?}", r.payload);
        };
        assert_eq!(a.hazard, Hazard::CarbonMonoxide);
        assert_eq!(a.caller_said, "my co alarm is going off");
        assert_eq!(a.caller.phone_e164.as_deref(), Some("+13125550142"));
        assert_eq!(a.raised_at_utc, r.created_at);
        assert!(r.alert.pending, "the technician has not been told yet");

        // Already with the office, or an ordinary callback: left alone.
        let synced = record_from_value(v2_callback("synced", &reason), 2).unwrap();
        assert_eq!(synced.record.kind(), RecordKind::Callback);
        assert!(!synced.record.alert.pending);
        let plain = record_from_value(v2_callback("queued", "call me back"), 2).unwrap();
        assert_eq!(plain.record.kind(), RecordKind::Callback);
    }
}
