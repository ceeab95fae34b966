//! The calls the page lists: an in-memory index of `<data_dir>/calls/*.json`, built once at
//! start-up and told of every record written, so the list and the chart never read files per
//! request. Housekeeping deletes files behind its back: a change of the directory (its
//! modification time) makes the next query list the names again and drop the missing.

use crate::dialog::call_log::CallRecord;
use crate::web::backend::{CallPage, CallQuery, CallSummary, DayCalls, TranscriptTurn};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

/// Most calls one page of the list shows.
pub const MAX_PAGE: usize = 200;

/// What the list needs of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEntry {
    pub key: String,
    pub answered_at: DateTime<Utc>,
    pub duration_secs: u64,
    /// E.164, or "anonymous"/"unavailable".
    pub number: String,
    /// The number's digits, for search.
    pub digits: String,
    pub name: Option<String>,
    /// Lowercase, for search.
    pub name_lower: String,
    pub outcome: String,
    pub urgency: String,
    pub confirmation: Option<String>,
    pub has_recording: bool,
}

/// The parts of a call record the index reads (the rest of the file is skipped).
#[derive(Deserialize)]
struct Light {
    key: String,
    caller: LightCaller,
    answered_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    #[serde(default)]
    recording: Option<String>,
    #[serde(default)]
    records: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    dialog: Option<LightDialog>,
}

#[derive(Deserialize)]
struct LightCaller {
    number: Option<String>,
    display_name: Option<String>,
    presentation: String,
}

#[derive(Deserialize)]
struct LightDialog {
    outcome: String,
    confirmation_number: Option<String>,
}

impl CallEntry {
    fn from_parts(light: Light) -> CallEntry {
        let number = light
            .caller
            .number
            .clone()
            .unwrap_or_else(|| light.caller.presentation.clone());
        let outcome = match &light.dialog {
            Some(d) => d.outcome.clone(),
            None if !light.records.is_empty() => "voicemail".to_string(),
            None => "none".to_string(),
        };
        CallEntry {
            digits: number.chars().filter(char::is_ascii_digit).collect(),
            name_lower: light
                .caller
                .display_name
                .as_deref()
                .unwrap_or("")
                .to_lowercase(),
            name: light.caller.display_name,
            urgency: urgency_of(&outcome).to_string(),
            confirmation: light.dialog.and_then(|d| d.confirmation_number),
            has_recording: light.recording.is_some(),
            duration_secs: u64::try_from((light.ended_at - light.answered_at).num_seconds())
                .unwrap_or(0),
            key: light.key,
            answered_at: light.answered_at,
            number,
            outcome,
        }
    }

    /// The index entry of a record just written.
    pub fn from_record(record: &CallRecord) -> CallEntry {
        CallEntry::from_parts(Light {
            key: record.key.clone(),
            caller: LightCaller {
                number: record.caller.number.clone(),
                display_name: record.caller.display_name.clone(),
                presentation: record.caller.presentation.clone(),
            },
            answered_at: record.answered_at,
            ended_at: record.ended_at,
            recording: record.recording.clone(),
            records: record
                .records
                .iter()
                .map(|_| serde::de::IgnoredAny)
                .collect(),
            dialog: record.dialog.as_ref().map(|d| LightDialog {
                outcome: d.outcome.clone(),
                confirmation_number: d.confirmation_number.clone(),
            }),
        })
    }

    pub fn summary(&self, zone: Tz) -> CallSummary {
        CallSummary {
            key: self.key.clone(),
            answered_at: self.answered_at.to_rfc3339(),
            answered_local: self
                .answered_at
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            caller_number: self.number.clone(),
            caller_name: self.name.clone(),
            duration_secs: self.duration_secs,
            outcome: self.outcome.clone(),
            urgency: self.urgency.clone(),
            confirmation_number: self.confirmation.clone(),
            has_recording: self.has_recording,
        }
    }

