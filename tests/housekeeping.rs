//! Long life: 2,000 calls' worth of recordings, call records and queue records (half synced,
//! some not) spread over four months, against a small disk budget. After the housekeeping
//! service runs: usage is under the budget, no recording or record of a call with unsynced
//! queue records is gone, what went went oldest first, and the queue still takes bookings.

mod queue_support;

use callbox::app::housekeeping::{self, HousekeepingStatus, Rules, Settings, Unsynced};
use callbox::infra::disk::Ballast;
use callbox::queue::{Outbox, Payload, QueueOptions, SyncProgress};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const CALLS: usize = 2000;
const BUDGET: u64 = 3 * 1024 * 1024;

/// What one synthetic call left behind.
struct Call {
    key: String,
    at: DateTime<Utc>,
    /// Has a queue record that has not reached ServiceTitan.
    unsynced: bool,
}

fn call_key(at: DateTime<Utc>, n: usize) -> String {
    format!("{}-call{n:05}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// A small 8 kHz WAV (about 0.4 s): the real recorder's format, a fraction of its size.
fn write_recording(path: &Path, n: usize) {
    let samples: Vec<i16> = (0..3200)
        .map(|i| ((i * 37 + n) % 2000) as i16 - 1000)
        .collect();
    callbox::telephony::wav::write_wav_8k(path, &samples).expect("write recording");
}

fn write_call_record(path: &Path, key: &str) {
    let body = serde_json::json!({"key": key, "caller": {"number": "+15125550100"}});
    std::fs::write(path, serde_json::to_vec_pretty(&body).unwrap()).expect("write record");
}

fn job_for(key: &str, n: usize) -> Payload {
    let mut payload = queue_support::job(n as u64);
    if let Payload::Job(job) = &mut payload {
        job.call_key = key.to_string();
    }
    payload
}

/// Calls every ~90 minutes back from `now`: even ones synced, calls 1 and 3 of every ten
/// unsynced, the rest left no queue record (a caller who only asked a question).
async fn make_calls(data: &Path, outbox: &Outbox, now: DateTime<Utc>) -> Vec<Call> {
    let mut calls = Vec::new();
    for n in 0..CALLS {
        let at = now - Duration::hours(2) - Duration::minutes(90 * (CALLS - n) as i64);
        let key = call_key(at, n);
        write_recording(&data.join(format!("recordings/{key}.wav")), n);
        write_call_record(&data.join(format!("calls/{key}.json")), &key);
        let unsynced = matches!(n % 10, 1 | 3);
        if n % 2 == 0 || unsynced {
            let id = outbox.enqueue(job_for(&key, n)).await.expect("enqueue");
            if n % 2 == 0 {
                outbox.begin_sync(&id).await.expect("begin sync");
                outbox
                    .mark_synced(&id, SyncProgress::default())
                    .await
                    .expect("synced");
            }
        }
        calls.push(Call { key, at, unsynced });
    }
    calls
}

fn used(data: &Path) -> u64 {
    ["recordings", "calls"]
        .iter()
        .flat_map(|d| std::fs::read_dir(data.join(d)).unwrap().flatten())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn settings(data: &Path) -> Settings {
    Settings {
        ballast: Ballast::in_dir(data, 0),
        data_dir: data.to_path_buf(),
        recordings: data.join("recordings"),
        calls: data.join("calls"),
        rules: Rules {
            max_age: Duration::days(90),
            budget_bytes: BUDGET,
            reserve_bytes: 0,
            in_progress: Duration::minutes(65),
        },
        cache_max_age: Duration::days(30),
        every: std::time::Duration::from_millis(200),
    }
}

fn recording(data: &Path, key: &str) -> PathBuf {
    data.join(format!("recordings/{key}.wav"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_calls_fit_the_budget_and_no_unsynced_call_loses_anything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for sub in ["recordings", "calls", "queue"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    let (outbox, _) = Outbox::open(&data.join("queue"), QueueOptions::default()).unwrap();
    let now = Utc::now();
    let calls = make_calls(data, &outbox, now).await;
    let before = used(data);
    assert!(
        before > 3 * BUDGET,
        "the calls start well over budget ({before} bytes)"
    );

    // The service, as `callbox run` starts it: its first pass runs at once.
    let (status_tx, mut status) = tokio::sync::watch::channel(HousekeepingStatus::default());
    let service = tokio::spawn(housekeeping::run(
        settings(data),
        Unsynced::Queue(outbox.clone()),
        None,
        std::sync::Arc::new(status_tx),
    ));
    status.changed().await.expect("a pass reports");
    service.abort();
    let report = status.borrow().clone();
    assert_eq!(report.last_error, None, "{report:?}");

    let after = used(data);
    assert!(
        after <= BUDGET,
        "usage {after} over the budget {BUDGET}: {report:?}"
    );
    assert_eq!(report.used_bytes, after, "{report:?}");
    assert!(!report.over_budget, "{report:?}");
    assert_eq!(report.bytes_freed, before - after, "{report:?}");

    let unsynced: Vec<&Call> = calls.iter().filter(|c| c.unsynced).collect();
    assert_eq!(unsynced.len(), CALLS / 5);
    for call in &unsynced {
        assert!(
            recording(data, &call.key).is_file(),
            "the recording of unsynced call {} was deleted",
            call.key
        );
        assert!(data.join(format!("calls/{}.json", call.key)).is_file());
    }
    // Oldest first: every synced call whose recording is kept is younger than every one
    // whose recording went, and nothing past the age is left but unsynced calls.
    let (kept, gone): (Vec<&Call>, Vec<&Call>) = calls
        .iter()
        .filter(|c| !c.unsynced)
        .partition(|c| recording(data, &c.key).is_file());
    assert!(!kept.is_empty() && !gone.is_empty());
    let newest_gone = gone.iter().map(|c| c.at).max().unwrap();
    let oldest_kept = kept.iter().map(|c| c.at).min().unwrap();
    assert!(newest_gone < oldest_kept, "{newest_gone} vs {oldest_kept}");
    assert!(kept.iter().all(|c| now - c.at <= Duration::days(90)));

    // The queue still takes bookings and still knows every unsynced call.
    let keys: BTreeSet<String> = outbox.unsynced_call_keys().unwrap();
    assert!(unsynced.iter().all(|c| keys.contains(&c.key)));
    outbox
        .enqueue(queue_support::job(9999))
        .await
        .expect("the queue stays writable");

    // A second pass has nothing left to do.
    let again = housekeeping::run_once(Utc::now(), &settings(data), &Unsynced::Queue(outbox), None);
    assert_eq!(
        again.recordings_deleted + again.call_records_deleted,
        0,
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_queue_unopened_the_mirror_still_protects_unsynced_calls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    for sub in ["recordings", "calls", "queue"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    let now = Utc::now();
    let old = now - Duration::days(200);
    let key = call_key(old, 1);
    write_recording(&recording(data, &key), 1);
    write_call_record(&data.join(format!("calls/{key}.json")), &key);
    let synced_key = call_key(old, 2);
    write_recording(&recording(data, &synced_key), 2);
    {
        let (outbox, _) = Outbox::open(&data.join("queue"), QueueOptions::default()).unwrap();
        outbox.enqueue(job_for(&key, 1)).await.unwrap();
        let id = outbox.enqueue(job_for(&synced_key, 2)).await.unwrap();
        outbox.begin_sync(&id).await.unwrap();
        outbox
            .mark_synced(&id, SyncProgress::default())
            .await
            .unwrap();
    }
    let report = housekeeping::run_once(
        now,
        &settings(data),
        &Unsynced::Mirror(data.join("queue")),
        None,
    );
    assert_eq!(report.last_error, None);
    assert!(
        recording(data, &key).is_file(),
        "unsynced call kept: {report:?}"
    );
    assert!(
        !recording(data, &synced_key).exists(),
        "synced old call went: {report:?}"
    );
    assert_eq!(report.held_unsynced, 1);
}
