//! Years of unattended life on a small data partition, against the real binary and sipp:
//! recording stops at the queue's space reserve (the call goes on), and the box starts and
//! answers on a full partition. Runs on small tmpfs mounts, which need root; where mounting
//! is impossible each test says SKIPPED and why.

mod common;
mod queue_support;

use callbox::queue::{Outbox, QueueOptions};
use common::tmpfs::SmallDisk;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: u64 = 1024 * 1024;

fn mount(size: &str) -> Option<SmallDisk> {
    let disk = SmallDisk::mount(size);
    if disk.is_none() {
        eprintln!(
            "SKIPPED: cannot mount a {size} tmpfs here (needs root: mount -t tmpfs); the \
             reserve decision and the housekeeping plan are unit-tested"
        );
    }
    disk
}

/// A daemon in the answering flow with its data directory on `disk` and a 2 MiB reserve.
fn daemon_on(disk: &SmallDisk) -> Daemon {
    let data = disk.mount.join("data");
    Daemon::start(
        DaemonConfig::answering()
            .set("storage.data_dir", data.to_string_lossy().as_ref())
            .set("storage.queue_reserve_mb", 2),
    )
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + scaled(timeout);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ballast(daemon: &Daemon) -> std::path::PathBuf {
    daemon.data_dir.join(".space-reserve")
}

fn wav_seconds(path: &Path) -> f64 {
    let wav = Wav::read(path);
    wav.samples.len() as f64 / f64::from(wav.sample_rate)
}

#[test]
fn recording_stops_at_the_queue_reserve_and_the_call_goes_on() {
    let _g = serial();
    let Some(disk) = mount("16m") else { return };
    let mut daemon = daemon_on(&disk);
    // Housekeeping's first pass puts the ballast in place; after that nothing else writes.
    wait_for("the ballast", Duration::from_secs(10), || {
        ballast(&daemon).is_file()
    });

    // Room for the reserve and about two and a half seconds of audio: the recording starts,
    // and stops at its first look at the free space (after one second).
    disk.fill_leaving("filler", 2 * MIB + 40 * 1024);
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    let record = daemon.one_record();
    let ctx = format!("record: {record:#}\nlog:\n{}", daemon.log_tail(60));
    assert_eq!(record["recording_stopped"], "disk_reserve", "{ctx}");
    assert_eq!(
        record["end_reason"], "remote_hangup",
        "the call went on: {ctx}"
    );
    let seconds = wav_seconds(&daemon.recording_path(&record));
    assert!(
        (0.5..2.0).contains(&seconds),
        "the recording stopped after about a second, not at the end of the 2.7 s call: \
         {seconds} s\n{ctx}"
    );
    assert!(daemon.log().contains("recording stopped"), "{ctx}");

    // Below the reserve already: the next call is answered and not recorded at all.
    disk.fill_leaving("filler2", MIB);
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    let records = daemon.wait_records(2, Duration::from_secs(10));
    assert_eq!(records.len(), 2, "log:\n{}", daemon.log_tail(60));
    let second = &records[1];
    assert_eq!(second["recording_stopped"], "disk_reserve", "{second:#}");
    assert!(second["recording"].is_null(), "{second:#}");

    // What the reserve is for: the queue still takes a booking.
    daemon.stop();
    let (outbox, _) = Outbox::open(&daemon.data_dir.join("queue"), QueueOptions::default())
        .expect("the queue opens");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(outbox.enqueue(queue_support::job(1)))
        .expect("a booking is queued in the reserve");
}

#[test]
fn the_box_starts_and_answers_on_a_full_data_partition() {
    let _g = serial();
    let Some(disk) = mount("8m") else { return };
    {
        // The first start creates the queue and the ballast.
        let mut daemon = daemon_on(&disk);
        wait_for("the ballast", Duration::from_secs(10), || {
            ballast(&daemon).is_file()
        });
        daemon.stop();
    }
    disk.fill("filler");

    let mut daemon = daemon_on(&disk);
    let log = daemon.log();
    assert!(log.contains("DATA PARTITION FULL"), "log:\n{log}");
    // sled writes when it opens: the ballast is given back and the queue opens on it.
    assert!(
        log.contains("giving back the space kept in reserve") && log.contains("job queue open"),
        "log:\n{log}"
    );
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    let record = daemon.one_record();
    assert_eq!(record["end_reason"], "remote_hangup", "{record:#}");
    assert_eq!(record["recording_stopped"], "disk_reserve", "{record:#}");
    daemon.assert_alive();
}

#[test]
fn the_box_answers_on_a_full_partition_without_its_ballast() {
    let _g = serial();
    let Some(disk) = mount("8m") else { return };
    {
        let mut daemon = daemon_on(&disk);
        wait_for("the ballast", Duration::from_secs(10), || {
            ballast(&daemon).is_file()
        });
        daemon.stop();
        std::fs::remove_file(ballast(&daemon)).expect("remove the ballast");
    }
    disk.fill("filler");

    let mut daemon = daemon_on(&disk);
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    wait_for(
        "the DATA PARTITION FULL line",
        Duration::from_secs(10),
        || daemon.log().contains("DATA PARTITION FULL"),
    );
    daemon.assert_alive();
}

/// Every folder under the data directory that is not 0700 and every file that is not 0600.
fn not_private(root: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut wrong = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        let wanted = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != wanted {
            wrong.push(format!("{:o} {}", mode, path.display()));
        }
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        }
    }
    wrong
}