    fn matches(&self, query: &CallQuery, day: Option<NaiveDate>, zone: Tz) -> bool {
        if let Some(day) = day {
            if self.answered_at.with_timezone(&zone).date_naive() != day {
                return false;
            }
        }
        if let Some(outcome) = query.outcome.as_deref().filter(|o| !o.is_empty()) {
            if self.outcome != outcome {
                return false;
            }
        }
        match query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => true,
            Some(text) if is_number_search(text) => {
                let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                self.digits.contains(&digits)
            }
            Some(text) => self.name_lower.contains(&text.to_lowercase()),
        }
    }
}

/// A search of digits (and the punctuation numbers are written with) looks for a number.
fn is_number_search(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'))
}

/// The dialog triages; a safety alert is the one outcome that says how urgent the call was.
fn urgency_of(outcome: &str) -> &'static str {
    match outcome {
        "safety_alert" => "emergency",
        _ => "",
    }
}

/// A key as `call_log::record_key` makes them: nothing that could leave the calls directory.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 80
        && !key.starts_with('.')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        && !key.contains("..")
}

#[derive(Debug, Default)]
struct Entries {
    by_key: BTreeMap<String, CallEntry>,
    /// The directory's modification time when last listed.
    listed_at: Option<SystemTime>,
}

/// The index. Cheap to query; the lock is held for microseconds.
#[derive(Debug)]
pub struct CallIndex {
    dir: PathBuf,
    entries: RwLock<Entries>,
}

impl CallIndex {
    /// Reads every call record under `dir` (the files that do not parse are left out).
    pub fn build(dir: &Path) -> CallIndex {
        let index = CallIndex {
            dir: dir.to_path_buf(),
            entries: RwLock::default(),
        };
        index.relist();
        index
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.read().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().by_key.is_empty()
    }

    /// A record was written: the list shows it from now on.
    pub fn insert(&self, record: &CallRecord) {
        let entry = CallEntry::from_record(record);
        self.write().by_key.insert(entry.key.clone(), entry);
    }

    fn dir_mtime(&self) -> Option<SystemTime> {
        std::fs::metadata(&self.dir).and_then(|m| m.modified()).ok()
    }

    /// Lists the directory when it changed since the last listing: drops the deleted
    /// calls and reads the new ones.
    pub fn refresh(&self) {
        let now = self.dir_mtime();
        if now.is_some() && now == self.read().listed_at {
            return;
        }
        self.relist();
    }

    fn relist(&self) {
        let listed_at = self.dir_mtime();
        let names = list_keys(&self.dir);
        let known: BTreeSet<String> = self.read().by_key.keys().cloned().collect();
        let new: Vec<CallEntry> = names
            .difference(&known)
            .filter_map(|key| read_light(&self.dir, key))
            .collect();
        let mut entries = self.write();
        entries.by_key.retain(|key, _| names.contains(key));
        for entry in new {
            entries.by_key.insert(entry.key.clone(), entry);
        }
        entries.listed_at = listed_at;
    }

    /// One page of calls, newest first.
    pub fn query(&self, query: &CallQuery, zone: Tz) -> CallPage {
        self.refresh();
        let day = query
            .day
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let limit = query.limit.clamp(1, MAX_PAGE);
        let entries = self.read();
        let mut total = 0;
        let mut calls = Vec::new();
        for entry in entries.by_key.values().rev() {
            if !entry.matches(query, day, zone) {
                continue;
            }
            if total >= query.offset && calls.len() < limit {
                calls.push(entry.summary(zone));
            }
            total += 1;
        }
        let outcomes: BTreeSet<&str> = entries
            .by_key
            .values()
            .map(|e| e.outcome.as_str())
            .collect();
        CallPage {
            calls,
            total,
            outcomes: outcomes.into_iter().map(str::to_string).collect(),
        }
    }

    /// Calls per shop-local day for the `days` days up to `today`, oldest first.
    pub fn per_day(&self, days: u32, today: NaiveDate, zone: Tz) -> Vec<DayCalls> {
        self.refresh();
        let days = days.clamp(1, 366);
        let first = today - chrono::Days::new(u64::from(days - 1));
        let mut out: Vec<DayCalls> = (0..days)
            .map(|i| DayCalls {
                date: (first + chrono::Days::new(u64::from(i))).to_string(),
                by_outcome: BTreeMap::new(),
            })
            .collect();
        for entry in self.read().by_key.values() {
            let day = entry.answered_at.with_timezone(&zone).date_naive();
            if day < first || day > today {
                continue;
            }
            let i = usize::try_from((day - first).num_days()).unwrap_or(usize::MAX);
            if let Some(slot) = out.get_mut(i) {
                *slot.by_outcome.entry(entry.outcome.clone()).or_default() += 1;
            }
        }
        out
    }

