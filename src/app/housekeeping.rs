//! Housekeeping: keeps recordings and call records within an age and a disk budget, and the
//! ServiceTitan cache within an age, so a box left alone for years never fills its card.
//!
//! [`plan`] is the decision, sans-I/O: handed the time, what is on disk and which calls still
//! have unsynced queue records, it says what to delete, oldest first. It never names a file of
//! a call whose queue records have not reached ServiceTitan, nor one young enough to belong to
//! a call in progress. [`run`] is the thin shell: every few minutes (and right after start) it
//! lists the directories, asks the queue, deletes, evicts the cache and reports.

use crate::infra::disk::Ballast;
use crate::queue::{Outbox, QueueError, StateName};
use crate::servicetitan::cache::{EvictReport, StCache};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// How often housekeeping runs (it also runs right after start).
pub const EVERY: Duration = Duration::from_secs(5 * 60);

/// What a call left on disk: its record or its recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Recording,
    CallRecord,
}

/// One file of a call, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The call key (file stem shared by the record and the recording).
    pub key: String,
    pub kind: FileKind,
    pub path: PathBuf,
    pub bytes: u64,
    /// When the call was answered (from the key), else the file's modification time.
    pub at: DateTime<Utc>,
}

/// The limits housekeeping keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Older calls go (unless unsynced).
    pub max_age: chrono::Duration,
    /// Most bytes recordings and call records may take together.
    pub budget_bytes: u64,
    /// Free space the data partition should keep for the queue; when short, more old calls go.
    pub reserve_bytes: u64,
    /// Files younger than this may belong to a call in progress: never touched.
    pub in_progress: chrono::Duration,
}

/// What housekeeping sees.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: Vec<StoredFile>,
    /// Free bytes on the data partition; `None` when unknown.
    pub free_bytes: Option<u64>,
}

/// Why a file is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Older than `storage.retention_days`.
    Age,
    /// Over `storage.recordings_budget_mb` or the queue's reserve.
    Budget,
}

/// One file to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub file: StoredFile,
    pub reason: Reason,
}

/// What [`plan`] decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Oldest first.
    pub delete: Vec<Deletion>,
    /// Bytes the calls' files take now.
    pub used_bytes: u64,
    /// Bytes they take once the plan is carried out.
    pub used_after: u64,
    /// Calls kept although old or over budget because their records have not synced.
    pub held_unsynced: usize,
}

impl Plan {
    /// Still over budget after every deletable file: the rest is unsynced or in progress.
    pub fn over_budget(&self, rules: &Rules) -> bool {
        self.used_after > rules.budget_bytes
    }
}

/// Decides what to delete: first every call older than the age, then (oldest first) the
/// recordings and then the call records of calls until the total fits the budget and the
/// partition keeps its reserve. Calls with unsynced queue records, and files too young to
/// belong to a finished call, are never deleted.
pub fn plan(
    now: DateTime<Utc>,
    listing: &Listing,
    unsynced: &BTreeSet<String>,
    rules: &Rules,
) -> Plan {
    let used_bytes = total(listing.files.iter());
    let sorted = sort_calls(now, &listing.files, unsynced, rules);
    let mut delete: Vec<Deletion> = sorted
        .expired
        .iter()
        .map(|f| Deletion {
            file: (*f).clone(),
            reason: Reason::Age,
        })
        .collect();
    let after_age = used_bytes - total(sorted.expired.iter().copied());
    let target = budget_target(rules, after_age, listing.free_bytes, used_bytes - after_age);
    let over_budget = oldest_until_within(sorted.candidates, after_age, target);
    let used_after = after_age - total(over_budget.iter().copied());
    delete.extend(over_budget.into_iter().map(|f| Deletion {
        file: f.clone(),
        reason: Reason::Budget,
    }));
    delete.sort_by(|a, b| {
        (a.file.at, &a.file.key, a.file.kind).cmp(&(b.file.at, &b.file.key, b.file.kind))
    });
    let still_over = used_after > target;
    Plan {
        delete,
        used_bytes,
        used_after,
        held_unsynced: sorted
            .held
            .iter()
            .filter(|(_, expired)| still_over || *expired)
            .count(),
    }
}

