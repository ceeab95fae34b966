//! Outbox tests: state transitions, integrity check, recovery, export/import, compaction.

use super::*;
use chrono::{TimeZone, Utc};
use std::path::Path;

pub(crate) fn caller() -> CallerInfo {
    CallerInfo {
        name: "Jane Doe".into(),
        phone_e164: Some("+15125550100".into()),
        callback_phone_e164: None,
    }
}

pub(crate) fn job(n: u32) -> Payload {
    let start = Utc.with_ymd_and_hms(2026, 1, 16, 15, 0, 0).unwrap();
    Payload::Job(JobRequest {
        call_key: format!("20260115T030000Z-{n:04}"),
        caller: caller(),
        known_customer_id: None,
        known_location_id: None,
        service_address: Address {
            street: "1 Main St".into(),
            unit: None,
            city: "Austin".into(),
            state: "TX".into(),
            zip: "78701".into(),
            country: "USA".into(),
        },
        problem_summary: "No heat, furnace clicks but won't light".into(),
        transcript: "Caller: my furnace stopped working tonight...".into(),
        urgency: Urgency::Emergency,
        job_type_hint: Some("no_heat".into()),
        business_unit_id: Some(7),
        job_type_id: Some(89),
        campaign_id: Some(1011),
        dialled_number: Some("+15125550199".into()),
        appointment: AppointmentWindow {
            start_utc: start,
            end_utc: start + chrono::Duration::hours(2),
            arrival_window_start_utc: Some(start),
            arrival_window_end_utc: Some(start + chrono::Duration::hours(4)),
        },
        assign_on_call_technician: true,
        booked_offline: false,
        confirmation_number: format!("CB-{n:04}"),
    })
}

pub(crate) fn open(dir: &Path) -> (Outbox, OpenReport) {
    Outbox::open(dir, QueueOptions::default()).unwrap()
}

#[tokio::test]
async fn enqueue_then_get() {
    let dir = tempfile::tempdir().unwrap();
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{report:?}");
    let id = q.enqueue(job(1)).await.unwrap();
    let r = q.get(&id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Queued);
    assert_eq!(r.payload, job(1));
    assert_eq!(q.counts().queued, 1);
}

fn db_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("db")
}

/// Opens sled directly (the outbox must be dropped) to damage or inspect what it stored. The
/// dropped outbox's background flusher may hold sled's file lock a moment longer: wait for it,
/// as `Outbox::open` does.
fn raw_records(dir: &Path) -> (sled::Db, sled::Tree) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let db = loop {
        match sled::open(db_dir(dir)) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening sled in {}: {e}", dir.display()),
        }
    };
    let tree = db.open_tree("records").unwrap();
    (db, tree)
}

fn progress_with_job(job_id: i64) -> SyncProgress {
    SyncProgress {
        customer_id: Some(123),
        location_id: Some(456),
        job_id: Some(job_id),
        job_number: Some(format!("J{job_id}")),
        appointment_id: Some(789),
        created_as: Some("job".into()),
        ..SyncProgress::default()
    }
}

#[tokio::test]
async fn a_record_goes_queued_syncing_synced() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let id = q.enqueue(job(1)).await.unwrap();
    let due = q.next_due(Utc::now()).unwrap().unwrap();
    assert_eq!(due.id, id);
    let r = q.begin_sync(&id).await.unwrap();
    assert_eq!((r.state, r.attempts), (RecordState::Syncing, 1));
    // While this process syncs it, it is not handed out again.
    assert!(q.next_due(Utc::now()).unwrap().is_none());
    q.checkpoint(
        &id,
        SyncProgress {
            customer_id: Some(123),
            ..SyncProgress::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(q.get(&id).unwrap().unwrap().progress.customer_id, Some(123));
    let r = q.mark_synced(&id, progress_with_job(42)).await.unwrap();
    assert_eq!(r.state, RecordState::Synced);
    assert!(r.synced_at.is_some());
    assert_eq!(r.progress.job_number.as_deref(), Some("J42"));
    assert_eq!(
        q.counts(),
        QueueCounts {
            synced: 1,
            ..QueueCounts::default()
        }
    );
    assert!(q.next_due(Utc::now()).unwrap().is_none());
}

#[tokio::test]
async fn invalid_transitions_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let id = q.enqueue(job(1)).await.unwrap();
    let invalid = |r: Result<_, QueueError>, from: StateName| match r {
        Err(QueueError::InvalidTransition { state, .. }) => assert_eq!(state, from),
        other => panic!("expected InvalidTransition from {from}, got {other:?}"),
    };
    invalid(
        q.checkpoint(&id, SyncProgress::default()).await,
        StateName::Queued,
    );
    invalid(
        q.mark_synced(&id, SyncProgress::default())
            .await
            .map(|_| ()),
        StateName::Queued,
    );
    q.begin_sync(&id).await.unwrap();
    q.mark_synced(&id, progress_with_job(1)).await.unwrap();
    let synced = q.get(&id).unwrap().unwrap();
    invalid(q.begin_sync(&id).await.map(|_| ()), StateName::Synced);
    invalid(q.retry(&id).await.map(|_| ()), StateName::Synced);
    invalid(q.mark_needs_attention(&id, "x").await, StateName::Synced);
    invalid(
        q.schedule_retry(&id, Utc::now(), "x").await.map(|_| ()),
        StateName::Synced,
    );
    invalid(
        q.checkpoint(&id, SyncProgress::default()).await,
        StateName::Synced,
    );
    assert_eq!(q.get(&id).unwrap().unwrap(), synced);

    let unknown = RecordId::parse("cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5").unwrap();
    assert!(matches!(
        q.begin_sync(&unknown).await,
        Err(QueueError::NotFound(_))
    ));
    assert!(q.get(&unknown).unwrap().is_none());
}