    /// The entry of `key`, when the index has it.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<CallEntry> {
        self.read().by_key.get(key).cloned()
    }

    /// The full record of `key`, read from its file.
    pub fn record(&self, key: &str) -> Option<CallRecord> {
        if !valid_key(key) {
            return None;
        }
        let bytes = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn list_keys(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
        })
        .filter(|key| valid_key(key))
        .collect()
}

fn read_light(dir: &Path, key: &str) -> Option<CallEntry> {
    let bytes = std::fs::read(dir.join(format!("{key}.json"))).ok()?;
    let light: Light = serde_json::from_slice(&bytes).ok()?;
    (light.key == key).then(|| CallEntry::from_parts(light))
}

/// `m:ss` since the answer.
pub fn offset(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// Both sides of the call in order: the dialog's transcript when it has one, else the turns
/// the speech layer recorded.
pub fn transcript(record: &CallRecord) -> Vec<TranscriptTurn> {
    if let Some(dialog) = record.dialog.as_ref().filter(|d| !d.transcript.is_empty()) {
        return dialog
            .transcript
            .iter()
            .map(|turn| TranscriptTurn {
                at: offset(
                    u64::try_from((turn.at - record.answered_at).num_milliseconds()).unwrap_or(0),
                ),
                speaker: match turn.speaker {
                    crate::dialog::engine::Speaker::Callbox => "box",
                    crate::dialog::engine::Speaker::Caller => "caller",
                }
                .to_string(),
                text: turn.text.clone(),
            })
            .collect();
    }
    record
        .turns
        .iter()
        .map(|turn| TranscriptTurn {
            at: offset(turn.start_ms),
            speaker: turn.speaker.clone(),
            text: turn.text.clone(),
        })
        .collect()
}

/// Keys pressed, e.g. `1 (rfc4733) at 0:12`.
pub fn digits(record: &CallRecord) -> Vec<String> {
    record
        .digits
        .iter()
        .map(|d| format!("{} ({}) at {}", d.digit, d.source, offset(d.at_ms)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialog::call_log::{self, CallerRecord, DialogRecord, RtpRecord};

    fn record(i: u32, at: DateTime<Utc>) -> CallRecord {
        let key = call_log::record_key(at, &format!("call{i}"));
        CallRecord {
            key,
            call_id: format!("call{i}"),
            caller: CallerRecord {
                number: Some(format!("+1512555{:04}", i % 10_000)),
                display_name: Some(
                    if i % 2 == 0 {
                        "Dana Whitfield"
                    } else {
                        "Lee Ortiz"
                    }
                    .into(),
                ),
                presentation: "available".into(),
                raw: String::new(),
            },
            dialled: None,
            codec: "PCMU".into(),
            answered_at: at,
            ended_at: at + chrono::Duration::seconds(95),
            end_reason: "caller_hung_up".into(),
            digits: Vec::new(),
            recording: None,
            recording_stopped: None,
            rtp: RtpRecord::default(),
            turns: Vec::new(),
            records: Vec::new(),
            dialog: Some(DialogRecord {
                mode: "speech".into(),
                outcome: if i % 3 == 0 { "job" } else { "callback" }.into(),
                confirmation_number: None,
                caller_hung_up: false,
                enqueue_failed: false,
                transcript: Vec::new(),
                outdoor: None,
                caller_temp: None,
                bridged: None,
            }),
            page: None,
        }
    }

    fn query(search: Option<&str>, outcome: Option<&str>, day: Option<&str>) -> CallQuery {
        CallQuery {
            day: day.map(str::to_string),
            outcome: outcome.map(str::to_string),
            search: search.map(str::to_string),
            offset: 0,
            limit: 50,
        }
    }

    #[test]
    fn ten_thousand_calls_build_and_answer_in_milliseconds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start: DateTime<Utc> = "2026-11-01T15:00:00Z".parse().expect("time");
        for i in 0..10_000u32 {
            let at = start + chrono::Duration::minutes(i64::from(i) * 5);
            call_log::write_record(dir.path(), &record(i, at)).expect("write");
        }
        let built = std::time::Instant::now();
        let index = CallIndex::build(dir.path());
        let build_ms = built.elapsed().as_millis();
        assert_eq!(index.len(), 10_000);
        let zone: Tz = "America/Chicago".parse().expect("zone");

        let asked = std::time::Instant::now();
        let all = index.query(&query(None, None, None), zone);
        let jobs = index.query(&query(None, Some("job"), None), zone);
        let by_number = index.query(&query(Some("(512) 555-0042"), None, None), zone);
        let by_name = index.query(&query(Some("whitf"), None, None), zone);
        let day = index.query(&query(None, None, Some("2026-11-02")), zone);
        let today = NaiveDate::from_ymd_opt(2026, 12, 5).expect("date");
        let chart = index.per_day(14, today, zone);
        let query_ms = asked.elapsed().as_millis();

        assert_eq!(all.total, 10_000);
        assert_eq!(all.calls.len(), 50);
        assert!(
            all.calls[0].answered_at > all.calls[1].answered_at,
            "newest first"
        );
        assert_eq!(jobs.total, 3334);
        assert!(jobs.calls.iter().all(|c| c.outcome == "job"));
        assert_eq!(by_number.total, 1);
        assert_eq!(by_number.calls[0].caller_number, "+15125550042");
        assert_eq!(by_name.total, 5000);
        // 2026-11-02 in Chicago (CST from 2026-11-01 02:00) is 06:00Z..06:00Z next day.
        assert_eq!(day.total, 288);
        assert_eq!(chart.len(), 14);
        assert_eq!(chart[13].date, "2026-12-05");
        let chart_calls: u32 = chart.iter().flat_map(|d| d.by_outcome.values()).sum();
        assert!(chart_calls > 0, "the last 14 days have calls: {chart:?}");
        assert!(all.outcomes == vec!["callback".to_string(), "job".to_string()]);
        // Generous for a shared debug build; reading 10k files per query would take seconds.
        assert!(query_ms < 1500, "queries took {query_ms} ms");
        eprintln!("build {build_ms} ms, 7 queries {query_ms} ms");
    }

    #[test]
    fn deleted_files_leave_the_index_and_new_ones_join_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start: DateTime<Utc> = "2026-12-01T15:00:00Z".parse().expect("time");
        let a = record(1, start);
        let b = record(2, start + chrono::Duration::minutes(1));
        call_log::write_record(dir.path(), &a).expect("write");
        call_log::write_record(dir.path(), &b).expect("write");
        let index = CallIndex::build(dir.path());
        assert_eq!(index.len(), 2);
        std::fs::remove_file(dir.path().join(format!("{}.json", a.key))).expect("delete");
        // Directory mtimes can have coarse resolution; make the change visible.
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        let dir_file = std::fs::File::open(dir.path()).expect("open dir");
        dir_file.set_modified(later).expect("touch dir");
        let zone: Tz = "UTC".parse().expect("zone");
        let page = index.query(&query(None, None, None), zone);
        assert_eq!(page.total, 1);
        assert_eq!(page.calls[0].key, b.key);
        let c = record(3, start + chrono::Duration::minutes(2));
        index.insert(&c);
        assert_eq!(index.get(&c.key).map(|e| e.outcome), Some("job".into()));
    }

    #[test]
    fn keys_that_could_leave_the_directory_are_refused() {
        assert!(valid_key("20261204T211400.123Z-abc-def"));
        for bad in ["", "../x", "a/b", "..", ".hidden", "a\\b", "x%2e%2e"] {
            assert!(!valid_key(bad), "{bad}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let index = CallIndex::build(dir.path());
        assert!(index.record("../../etc/passwd").is_none());
    }

    #[test]
    fn offsets_read_as_minutes_and_seconds() {
        assert_eq!(offset(0), "0:00");
        assert_eq!(offset(12_345), "0:12");
        assert_eq!(offset(75_000), "1:15");
    }
}