/// The calls' files, sorted by what may happen to them.
struct Sorted<'a> {
    /// Older than the age and synced: deleted.
    expired: Vec<&'a StoredFile>,
    /// Within the age and synced: deleted oldest first while over budget.
    candidates: Vec<&'a StoredFile>,
    /// Calls with unsynced records, and whether they are past the age.
    held: Vec<(&'a str, bool)>,
}

fn sort_calls<'a>(
    now: DateTime<Utc>,
    files: &'a [StoredFile],
    unsynced: &BTreeSet<String>,
    rules: &Rules,
) -> Sorted<'a> {
    let mut sorted = Sorted {
        expired: Vec::new(),
        candidates: Vec::new(),
        held: Vec::new(),
    };
    for (key, files) in group_by_call(files) {
        let oldest = files.iter().map(|f| f.at).min().unwrap_or(now);
        let newest = files.iter().map(|f| f.at).max().unwrap_or(now);
        let expired = now - oldest > rules.max_age;
        if now - newest < rules.in_progress {
            continue;
        }
        if unsynced.contains(key) {
            sorted.held.push((key, expired));
        } else if expired {
            sorted.expired.extend(files);
        } else {
            sorted.candidates.extend(files);
        }
    }
    sorted
}

/// The files to delete, recordings before records (a record is small and tells who called),
/// each oldest first, until `used` is down to `target`.
fn oldest_until_within(mut files: Vec<&StoredFile>, used: u64, target: u64) -> Vec<&StoredFile> {
    files.sort_by(|a, b| (a.kind, a.at, &a.key).cmp(&(b.kind, b.at, &b.key)));
    let mut left = used;
    files
        .into_iter()
        .take_while(|f| {
            let over = left > target;
            left = left.saturating_sub(f.bytes);
            over
        })
        .collect()
}

fn total<'a>(files: impl Iterator<Item = &'a StoredFile>) -> u64 {
    files.map(|f| f.bytes).sum()
}

/// The bytes the calls' files may take: the budget, lowered when the partition is short of
/// twice the queue's reserve (what the age deletions already free counts).
fn budget_target(rules: &Rules, used: u64, free: Option<u64>, freed: u64) -> u64 {
    let Some(free) = free else {
        return rules.budget_bytes;
    };
    let wanted_free = rules.reserve_bytes.saturating_mul(2);
    let short = wanted_free.saturating_sub(free.saturating_add(freed));
    rules.budget_bytes.min(used.saturating_sub(short))
}

fn group_by_call(files: &[StoredFile]) -> BTreeMap<&str, Vec<&StoredFile>> {
    let mut calls: BTreeMap<&str, Vec<&StoredFile>> = BTreeMap::new();
    for file in files {
        calls.entry(file.key.as_str()).or_default().push(file);
    }
    calls
}

/// The time in a call key (`20260114T030000.123Z-…`, see `call_log::record_key`).
pub fn key_time(key: &str) -> Option<DateTime<Utc>> {
    let stamp = key.split('-').next()?;
    let naive = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.fZ")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ"))
        .ok()?;
    Some(naive.and_utc())
}

// ---- the service -------------------------------------------------------------------------

/// Most space the ballast holds (see [`Ballast`]); less when the queue's reserve is smaller.
pub const BALLAST_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The ballast in the data directory: the queue's reserve, up to [`BALLAST_MAX_BYTES`].
pub fn ballast(config: &crate::config::Config, paths: &crate::config::DataPaths) -> Ballast {
    let reserve = config.storage.queue_reserve_mb.saturating_mul(1024 * 1024);
    Ballast::in_dir(&paths.root, reserve.min(BALLAST_MAX_BYTES))
}