#[tokio::test]
async fn failures_back_off_then_need_attention_then_retry() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions {
        max_attempts_before_attention: 3,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(dir.path(), opts).unwrap();
    let id = q.enqueue(job(1)).await.unwrap();
    let now = Utc::now();
    let later = now + chrono::Duration::minutes(5);
    for attempt in 1..=2 {
        q.begin_sync(&id).await.unwrap();
        let state = q.schedule_retry(&id, later, "HTTP 503").await.unwrap();
        assert_eq!(state, RecordState::Queued, "attempt {attempt}");
        assert!(q.next_due(now).unwrap().is_none(), "backing off");
        assert_eq!(q.next_wakeup(), Some(later));
        assert_eq!(q.next_due(later).unwrap().unwrap().id, id);
    }
    q.begin_sync(&id).await.unwrap();
    let state = q.schedule_retry(&id, later, "HTTP 503").await.unwrap();
    let RecordState::NeedsAttention { reason } = state else {
        panic!("expected needs-attention, got {state:?}");
    };
    assert!(
        reason.contains("3 attempts") && reason.contains("HTTP 503"),
        "{reason}"
    );
    assert!(q.next_due(later).unwrap().is_none());
    assert_eq!(q.counts().needs_attention, 1);

    let r = q.retry(&id).await.unwrap();
    assert_eq!((r.state, r.attempts), (RecordState::Queued, 0));
    assert_eq!(q.next_due(now).unwrap().unwrap().id, id);
}

#[tokio::test]
async fn rejected_records_need_attention_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let bad = q.enqueue(job(1)).await.unwrap();
    let good = q.enqueue(job(2)).await.unwrap();
    q.begin_sync(&bad).await.unwrap();
    q.mark_needs_attention(&bad, "ServiceTitan 400: Zip is invalid")
        .await
        .unwrap();
    assert_eq!(q.next_due(Utc::now()).unwrap().unwrap().id, good);
    let r = q.get(&bad).unwrap().unwrap();
    assert_eq!(
        r.state,
        RecordState::NeedsAttention {
            reason: "ServiceTitan 400: Zip is invalid".into()
        }
    );
}

#[tokio::test]
async fn due_records_come_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(q.enqueue(job(n)).await.unwrap());
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids are time-ordered");
    for id in &ids {
        let due = q.next_due(Utc::now()).unwrap().unwrap();
        assert_eq!(&due.id, id);
        q.begin_sync(id).await.unwrap();
        q.mark_synced(id, SyncProgress::default()).await.unwrap();
    }
}

#[tokio::test]
async fn a_sync_interrupted_by_a_crash_resumes_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let (q, _) = open(dir.path());
        let id = q.enqueue(job(1)).await.unwrap();
        q.begin_sync(&id).await.unwrap();
        q.checkpoint(&id, progress_with_job(42)).await.unwrap();
        id
        // Dropped mid-sync: the process "died" here.
    };
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{report:?}");
    let due = q.next_due(Utc::now()).unwrap().unwrap();
    assert_eq!(due.id, id);
    assert_eq!(due.state, RecordState::Syncing);
    assert_eq!(
        due.progress.job_id,
        Some(42),
        "the job is not created twice"
    );
    let resumed = q.begin_sync(&id).await.unwrap();
    assert_eq!(resumed.attempts, 2);
    q.mark_synced(&id, resumed.progress).await.unwrap();
}

