//! The record every call leaves behind: who called, what they pressed, how it ended, where
//! the recording is. Written atomically (temp file, fsync, rename) so a power cut leaves
//! either the old state or the whole record, never half a JSON file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

use crate::dialog::engine::{Speaker, Turn};
use crate::dialog::understanding::triage::caller_temperature;
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
    /// A caller turn heard by the recogniser: from the end of the caller's speech to the
    /// recogniser's result (its backlog of audio plus finalisation; issue 18). Grows when
    /// recognition falls behind real time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognition_ms: Option<u64>,
}

/// RTP counters at the end of the call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RtpRecord {
    pub packets_in: u64,
    pub packets_out: u64,
    pub lost: u64,
    pub garbage: u64,
    /// The box's packet clock (issue 18): ticks that ran more than a frame late, the worst
    /// lag, and ticks of its speech with no frame ready (`telephony::media::PacingMeter`).
    #[serde(default)]
    pub late_ticks: u64,
    #[serde(default)]
    pub max_tick_lag_ms: u64,
    #[serde(default)]
    pub playback_underruns: u64,
    /// Caller frames dropped because the call's turn taking fell behind.
    #[serde(default)]
    pub caller_frames_dropped: u64,
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
    /// Who took the on-call page the call raised, and when (or that nobody did): noted when
    /// the paging ladder ends or the office takes it on the web page, after the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageRecord>,
}

/// How the on-call page a call raised ended.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PageRecord {
    /// The on-call alert's queue record.
    pub alert: String,
    /// "acknowledged" (someone took it) or "exhausted" (every round passed unanswered).
    pub outcome: String,
    /// Who took it: the contact who pressed 1, or the name given on the web page.
    pub by: Option<String>,
    /// "phone" (pressed 1 on a page call), "web" (the On-call view) or "bridge" (took the
    /// caller's call when the box bridged it, issue 15).
    pub channel: Option<String>,
    /// When it was taken, or when the ladder gave up.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Page calls placed.
    pub calls: usize,
}

impl PageRecord {
    pub fn acknowledged(&self) -> bool {
        self.outcome == "acknowledged"
    }
}

/// The dialog's side of a call record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DialogRecord {
    /// "speech", "keypad_only" (no usable speech model) or "keypad_only_memory" (the memory
    /// held speech for no more calls at once: `speech.call_memory_mib`).
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
    /// A temperature the caller said ("it's ten degrees here"), source "caller", beside the
    /// same thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_temp: Option<CallerTempRecord>,
    /// Issue 15: the caller talked with the on-call technician over the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridged: Option<BridgedSpan>,
}

/// Where the bridged talk is in the call's recording (both voices mixed there), in ms from
/// the recording's start. Without a recording, the span is on the same clock (what the
/// recording would hold).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgedSpan {
    pub from_ms: u64,
    pub to_ms: u64,
}

/// A temperature the caller stated, as triage heard it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallerTempRecord {
    pub temp_f: f32,
    /// Always "caller".
    pub source: String,
    /// "outdoors" (triage used it instead of the forecast), "indoors", or "unsaid" (weighed as
    /// indoors; the forecast still counts). See `understanding::triage::caller_temperature`.
    pub place: String,
    pub cold_threshold_f: f32,
    pub hot_threshold_f: f32,
    /// The caller's words it came from.
    pub said: String,
    /// Triage weighed it: false only for an outdoor figure when the box had a fresh forecast
    /// (`outdoor.source` "nws"), which then decided instead.
    #[serde(default = "weighed")]
    pub used: bool,
}

fn weighed() -> bool {
    true
}

// As `OutdoorRecord`: a parsed number of degrees, finite.
impl Eq for CallerTempRecord {}

/// The first temperature the caller stated in `transcript`, with the thresholds triage used;
/// `outdoor_measured`: the call's outdoor value was a fresh forecast (see
/// `TriageContext::outdoor_measured`).
pub fn caller_temp(
    transcript: &[Turn],
    cold_threshold_f: f32,
    hot_threshold_f: f32,
    outdoor_measured: bool,
) -> Option<CallerTempRecord> {
    transcript
        .iter()
        .filter(|t| t.speaker == Speaker::Caller)
        .find_map(|t| {
            let (temp_f, place) = caller_temperature(&t.text)?;
            Some(CallerTempRecord {
                temp_f,
                source: "caller".into(),
                place: place.into(),
                cold_threshold_f,
                hot_threshold_f,
                said: t.text.clone(),
                used: !(outdoor_measured && place == "outdoors"),
            })
        })
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

/// Notes how the call's page ended in the record `<calls_dir>/<key>.json`. The first
/// acknowledgement stays (a later one, or a ladder ending after it, changes nothing); an
/// acknowledgement replaces "exhausted" (the office took it by hand after the ladder gave up).
/// `Ok(None)` when there is no such record (yet); `Ok(Some(record))` when it changed.
pub fn note_page(
    calls_dir: &Path,
    key: &str,
    page: &PageRecord,
) -> Result<Option<CallRecord>, CallLogError> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    {
        return Ok(None);
    }
    let path = calls_dir.join(format!("{key}.json"));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CallLogError::Write { path, source }),
    };
    let mut record: CallRecord = serde_json::from_slice(&bytes)?;
    if !page_replaces(record.page.as_ref(), page) {
        return Ok(None);
    }
    record.page = Some(page.clone());
    write_record(calls_dir, &record)?;
    Ok(Some(record))
}

