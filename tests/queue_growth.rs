//! sled is reported not to reclaim space under an outbox's insert/delete pattern (sled #1333).
//! 100,000 enqueue → sync → compact cycles must leave the queue directory at a plateau.
//!
//! `CALLBOX_TEST_QUEUE_CYCLES` shortens or lengthens the run (default 100,000: about three
//! minutes in a debug build on two cores, so it stays in `cargo test`).

mod common;

use callbox::queue::{Outbox, QueueOptions, SyncProgress};
use chrono::Utc;
use common::{dir_size, job};
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_use_plateaus_over_100k_enqueue_sync_compact_cycles() {
    let cycles: u64 = std::env::var("CALLBOX_TEST_QUEUE_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // tmpfs when there is one: the test is about sled's file sizes, not the disk's fsync speed.
    let base = Path::new("/dev/shm");
    let tmp = if base.is_dir() {
        tempfile::tempdir_in(base).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let opts = QueueOptions {
        mirror_max_bytes: 256 * 1024,
        mirror_keep_files: 2,
        ..QueueOptions::default()
    };
    let (q, _) = Outbox::open(tmp.path(), opts).unwrap();
    let checkpoint_every = (cycles / 10).max(1);
    let mut sizes = Vec::new();
    let started = std::time::Instant::now();
    for n in 1..=cycles {
        let id = q.enqueue(job(n)).await.unwrap();
        let due = q.next_due(Utc::now()).unwrap().unwrap();
        assert_eq!(due.id, id);
        q.begin_sync(&id).await.unwrap();
        let progress = SyncProgress {
            customer_id: Some(1),
            location_id: Some(2),
            job_id: Some(n as i64),
            created_as: Some("job".into()),
            ..SyncProgress::default()
        };
        q.mark_synced(&id, progress).await.unwrap();
        // Compaction runs periodically on the box; here every 100 cycles with retention zero,
        // so every record is inserted, rewritten and deleted: the pattern of sled #1333.
        if n % 100 == 0 {
            let removed = q
                .compact(Utc::now() + chrono::Duration::seconds(1), Duration::ZERO)
                .await
                .unwrap()
                .removed;
            assert_eq!(removed, 100);
        }
        if n % checkpoint_every == 0 {
            let size = dir_size(tmp.path());
            eprintln!(
                "cycle {n:>7}: {:>6} KiB on disk, {:.1}s",
                size / 1024,
                started.elapsed().as_secs_f64()
            );
            sizes.push(size);
        }
    }
    let counts = q.counts();
    assert_eq!(
        counts.synced + counts.queued + counts.syncing,
        0,
        "{counts:?}"
    );
    let first = sizes[0];
    let last = *sizes.last().unwrap();
    let peak = *sizes.iter().max().unwrap();
    eprintln!("first {first} last {last} peak {peak}");
    assert!(
        last < 2 * first.max(1024 * 1024),
        "queue grew from {first} to {last} bytes"
    );
    assert!(peak < 64 * 1024 * 1024, "queue peaked at {peak} bytes");
}