#[tokio::test]
async fn list_filters_by_state_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let j = q.enqueue(job(1)).await.unwrap();
    let n = q
        .enqueue(Payload::Note(JobNote {
            call_key: "k".into(),
            job_id: None,
            job_number: None,
            queue_ref: Some(j.clone()),
            text: "Gate code 4411".into(),
        }))
        .await
        .unwrap();
    q.enqueue(Payload::Callback(CallbackRequest {
        call_key: "k2".into(),
        caller: caller(),
        reason: "Wants a quote".into(),
        preferred_time: Some("after 5 pm".into()),
    }))
    .await
    .unwrap();
    q.begin_sync(&j).await.unwrap();
    let ids = |f: ListFilter| -> Vec<RecordId> {
        q.list(&f).unwrap().into_iter().map(|r| r.id).collect()
    };
    assert_eq!(ids(ListFilter::default()).len(), 3);
    assert_eq!(
        ids(ListFilter {
            state: Some(StateName::Syncing),
            ..ListFilter::default()
        }),
        vec![j.clone()]
    );
    assert_eq!(
        ids(ListFilter {
            kind: Some(RecordKind::Note),
            ..ListFilter::default()
        }),
        vec![n]
    );
    assert_eq!(
        ids(ListFilter {
            limit: Some(1),
            ..ListFilter::default()
        }),
        vec![j]
    );
}

#[tokio::test]
async fn a_record_with_a_bad_checksum_is_quarantined_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let (q, _) = open(dir.path());
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(q.enqueue(job(n)).await.unwrap());
        }
        ids
    };
    garble_body(dir.path(), &ids[1]);
    // Without the mirror, the damaged record cannot be restored: it stays in quarantine.
    std::fs::remove_dir_all(dir.path().join("mirror")).unwrap();

    let (q, report) = open(dir.path());
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(report.quarantined[0].key, ids[1].as_str());
    assert!(
        report.quarantined[0].reason.contains("checksum mismatch"),
        "{report:?}"
    );
    assert_eq!(report.restored_from_mirror, 0);
    assert!(q.get(&ids[1]).unwrap().is_none());
    assert_eq!(q.get(&ids[0]).unwrap().unwrap().payload, job(0));
    assert_eq!(q.get(&ids[2]).unwrap().unwrap().payload, job(2));
    assert_eq!(q.counts().queued, 2);
    assert_eq!(q.counts().quarantined, 1);
    let held = q.quarantined().unwrap();
    assert_eq!(held.len(), 1);
    assert!(held[0].raw_text().contains("FURNACE"), "raw bytes kept");
    // The rest go on.
    assert_eq!(q.next_due(Utc::now()).unwrap().unwrap().id, ids[0]);
}

#[tokio::test]
async fn a_record_with_a_bad_checksum_is_restored_from_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let (q, _) = open(dir.path());
        let id = q.enqueue(job(7)).await.unwrap();
        q.begin_sync(&id).await.unwrap();
        q.checkpoint(&id, progress_with_job(77)).await.unwrap();
        id
    };
    garble_body(dir.path(), &id);
    let (q, report) = open(dir.path());
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert_eq!(report.restored_from_mirror, 1, "{report:?}");
    let r = q.get(&id).unwrap().unwrap();
    assert_eq!(r.payload, job(7));
    assert_eq!(r.progress.job_id, Some(77));
    assert_eq!(q.counts().quarantined, 1, "the damaged copy is kept too");
}

#[tokio::test]
async fn damage_found_while_running_quarantines_that_record_only() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let a = q.enqueue(job(1)).await.unwrap();
    let b = q.enqueue(job(2)).await.unwrap();
    // Damage behind the outbox's back, as a bad SD card sector would.
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&q.inner_records().get(a.as_str()).unwrap().unwrap()).unwrap();
    envelope["crc32"] = serde_json::json!(1);
    q.inner_records()
        .insert(a.as_str(), serde_json::to_vec(&envelope).unwrap())
        .unwrap();
    assert!(matches!(q.get(&a), Err(QueueError::Corrupt(_))));
    assert_eq!(q.next_due(Utc::now()).unwrap().unwrap().id, b);
    assert_eq!(q.counts().quarantined, 1);
}

/// Changes the text inside a stored record's body without fixing its checksum.
fn garble_body(dir: &Path, id: &RecordId) {
    let (db, records) = raw_records(dir);
    let value = records.get(id.as_str()).unwrap().unwrap();
    let mut envelope: serde_json::Value = serde_json::from_slice(&value).unwrap();
    let body = envelope["body"]
        .as_str()
        .unwrap()
        .replace("furnace", "FURNACE");
    envelope["body"] = serde_json::json!(body);
    records
        .insert(id.as_str(), serde_json::to_vec(&envelope).unwrap())
        .unwrap();
    db.flush().unwrap();
}

/// How a power cut can leave sled's files.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// Every file overwritten with garbage.
    GarbleAll,
    /// The data file cut short mid-way.
    TruncateData,
    /// Garbage written into the middle of the data file.
    GarbleDataMiddle,
}