/// Where housekeeping learns which calls still have unsynced queue records.
#[derive(Clone)]
pub enum Unsynced {
    /// The open queue (quarantined records included).
    Queue(Outbox),
    /// The queue's mirror, read without opening sled: when the queue could not open.
    Mirror(PathBuf),
}

impl Unsynced {
    pub fn call_keys(&self) -> Result<BTreeSet<String>, QueueError> {
        match self {
            Unsynced::Queue(queue) => queue.unsynced_call_keys(),
            Unsynced::Mirror(dir) => Ok(Outbox::read_mirror(dir)?
                .into_iter()
                .filter(|r| r.state.name() != StateName::Synced || r.alert.pending)
                .map(|r| r.payload.call_key().to_string())
                .collect()),
        }
    }
}

/// Where and how housekeeping works.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Given back at start-up on a full partition; put back once there is room.
    pub ballast: Ballast,
    pub data_dir: PathBuf,
    pub recordings: PathBuf,
    pub calls: PathBuf,
    pub rules: Rules,
    /// Cached entries not refreshed for this long are evicted.
    pub cache_max_age: chrono::Duration,
    pub every: Duration,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Settings {
        let paths = config.data_paths();
        let storage = &config.storage;
        let max_call = i64::try_from(config.call.max_call_secs).unwrap_or(i64::MAX / 2);
        Settings {
            rules: Rules {
                max_age: chrono::Duration::days(i64::from(storage.retention_days)),
                budget_bytes: storage.recordings_budget_mb.saturating_mul(1024 * 1024),
                reserve_bytes: storage.queue_reserve_mb.saturating_mul(1024 * 1024),
                in_progress: chrono::Duration::seconds(max_call.saturating_add(300)),
            },
            cache_max_age: chrono::Duration::days(i64::from(storage.cache_max_age_days)),
            every: EVERY,
            ballast: ballast(config, &paths),
            data_dir: paths.root,
            recordings: paths.recordings,
            calls: paths.calls,
        }
    }
}

/// What the last pass did, for the log, `callbox status` and the web page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HousekeepingStatus {
    pub last_run_at: Option<DateTime<Utc>>,
    pub recordings_deleted: usize,
    pub call_records_deleted: usize,
    pub bytes_freed: u64,
    /// Bytes recordings and call records take after the pass.
    pub used_bytes: u64,
    pub budget_bytes: u64,
    /// Still over budget: what is left belongs to unsynced calls or calls in progress.
    pub over_budget: bool,
    /// Calls kept past their age or the budget because their records have not synced.
    pub held_unsynced: usize,
    /// Free bytes on the data partition.
    pub free_bytes: Option<u64>,
    /// Data partition full: the free space is below the queue's reserve, so calls are not
    /// recorded until space is back (and at start-up the queue may have opened on the ballast).
    pub data_partition_full: bool,
    /// The ballast (space held for the queue to open on a full partition) is in place.
    pub ballast_held: bool,
    /// The job queue could not open at start-up (data partition full): nothing can be queued
    /// until callbox is restarted with space freed.
    pub queue_unavailable: bool,
    pub cache_evicted: EvictReport,
    /// Files that could not be deleted, or why the pass could not run.
    pub last_error: Option<String>,
}

/// The status handle: the service writes it, anyone may read it.
pub type StatusHandle = watch::Receiver<HousekeepingStatus>;

/// Runs housekeeping until the process ends: once now, then every `settings.every`.
/// Failures of one pass are logged and reported; the next pass tries again.
pub async fn run(
    settings: Settings,
    queue: Unsynced,
    cache: Option<Arc<StCache>>,
    status: Arc<watch::Sender<HousekeepingStatus>>,
) {
    let mut tick = tokio::time::interval(settings.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (settings2, queue2, cache2) = (settings.clone(), queue.clone(), cache.clone());
        let pass = tokio::task::spawn_blocking(move || {
            run_once(Utc::now(), &settings2, &queue2, cache2.as_deref())
        })
        .await;
        let report = pass.unwrap_or_else(|err| HousekeepingStatus {
            last_run_at: Some(Utc::now()),
            last_error: Some(format!("housekeeping pass panicked: {err}")),
            ..Default::default()
        });
        log_pass(&report);
        status.send_replace(report);
    }
}

