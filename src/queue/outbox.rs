//! The outbox itself: sled trees, the in-memory index, the start-up integrity check and every
//! state change. See the module documentation in `mod.rs` for the why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

use super::mirror::{self, Mirror, MirrorLine};
use super::record::{
    record_from_value, Envelope, IdGenerator, PageAcknowledgement, PageProgress, Record,
    RecordState, StateName, SyncProgress, SCHEMA_VERSION,
};
use super::{QueueError, QueueOptions};
use crate::infra::clock::{SharedClock, SystemClock};
use crate::trade::{Payload, RecordId, RecordKind};

const DB_DIR: &str = "db";
const MIRROR_DIR: &str = "mirror";
const RECORDS_TREE: &str = "records";
const QUARANTINE_TREE: &str = "quarantine";
const META_SCHEMA_KEY: &str = "schema_version";

/// What [`Outbox::open`] found and did. Anything but a clean report is logged as a warning
/// and belongs on the status page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OpenReport {
    /// Records in the queue after opening.
    pub records: usize,
    /// Records rewritten from an older schema version.
    pub migrated: usize,
    /// Records that failed their checksum or did not parse, moved to quarantine on this open.
    pub quarantined: Vec<QuarantinedRecord>,
    /// Records taken from the mirror because sled lacked them or held an older revision
    /// (all of them, after a corrupt database was moved aside).
    pub restored_from_mirror: usize,
    /// Records removed because the mirror says they were compacted after sled last flushed.
    pub removed_per_mirror: usize,
    /// Where a database sled could not open was moved.
    pub moved_aside: Option<PathBuf>,
    /// Why it was moved aside.
    pub corruption: Option<String>,
    /// Mirror lines that were torn or damaged and skipped.
    pub mirror_bad_lines: usize,
    /// The mirror could not be read, so nothing could be checked against it.
    pub mirror_error: Option<String>,
    /// Start-up writes that failed because the disk is full (the queue opened anyway; they
    /// are made by the next write that gets through).
    pub deferred_writes: Option<String>,
}

impl OpenReport {
    /// Nothing was damaged, lost or repaired.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty()
            && self.restored_from_mirror == 0
            && self.removed_per_mirror == 0
            && self.moved_aside.is_none()
            && self.mirror_bad_lines == 0
            && self.mirror_error.is_none()
    }
}

/// A stored value that failed its integrity check, kept byte for byte for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    /// The sled key it was stored under (normally the record id).
    pub key: String,
    pub reason: String,
    pub quarantined_at: DateTime<Utc>,
    /// The stored bytes, hex-encoded.
    pub raw_hex: String,
}

impl QuarantinedRecord {
    /// The stored bytes as text, damaged bytes replaced.
    pub fn raw_text(&self) -> String {
        let bytes: Vec<u8> = (0..self.raw_hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(&self.raw_hex[2 * i..2 * i + 2], 16).ok())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Records per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub queued: usize,
    pub syncing: usize,
    pub synced: usize,
    pub needs_attention: usize,
    pub quarantined: usize,
    /// On-call alerts not yet delivered to the technician (whatever their sync state).
    #[serde(default)]
    pub alerts_undelivered: usize,
}

/// The queue at a glance, for the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStatus {
    pub counts: QueueCounts,
    /// Oldest record still waiting to reach ServiceTitan (queued or syncing).
    pub oldest_unsynced_at: Option<DateTime<Utc>>,
    pub oldest_unsynced_age_secs: Option<i64>,
    /// When the next back-off expires.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_enqueue_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    /// The last write failure (e.g. disk full), cleared by the next successful write.
    pub last_storage_error: Option<String>,
    /// Bytes the queue directory takes (sled and mirror).
    pub disk_bytes: u64,
}

/// Which records [`Outbox::list`] returns: oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub state: Option<StateName>,
    pub kind: Option<RecordKind>,
    /// At most this many (the oldest matching ones).
    pub limit: Option<usize>,
}

/// What [`Outbox::import_jsonl`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// Ids already in the queue: skipped, so importing the same file twice changes nothing.
    pub already_present: usize,
    /// Lines that could not be read: (line number from 1, reason).
    pub rejected: Vec<(usize, String)>,
}

/// Which lane of a record an update moves (see [`super::AlertDelivery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Sync,
    Alert,
}

/// What [`Outbox::compact`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    pub removed: usize,
}

/// The durable queue. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    quarantine: sled::Tree,
    opts: QueueOptions,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    /// Where every timestamp the queue writes, and every retention cut-off, comes from.
    clock: SharedClock,
}

/// Everything that changes, behind one lock so sled, the mirror and the index change in the
/// same order (the mirror's last line for a record must be sled's value).
struct State {
    index: BTreeMap<RecordId, Entry>,
    /// Records this process is syncing; a `Syncing` record not in here was left by a crash.
    in_flight: BTreeSet<RecordId>,
    ids: IdGenerator,
    mirror: Mirror,
    last_enqueue_at: Option<DateTime<Utc>>,
    last_synced_at: Option<DateTime<Utc>>,
    last_storage_error: Option<String>,
    /// The last good mirror copy of records quarantined while running, as mirror lines: kept
    /// in every rotated mirror's snapshot, so the start-up check can still restore them after
    /// the files that held them are pruned.
    rescued: BTreeMap<RecordId, String>,
}

/// What the index keeps of a record: enough to count, filter and pick the next due one.
#[derive(Debug, Clone)]
struct Entry {
    state: StateName,
    kind: RecordKind,
    created_at: DateTime<Utc>,
    next_attempt_at: Option<DateTime<Utc>>,
    /// False between an enqueue's write and its flush: not handed to the sync before the caller
    /// could be told "booked" (and not at all if the flush fails).
    durable: bool,
    /// An on-call alert still to be delivered, and not before when.
    alert_pending: bool,
    alert_next_at: Option<DateTime<Utc>>,
    /// The call that produced the record (its recording and call record are kept while the
    /// record is unfinished).
    call_key: String,
}