fn damage(db: &Path, how: Damage) {
    for path in walk(db) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        match how {
            Damage::GarbleAll => std::fs::write(&path, vec![0xA5u8; len.max(64)]).unwrap(),
            Damage::TruncateData if name == "db" => {
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len((len / 3) as u64).unwrap();
            }
            Damage::GarbleDataMiddle if name == "db" => {
                let mut bytes = std::fs::read(&path).unwrap();
                let (a, b) = (len / 4, len * 3 / 4);
                for byte in &mut bytes[a..b] {
                    *byte ^= 0x5A;
                }
                std::fs::write(&path, bytes).unwrap();
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn damaged_sled_files_lose_nothing_acknowledged() {
    for how in [
        Damage::GarbleAll,
        Damage::TruncateData,
        Damage::GarbleDataMiddle,
    ] {
        recover_after(how).await;
    }
}

/// Whatever sled makes of the damage (refuses to open, opens with records missing, returns
/// records that fail their checksum), every acknowledged record and its last state is back.
async fn recover_after(how: Damage) {
    let dir = tempfile::tempdir().unwrap();
    let (queued, synced, syncing) = {
        let (q, _) = open(dir.path());
        let queued = q.enqueue(job(1)).await.unwrap();
        let synced = q.enqueue(job(2)).await.unwrap();
        let syncing = q.enqueue(job(3)).await.unwrap();
        q.begin_sync(&synced).await.unwrap();
        q.mark_synced(&synced, progress_with_job(2)).await.unwrap();
        q.begin_sync(&syncing).await.unwrap();
        q.checkpoint(&syncing, progress_with_job(3)).await.unwrap();
        (queued, synced, syncing)
    };
    damage(&db_dir(dir.path()), how);
    let (q, report) = open(dir.path());
    eprintln!("{how:?}: {report:?}");
    assert!(!report.is_clean(), "{how:?}: damage went unnoticed");
    assert_eq!(
        q.get(&queued).unwrap().unwrap().state,
        RecordState::Queued,
        "{how:?}"
    );
    let s = q.get(&synced).unwrap().unwrap();
    assert_eq!(s.state, RecordState::Synced, "{how:?}");
    assert_eq!(s.progress.job_id, Some(2), "{how:?}");
    let r = q.get(&syncing).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Syncing, "{how:?}");
    assert_eq!(r.progress.job_id, Some(3), "{how:?}");
    let more = q.enqueue(job(4)).await.unwrap();
    drop(q);
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{how:?}: {report:?}");
    assert_eq!(q.list(&ListFilter::default()).unwrap().len(), 4, "{how:?}");
    assert!(q.get(&more).unwrap().is_some());
}

#[tokio::test]
async fn a_database_sled_cannot_open_is_moved_aside_and_rebuilt_from_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let (queued, synced, syncing) = {
        let (q, _) = open(dir.path());
        let queued = q.enqueue(job(1)).await.unwrap();
        let synced = q.enqueue(job(2)).await.unwrap();
        let syncing = q.enqueue(job(3)).await.unwrap();
        q.begin_sync(&synced).await.unwrap();
        q.mark_synced(&synced, progress_with_job(2)).await.unwrap();
        q.begin_sync(&syncing).await.unwrap();
        q.checkpoint(&syncing, progress_with_job(3)).await.unwrap();
        (queued, synced, syncing)
    };
    // Garble every sled file, as a power cut during a segment write can.
    for entry in walk(&db_dir(dir.path())) {
        let len = std::fs::metadata(&entry).unwrap().len() as usize;
        std::fs::write(&entry, vec![0xA5u8; len.max(64)]).unwrap();
    }
    let (q, report) = open(dir.path());
    let aside = report.moved_aside.clone().expect("database moved aside");
    assert!(aside.exists(), "kept for a post-mortem");
    assert!(
        aside
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("db.corrupt-"),
        "{aside:?}"
    );
    assert!(report.corruption.is_some());
    assert_eq!(report.restored_from_mirror, 3, "{report:?}");
    assert_eq!(q.get(&queued).unwrap().unwrap().state, RecordState::Queued);
    let s = q.get(&synced).unwrap().unwrap();
    assert_eq!(s.state, RecordState::Synced);
    assert_eq!(s.progress.job_id, Some(2));
    let r = q.get(&syncing).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Syncing);
    assert_eq!(r.progress.job_id, Some(3));
    // And the rebuilt queue works and survives another restart.
    let more = q.enqueue(job(4)).await.unwrap();
    drop(q);
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(q.list(&ListFilter::default()).unwrap().len(), 4);
    assert!(q.get(&more).unwrap().is_some());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn writes_sled_lost_are_restored_from_the_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let (q, _) = open(dir.path());
        q.enqueue(job(1)).await.unwrap()
    };
    // Keep this copy of the database: restoring it later is sled "losing" what came after.
    let old = dir.path().join("db-old");
    copy_dir(&db_dir(dir.path()), &old);
    let lost = {
        let (q, _) = open(dir.path());
        q.begin_sync(&id).await.unwrap();
        q.checkpoint(&id, progress_with_job(42)).await.unwrap();
        q.enqueue(job(2)).await.unwrap()
    };
    std::fs::remove_dir_all(db_dir(dir.path())).unwrap();
    std::fs::rename(&old, db_dir(dir.path())).unwrap();

    let (q, report) = open(dir.path());
    assert_eq!(report.restored_from_mirror, 2, "{report:?}");
    let r = q.get(&id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Syncing);
    assert_eq!(r.progress.job_id, Some(42), "the checkpoint survived");
    assert!(q.get(&lost).unwrap().is_some());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn export_then_import_round_trips_and_import_is_idempotent() {
    let a = tempfile::tempdir().unwrap();
    let (q, _) = open(a.path());
    let first = q.enqueue(job(1)).await.unwrap();
    let second = q.enqueue(job(2)).await.unwrap();
    q.begin_sync(&second).await.unwrap();
    q.mark_synced(&second, progress_with_job(2)).await.unwrap();
    let mut exported = Vec::new();
    assert_eq!(q.export_jsonl(&mut exported).unwrap(), 2);
    let text = String::from_utf8(exported.clone()).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text
        .lines()
        .all(|l| l.contains(&format!("\"schema_version\":{SCHEMA_VERSION}"))));

    let b = tempfile::tempdir().unwrap();
    let (q2, _) = open(b.path());
    let mut input = exported.clone();
    input.extend_from_slice(b"this is not json\n\n{\"id\":\"cb-x\"}\n");
    let report = q2.import_jsonl(&input[..]).await.unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(report.already_present, 0);
    assert_eq!(
        report.rejected.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![3, 5]
    );
    assert_eq!(q2.get(&first).unwrap(), q.get(&first).unwrap());
    assert_eq!(q2.get(&second).unwrap(), q.get(&second).unwrap());

    let again = q2.import_jsonl(&exported[..]).await.unwrap();
    assert_eq!((again.imported, again.already_present), (0, 2));
    assert_eq!(q2.list(&ListFilter::default()).unwrap().len(), 2);

    // Imported records survive a restart and new ids sort after them.
    drop(q2);
    let (q2, report) = open(b.path());
    assert!(report.is_clean(), "{report:?}");
    let third = q2.enqueue(job(3)).await.unwrap();
    assert!(third > second);
    assert_eq!(q2.next_due(Utc::now()).unwrap().unwrap().id, first);
}