/// One pass: list, ask the queue, plan, delete, evict the cache. Blocking (file system).
pub fn run_once(
    now: DateTime<Utc>,
    settings: &Settings,
    queue: &Unsynced,
    cache: Option<&StCache>,
) -> HousekeepingStatus {
    let mut status = HousekeepingStatus {
        last_run_at: Some(now),
        budget_bytes: settings.rules.budget_bytes,
        queue_unavailable: matches!(queue, Unsynced::Mirror(_)),
        ..Default::default()
    };
    if let Some(cache) = cache {
        match cache.evict_older_than(now - settings.cache_max_age, now) {
            Ok(evicted) => status.cache_evicted = evicted,
            Err(err) => status.last_error = Some(format!("cache eviction: {err}")),
        }
    }
    let unsynced = match queue.call_keys() {
        Ok(keys) => keys,
        Err(err) => {
            // Without knowing which calls are unsynced nothing may be deleted.
            status.last_error = Some(format!("reading the queue: {err}; nothing deleted"));
            return status;
        }
    };
    let listing = list(settings);
    let plan = plan(now, &listing, &unsynced, &settings.rules);
    let errors = delete(&plan.delete, &mut status);
    status.used_bytes = plan.used_bytes - status.bytes_freed;
    status.over_budget = status.used_bytes > settings.rules.budget_bytes;
    status.held_unsynced = plan.held_unsynced;
    status.free_bytes = crate::infra::disk::free_bytes(&settings.data_dir).ok();
    status.data_partition_full = status
        .free_bytes
        .is_some_and(|free| free < settings.rules.reserve_bytes);
    status.ballast_held = settings
        .ballast
        .ensure(settings.rules.reserve_bytes)
        .unwrap_or(false);
    if !errors.is_empty() {
        status.last_error = Some(errors.join("; "));
    }
    status
}

/// Deletes the planned files; returns what failed (a file already gone is not a failure).
fn delete(deletions: &[Deletion], status: &mut HousekeepingStatus) -> Vec<String> {
    let mut errors = Vec::new();
    for d in deletions {
        match std::fs::remove_file(&d.file.path) {
            Ok(()) => {
                status.bytes_freed += d.file.bytes;
                match d.file.kind {
                    FileKind::Recording => status.recordings_deleted += 1,
                    FileKind::CallRecord => status.call_records_deleted += 1,
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                status.bytes_freed += d.file.bytes;
            }
            Err(err) => errors.push(format!("{}: {err}", d.file.path.display())),
        }
    }
    errors
}

/// What is under `recordings/` (`*.wav`) and `calls/` (`*.json`), and the free space.
pub fn list(settings: &Settings) -> Listing {
    let mut files = list_dir(&settings.recordings, "wav", FileKind::Recording);
    files.extend(list_dir(&settings.calls, "json", FileKind::CallRecord));
    Listing {
        files,
        free_bytes: crate::infra::disk::free_bytes(&settings.data_dir).ok(),
    }
}

fn list_dir(dir: &Path, extension: &str, kind: FileKind) -> Vec<StoredFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(extension) {
                return None;
            }
            let key = path.file_stem()?.to_str()?.to_string();
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            let modified = meta.modified().ok().map(DateTime::<Utc>::from);
            let at = key_time(&key).or(modified)?;
            Some(StoredFile {
                key,
                kind,
                path,
                bytes: meta.len(),
                at,
            })
        })
        .collect()
}