/// After a dialog call (recording, call record with its transcript, a queue record and its
/// mirror, the cache, prompts) and a queue export, everything under the data directory is
/// 0600 in 0700 folders, including what an older version left readable by others.
#[test]
fn everything_under_the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let _g = serial();
    require_tool("espeak-ng");
    let base = tempfile::tempdir().unwrap();
    let data = base.path().join("data");
    let exports = data.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let old = data.join("calls-from-an-old-version.json");
    std::fs::write(&old, b"{}").unwrap();
    for (path, mode) in [(&data, 0o755), (&exports, 0o755), (&old, 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    let mut daemon = Daemon::start(
        DaemonConfig::new()
            .set("call.mode", "dialog")
            .set("speech.model_dir", "/nonexistent/callbox-test-model")
            .set("voice.rate_wpm", 240)
            .set("storage.data_dir", data.to_string_lossy().as_ref())
            .seed(repo_dir().join("tests/conversations/seed.json")),
    );
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    let record = daemon.one_record();
    assert!(
        record["records"].as_array().is_some_and(|r| !r.is_empty()),
        "the call queued a record: {record:#}\nlog:\n{}",
        daemon.log_tail(60)
    );
    daemon.recording_path(&record);
    daemon.stop();

    let export = exports.join("queue.jsonl");
    let out = std::process::Command::new(callbox_bin())
        .arg("--config")
        .arg(&daemon.config_path)
        .args(["queue", "export"])
        .arg(&export)
        .output()
        .expect("run callbox queue export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for what in [
        "recordings",
        "calls",
        "queue/mirror",
        "queue/db",
        "cache",
        "prompts",
    ] {
        assert!(
            data.join(what).is_dir(),
            "{what} exists under the data directory"
        );
    }
    assert!(export.is_file());
    let wrong = not_private(&data);
    assert!(
        wrong.is_empty(),
        "not private (folders must be 0700, files 0600):\n{}",
        wrong.join("\n")
    );
}

/// A partition that filled up before the queue was ever created: sled cannot open at all.
/// The box still answers (the greeting) instead of restarting in a loop, and says why.
#[test]
fn a_box_whose_queue_cannot_open_still_answers() {
    let _g = serial();
    let Some(disk) = mount("8m") else { return };
    std::fs::create_dir_all(disk.mount.join("data")).unwrap();
    disk.fill("filler");

    let mut daemon = daemon_on(&disk);
    let log = daemon.log();
    assert!(
        log.contains("the job queue cannot open") && log.contains("NOTHING CAN BE QUEUED"),
        "log:\n{log}"
    );
    Sipp::new(daemon.sip, "call_audio.xml")
        .run()
        .assert_ok(&daemon);
    wait_for("the call to end", Duration::from_secs(10), || {
        daemon.log().contains("call record could not be written")
            || daemon.log().contains("call ended")
    });
    daemon.assert_alive();
}