/// A v1 record, as the first field trial wrote it: no `progress`, no `revision`, no
/// `synced_at`, and the last failure under `error`.
const V1_RECORD: &str = r#"{
    "id": "cb-01JHC2V3W4X5Y6Z7A8B9C0D1E2",
    "schema_version": 1,
    "created_at": "2026-01-15T03:00:00Z",
    "updated_at": "2026-01-15T03:05:00Z",
    "payload": {
        "kind": "callback",
        "call_key": "20260115T030000Z-0001",
        "caller": {"name": "Sam Lee", "phone_e164": "+15125550111"},
        "reason": "Thermostat blank after power cut"
    },
    "state": "syncing",
    "attempts": 2,
    "next_attempt_at": null,
    "error": "timeout"
}"#;

fn assert_migrated(r: &Record) {
    assert_eq!(r.schema_version, SCHEMA_VERSION);
    assert_eq!(
        r.state,
        RecordState::Queued,
        "no checkpoints in v1: start over"
    );
    assert_eq!(r.last_error.as_deref(), Some("timeout"));
    // Attempted twice (the last one timed out): every create is looked up before it is sent.
    let expected = SyncProgress {
        in_doubt: crate::queue::CreateStep::ALL.into_iter().collect(),
        ..SyncProgress::default()
    };
    assert_eq!(r.progress, expected);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.kind(), RecordKind::Callback);
}

#[tokio::test]
async fn v1_records_are_migrated_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let id = RecordId::parse("cb-01JHC2V3W4X5Y6Z7A8B9C0D1E2").unwrap();
    {
        let (db, records) = raw_records(dir.path());
        let body: serde_json::Value = serde_json::from_str(V1_RECORD).unwrap();
        let body = serde_json::to_string(&body).unwrap();
        let envelope = serde_json::json!({
            "v": 1,
            "crc32": crc32fast::hash(body.as_bytes()),
            "body": body,
        });
        records
            .insert(id.as_str(), serde_json::to_vec(&envelope).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let (q, report) = open(dir.path());
    assert_eq!(report.migrated, 1, "{report:?}");
    assert!(report.quarantined.is_empty());
    assert_migrated(&q.get(&id).unwrap().unwrap());
    drop(q);
    // Rewritten as v2: the next start-up has nothing to migrate.
    let (q, report) = open(dir.path());
    assert_eq!(report.migrated, 0);
    assert_migrated(&q.get(&id).unwrap().unwrap());
}

#[tokio::test]
async fn v1_export_lines_import() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let line =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(V1_RECORD).unwrap())
            .unwrap();
    let report = q.import_jsonl(line.as_bytes()).await.unwrap();
    assert_eq!(report.imported, 1, "{report:?}");
    let id = RecordId::parse("cb-01JHC2V3W4X5Y6Z7A8B9C0D1E2").unwrap();
    assert_migrated(&q.get(&id).unwrap().unwrap());
}