impl Entry {
    fn of(record: &Record, durable: bool) -> Entry {
        Entry {
            state: record.state.name(),
            kind: record.kind(),
            created_at: record.created_at,
            next_attempt_at: record.next_attempt_at,
            durable,
            alert_pending: record.alert.pending,
            alert_next_at: record.alert.next_attempt_at,
            call_key: record.payload.call_key().to_string(),
        }
    }
}

/// The result of reading every stored record at start-up.
#[derive(Default)]
struct Scan {
    records: BTreeMap<RecordId, Record>,
    bad: Vec<(sled::IVec, sled::IVec, String)>,
    migrated: Vec<Record>,
}

impl Outbox {
    /// Opens (or creates) the queue in `dir` (`<data_dir>/queue`), checking every record.
    ///
    /// A record that fails its checksum is quarantined; a database sled cannot open is moved
    /// aside and rebuilt from the mirror; records sled lost are restored from the mirror. Only
    /// an unusable directory (permissions, full disk, another process holding it) is an error.
    pub fn open(dir: &Path, opts: QueueOptions) -> Result<(Outbox, OpenReport), QueueError> {
        Self::open_with_clock(dir, opts, SystemClock::shared())
    }

    /// [`Outbox::open`] with the time taken from `clock`: record timestamps (created, updated,
    /// synced, delivered), quarantine and mirror times, and the cut-off and period of
    /// [`Outbox::compact_periodically`]. Tests hand a `ManualClock` and let days pass.
    pub fn open_with_clock(
        dir: &Path,
        opts: QueueOptions,
        clock: SharedClock,
    ) -> Result<(Outbox, OpenReport), QueueError> {
        let now = clock.now_utc();
        crate::infra::fs::create_private_dir_all(dir)
            .map_err(|e| QueueError::io(format!("creating {}", dir.display()), e))?;
        let db_dir = dir.join(DB_DIR);
        let mirror_dir = dir.join(MIRROR_DIR);
        let mut report = OpenReport::default();

        let opened = open_sled(&db_dir, &opts).and_then(|db| {
            let scan = scan(&db)?;
            Ok((db, scan))
        });
        let (db, mut scan) = match opened {
            Ok(found) => found,
            Err(QueueError::Corrupt(reason)) => {
                tracing::error!(
                    "queue: database at {} is damaged ({reason}); moving it aside and \
                     rebuilding from the mirror",
                    db_dir.display()
                );
                let aside = move_aside(&db_dir, now)?;
                report.moved_aside = Some(aside);
                report.corruption = Some(reason);
                let db = open_sled(&db_dir, &opts)?;
                let scan = scan(&db)?;
                (db, scan)
            }
            Err(e) => return Err(e),
        };
        let records = db
            .open_tree(RECORDS_TREE)
            .map_err(|e| QueueError::sled("opening the records tree", e))?;
        let quarantine = db
            .open_tree(QUARANTINE_TREE)
            .map_err(|e| QueueError::sled("opening the quarantine tree", e))?;

        for (key, value, reason) in std::mem::take(&mut scan.bad) {
            let q = quarantine_value(&key, &value, &reason, now);
            tracing::error!(key = %q.key, "queue: record failed its integrity check, quarantined: {reason}");
            put_quarantine(&quarantine, &q)?;
            records
                .remove(&key)
                .map_err(|e| QueueError::sled("removing a damaged record", e))?;
            report.quarantined.push(q);
        }
        for record in std::mem::take(&mut scan.migrated) {
            write_record(&records, &record)?;
            report.migrated += 1;
        }

        reconcile_with_mirror(&records, &mirror_dir, &mut scan, &mut report);

        db.insert(META_SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes()[..])
            .map_err(|e| QueueError::sled("writing the schema version", e))?;
        match db.flush() {
            Ok(_) => {}
            // A full disk must not keep the box from answering: what is stored is read, and
            // this start-up's own writes wait for the next flush that gets through.
            Err(e) => {
                let e = QueueError::sled("flushing after the start-up check", e);
                if !e.is_disk_full() {
                    return Err(e);
                }
                tracing::error!(error = %e, "queue: data partition full; start-up writes deferred");
                report.deferred_writes = Some(e.to_string());
            }
        }

        let mut ids = IdGenerator::default();
        let mut index = BTreeMap::new();
        let mut last_synced_at = None;
        for (id, record) in &scan.records {
            ids.observe(id);
            last_synced_at = last_synced_at.max(record.synced_at);
            index.insert(id.clone(), Entry::of(record, true));
        }
        let mirror = Mirror::open(
            &mirror_dir,
            opts.mirror_max_bytes,
            opts.mirror_keep_files,
            now,
        )?;
        report.records = index.len();
        if !report.is_clean() {
            tracing::warn!(?report, "queue: opened with repairs");
        }
        let (changed, _) = watch::channel(0);
        let outbox = Outbox {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                db,
                records,
                quarantine,
                opts,
                state: Mutex::new(State {
                    index,
                    in_flight: BTreeSet::new(),
                    ids,
                    mirror,
                    last_enqueue_at: None,
                    last_synced_at,
                    last_storage_error: None,
                    rescued: BTreeMap::new(),
                }),
                changed,
                clock,
            }),
        };
        Ok((outbox, report))
    }

    /// Every record as the mirror holds it, without opening sled: for reading the queue while
    /// `callbox run` holds the database. Synced records older than the mirror's rotated files
    /// may be missing; unfinished work is always there.
    pub fn read_mirror(dir: &Path) -> Result<Vec<Record>, QueueError> {
        Ok(mirror::replay(&dir.join(MIRROR_DIR))?
            .records
            .into_values()
            .collect())
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn options(&self) -> &QueueOptions {
        &self.inner.opts
    }

    /// Adds work for ServiceTitan. Returns once the record is flushed in sled and fsynced in
    /// the mirror — only then may the caller hear "booked". On error nothing was queued.
    pub async fn enqueue(&self, payload: Payload) -> Result<RecordId, QueueError> {
        let now = self.now();
        let (id, file) = {
            let mut st = self.lock();
            let id = st.ids.next(now);
            let record = Record::new(id.clone(), payload, now);
            let file = self.store(&mut st, &record, now, false)?;
            (id, file)
        };
        if let Err(e) = self.make_durable(file).await {
            self.roll_back_enqueue(&id);
            self.note_result::<()>(&Err(&e));
            return Err(e);
        }
        {
            let mut st = self.lock();
            if let Some(entry) = st.index.get_mut(&id) {
                entry.durable = true;
            }
            st.last_enqueue_at = Some(now);
            st.last_storage_error = None;
        }
        self.notify();
        Ok(id)
    }

    /// The record, or `None` when there is none with that id. A record that fails its checksum
    /// here is quarantined and reported as [`QueueError::Corrupt`].
    pub fn get(&self, id: &RecordId) -> Result<Option<Record>, QueueError> {
        let mut st = self.lock();
        self.load(&mut st, id)
    }

    /// Records matching `filter`, oldest first. Damaged ones are quarantined and skipped.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Record>, QueueError> {
        let mut st = self.lock();
        let ids: Vec<RecordId> = st
            .index
            .iter()
            .filter(|(_, e)| filter.state.is_none_or(|s| s == e.state))
            .filter(|(_, e)| filter.kind.is_none_or(|k| k == e.kind))
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ids {
            if filter.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            match self.load(&mut st, &id) {
                Ok(Some(record)) => out.push(record),
                Ok(None) | Err(QueueError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The voicemail the caller of `call_key` left, if any (issue 15: a page for that call
    /// says so). Synced records count until compaction removes them.
    pub fn voicemail_of_call(
        &self,
        call_key: &str,
    ) -> Result<Option<crate::trade::VoicemailMessage>, QueueError> {
        let filter = ListFilter {
            state: None,
            kind: Some(super::RecordKind::Voicemail),
            limit: None,
        };
        Ok(self
            .list(&filter)?
            .into_iter()
            .find_map(|r| match r.payload {
                super::Payload::Voicemail(v) if v.call_key == call_key => Some(v),
                _ => None,
            }))
    }

    /// The oldest record the sync should work on now: queued and past its back-off, or left in
    /// `syncing` by a crash (it resumes from its checkpoint). Records this process is already
    /// syncing are not returned again.
    pub fn next_due(&self, now: DateTime<Utc>) -> Result<Option<Record>, QueueError> {
        let mut st = self.lock();
        let candidates: Vec<RecordId> = st
            .index
            .iter()
            .filter(|(id, e)| {
                e.durable
                    && match e.state {
                        StateName::Queued => e.next_attempt_at.is_none_or(|t| t <= now),
                        StateName::Syncing => !st.in_flight.contains(*id),
                        StateName::Synced | StateName::NeedsAttention => false,
                    }
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.first_loadable(&mut st, candidates)
    }

    /// When the sync should look again if [`Outbox::next_due`] found nothing: the earliest
    /// back-off expiry. `None` = nothing is waiting (sleep until [`Outbox::subscribe`] fires).
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        let st = self.lock();
        st.index
            .values()
            .filter(|e| e.durable && e.state == StateName::Queued)
            .map(|e| e.next_attempt_at.unwrap_or(e.created_at))
            .min()
    }

    /// Bumps whenever the queue changes (enqueue, retry, import, any state change): the sync
    /// worker waits on it instead of polling.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// The sync starts on a record: queued → syncing (or syncing → syncing when resuming after
    /// a crash). Counts an attempt. Returns the record with its checkpointed progress.
    pub async fn begin_sync(&self, id: &RecordId) -> Result<Record, QueueError> {
        self.update(id, "begin a sync", |r, _| match r.state {
            RecordState::Queued | RecordState::Syncing => {
                r.state = RecordState::Syncing;
                r.attempts = r.attempts.saturating_add(1);
                r.next_attempt_at = None;
                true
            }
            _ => false,
        })
        .await
    }

    /// Durably records how far the sync got (after each create in ServiceTitan), so a retry
    /// never repeats a step. Only while syncing.
    pub async fn checkpoint(
        &self,
        id: &RecordId,
        progress: SyncProgress,
    ) -> Result<(), QueueError> {
        self.update(id, "checkpoint", move |r, _| {
            if r.state != RecordState::Syncing {
                return false;
            }
            r.progress = progress;
            true
        })
        .await
        .map(|_| ())
    }

    /// The record is in ServiceTitan: syncing → synced, with the ids it got.
    pub async fn mark_synced(
        &self,
        id: &RecordId,
        progress: SyncProgress,
    ) -> Result<Record, QueueError> {
        let now = self.now();
        let record = self
            .update(id, "mark it synced", move |r, _| {
                if r.state != RecordState::Syncing {
                    return false;
                }
                r.state = RecordState::Synced;
                r.progress = progress;
                r.synced_at = Some(now);
                r.next_attempt_at = None;
                r.last_error = None;
                true
            })
            .await?;
        self.lock().last_synced_at = Some(now);
        Ok(record)
    }

    /// The attempt failed for a reason of this record's own, worth retrying: syncing → queued,
    /// not before `at`. After `max_attempts_before_attention` such failures it goes to
    /// needs-attention instead, so nothing retries silently forever. Returns the state it
    /// ended in. (A ServiceTitan outage is not the record's failure: see
    /// [`Outbox::hold_for_outage`].)
    pub async fn schedule_retry(
        &self,
        id: &RecordId,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<RecordState, QueueError> {
        let error = error.to_string();
        self.update(id, "schedule a retry", move |r, opts| {
            if !matches!(r.state, RecordState::Syncing | RecordState::Queued) {
                return false;
            }
            r.last_error = Some(error.clone());
            r.failures = r.failures.saturating_add(1);
            if r.failures >= opts.max_attempts_before_attention {
                r.state = RecordState::NeedsAttention {
                    reason: format!("gave up after {} attempts: {error}", r.failures),
                };
                r.next_attempt_at = None;
            } else {
                r.state = RecordState::Queued;
                r.next_attempt_at = Some(at);
            }
            true
        })
        .await
        .map(|r| r.state)
    }

    /// ServiceTitan could not be reached or would not serve anyone (network, timeouts, 5xx,
    /// 429, credentials), or the record waits for another: syncing → queued, not before `at`,
    /// with the reason. Counts nothing against the record and never sends it to
    /// needs-attention.
    pub async fn hold_for_outage(
        &self,
        id: &RecordId,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), QueueError> {
        let error = error.to_string();
        self.update(id, "hold it for an outage", move |r, _| {
            if !matches!(r.state, RecordState::Syncing | RecordState::Queued) {
                return false;
            }
            r.last_error = Some(error);
            r.state = RecordState::Queued;
            r.next_attempt_at = Some(at);
            true
        })
        .await
        .map(|_| ())
    }

    /// This process stopped working on `id` without a durable state change (a storage error
    /// mid-sync): a record left in `syncing` becomes resumable by the next round again.
    pub fn release(&self, id: &RecordId) {
        self.lock().in_flight.remove(id);
    }

    /// Sending this record cannot succeed without a person (ServiceTitan rejected the data,
    /// the job it refers to does not exist, …).
    pub async fn mark_needs_attention(
        &self,
        id: &RecordId,
        reason: &str,
    ) -> Result<(), QueueError> {
        let reason = reason.to_string();
        self.update(id, "mark it as needing attention", move |r, _| {
            if !matches!(r.state, RecordState::Queued | RecordState::Syncing) {
                return false;
            }
            r.last_error = Some(reason.clone());
            r.state = RecordState::NeedsAttention { reason };
            r.next_attempt_at = None;
            true
        })
        .await
        .map(|_| ())
    }

    /// A person fixed the cause: needs-attention → queued with a fresh attempt count. On a
    /// queued record it skips the back-off ("sync now"). What the record knows is kept: its
    /// checkpoints, and the creates in doubt, which are looked up before being sent again.
    pub async fn retry(&self, id: &RecordId) -> Result<Record, QueueError> {
        self.update(id, "retry", |r, _| match r.state {
            RecordState::NeedsAttention { .. } | RecordState::Queued => {
                r.state = RecordState::Queued;
                r.attempts = 0;
                r.failures = 0;
                r.next_attempt_at = None;
                true
            }
            _ => false,
        })
        .await
    }

    // ---- the on-call alert lane (the alert dispatcher's; independent of the sync's state) ----

    /// The oldest on-call alert due for delivery at `now` (pending and past its back-off).
    pub fn next_alert_due(&self, now: DateTime<Utc>) -> Result<Option<Record>, QueueError> {
        let mut st = self.lock();
        let candidates: Vec<RecordId> = st
            .index
            .iter()
            .filter(|(_, e)| {
                e.durable && e.alert_pending && e.alert_next_at.is_none_or(|t| t <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.first_loadable(&mut st, candidates)
    }

    /// When the dispatcher should look again if nothing is due: the earliest alert back-off.
    pub fn next_alert_wakeup(&self) -> Option<DateTime<Utc>> {
        let st = self.lock();
        st.index
            .values()
            .filter(|e| e.durable && e.alert_pending)
            .map(|e| e.alert_next_at.unwrap_or(e.created_at))
            .min()
    }

    /// A delivery attempt starts: counted durably, so attempts survive a restart.
    pub async fn begin_alert(&self, id: &RecordId) -> Result<Record, QueueError> {
        self.update_lane(id, "begin an alert delivery", Lane::Alert, |r, _| {
            if !r.alert.pending {
                return false;
            }
            r.alert.attempts = r.alert.attempts.saturating_add(1);
            true
        })
        .await
    }

    /// One channel accepted the alert: durably noted before the next channel is tried, so a
    /// crash or retry does not send it there again.
    pub async fn alert_delivered_to(&self, id: &RecordId, channel: &str) -> Result<(), QueueError> {
        let channel = channel.to_string();
        self.update_lane(id, "note an alert channel", Lane::Alert, move |r, _| {
            if !r.alert.pending {
                return false;
            }
            if !r.alert.delivered_to.contains(&channel) {
                r.alert.delivered_to.push(channel);
            }
            true
        })
        .await
        .map(|_| ())
    }

    /// Every channel has it: pending → delivered.
    pub async fn mark_alert_delivered(&self, id: &RecordId) -> Result<Record, QueueError> {
        let now = self.now();
        self.update_lane(id, "mark an alert delivered", Lane::Alert, move |r, _| {
            if !r.alert.pending {
                return false;
            }
            r.alert.pending = false;
            r.alert.delivered_at = Some(now);
            r.alert.next_attempt_at = None;
            r.alert.last_error = None;
            true
        })
        .await
    }

    /// The attempt failed: try again at `at`. Alerts never give up by themselves (a gas leak
    /// report is worth retrying until a person sees it); `last_error` says why on the status page.
    pub async fn schedule_alert_retry(
        &self,
        id: &RecordId,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), QueueError> {
        let error = error.to_string();
        self.update_lane(id, "schedule an alert retry", Lane::Alert, move |r, _| {
            if !r.alert.pending {
                return false;
            }
            r.alert.next_attempt_at = Some(at);
            r.alert.last_error = Some(error);
            true
        })
        .await
        .map(|_| ())
    }

    /// The paging ladder's progress, stored before and after every page call; the alert is
    /// looked at again at `next_at` (`None`: as soon as the dispatcher passes). Clears the
    /// last error: a ladder waiting between calls is not failing.
    pub async fn save_page(
        &self,
        id: &RecordId,
        page: &PageProgress,
        next_at: Option<DateTime<Utc>>,
    ) -> Result<Record, QueueError> {
        let mut page = page.clone();
        self.update_lane(id, "save the paging ladder", Lane::Alert, move |r, _| {
            if !r.alert.pending {
                return false;
            }
            // An acknowledgement noted meanwhile (the web page) is never overwritten.
            if page.acknowledged.is_none() {
                page.acknowledged = r.alert.page.as_ref().and_then(|p| p.acknowledged.clone());
            }
            r.alert.page = Some(page);
            r.alert.next_attempt_at = next_at;
            true
        })
        .await
    }

    /// Someone took the alert outside a page call (the web page's On-call view): noted at
    /// once, and the ladder stops at the dispatcher's next pass. An alert already taken keeps
    /// its first acknowledgement.
    pub async fn acknowledge_alert(
        &self,
        id: &RecordId,
        ack: PageAcknowledgement,
    ) -> Result<Record, QueueError> {
        self.update_lane(id, "acknowledge an alert", Lane::Alert, move |r, _| {
            if r.kind() != RecordKind::OnCallAlert {
                return false;
            }
            let page = r.alert.page.get_or_insert_with(PageProgress::default);
            if page.acknowledged.is_some() {
                return false;
            }
            page.acknowledged = Some(ack);
            if r.alert.pending {
                r.alert.next_attempt_at = None;
            }
            true
        })
        .await
    }

    /// Removes synced records that reached ServiceTitan more than `retention` before `now`.
    /// This is what keeps the queue's disk use bounded.
    pub async fn compact(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<CompactReport, QueueError> {
        let cutoff = chrono::Duration::from_std(retention)
            .ok()
            .and_then(|r| now.checked_sub_signed(r));
        let Some(cutoff) = cutoff else {
            return Ok(CompactReport::default());
        };
        let file = {
            let mut st = self.lock();
            let old: Vec<RecordId> = st
                .index
                .iter()
                // An alert the technician has not had yet stays, even once the office has it.
                .filter(|(_, e)| e.state == StateName::Synced && !e.alert_pending)
                .map(|(id, _)| id.clone())
                .collect();
            let mut doomed = Vec::new();
            for id in old {
                match self.load(&mut st, &id) {
                    Ok(Some(r)) if r.synced_at.is_none_or(|t| t <= cutoff) => doomed.push(id),
                    Ok(_) | Err(QueueError::Corrupt(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            if doomed.is_empty() {
                return Ok(CompactReport::default());
            }
            let mut text = String::new();
            for id in &doomed {
                text.push_str(
                    &MirrorLine::Remove {
                        id: id.clone(),
                        at: now,
                    }
                    .to_line()?,
                );
            }
            let file = match self.mirror_write(&mut st, &text, now) {
                Ok(file) => file,
                Err(e) => {
                    st.last_storage_error = Some(e.to_string());
                    return Err(e);
                }
            };
            for id in &doomed {
                self.inner
                    .records
                    .remove(id.as_str())
                    .map_err(|e| QueueError::sled("compacting", e))?;
                st.index.remove(id);
            }
            (file, doomed.len())
        };
        let (file, removed) = file;
        let result = self.make_durable(file).await;
        self.note_result(&result.as_ref().map(|_| ()));
        result?;
        Ok(CompactReport { removed })
    }

    /// Flushes the database to disk, for a clean stop (every enqueue and state change is
    /// already durable when it returns).
    pub async fn flush(&self) -> Result<(), QueueError> {
        self.inner
            .db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::sled("flushing the queue", e))
    }

    /// Compacts at once and then every `every` of the queue's clock, with the configured
    /// retention, until the task is dropped. The appliance spawns this next to the sync worker.
    pub async fn compact_periodically(&self, every: Duration) {
        loop {
            match self.compact(self.now(), self.inner.opts.retention).await {
                Ok(r) if r.removed > 0 => {
                    tracing::info!(removed = r.removed, "queue: compacted synced records")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("queue: compaction failed, will try again: {e}"),
            }
            self.inner.clock.sleep(every).await;
        }
    }

    /// Writes every record as one JSON object per line (oldest first). Returns how many.
    pub fn export_jsonl(&self, mut out: impl Write) -> Result<usize, QueueError> {
        let records = self.list(&ListFilter::default())?;
        for record in &records {
            let line =
                serde_json::to_string(record).map_err(|e| QueueError::Encode(e.to_string()))?;
            writeln!(out, "{line}").map_err(|e| QueueError::io("writing the export", e))?;
        }
        out.flush()
            .map_err(|e| QueueError::io("writing the export", e))?;
        Ok(records.len())
    }

    /// Reads what [`Outbox::export_jsonl`] wrote (any schema version this build knows). Records
    /// whose id is already in the queue are skipped, so an import can be repeated safely.
    pub async fn import_jsonl(&self, input: impl BufRead) -> Result<ImportReport, QueueError> {
        let now = self.now();
        let mut report = ImportReport::default();
        let mut last_file = None;
        for (n, line) in input.lines().enumerate() {
            let line_no = n + 1;
            let line = line.map_err(|e| QueueError::io("reading the import", e))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed = serde_json::from_str::<serde_json::Value>(&line)
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|value| {
                    let version = value
                        .get("schema_version")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|v| u32::try_from(v).ok())
                        .ok_or_else(|| "no schema_version".to_string())?;
                    record_from_value(value, version)
                });
            let record = match parsed {
                Ok(opened) => opened.record,
                Err(reason) => {
                    report.rejected.push((line_no, reason));
                    continue;
                }
            };
            let mut st = self.lock();
            if st.index.contains_key(&record.id) {
                report.already_present += 1;
                continue;
            }
            st.ids.observe(&record.id);
            last_file = Some(self.store(&mut st, &record, now, true)?);
            report.imported += 1;
        }
        if let Some(file) = last_file {
            self.make_durable(file).await?;
            self.notify();
        }
        Ok(report)
    }

    /// Records per state, and how many are quarantined.
    pub fn counts(&self) -> QueueCounts {
        let st = self.lock();
        self.counts_locked(&st)
    }

    /// The status page's view of the queue.
    pub fn status(&self) -> QueueStatus {
        self.status_at(self.now())
    }

    pub fn status_at(&self, now: DateTime<Utc>) -> QueueStatus {
        let st = self.lock();
        let oldest_unsynced_at = st
            .index
            .values()
            .filter(|e| matches!(e.state, StateName::Queued | StateName::Syncing))
            .map(|e| e.created_at)
            .min();
        let next_attempt_at = st
            .index
            .values()
            .filter(|e| e.state == StateName::Queued)
            .filter_map(|e| e.next_attempt_at)
            .min();
        QueueStatus {
            counts: self.counts_locked(&st),
            oldest_unsynced_at,
            oldest_unsynced_age_secs: oldest_unsynced_at.map(|t| (now - t).num_seconds().max(0)),
            next_attempt_at,
            last_enqueue_at: st.last_enqueue_at,
            last_synced_at: st.last_synced_at,
            last_storage_error: st.last_storage_error.clone(),
            disk_bytes: dir_size(&self.inner.dir),
        }
    }

    /// The calls whose records are not finished: not yet synced (queued, syncing, needing
    /// attention, or still being written), an alert not yet delivered, or quarantined (their
    /// key read from the stored bytes). Housekeeping keeps these calls' recordings and records.
    pub fn unsynced_call_keys(&self) -> Result<BTreeSet<String>, QueueError> {
        let mut keys: BTreeSet<String> = {
            let st = self.lock();
            st.index
                .values()
                .filter(|e| e.state != StateName::Synced || !e.durable || e.alert_pending)
                .map(|e| e.call_key.clone())
                .collect()
        };
        for q in self.quarantined()? {
            if let Some(key) = call_key_in(&q.raw_text()) {
                keys.insert(key);
            }
        }
        keys.remove("");
        Ok(keys)
    }

    /// Records set aside by the integrity check.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, QueueError> {
        self.inner
            .quarantine
            .iter()
            .map(|item| {
                let (_, value) = item.map_err(|e| QueueError::sled("reading quarantine", e))?;
                serde_json::from_slice(&value).map_err(|e| QueueError::Encode(e.to_string()))
            })
            .collect()
    }

    /// Bytes the queue directory takes (sled files and mirror).
    pub fn size_on_disk(&self) -> u64 {
        dir_size(&self.inner.dir)
    }

    // ---- internals -------------------------------------------------------------------------

    #[cfg(test)]
    pub(crate) fn inner_records(&self) -> &sled::Tree {
        &self.inner.records
    }

    /// The queue's clock's wall time.
    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now_utc()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the index as consistent as sled is;
        // carrying on beats refusing every booking for the rest of the night.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn notify(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn counts_locked(&self, st: &State) -> QueueCounts {
        let mut c = QueueCounts {
            quarantined: self.inner.quarantine.len(),
            ..QueueCounts::default()
        };
        for e in st.index.values() {
            if e.alert_pending {
                c.alerts_undelivered += 1;
            }
            match e.state {
                StateName::Queued => c.queued += 1,
                StateName::Syncing => c.syncing += 1,
                StateName::Synced => c.synced += 1,
                StateName::NeedsAttention => c.needs_attention += 1,
            }
        }
        c
    }

    /// Remembers the last storage failure for the status page.
    fn note_result<T>(&self, result: &Result<T, &QueueError>) {
        let mut st = self.lock();
        st.last_storage_error = result.as_ref().err().map(|e| e.to_string());
    }

    /// The first of `ids` that loads; damaged ones are quarantined (by `load`) and skipped.
    fn first_loadable(
        &self,
        st: &mut State,
        ids: Vec<RecordId>,
    ) -> Result<Option<Record>, QueueError> {
        for id in ids {
            match self.load(st, &id) {
                Ok(Some(record)) => return Ok(Some(record)),
                Ok(None) | Err(QueueError::Corrupt(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Reads a record; quarantines it if it fails its check.
    fn load(&self, st: &mut State, id: &RecordId) -> Result<Option<Record>, QueueError> {
        let Some(value) = self
            .inner
            .records
            .get(id.as_str())
            .map_err(|e| QueueError::sled("reading a record", e))?
        else {
            st.index.remove(id);
            return Ok(None);
        };
        match decode(id.as_str().as_bytes(), &value) {
            Ok(opened) => Ok(Some(opened.record)),
            Err(reason) => {
                let q = quarantine_value(id.as_str().as_bytes(), &value, &reason, self.now());
                tracing::error!(%id, "queue: record failed its integrity check, quarantined: {reason}");
                put_quarantine(&self.inner.quarantine, &q)?;
                self.inner
                    .records
                    .remove(id.as_str())
                    .map_err(|e| QueueError::sled("removing a damaged record", e))?;
                st.index.remove(id);
                st.in_flight.remove(id);
                if let Some(line) = self.last_mirror_copy(id) {
                    st.rescued.insert(id.clone(), line);
                }
                Err(QueueError::Corrupt(format!("record {id}: {reason}")))
            }
        }
    }

    /// Writes a record to the mirror (first: a full card shows up before sled holds anything
    /// the mirror lacks) and to sled, and indexes it. Durability is the caller's next step.
    fn store(
        &self,
        st: &mut State,
        record: &Record,
        now: DateTime<Utc>,
        durable: bool,
    ) -> Result<Arc<File>, QueueError> {
        let stored = self.store_inner(st, record, now, durable);
        if let Err(e) = &stored {
            st.last_storage_error = Some(e.to_string());
        }
        stored
    }

    fn store_inner(
        &self,
        st: &mut State,
        record: &Record,
        now: DateTime<Utc>,
        durable: bool,
    ) -> Result<Arc<File>, QueueError> {
        let envelope = Envelope::seal(record).map_err(|e| QueueError::Encode(e.to_string()))?;
        let value = serde_json::to_vec(&envelope).map_err(|e| QueueError::Encode(e.to_string()))?;
        let line = MirrorLine::Put(envelope).to_line()?;
        let file = self.mirror_write(st, &line, now)?;
        self.inner
            .records
            .insert(record.id.as_str(), value)
            .map_err(|e| QueueError::sled("storing a record", e))?;
        st.index
            .insert(record.id.clone(), Entry::of(record, durable));
        st.rescued.remove(&record.id);
        if record.state == RecordState::Syncing {
            st.in_flight.insert(record.id.clone());
        } else {
            st.in_flight.remove(&record.id);
        }
        Ok(file)
    }

    fn mirror_write(
        &self,
        st: &mut State,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<File>, QueueError> {
        if st.mirror.needs_rotation(now, text.len() as u64) {
            let snapshot = self.snapshot_lines(st);
            st.mirror.rotate(now, &snapshot)?;
        }
        st.mirror.append(text)
    }

    /// The newest good copy of `id` the mirror holds, as a mirror line.
    fn last_mirror_copy(&self, id: &RecordId) -> Option<String> {
        let mut replay = mirror::replay(&self.inner.dir.join(MIRROR_DIR)).ok()?;
        let record = replay.records.remove(id)?;
        let envelope = Envelope::seal(&record).ok()?;
        MirrorLine::Put(envelope).to_line().ok()
    }

    /// Every unfinished record as mirror lines, to start a rotated mirror file with, and the
    /// last good copies of records quarantined while running.
    fn snapshot_lines(&self, st: &State) -> Vec<String> {
        let rescued = st
            .rescued
            .iter()
            .filter(|(id, _)| !st.index.contains_key(*id))
            .map(|(_, line)| line.clone());
        st.index
            .iter()
            .filter(|(_, e)| e.state != StateName::Synced || e.alert_pending)
            .filter_map(|(id, _)| {
                let value = self.inner.records.get(id.as_str()).ok()??;
                let envelope: Envelope = serde_json::from_slice(&value).ok()?;
                MirrorLine::Put(envelope).to_line().ok()
            })
            .chain(rescued)
            .collect()
    }

    /// Flushes sled and fsyncs the mirror file that was written, concurrently.
    async fn make_durable(&self, mirror_file: Arc<File>) -> Result<(), QueueError> {
        let fsync = tokio::task::spawn_blocking(move || mirror_file.sync_data());
        let flush = self.inner.db.flush_async();
        let (flushed, synced) = tokio::join!(flush, fsync);
        flushed.map_err(|e| QueueError::sled("flushing the queue", e))?;
        synced
            .map_err(|e| QueueError::Storage(format!("mirror fsync task failed: {e}")))?
            .map_err(|e| QueueError::io("syncing the queue mirror", e))?;
        Ok(())
    }

    /// Read-modify-write of one record under the lock, then made durable. `change` returns
    /// false when the record's state does not allow `action`.
    async fn update<F>(
        &self,
        id: &RecordId,
        action: &'static str,
        change: F,
    ) -> Result<Record, QueueError>
    where
        F: FnOnce(&mut Record, &QueueOptions) -> bool,
    {
        self.update_lane(id, action, Lane::Sync, change).await
    }

    async fn update_lane<F>(
        &self,
        id: &RecordId,
        action: &'static str,
        lane: Lane,
        change: F,
    ) -> Result<Record, QueueError>
    where
        F: FnOnce(&mut Record, &QueueOptions) -> bool,
    {
        let now = self.now();
        let (record, file) = {
            let mut st = self.lock();
            let mut record = self
                .load(&mut st, id)?
                .ok_or_else(|| QueueError::NotFound(id.clone()))?;
            let before = record.state.name();
            let was_in_flight = st.in_flight.contains(id);
            if !change(&mut record, &self.inner.opts) {
                return Err(QueueError::InvalidTransition {
                    id: id.clone(),
                    state: before,
                    action,
                });
            }
            record.revision += 1;
            record.updated_at = now;
            let file = self.store(&mut st, &record, now, true)?;
            // `store` takes a stored `syncing` record to be this process's sync at work. An
            // alert-lane change says nothing about that: a record a crash left in `syncing`
            // must stay resumable by the sync.
            if lane == Lane::Alert && !was_in_flight {
                st.in_flight.remove(id);
            }
            (record, file)
        };
        let result = self.make_durable(file).await;
        self.note_result(&result.as_ref().map(|_| ()));
        result?;
        self.notify();
        Ok(record)
    }

    /// Undoes an enqueue whose flush failed, so the caller's "not booked" stays true.
    fn roll_back_enqueue(&self, id: &RecordId) {
        let mut st = self.lock();
        st.index.remove(id);
        if let Err(e) = self.inner.records.remove(id.as_str()) {
            tracing::error!(%id, "queue: cannot undo a failed enqueue: {e}");
        }
        let line = MirrorLine::Remove {
            id: id.clone(),
            at: self.now(),
        }
        .to_line();
        let appended = line.and_then(|line| st.mirror.append(&line));
        // The removal must be as durable as the line it undoes, or a restart would bring back
        // a booking the caller was told did not go through.
        match appended.and_then(|file| {
            file.sync_data()
                .map_err(|e| QueueError::io("syncing the queue mirror", e))
        }) {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(%id, "queue: cannot note the undone enqueue in the mirror: {e}")
            }
        }
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

fn open_sled(db_dir: &Path, opts: &QueueOptions) -> Result<sled::Db, QueueError> {
    let config = sled::Config::new()
        .path(db_dir)
        .cache_capacity(opts.cache_capacity_bytes)
        // Our own flushes make each write durable; this only bounds what a crash can lose of
        // writes made outside them.
        .flush_every_ms(Some(200))
        .mode(sled::Mode::LowSpace);
    // A handle dropped a moment ago still holds the file lock until sled's flusher thread
    // wakes (flush_every_ms) and lets go of it; so does a predecessor process being stopped.
    // Wait that out for a bounded time before calling the queue locked.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    loop {
        match open_sled_once(&config, db_dir) {
            Err(QueueError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn open_sled_once(config: &sled::Config, db_dir: &Path) -> Result<sled::Db, QueueError> {
    // sled has been seen to panic instead of returning Corruption on some damaged files.
    match std::panic::catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if format!("{e}").contains("could not acquire lock") => {
            Err(QueueError::Locked {
                path: db_dir.display().to_string(),
            })
        }
        // The version and config are pinned, so "unsupported" at open means a damaged `conf`.
        Ok(Err(sled::Error::Unsupported(msg))) => Err(QueueError::Corrupt(format!(
            "sled refuses the database files: {msg}"
        ))),
        Ok(Err(e)) => Err(QueueError::sled("opening the queue database", e)),
        Err(panic) => Err(QueueError::Corrupt(format!(
            "sled panicked while opening: {}",
            panic_text(&*panic)
        ))),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Reads and checks every record. Per-record damage is collected for quarantine; damage that
/// stops sled from iterating is `Corrupt` (the database is moved aside).
fn scan(db: &sled::Db) -> Result<Scan, QueueError> {
    let records = db
        .open_tree(RECORDS_TREE)
        .map_err(|e| QueueError::sled("opening the records tree", e))?;
    let mut out = Scan::default();
    let walk = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<(), QueueError> {
        for item in records.iter() {
            let (key, value) = item.map_err(|e| match e {
                sled::Error::Io(_) => QueueError::sled("reading the queue", e),
                other => QueueError::Corrupt(format!("reading the queue: {other}")),
            })?;
            match decode(&key, &value) {
                Ok(opened) => {
                    if opened.migrated_from.is_some() {
                        out.migrated.push(opened.record.clone());
                    }
                    out.records.insert(opened.record.id.clone(), opened.record);
                }
                Err(reason) => out.bad.push((key, value, reason)),
            }
        }
        Ok(())
    }));
    match walk {
        Ok(Ok(())) => Ok(out),
        Ok(Err(e)) => Err(e),
        Err(panic) => Err(QueueError::Corrupt(format!(
            "sled panicked while reading: {}",
            panic_text(&*panic)
        ))),
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<super::record::Opened, String> {
    let envelope: Envelope =
        serde_json::from_slice(value).map_err(|e| format!("envelope does not parse: {e}"))?;
    let opened = envelope.open()?;
    if opened.record.id.as_str().as_bytes() != key {
        return Err(format!(
            "stored under key {} but holds record {}",
            String::from_utf8_lossy(key),
            opened.record.id
        ));
    }
    Ok(opened)
}

fn write_record(records: &sled::Tree, record: &Record) -> Result<(), QueueError> {
    let envelope = Envelope::seal(record).map_err(|e| QueueError::Encode(e.to_string()))?;
    let value = serde_json::to_vec(&envelope).map_err(|e| QueueError::Encode(e.to_string()))?;
    records
        .insert(record.id.as_str(), value)
        .map_err(|e| QueueError::sled("storing a record", e))?;
    Ok(())
}

fn quarantine_value(
    key: &[u8],
    value: &[u8],
    reason: &str,
    now: DateTime<Utc>,
) -> QuarantinedRecord {
    QuarantinedRecord {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
        quarantined_at: now,
        raw_hex: value.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn put_quarantine(tree: &sled::Tree, q: &QuarantinedRecord) -> Result<(), QueueError> {
    // Keyed by time as well, so a record damaged twice keeps both copies.
    let key = format!("{}@{}", q.key, q.quarantined_at.to_rfc3339());
    let value = serde_json::to_vec(q).map_err(|e| QueueError::Encode(e.to_string()))?;
    tree.insert(key.as_bytes(), value)
        .map_err(|e| QueueError::sled("quarantining a record", e))?;
    Ok(())
}

/// Brings sled in line with the mirror: records it lacks or holds an older revision of are
/// restored; records the mirror saw compacted are removed. A mirror that cannot be read is
/// reported, not fatal: sled alone is still the best copy there is.
fn reconcile_with_mirror(
    records: &sled::Tree,
    mirror_dir: &Path,
    scan: &mut Scan,
    report: &mut OpenReport,
) {
    let replay = match mirror::replay(mirror_dir) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("queue: cannot read the mirror to check the database: {e}");
            report.mirror_error = Some(e.to_string());
            return;
        }
    };
    report.mirror_bad_lines = replay.bad_lines;
    for id in &replay.removed {
        if scan.records.remove(id).is_some() {
            if let Err(e) = records.remove(id.as_str()) {
                tracing::error!(%id, "queue: cannot remove a compacted record: {e}");
            } else {
                report.removed_per_mirror += 1;
            }
        }
    }
    for (id, record) in replay.records {
        let newer = scan
            .records
            .get(&id)
            .is_none_or(|have| record.revision > have.revision);
        if !newer {
            continue;
        }
        match write_record(records, &record) {
            Ok(()) => {
                tracing::warn!(%id, revision = record.revision, "queue: restored from the mirror");
                scan.records.insert(id, record);
                report.restored_from_mirror += 1;
            }
            Err(e) => tracing::error!(%id, "queue: cannot restore from the mirror: {e}"),
        }
    }
}

/// Renames a database sled cannot open to `db.corrupt-<time>` (kept for a post-mortem).
fn move_aside(db_dir: &Path, now: DateTime<Utc>) -> Result<PathBuf, QueueError> {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let name = db_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DB_DIR.to_string());
    let mut aside = db_dir.with_file_name(format!("{name}.corrupt-{stamp}"));
    let mut n = 1;
    while aside.exists() {
        aside = db_dir.with_file_name(format!("{name}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    std::fs::rename(db_dir, &aside).map_err(|e| {
        QueueError::io(
            format!("moving the damaged database {} aside", db_dir.display()),
            e,
        )
    })?;
    if let Some(parent) = db_dir.parent() {
        if let Err(e) = crate::infra::fs::sync_dir(parent) {
            tracing::warn!("queue: cannot sync {}: {e}", parent.display());
        }
    }
    Ok(aside)
}

/// Sum of file sizes under `dir`, recursively (allocated blocks would hide sled's preallocation
/// on some file systems; the length is what fills the card eventually).
pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// The `call_key` value in a damaged record's text, when it can still be read (the payload
/// is a JSON string inside the envelope, so its quotes are escaped: the backslashes go first).
fn call_key_in(text: &str) -> Option<String> {
    let text = text.replace('\\', "");
    let after = &text[text.find("\"call_key\"")? + "\"call_key\"".len()..];
    let value = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let key: String = value.chars().take_while(|c| *c != '"').collect();
    (!key.is_empty()).then_some(key)
}