fn log_pass(status: &HousekeepingStatus) {
    let deleted = status.recordings_deleted + status.call_records_deleted;
    if deleted > 0 || !status.cache_evicted.is_empty() {
        info!(
            recordings = status.recordings_deleted,
            call_records = status.call_records_deleted,
            freed_bytes = status.bytes_freed,
            used_bytes = status.used_bytes,
            budget_bytes = status.budget_bytes,
            cache = ?status.cache_evicted,
            "housekeeping: deleted old recordings and call records"
        );
    }
    if status.over_budget {
        warn!(
            used_bytes = status.used_bytes,
            budget_bytes = status.budget_bytes,
            held_unsynced = status.held_unsynced,
            "housekeeping: recordings are over budget and the rest belong to calls not yet in \
             ServiceTitan (or in progress); they are kept"
        );
    }
    if status.queue_unavailable {
        error!(
            free_bytes = ?status.free_bytes,
            "DATA PARTITION FULL: the job queue did not open at start-up; calls get the greeting \
             only until space is freed and callbox restarted"
        );
    } else if status.data_partition_full {
        error!(
            free_bytes = ?status.free_bytes,
            ballast_held = status.ballast_held,
            "DATA PARTITION FULL: free space is below storage.queue_reserve_mb; calls are not \
             recorded until space is back (bookings still go into the queue)"
        );
    }
    if let Some(err) = &status.last_error {
        error!(error = %err, "housekeeping: a pass did not finish");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1024 * 1024;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rules() -> Rules {
        Rules {
            max_age: chrono::Duration::days(90),
            budget_bytes: 10 * MB,
            reserve_bytes: MB,
            in_progress: chrono::Duration::minutes(65),
        }
    }

    fn call(key: &str, at: DateTime<Utc>, recording: u64) -> Vec<StoredFile> {
        vec![
            StoredFile {
                key: key.into(),
                kind: FileKind::Recording,
                path: PathBuf::from(format!("recordings/{key}.wav")),
                bytes: recording,
                at,
            },
            StoredFile {
                key: key.into(),
                kind: FileKind::CallRecord,
                path: PathBuf::from(format!("calls/{key}.json")),
                bytes: 1000,
                at,
            },
        ]
    }

    fn listing(calls: &[(&str, &str, u64)]) -> Listing {
        Listing {
            files: calls
                .iter()
                .flat_map(|(key, at, bytes)| call(key, t(at), *bytes))
                .collect(),
            free_bytes: Some(100 * MB),
        }
    }

    fn deleted(plan: &Plan) -> Vec<(String, FileKind, Reason)> {
        plan.delete
            .iter()
            .map(|d| (d.file.key.clone(), d.file.kind, d.reason))
            .collect()
    }

    const NOW: &str = "2026-07-01T12:00:00Z";

    #[test]
    fn calls_older_than_the_age_go_unless_unsynced() {
        let l = listing(&[
            ("old", "2026-03-01T12:00:00Z", MB),
            ("old-unsynced", "2026-03-02T12:00:00Z", MB),
            ("new", "2026-06-30T12:00:00Z", MB),
        ]);
        let unsynced = BTreeSet::from(["old-unsynced".to_string()]);
        let p = plan(t(NOW), &l, &unsynced, &rules());
        assert_eq!(
            deleted(&p),
            vec![
                ("old".into(), FileKind::Recording, Reason::Age),
                ("old".into(), FileKind::CallRecord, Reason::Age),
            ]
        );
        assert_eq!(p.held_unsynced, 1);
        assert_eq!(p.used_after, p.used_bytes - MB - 1000);
    }

    #[test]
    fn over_budget_the_oldest_recordings_go_first_then_records() {
        // 12 calls of 1 MiB against 10 MiB: the two oldest recordings go, records stay.
        let calls: Vec<(String, String)> = (0..12)
            .map(|d| {
                (
                    format!("c{d:02}"),
                    format!("2026-06-{:02}T12:00:00Z", d + 1),
                )
            })
            .collect();
        let spec: Vec<(&str, &str, u64)> = calls
            .iter()
            .map(|(k, a)| (k.as_str(), a.as_str(), MB))
            .collect();
        let p = plan(t(NOW), &listing(&spec), &BTreeSet::new(), &rules());
        assert_eq!(
            deleted(&p),
            vec![
                ("c00".into(), FileKind::Recording, Reason::Budget),
                ("c01".into(), FileKind::Recording, Reason::Budget),
                ("c02".into(), FileKind::Recording, Reason::Budget),
            ],
            "12 MiB + 12 records over 10 MiB needs three recordings gone"
        );
        assert!(p.used_after <= rules().budget_bytes);
        assert!(!p.over_budget(&rules()));
    }

    #[test]
    fn over_budget_unsynced_calls_are_skipped_not_deleted() {
        let l = listing(&[
            ("a", "2026-06-01T12:00:00Z", 6 * MB),
            ("b", "2026-06-02T12:00:00Z", 6 * MB),
            ("c", "2026-06-03T12:00:00Z", 6 * MB),
        ]);
        let unsynced = BTreeSet::from(["a".to_string(), "b".to_string()]);
        let p = plan(t(NOW), &l, &unsynced, &rules());
        assert_eq!(
            deleted(&p),
            vec![
                ("c".into(), FileKind::Recording, Reason::Budget),
                ("c".into(), FileKind::CallRecord, Reason::Budget),
            ]
        );
        // Still over: what is left is unsynced and kept.
        assert!(p.over_budget(&rules()));
        assert_eq!(p.held_unsynced, 2);
    }

    #[test]
    fn a_call_in_progress_is_never_touched() {
        // Over budget with only a fresh recording (no record yet): nothing goes.
        let l = Listing {
            files: vec![StoredFile {
                key: "now".into(),
                kind: FileKind::Recording,
                path: PathBuf::from("recordings/now.wav"),
                bytes: 20 * MB,
                at: t("2026-07-01T11:30:00Z"),
            }],
            free_bytes: Some(0),
        };
        let p = plan(t(NOW), &l, &BTreeSet::new(), &rules());
        assert!(p.delete.is_empty(), "{p:?}");
    }

    #[test]
    fn a_partition_short_of_the_reserve_frees_more_than_the_budget_asks() {
        let l = Listing {
            free_bytes: Some(MB / 2),
            ..listing(&[
                ("a", "2026-06-01T12:00:00Z", MB),
                ("b", "2026-06-02T12:00:00Z", MB),
                ("c", "2026-06-03T12:00:00Z", MB),
            ])
        };
        // Within budget (3 MiB of 10), but 0.5 MiB free against 2 × 1 MiB wanted: 1.5 MiB
        // must go, i.e. the two oldest recordings.
        let p = plan(t(NOW), &l, &BTreeSet::new(), &rules());
        assert_eq!(
            deleted(&p),
            vec![
                ("a".into(), FileKind::Recording, Reason::Budget),
                ("b".into(), FileKind::Recording, Reason::Budget),
            ]
        );
    }

    #[test]
    fn deletions_come_oldest_first() {
        let l = listing(&[
            ("z", "2026-01-03T12:00:00Z", MB),
            ("y", "2026-01-01T12:00:00Z", MB),
            ("x", "2026-01-02T12:00:00Z", MB),
        ]);
        let p = plan(t(NOW), &l, &BTreeSet::new(), &rules());
        let keys: Vec<String> = p.delete.iter().map(|d| d.file.key.clone()).collect();
        assert_eq!(keys, vec!["y", "y", "x", "x", "z", "z"]);
    }

    #[test]
    fn call_keys_carry_their_time() {
        assert_eq!(
            key_time("20260114T030000.123Z-abc-def"),
            Some(t("2026-01-14T03:00:00.123Z"))
        );
        assert_eq!(
            key_time("20260114T030000Z-abc"),
            Some(t("2026-01-14T03:00:00Z"))
        );
        assert_eq!(key_time("garbage"), None);
    }
}