#[tokio::test]
async fn compaction_removes_only_synced_records_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let old = q.enqueue(job(1)).await.unwrap();
    let waiting = q.enqueue(job(2)).await.unwrap();
    let stuck = q.enqueue(job(3)).await.unwrap();
    q.begin_sync(&old).await.unwrap();
    q.mark_synced(&old, progress_with_job(1)).await.unwrap();
    q.mark_needs_attention(&stuck, "bad address").await.unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let now = Utc::now();

    assert_eq!(q.compact(now, 30 * day).await.unwrap().removed, 0);
    assert!(q.get(&old).unwrap().is_some());

    let in_31_days = now + chrono::Duration::days(31);
    assert_eq!(q.compact(in_31_days, 30 * day).await.unwrap().removed, 1);
    assert!(q.get(&old).unwrap().is_none());
    assert!(
        q.get(&waiting).unwrap().is_some(),
        "unsynced work is never compacted"
    );
    assert!(q.get(&stuck).unwrap().is_some());

    // Compaction sticks across a restart (the mirror does not bring the record back).
    drop(q);
    let (q, report) = open(dir.path());
    assert!(report.is_clean(), "{report:?}");
    assert!(q.get(&old).unwrap().is_none());
    assert_eq!(q.list(&ListFilter::default()).unwrap().len(), 2);
}

#[tokio::test]
async fn the_sync_is_woken_by_an_enqueue() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let mut rx = q.subscribe();
    assert!(!rx.has_changed().unwrap());
    q.enqueue(job(1)).await.unwrap();
    assert!(rx.has_changed().unwrap());
    rx.borrow_and_update();
    assert!(!rx.has_changed().unwrap());
}

#[tokio::test]
async fn status_reports_counts_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let empty = q.status();
    assert_eq!(empty.counts, QueueCounts::default());
    assert_eq!(empty.oldest_unsynced_at, None);
    assert_eq!(empty.last_enqueue_at, None);

    let a = q.enqueue(job(1)).await.unwrap();
    q.enqueue(job(2)).await.unwrap();
    q.begin_sync(&a).await.unwrap();
    q.mark_synced(&a, progress_with_job(1)).await.unwrap();
    let later = Utc::now() + chrono::Duration::minutes(10);
    let s = q.status_at(later);
    assert_eq!((s.counts.queued, s.counts.synced), (1, 1));
    assert!(s.oldest_unsynced_age_secs.unwrap() >= 600);
    assert!(s.last_enqueue_at.is_some());
    assert!(s.last_synced_at.is_some());
    assert!(s.last_storage_error.is_none());
    assert!(s.disk_bytes > 0);
    // The status page gets it as JSON.
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["counts"]["queued"], 1);
}

#[tokio::test]
async fn a_second_open_of_the_same_queue_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_q, _) = open(dir.path());
    match Outbox::open(dir.path(), QueueOptions::default()) {
        Err(QueueError::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[tokio::test]
async fn the_mirror_can_be_read_while_the_queue_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let id = q.enqueue(job(1)).await.unwrap();
    q.begin_sync(&id).await.unwrap();
    let seen = Outbox::read_mirror(dir.path()).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, RecordState::Syncing);
}

#[tokio::test]
async fn rotation_keeps_unfinished_work_in_the_current_mirror_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions {
        mirror_max_bytes: 16 * 1024,
        mirror_keep_files: 1,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(dir.path(), opts.clone()).unwrap();
    let waiting = q.enqueue(job(0)).await.unwrap();
    for n in 1..60 {
        let id = q.enqueue(job(n)).await.unwrap();
        q.begin_sync(&id).await.unwrap();
        q.mark_synced(&id, progress_with_job(n.into()))
            .await
            .unwrap();
    }
    let mirror_files = std::fs::read_dir(dir.path().join("mirror"))
        .unwrap()
        .count();
    assert_eq!(mirror_files, 2, "current + one rotated file kept");
    drop(q);
    // Lose the database: the pruned mirror must still hold the record that never synced.
    std::fs::remove_dir_all(db_dir(dir.path())).unwrap();
    let (q, report) = Outbox::open(dir.path(), opts).unwrap();
    assert!(report.restored_from_mirror >= 1, "{report:?}");
    assert_eq!(q.get(&waiting).unwrap().unwrap().payload, job(0));
}

