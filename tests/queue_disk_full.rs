//! A full SD card: `enqueue` fails with `DiskFull` (so the dialog can say so), nothing half-
//! written is left behind, what was acknowledged before stays, and the queue works again once
//! space is freed. Runs on a small tmpfs, which needs root; elsewhere it says so and passes.

mod queue_support;
#[path = "common/tmpfs.rs"]
#[allow(dead_code)] // the helpers other tests use
mod tmpfs;
use tmpfs::SmallDisk;

use callbox::queue::{Outbox, QueueError, QueueOptions, RecordState};
use std::path::Path;

/// Fills the file system with one file until ENOSPC.
fn fill(path: &Path) -> std::fs::File {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&chunk).and_then(|()| f.sync_all()).is_err() {
            break;
        }
    }
    // Byte by byte for the last partial chunk.
    while f.write_all(&[0]).and_then(|()| f.sync_all()).is_ok() {}
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_and_survived() {
    let Some(disk) = SmallDisk::mount("16m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); disk-full mapping is unit-tested"
        );
        return;
    };
    let dir = disk.mount.join("queue");
    let (q, _) = Outbox::open(&dir, QueueOptions::default()).unwrap();
    let mut acked = Vec::new();
    for n in 0..5 {
        acked.push(q.enqueue(queue_support::job(n)).await.unwrap());
    }
    let filler_path = disk.mount.join("filler");
    let filler = fill(&filler_path);

    let mut failure = None;
    // sled may still have room in a preallocated segment: keep going until the card says no.
    for n in 5..2000 {
        match q.enqueue(queue_support::job(n)).await {
            Ok(id) => acked.push(id),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("enqueue never failed on a full disk");
    assert!(
        matches!(err, QueueError::DiskFull { .. }),
        "expected DiskFull, got {err:?}"
    );
    let status = q.status();
    assert!(
        status.last_storage_error.is_some(),
        "the status page shows it: {status:?}"
    );
    let listed = q.list(&Default::default()).unwrap();
    assert_eq!(
        listed.len(),
        acked.len(),
        "no half-written record is listed"
    );

    // Space comes back (logs rotated, a recording deleted): the queue carries on.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let after = q.enqueue(queue_support::job(9999)).await;
    drop(q);
    let (q, report) = Outbox::open(&dir, QueueOptions::default()).unwrap();
    eprintln!("reopened after disk full: {report:?}; enqueue after freeing: {after:?}");
    assert_eq!(
        report.mirror_bad_lines, 0,
        "no torn line left in the mirror"
    );
    assert!(report.quarantined.is_empty());
    for id in &acked {
        let r = q.get(id).unwrap().unwrap_or_else(|| panic!("{id} lost"));
        assert_eq!(r.state, RecordState::Queued);
    }
    let fresh = q.enqueue(queue_support::job(10_000)).await.unwrap();
    assert!(q.get(&fresh).unwrap().is_some());
    let total = q.list(&Default::default()).unwrap().len();
    let expected = acked.len() + 1 + usize::from(after.is_ok());
    assert_eq!(total, expected, "nothing unacknowledged came back");
}