/// Whether `new` is news over what a record already says.
pub fn page_replaces(old: Option<&PageRecord>, new: &PageRecord) -> bool {
    match old {
        None => true,
        Some(old) if old.acknowledged() => false,
        Some(old) => new.acknowledged() || old != new,
    }
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
                recognition_ms: Some(180),
            }],
            records: Vec::new(),
            dialog: None,
            page: None,
        };
        assert_eq!(record.key, "20260115T014200.000Z-a84b4c76e66710pc33atlant");
        let path = write_record(dir.path(), &record).expect("write");
        assert!(path.exists());
        std::fs::write(dir.path().join("broken.json"), b"{\"key\":").expect("write");
        let (records, bad) = read_records(dir.path());
        assert_eq!(records, vec![record.clone()]);
        assert_eq!(bad.len(), 1);

        // The page it raised, noted afterwards: nobody, then the office by hand, then a late
        // phone acknowledgement that changes nothing.
        let calls = dir.path();
        let exhausted = PageRecord {
            alert: "01J0ALERT".into(),
            outcome: "exhausted".into(),
            at: Some(at + chrono::Duration::minutes(30)),
            calls: 12,
            ..PageRecord::default()
        };
        let noted = note_page(calls, &record.key, &exhausted).expect("note");
        assert_eq!(noted.and_then(|r| r.page), Some(exhausted.clone()));
        assert!(note_page(calls, &record.key, &exhausted)
            .expect("again")
            .is_none());
        let by_hand = PageRecord {
            outcome: "acknowledged".into(),
            by: Some("Dana (office)".into()),
            channel: Some("web".into()),
            at: Some(at + chrono::Duration::minutes(40)),
            ..exhausted.clone()
        };
        assert!(note_page(calls, &record.key, &by_hand)
            .expect("ack")
            .is_some());
        let late = PageRecord {
            by: Some("Mike Reyes".into()),
            channel: Some("phone".into()),
            ..by_hand.clone()
        };
        assert!(note_page(calls, &record.key, &late)
            .expect("late")
            .is_none());
        let (records, _) = read_records(calls);
        assert_eq!(records[0].page.as_ref(), Some(&by_hand));
        // No record of that call (yet), or a key that is not a file name: nothing written.
        assert!(note_page(calls, "20260115T014200.000Z-other", &by_hand)
            .expect("none")
            .is_none());
        assert!(note_page(calls, "../escape", &by_hand)
            .expect("bad key")
            .is_none());
    }

    #[test]
    fn the_callers_stated_temperature_is_recorded_with_source_caller() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-15T01:42:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let turn = |speaker, text: &str| Turn {
            at,
            speaker,
            text: text.into(),
        };
        let transcript = vec![
            turn(Speaker::Callbox, "It's ten degrees outside, is that right?"),
            turn(Speaker::Caller, "my furnace quit"),
            turn(Speaker::Caller, "it's ten degrees here"),
            turn(Speaker::Caller, "it's forty degrees in the house"),
        ];
        let got = caller_temp(&transcript, 20.0, 95.0, false).expect("stated");
        assert_eq!(
            got,
            CallerTempRecord {
                temp_f: 10.0,
                source: "caller".into(),
                place: "unsaid".into(),
                cold_threshold_f: 20.0,
                hot_threshold_f: 95.0,
                said: "it's ten degrees here".into(),
                used: true,
            }
        );
        // An outdoor figure against a fresh forecast: recorded, but the forecast decided.
        let outside = [turn(
            Speaker::Caller,
            "no heat and it's ten degrees outside",
        )];
        let fresh = caller_temp(&outside, 20.0, 95.0, true).expect("stated");
        assert_eq!((fresh.place.as_str(), fresh.used), ("outdoors", false));
        let stale = caller_temp(&outside, 20.0, 95.0, false).expect("stated");
        assert!(stale.used);
        // Indoors counts whatever the forecast.
        assert!(
            caller_temp(&transcript, 20.0, 95.0, true)
                .expect("stated")
                .used
        );
        assert_eq!(
            caller_temp(&transcript[..2], 20.0, 95.0, false),
            None,
            "the box's words do not count"
        );
        let json = serde_json::to_value(&got).expect("json");
        assert_eq!(json["source"], "caller");
    }
}