#[test]
fn full_disk_errors_are_recognised() {
    let full = std::io::Error::from_raw_os_error(28);
    assert!(QueueError::io("x", full).is_disk_full());
    let kind = std::io::Error::from(std::io::ErrorKind::StorageFull);
    assert!(QueueError::io("x", kind).is_disk_full());
    // What sled hands back after cloning the error: kind Other, the OS text kept.
    let cloned = std::io::Error::other(format!("{:?}", std::io::Error::from_raw_os_error(28)));
    assert!(QueueError::sled("flushing", sled::Error::Io(cloned)).is_disk_full());
    let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    assert!(!QueueError::io("x", other).is_disk_full());
}

#[test]
fn headlines_are_one_line() {
    let mut p = job(1);
    if let Payload::Job(j) = &mut p {
        j.problem_summary = "No heat\nat all".into();
    }
    assert_eq!(p.headline(), "Jane Doe: EMERGENCY No heat at all (CB-0001)");
}

/// A callback's headline is the summary of the office's booking or lead in ServiceTitan: it
/// says when the caller wants the call.
#[test]
fn a_callback_headline_says_when_to_call() {
    let mut cb = CallbackRequest {
        call_key: "k".into(),
        caller: caller(),
        reason: "caller asked for a callback: the paperwork".into(),
        preferred_time: Some("after 5 pm".into()),
    };
    let name = caller().name;
    assert_eq!(
        Payload::Callback(cb.clone()).headline(),
        format!("{name}: caller asked for a callback: the paperwork (call after 5 pm)")
    );
    cb.preferred_time = None;
    assert_eq!(
        Payload::Callback(cb).headline(),
        format!("{name}: caller asked for a callback: the paperwork")
    );
}

#[test]
fn payloads_are_tagged_by_kind() {
    let v = serde_json::to_value(job(1)).unwrap();
    assert_eq!(v["kind"], "job");
    assert_eq!(v["urgency"], "emergency");
    let back: Payload = serde_json::from_value(v).unwrap();
    assert_eq!(back, job(1));
    assert_eq!(
        "invoice-copy".parse::<RecordKind>(),
        Ok(RecordKind::InvoiceCopy)
    );
}

#[tokio::test(start_paused = true)]
async fn periodic_compaction_uses_the_configured_retention() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions {
        retention: std::time::Duration::ZERO,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(dir.path(), opts).unwrap();
    let id = q.enqueue(job(1)).await.unwrap();
    q.begin_sync(&id).await.unwrap();
    q.mark_synced(&id, progress_with_job(1)).await.unwrap();
    let task = tokio::spawn({
        let q = q.clone();
        async move {
            q.compact_periodically(std::time::Duration::from_secs(3600))
                .await
        }
    });
    // The first tick is immediate; wait (bounded) for the compaction it triggers to land.
    for _ in 0..10_000 {
        if q.get(&id).unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(q.get(&id).unwrap().is_none(), "compaction never ran");
    assert_eq!(q.counts().synced, 0);
    task.abort();
}

#[tokio::test]
async fn unsynced_call_keys_name_unfinished_and_quarantined_calls_only() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let (q, _) = open(dir.path());
        let mut ids = Vec::new();
        for n in 0..4 {
            ids.push(q.enqueue(job(n)).await.unwrap());
        }
        q.begin_sync(&ids[0]).await.unwrap();
        q.mark_synced(&ids[0], progress_with_job(1)).await.unwrap();
        q.begin_sync(&ids[1]).await.unwrap();
        ids
    };
    garble_body(dir.path(), &ids[3]);
    std::fs::remove_dir_all(dir.path().join("mirror")).unwrap();

    let (q, report) = open(dir.path());
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    let keys = q.unsynced_call_keys().unwrap();
    let expected: std::collections::BTreeSet<String> = [1, 2, 3]
        .iter()
        .map(|n| format!("20260115T030000Z-{n:04}"))
        .collect();
    assert_eq!(keys, expected, "synced call 0000 is not held back");
}

#[tokio::test]
async fn an_outage_never_sends_a_record_to_attention() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions {
        max_attempts_before_attention: 3,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(dir.path(), opts).unwrap();
    let id = q.enqueue(job(1)).await.unwrap();
    let later = Utc::now() + chrono::Duration::minutes(1);
    for _ in 0..10 {
        q.begin_sync(&id).await.unwrap();
        q.hold_for_outage(&id, later, "HTTP 503").await.unwrap();
    }
    let r = q.get(&id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Queued);
    assert_eq!((r.attempts, r.failures), (10, 0));
    assert_eq!(r.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(r.next_attempt_at, Some(later));
    // A failure of the record's own still counts.
    q.begin_sync(&id).await.unwrap();
    assert_eq!(
        q.schedule_retry(&id, later, "unreadable answer")
            .await
            .unwrap(),
        RecordState::Queued
    );
    assert_eq!(q.get(&id).unwrap().unwrap().failures, 1);
}

#[tokio::test]
async fn retry_keeps_the_creates_in_doubt() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = open(dir.path());
    let id = q.enqueue(job(1)).await.unwrap();
    q.begin_sync(&id).await.unwrap();
    let mut progress = progress_with_job(5);
    progress.in_doubt.insert(crate::queue::CreateStep::Note);
    q.checkpoint(&id, progress.clone()).await.unwrap();
    q.mark_needs_attention(&id, "refused").await.unwrap();
    let r = q.retry(&id).await.unwrap();
    assert_eq!(r.state, RecordState::Queued);
    assert_eq!(r.progress, progress, "what the record knows is kept");
    assert!(r.progress.doubts(crate::queue::CreateStep::Note));
}

