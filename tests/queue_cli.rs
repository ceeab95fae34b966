//! `callbox queue list|show|retry|export|import` against a real queue directory.

mod common;

use callbox::queue::{Outbox, QueueOptions, RecordState};
use std::path::Path;
use std::process::{Command, Output};

fn callbox(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_callbox"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("CALLBOX_STORAGE_DATA_DIR")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn config_for(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("callbox.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\ndata_dir = {:?}\n",
            dir.join("data").to_str().unwrap()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn queue_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config_for(tmp.path());
    let queue_dir = tmp.path().join("data/queue");
    let (waiting, stuck) = {
        let (q, _) = Outbox::open(&queue_dir, QueueOptions::default()).unwrap();
        let waiting = q.enqueue(common::job(1)).await.unwrap();
        let stuck = q.enqueue(common::job(2)).await.unwrap();
        q.begin_sync(&stuck).await.unwrap();
        q.mark_needs_attention(&stuck, "ServiceTitan 400: Zip is invalid")
            .await
            .unwrap();
        (waiting, stuck)
    };

    let out = callbox(&config, &["queue", "list"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(waiting.as_str()) && text.contains(stuck.as_str()),
        "{text}"
    );
    assert!(
        text.contains("needs-attention") && text.contains("Zip is invalid"),
        "{text}"
    );
    assert!(
        text.contains("1 queued, 0 syncing, 0 synced, 1 needs attention"),
        "{text}"
    );

    let out = callbox(&config, &["queue", "list", "--state", "needs-attention"]);
    let text = stdout(&out);
    assert!(
        text.contains(stuck.as_str()) && !text.contains(waiting.as_str()),
        "{text}"
    );

    let out = callbox(&config, &["queue", "show", waiting.as_str()]);
    assert!(out.status.success(), "{out:?}");
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["id"], waiting.as_str());
    assert_eq!(shown["payload"]["kind"], "job");

    let out = callbox(&config, &["queue", "show", "cb-nonsense"]);
    assert!(!out.status.success());
    let out = callbox(&config, &["queue", "show", "cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no record"));

    let out = callbox(&config, &["queue", "retry", stuck.as_str()]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("queued again"), "{out:?}");
    let out = callbox(&config, &["queue", "list", "--state", "queued"]);
    assert!(stdout(&out).contains(stuck.as_str()));

    // Export to a file, import into another box twice: the second import adds nothing.
    let export = tmp.path().join("queue-export.jsonl");
    let out = callbox(&config, &["queue", "export", export.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&export).unwrap().lines().count(), 2);
    let out = callbox(&config, &["queue", "export", "-"]);
    assert_eq!(stdout(&out).lines().count(), 2);

    let other = tempfile::tempdir().unwrap();
    let other_config = config_for(other.path());
    let out = callbox(
        &other_config,
        &["queue", "import", export.to_str().unwrap()],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("imported 2, already present 0"),
        "{out:?}"
    );
    let out = callbox(
        &other_config,
        &["queue", "import", export.to_str().unwrap()],
    );
    assert!(
        stdout(&out).contains("imported 0, already present 2"),
        "{out:?}"
    );
    let (q, _) = Outbox::open(&other.path().join("data/queue"), QueueOptions::default()).unwrap();
    assert_eq!(q.get(&stuck).unwrap().unwrap().state, RecordState::Queued);
}

#[tokio::test]
async fn reading_works_while_the_appliance_holds_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let config = config_for(tmp.path());
    let (q, _) = Outbox::open(&tmp.path().join("data/queue"), QueueOptions::default()).unwrap();
    let id = q.enqueue(common::job(1)).await.unwrap();

    let out = callbox(&config, &["queue", "list"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains(id.as_str()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("running"));
    let out = callbox(&config, &["queue", "show", id.as_str()]);
    assert!(out.status.success(), "{out:?}");

    let out = callbox(&config, &["queue", "retry", id.as_str()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("held by the running callbox"),
        "{out:?}"
    );
}
