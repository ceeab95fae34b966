//! The record every call leaves behind: who called, what they pressed, how it ended, where
//! the recording is. Written atomically (temp file, fsync, rename) so a power cut leaves
//! either the old state or the whole record, never half a JSON file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

use crate::dialog::engine::Turn;
use crate::infra::fs;
use crate::trade::RecordId;

/// A call record could not be written.
#[derive(Debug, Error)]
pub enum CallLogError {
    #[error("cannot write call record {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot encode call record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Caller ID as stored in a record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallerRecord {
    /// E.164 number, when the caller presented one.
    pub number: Option<String>,
    pub display_name: Option<String>,
    /// "available", "anonymous" or "unavailable".
    pub presentation: String,
    /// The header value it came from.
    pub raw: String,
}

/// One key press.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DigitRecord {
    pub digit: String,
    /// "rfc4733", "inband" or "sip_info".
    pub source: String,
    /// Milliseconds after the answer.
    pub at_ms: u64,
}

/// One turn of the conversation: who spoke, what, when (milliseconds after the answer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TurnRecord {
    /// "box" or "caller".
    pub speaker: String,
    /// What the box said, or what the recogniser heard.
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// A caller turn that interrupted the box's prompt (barge-in), or a box turn that was cut
    /// short by it.
    pub barge_in: bool,
}

/// RTP counters at the end of the call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RtpRecord {
    pub packets_in: u64,
    pub packets_out: u64,
    pub lost: u64,
    pub garbage: u64,
}

/// Everything the box keeps about one call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallRecord {
    /// File stem shared by the record and its recording.
    pub key: String,
    pub call_id: String,
    pub caller: CallerRecord,
    pub dialled: Option<String>,
    pub codec: String,
    pub answered_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub end_reason: String,
    pub digits: Vec<DigitRecord>,
    /// Path of the recording relative to the data directory.
    pub recording: Option<String>,
    /// Why the recording stopped (or never started) before the call ended: "disk_reserve"
    /// when the data partition was down to the queue's reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_stopped: Option<String>,
    pub rtp: RtpRecord,
    /// The spoken conversation, when the call flow had one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<TurnRecord>,
    /// Queue records the call produced (`callbox queue show <id>`); each carries this
    /// record's key as its `call_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordId>,
    /// What the dialog engine made of the call, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialog: Option<DialogRecord>,
}

/// The dialog's side of a call record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DialogRecord {
    /// "speech" or "keypad_only" (no usable speech model).
    pub mode: String,
    /// The outcome kind: "job", "lead", "callback", "voicemail", …, or "none".
    pub outcome: String,
    pub confirmation_number: Option<String>,
    pub caller_hung_up: bool,
    pub enqueue_failed: bool,
    /// Every turn, both sides, with wall-clock times.
    pub transcript: Vec<Turn>,
    /// The outdoor temperature triage was given, where it came from, and the thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outdoor: Option<OutdoorRecord>,
}

/// The outdoor temperature a call's triage used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutdoorRecord {
    pub temp_f: f32,
    /// "nws" (fresh forecast), "cached" (the last value, aging), "climate" (the rule by month).
    pub source: String,
    /// Age of the fetched value (s), when one was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
    pub cold_threshold_f: f32,
    pub hot_threshold_f: f32,
}

// Records are compared whole in tests; the temperatures are finite (validated thresholds, a
// checked forecast or climate value), so equality is an equivalence.
impl Eq for OutdoorRecord {}

/// Writes `record` to `<calls_dir>/<key>.json`.
pub fn write_record(calls_dir: &Path, record: &CallRecord) -> Result<PathBuf, CallLogError> {
    let path = calls_dir.join(format!("{}.json", record.key));
    let bytes = serde_json::to_vec_pretty(record)?;
    let io = |source| CallLogError::Write {
        path: path.clone(),
        source,
    };
    fs::create_private_dir_all(calls_dir).map_err(io)?;
    fs::write_atomic(&path, &bytes).map_err(io)?;
    Ok(path)
}

/// Reads every call record under `calls_dir`, oldest first; unreadable files are skipped
/// and named in the second list.
pub fn read_records(calls_dir: &Path) -> (Vec<CallRecord>, Vec<PathBuf>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let Ok(entries) = std::fs::read_dir(calls_dir) else {
        return (records, bad);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<CallRecord>(&b).ok())
        {
            Some(r) => records.push(r),
            None => bad.push(path),
        }
    }
    records.sort_by_key(|r| r.answered_at);
    (records, bad)
}

/// A file-name-safe key for a call: answer time plus a sanitised Call-ID fragment.
pub fn record_key(answered_at: chrono::DateTime<chrono::Utc>, call_id: &str) -> String {
    let fragment: String = call_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    format!("{}-{}", answered_at.format("%Y%m%dT%H%M%S%.3fZ"), fragment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-15T01:42:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let record = CallRecord {
            key: record_key(at, "a84b4c76e66710@pc33.atlanta.com"),
            call_id: "a84b4c76e66710@pc33.atlanta.com".into(),
            caller: CallerRecord {
                number: Some("+13125550142".into()),
                display_name: Some("SMITH JOHN".into()),
                presentation: "available".into(),
                raw: "\"SMITH JOHN\" <sip:3125550142@192.168.1.20>".into(),
            },
            dialled: Some("+15551234567".into()),
            codec: "PCMU".into(),
            answered_at: at,
            ended_at: at,
            end_reason: "remote_hangup".into(),
            digits: vec![DigitRecord {
                digit: "5".into(),
                source: "rfc4733".into(),
                at_ms: 1200,
            }],
            recording: Some("recordings/x.wav".into()),
            recording_stopped: None,
            rtp: RtpRecord::default(),
            turns: vec![TurnRecord {
                speaker: "caller".into(),
                text: "my furnace is out".into(),
                start_ms: 1500,
                end_ms: 2900,
                barge_in: true,
            }],
            records: Vec::new(),
            dialog: None,
        };
        assert_eq!(record.key, "20260115T014200.000Z-a84b4c76e66710pc33atlant");
        let path = write_record(dir.path(), &record).expect("write");
        assert!(path.exists());
        std::fs::write(dir.path().join("broken.json"), b"{\"key\":").expect("write");
        let (records, bad) = read_records(dir.path());
        assert_eq!(records, vec![record]);
        assert_eq!(bad.len(), 1);
    }
}
