//! A record is on disk before `enqueue` returns: a child process enqueues, reports each
//! acknowledged id, and is SIGKILLed the moment the parent has read them; every acknowledged
//! id must be there on reopen. Likewise a checkpoint the sync wrote survives the kill.
//!
//! The child is this test binary, run again with `CALLBOX_TEST_QUEUE_CHILD` set. (SIGKILL
//! keeps the page cache, so this proves "written before acknowledged", not "fsynced"; the
//! fsyncs are there for power cuts, which a test cannot pull.)

mod common;

use callbox::queue::{Outbox, QueueOptions, RecordId, RecordState, SyncProgress};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "CALLBOX_TEST_QUEUE_CHILD";
const ACKS_BEFORE_KILL: usize = 25;

/// The child: enqueue forever (or sync), printing each acknowledgement.
fn child(mode: &str, dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (q, _) = Outbox::open(std::path::Path::new(dir), QueueOptions::default()).unwrap();
        let mut out = std::io::stdout().lock();
        let mut n = 0;
        loop {
            n += 1;
            let id = q.enqueue(common::job(n)).await.unwrap();
            if mode == "sync" {
                q.begin_sync(&id).await.unwrap();
                let progress = SyncProgress {
                    customer_id: Some(100 + n as i64),
                    job_id: Some(n as i64),
                    ..SyncProgress::default()
                };
                q.checkpoint(&id, progress).await.unwrap();
            }
            writeln!(out, "ACK {id}").unwrap();
            out.flush().unwrap();
        }
    });
}

/// Runs the child in `mode` and kills it after `ACKS_BEFORE_KILL` acknowledgements.
fn run_and_kill(test_name: &str, mode: &str, dir: &std::path::Path) -> Vec<RecordId> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest's "test … ... " banner may share the first line.
        if let Some((_, id)) = line.split_once("ACK ") {
            acked.push(RecordId::parse(id).unwrap());
            if acked.len() == ACKS_BEFORE_KILL {
                // Child::kill is SIGKILL: no destructors, no sled shutdown flush.
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    assert_eq!(acked.len(), ACKS_BEFORE_KILL, "child stopped early");
    acked
}

fn child_mode() -> Option<(String, String)> {
    let v = std::env::var(CHILD_ENV).ok()?;
    let (mode, dir) = v.split_once(':')?;
    Some((mode.to_string(), dir.to_string()))
}

#[test]
fn acknowledged_enqueues_survive_sigkill() {
    if let Some((mode, dir)) = child_mode() {
        return child(&mode, &dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    // Three kills in a row: each restart must also cope with the previous unclean stop.
    for _ in 0..3 {
        all.extend(run_and_kill(
            "acknowledged_enqueues_survive_sigkill",
            "enqueue",
            tmp.path(),
        ));
        let (q, report) = Outbox::open(tmp.path(), QueueOptions::default()).unwrap();
        eprintln!("after kill: {report:?}");
        for id in &all {
            let r = q.get(id).unwrap().unwrap_or_else(|| panic!("{id} lost"));
            assert_eq!(r.state, RecordState::Queued);
        }
        assert!(report.quarantined.is_empty(), "{report:?}");
    }
}

#[test]
fn checkpoints_survive_sigkill() {
    if let Some((mode, dir)) = child_mode() {
        return child(&mode, &dir);
    }
    let tmp = tempfile::tempdir().unwrap();
    let acked = run_and_kill("checkpoints_survive_sigkill", "sync", tmp.path());
    let (q, _) = Outbox::open(tmp.path(), QueueOptions::default()).unwrap();
    for id in &acked {
        let r = q.get(id).unwrap().unwrap();
        assert_eq!(r.state, RecordState::Syncing, "{id}");
        assert!(r.progress.job_id.is_some(), "{id}: checkpoint lost");
    }
    // The crash left them in syncing: they are due, oldest first, to resume.
    let due = q.next_due(chrono::Utc::now()).unwrap().unwrap();
    assert_eq!(due.id, acked[0]);
    assert!(due.progress.job_id.is_some());
}