#[tokio::test]
async fn a_record_quarantined_while_running_survives_mirror_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let opts = QueueOptions {
        mirror_max_bytes: 16 * 1024,
        mirror_keep_files: 1,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(dir.path(), opts.clone()).unwrap();
    let damaged = q.enqueue(job(0)).await.unwrap();
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&q.inner_records().get(damaged.as_str()).unwrap().unwrap()).unwrap();
    envelope["crc32"] = serde_json::json!(1);
    q.inner_records()
        .insert(damaged.as_str(), serde_json::to_vec(&envelope).unwrap())
        .unwrap();
    assert!(matches!(q.get(&damaged), Err(QueueError::Corrupt(_))));
    // Enough traffic to rotate the mirror several times and prune the file that held it.
    for n in 1..80 {
        let id = q.enqueue(job(n)).await.unwrap();
        q.begin_sync(&id).await.unwrap();
        q.mark_synced(&id, progress_with_job(n.into()))
            .await
            .unwrap();
    }
    drop(q);
    let (q, report) = Outbox::open(dir.path(), opts).unwrap();
    assert!(report.restored_from_mirror >= 1, "{report:?}");
    assert_eq!(q.get(&damaged).unwrap().unwrap().payload, job(0));
}

#[tokio::test]
async fn v3_records_that_were_attempted_keep_their_suspicion() {
    use super::record::migrate;
    let value = serde_json::json!({
        "id": "cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5", "state": "queued", "attempts": 2,
        "progress": { "customer_id": 7 },
    });
    let migrated = migrate(value, 3).unwrap();
    let doubts = migrated["progress"]["in_doubt"].as_array().unwrap();
    assert_eq!(doubts.len(), crate::queue::CreateStep::ALL.len());
    assert_eq!(migrated["progress"]["customer_id"], 7);
    assert_eq!(migrated["schema_version"], SCHEMA_VERSION);
    let fresh = serde_json::json!({ "state": "queued", "attempts": 0, "progress": {} });
    assert!(migrate(fresh, 3).unwrap()["progress"]
        .get("in_doubt")
        .is_none());
    let synced = serde_json::json!({ "state": "synced", "attempts": 3, "progress": {} });
    assert!(migrate(synced, 3).unwrap()["progress"]
        .get("in_doubt")
        .is_none());
}

/// Waits (in real milliseconds, bounded) until `done`: a background task handed a manual clock
/// runs as soon as the clock is advanced, but on its own task.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..5_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    done()
}

#[tokio::test]
async fn a_manual_clock_stamps_records_and_drives_compaction_past_the_retention() {
    use crate::infra::clock::{Clock, ManualClock};
    let dir = tempfile::tempdir().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 15, 3, 0, 0).unwrap();
    let clock = ManualClock::new(start);
    let day = std::time::Duration::from_secs(86_400);
    let opts = QueueOptions {
        retention: 30 * day,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open_with_clock(dir.path(), opts, clock.shared()).unwrap();
    let old = q.enqueue(job(1)).await.unwrap();
    let waiting = q.enqueue(job(2)).await.unwrap();
    assert_eq!(q.get(&old).unwrap().unwrap().created_at, start);
    clock.advance(std::time::Duration::from_secs(3600));
    q.begin_sync(&old).await.unwrap();
    let synced = q.mark_synced(&old, progress_with_job(1)).await.unwrap();
    let synced_at = start + chrono::Duration::hours(1);
    assert_eq!(synced.synced_at, Some(synced_at));
    assert_eq!(synced.updated_at, synced_at);
    assert_eq!(q.status().last_synced_at, Some(synced_at));

    let task = tokio::spawn({
        let q = q.clone();
        async move { q.compact_periodically(day).await }
    });
    clock.advance(29 * day);
    assert_eq!(
        q.compact(clock.now_utc(), 30 * day).await.unwrap().removed,
        0
    );
    assert!(q.get(&old).unwrap().is_some(), "kept within the retention");

    clock.advance(2 * day);
    assert!(
        eventually(|| q.get(&old).unwrap().is_none()).await,
        "the periodic pass on the manual clock compacted the synced record"
    );
    assert!(
        q.get(&waiting).unwrap().is_some(),
        "unsynced work is never compacted"
    );
    task.abort();
}
