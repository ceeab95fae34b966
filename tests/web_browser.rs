//! The local web page in a real browser (issue 12, "What it must show"): headless Debian
//! Chromium driven by playwright-core (`tests/browser/*.mjs`) against the real `callbox run`
//! daemon over HTTPS on 127.0.0.1.
//!
//! The test seeds a data directory as a week or two of use would leave it (a queue with records
//! in several states, 24 calls over 14 days with transcripts, one with its recording, a caller
//! whose name is markup), starts the daemon with the page on a free port, and runs
//! `tests/browser/flows.mjs`: setup code → password → login; the dashboard's queue counts; play
//! a recording; retry a record that needs attention; save a setting; a bad value's error next
//! to its field. It restarts the daemon and runs the second phase: log in, the setting is
//! still there; log out, and the back button shows no data. Then `tests/browser/screenshots.mjs`
//! takes every page at desktop and phone widths (into the target directory, or into
//! `CALLBOX_SCREENSHOTS_DIR`, e.g. `docs/screenshots`).
//!
//! Needs Node.js, `/usr/bin/chromium` (or `CALLBOX_CHROMIUM`) and `tests/browser/node_modules`:
//! `scripts/install-browser-deps.sh`, which the README's test command runs. Missing ones make
//! the test FAIL; `CALLBOX_SKIP_BROWSER=1` skips it, saying so.

mod common;
mod queue_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callbox::dialog::call_log::{
    self, CallRecord, CallerRecord, DialogRecord, RtpRecord, TurnRecord,
};
use callbox::dialog::engine::{Speaker, Turn};
use callbox::queue::{Outbox, Payload, QueueOptions, RecordId, StateName, SyncProgress};
use chrono::{DateTime, Duration as Span, Utc};
use common::{free_tcp_port, repo_dir, require_tool, scaled, Daemon, DaemonConfig};
use serde_json::{json, Value};

/// A caller name that is markup: it must show as text, never run.
const HOSTILE_NAME: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
/// The caller whose call has the recording; appears in one call only (the search finds it).
const CALLER_NAME: &str = "Quentin Marlowe";
const RECORDING_SECS: f64 = 3.0;
const PASSWORD: &str = "furnace-filter-2026";
const NEW_SHOP_NAME: &str = "Northside Heating & Air";
const BAD_TIMEZONE: &str = "Mars/Olympus_Mons";

// ---- what the test seeds ------------------------------------------------------------------------

struct Seeded {
    /// Queue records by state, as the dashboard must count them.
    queue_counts: BTreeMap<&'static str, u64>,
    /// A needs-attention record the browser retries.
    retry_id: RecordId,
    /// The call with the recording, its turns and the queue record it made.
    recording_key: String,
    recording_turns: usize,
    recording_record: RecordId,
    calls: usize,
}

fn seed(data_dir: &Path) -> Seeded {
    let now = Utc::now();
    let recording_key = call_log::record_key(now - Span::hours(3), "browser-test-recorded");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let queue = runtime.block_on(seed_queue(&data_dir.join("queue"), &recording_key));
    let (calls, recording_turns) = seed_calls(data_dir, now, &recording_key, &queue.booked);
    Seeded {
        queue_counts: queue.counts,
        retry_id: queue.retry_id,
        recording_key,
        recording_turns,
        recording_record: queue.booked,
        calls,
    }
}

struct SeededQueue {
    counts: BTreeMap<&'static str, u64>,
    retry_id: RecordId,
    /// The job booked on the recorded call (queued).
    booked: RecordId,
}

/// Three queued jobs (one from the recorded call, one with the hostile caller name), two synced,
/// two needing attention.
async fn seed_queue(queue_dir: &Path, recorded_call: &str) -> SeededQueue {
    let (queue, _) = Outbox::open(queue_dir, QueueOptions::default()).expect("open the queue");
    let enqueue = |n: u64, name: &str, call_key: &str| {
        let mut payload = queue_support::job(n);
        if let Payload::Job(job) = &mut payload {
            job.caller.name = name.to_string();
            job.call_key = call_key.to_string();
        }
        queue.enqueue(payload)
    };
    let booked = enqueue(1, CALLER_NAME, recorded_call)
        .await
        .expect("enqueue");
    enqueue(2, HOSTILE_NAME, "20260101T000000.000Z-hostile")
        .await
        .expect("enqueue");
    enqueue(3, "Ada Brooks", "20260101T000000.000Z-ada")
        .await
        .expect("enqueue");
    for (n, job_id) in [(4, 70_001), (5, 70_002)] {
        let id = enqueue(n, "Ben Okafor", "20260101T000000.000Z-ben")
            .await
            .expect("enqueue");
        queue.begin_sync(&id).await.expect("begin sync");
        let progress = SyncProgress {
            customer_id: Some(5_000 + n as i64),
            job_id: Some(job_id),
            job_number: Some(job_id.to_string()),
            created_as: Some("job".into()),
            ..SyncProgress::default()
        };
        queue.mark_synced(&id, progress).await.expect("synced");
    }
    let mut attention = Vec::new();
    for (n, reason) in [
        (6, "ServiceTitan 400: Zip is invalid"),
        (7, "ServiceTitan 400: Location is required"),
    ] {
        let id = enqueue(n, "Carla Diaz", "20260101T000000.000Z-carla")
            .await
            .expect("enqueue");
        queue.begin_sync(&id).await.expect("begin sync");
        queue
            .mark_needs_attention(&id, reason)
            .await
            .expect("needs attention");
        attention.push(id);
    }
    SeededQueue {
        counts: BTreeMap::from([("queued", 3), ("synced", 2), ("needs_attention", 2)]),
        retry_id: attention.swap_remove(0),
        booked,
    }
}

/// 24 calls over the last 14 days with transcripts and mixed outcomes; the one with `key`
/// (Quentin Marlowe's, booked as `booked`) has a 3 s recording. Returns (calls, turns of
/// the recorded call).
fn seed_calls(data_dir: &Path, now: DateTime<Utc>, key: &str, booked: &RecordId) -> (usize, usize) {
    let calls_dir = data_dir.join("calls");
    let outcomes = ["job", "lead", "callback", "voicemail", "none"];
    let names = [
        "Ada Brooks",
        "Ben Okafor",
        "Carla Diaz",
        HOSTILE_NAME,
        "Dmitri Ivanov",
        "Erin Walsh",
    ];
    let mut calls = 0;
    for i in 0..23u32 {
        let answered = now - Span::days(i64::from(i % 14)) - Span::hours(5 + i64::from(i % 7));
        let call_id = format!("browser-test-{i:03}");
        let record = call_record(
            call_log::record_key(answered, &call_id),
            &call_id,
            answered,
            names[i as usize % names.len()],
            &format!("+1312555{:04}", 100 + i),
            outcomes[i as usize % outcomes.len()],
            Vec::new(),
        );
        call_log::write_record(&calls_dir, &record).expect("write call record");
        calls += 1;
    }
    let answered = now - Span::hours(3);
    let mut record = call_record(
        key.to_string(),
        "browser-test-recorded",
        answered,
        CALLER_NAME,
        "+13125550142",
        "job",
        vec![booked.clone()],
    );
    let recording = format!("recordings/{key}.wav");
    write_wav(&data_dir.join(&recording), RECORDING_SECS);
    record.recording = Some(recording);
    let turns = record.dialog.as_ref().map_or(0, |d| d.transcript.len());
    call_log::write_record(&calls_dir, &record).expect("write call record");
    (calls + 1, turns)
}

fn call_record(
    key: String,
    call_id: &str,
    answered: DateTime<Utc>,
    name: &str,
    number: &str,
    outcome: &str,
    records: Vec<RecordId>,
) -> CallRecord {
    let lines = [
        (
            Speaker::Callbox,
            "Thanks for calling. What can we help you with today?",
        ),
        (
            Speaker::Caller,
            "My furnace is blowing cold air and it's 40 degrees in here.",
        ),
        (
            Speaker::Callbox,
            "Sorry to hear that. What's the address of the home?",
        ),
        (Speaker::Caller, "1 Main Street, apartment 4."),
        (
            Speaker::Callbox,
            "We can be there tomorrow between 9 and 11. Does that work?",
        ),
        (Speaker::Caller, "Yes please."),
    ];
    let transcript: Vec<Turn> = lines
        .iter()
        .enumerate()
        .map(|(n, (speaker, text))| Turn {
            at: answered + Span::seconds(6 * n as i64),
            speaker: *speaker,
            text: text.to_string(),
        })
        .collect();
    let turns = transcript
        .iter()
        .enumerate()
        .map(|(n, turn)| TurnRecord {
            speaker: match turn.speaker {
                Speaker::Callbox => "box".into(),
                Speaker::Caller => "caller".into(),
            },
            text: turn.text.clone(),
            start_ms: 6_000 * n as u64,
            end_ms: 6_000 * n as u64 + 4_000,
            barge_in: false,
            recognition_ms: None,
        })
        .collect();
    CallRecord {
        key,
        call_id: format!("{call_id}@127.0.0.1"),
        caller: CallerRecord {
            number: Some(number.to_string()),
            display_name: Some(name.to_string()),
            presentation: "available".into(),
            raw: format!("<sip:{number}@192.168.1.20>"),
        },
        dialled: Some("+13125550100".into()),
        codec: "PCMU".into(),
        answered_at: answered,
        ended_at: answered + Span::seconds(40),
        end_reason: "remote_hangup".into(),
        digits: Vec::new(),
        recording: None,
        recording_stopped: None,
        rtp: RtpRecord::default(),
        turns,
        records,
        dialog: Some(DialogRecord {
            mode: "speech".into(),
            outcome: outcome.into(),
            confirmation_number: (outcome == "job").then(|| "CB-4821".to_string()),
            caller_hung_up: false,
            enqueue_failed: false,
            transcript,
            outdoor: None,
            caller_temp: None,
            bridged: None,
        }),
        page: None,
    }
}

/// 8 kHz mono 16-bit PCM, as the box records: a warbling tone, `secs` long.
fn write_wav(path: &Path, secs: f64) {
    fs::create_dir_all(path.parent().expect("recordings dir")).expect("create recordings dir");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).expect("create wav");
    let samples = (secs * 8000.0) as u32;
    for n in 0..samples {
        let t = f64::from(n) / 8000.0;
        let f = 300.0 + 100.0 * (2.0 * std::f64::consts::PI * 2.0 * t).sin();
        let v = (2.0 * std::f64::consts::PI * f * t).sin() * 8000.0;
        wav.write_sample(v as i16).expect("write sample");
    }
    wav.finalize().expect("finish wav");
}

// ---- the browser ------------------------------------------------------------------------------

/// Node and Chromium and playwright-core, or `None` when CALLBOX_SKIP_BROWSER=1 says to skip.
fn browser_ready() -> Option<PathBuf> {
    if std::env::var("CALLBOX_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED: the browser tests (tests/web_browser.rs) did not run: CALLBOX_SKIP_BROWSER=1. \
             They are NOT passed; run scripts/install-browser-deps.sh and unset it."
        );
        return None;
    }
    let hint = "run scripts/install-browser-deps.sh (the README's test command does), or set \
                CALLBOX_SKIP_BROWSER=1 to skip the browser tests knowingly";
    let node = require_tool("node");
    let chromium = std::env::var_os("CALLBOX_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "no Chromium at {}: {hint}",
        chromium.display()
    );
    let scripts = browser_dir();
    assert!(
        scripts
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is not installed in {}: {hint}",
        scripts.display()
    );
    Some(node)
}

fn browser_dir() -> PathBuf {
    repo_dir().join("tests/browser")
}

/// Runs one script of tests/browser with `input`; its results (`{ok, steps, incidents}`).
fn run_script(node: &Path, script: &str, input: &Value, work: &Path) -> Value {
    let tag = format!(
        "{}-{}",
        script.trim_end_matches(".mjs"),
        input["phase"].as_str().unwrap_or("all")
    );
    let input_path = work.join(format!("{tag}.input.json"));
    let results_path = work.join(format!("{tag}.results.json"));
    fs::write(&input_path, serde_json::to_vec_pretty(input).expect("json")).expect("write input");
    let _ = fs::remove_file(&results_path);
    let started = Instant::now();
    let mut child = Command::new(node)
        .arg(browser_dir().join(script))
        .arg(&input_path)
        .arg(&results_path)
        .current_dir(browser_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    let limit = scaled(Duration::from_secs(120));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{script} ({tag}) ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = fs::read_to_string(&results_path).unwrap_or_else(|e| {
        panic!(
            "{script} ({tag}) exited {status} without results at {}: {e}",
            results_path.display()
        )
    });
    eprintln!(
        "[browser] {script} ({tag}) exited {status} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    serde_json::from_str(&text).expect("results are JSON")
}

/// The named step's observations; panics with its error (and screenshot) when it failed.
fn step<'a>(results: &'a Value, name: &str) -> &'a Value {
    let step = results["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in the results: {results:#}"));
    assert!(
        step["ok"] == true,
        "browser step {name} failed at {}: {}\nobserved: {:#}\nscreenshot: {}\npage: {}",
        step["url"],
        step["error"].as_str().unwrap_or_default(),
        step["observed"],
        step["screenshot"],
        step["html"].as_str().unwrap_or_default()
    );
    &step["observed"]
}

/// Nothing ran that the page did not mean to run: no dialog (hostile text turned markup), no
/// uncaught exception, no CSP violation.
fn assert_no_incidents(results: &Value, script: &str) {
    assert_eq!(
        results["incidents"],
        json!([]),
        "{script}: the page ran something it must not: {:#}",
        results["incidents"]
    );
}

/// The page's state name in the queue's own spelling (`needs-attention`, `pending` and
/// `needs_attention` all name the same state).
fn state_name(s: &str) -> String {
    match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "pending" => "queued".into(),
        other => other.to_string(),
    }
}

// ---- the box ------------------------------------------------------------------------------------

struct WebBox {
    daemon: Daemon,
    base: String,
}

impl WebBox {
    fn start(data_dir: &Path) -> WebBox {
        let port = free_tcp_port();
        let config = DaemonConfig::new()
            .set("storage.data_dir", data_dir.to_string_lossy().as_ref())
            .set("web.enabled", true)
            .set("web.listen", format!("127.0.0.1:{port}"));
        let daemon = Daemon::start(config);
        let web = WebBox {
            daemon,
            base: format!("https://127.0.0.1:{port}"),
        };
        web.wait_healthy();
        web
    }

    fn restart(&mut self) {
        self.daemon.restart();
        self.wait_healthy();
    }

    fn web_dir(&self) -> PathBuf {
        self.daemon.data_dir.join("web")
    }

    /// `GET /healthz` answers 200 over TLS with the certificate the box keeps in its data dir.
    fn wait_healthy(&self) {
        callbox::web::install_crypto_provider();
        let deadline = Instant::now() + scaled(Duration::from_secs(20));
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.healthz() {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the web page at {} did not answer /healthz: {last}\nlog:\n{}",
            self.base,
            self.daemon.log_tail(100)
        );
    }

    fn healthz(&self) -> Result<(), String> {
        let cert = fs::read(self.web_dir().join("cert.pem")).map_err(|e| e.to_string())?;
        let cert = reqwest::Certificate::from_pem(&cert).map_err(|e| e.to_string())?;
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([cert])
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let answer = client
            .get(format!("{}/healthz", self.base))
            .send()
            .map_err(|e| e.to_string())?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("status {}", answer.status()))
        }
    }

    /// The one-time setup code, from the file; the log must carry the same code.
    fn setup_code(&self) -> String {
        let code = fs::read_to_string(self.web_dir().join("setup-code"))
            .expect("<data_dir>/web/setup-code on first start")
            .trim()
            .to_string();
        assert!(
            self.daemon.log().contains(&code),
            "the setup code is not in the log"
        );
        code
    }
}

fn input(web: &WebBox, seeded: &Seeded, phase: &str, work: &Path) -> Value {
    json!({
        "base": web.base,
        "phase": phase,
        "password": PASSWORD,
        "artifacts": work.join("artifacts"),
        "timeout_ms": scaled(Duration::from_secs(10)).as_millis() as u64,
        "screenshots": screenshots_dir(),
        "seed": {
            "caller_name": CALLER_NAME,
            "hostile_marker": "<script>alert('x')</script>",
            "recording_key": seeded.recording_key,
            "retry_id": seeded.retry_id.as_str(),
        },
        "setting": { "key": "shop.name", "value": NEW_SHOP_NAME },
        "bad_setting": { "key": "shop.timezone", "value": BAD_TIMEZONE },
    })
}

/// Where screenshots go: `CALLBOX_SCREENSHOTS_DIR` (e.g. docs/screenshots), else the target dir.
fn screenshots_dir() -> PathBuf {
    match std::env::var_os("CALLBOX_SCREENSHOTS_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo_dir().join(dir)
            }
        }
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    }
}

/// The test's folder (data dir, browser inputs, results, failure screenshots), kept for a
/// post-mortem when the test fails and `CALLBOX_TEST_KEEP` is set.
struct KeptOnFailure(Option<tempfile::TempDir>);

impl Drop for KeptOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("CALLBOX_TEST_KEEP").is_some() {
            if let Some(dir) = self.0.take() {
                eprintln!("kept {}", dir.keep().display());
            }
        }
    }
}

// ---- the test -----------------------------------------------------------------------------------

#[test]
fn the_office_uses_the_page_in_a_browser() {
    let _serial = common::serial();
    let Some(node) = browser_ready() else {
        return;
    };
    let kept = KeptOnFailure(Some(
        tempfile::Builder::new()
            .prefix("callbox-web-")
            .tempdir()
            .expect("tempdir"),
    ));
    let data = kept.0.as_ref().expect("tempdir");
    let data_dir = data.path().join("data");
    let seeded = seed(&data_dir);
    let work = data.path().join("browser");
    fs::create_dir_all(&work).expect("work dir");

    let mut web = WebBox::start(&data_dir);
    let mut first = input(&web, &seeded, "first", &work);
    first["setup_code"] = web.setup_code().into();
    let results = run_script(&node, "flows.mjs", &first, &work);
    check_first_phase(&results, &seeded, &web);

    web.restart();
    let second = input(&web, &seeded, "after_restart", &work);
    let results = run_script(&node, "flows.mjs", &second, &work);
    check_after_restart(&results);

    let shots = input(&web, &seeded, "screenshots", &work);
    let results = run_script(&node, "screenshots.mjs", &shots, &work);
    check_screenshots(&results);

    assert!(
        !web.daemon.log().contains(PASSWORD),
        "the admin password is in the daemon's log"
    );
}

fn check_first_phase(results: &Value, seeded: &Seeded, web: &WebBox) {
    // (a) setup code -> password -> login
    let login = step(results, "setup_login");
    assert_eq!(login["first_visit_landed_on"], "/setup", "{login:#}");
    assert_eq!(login["after_setup"], "/login", "{login:#}");
    assert_eq!(login["after_login"], "/", "{login:#}");
    assert!(
        !web.web_dir().join("setup-code").exists(),
        "the setup code is used up once the password is set"
    );

    // (b) the dashboard counts what was seeded, state by state
    let dashboard = step(results, "dashboard_counts");
    let shown: BTreeMap<String, u64> = dashboard["queue_counts"]
        .as_object()
        .expect("queue counts")
        .iter()
        .map(|(state, n)| (state_name(state), n.as_u64().unwrap_or(u64::MAX)))
        .collect();
    for (state, n) in &seeded.queue_counts {
        assert_eq!(
            shown.get(*state),
            Some(n),
            "dashboard count of {state}; shown {shown:?}, seeded {:?}",
            seeded.queue_counts
        );
    }
    for (state, n) in &shown {
        if !seeded.queue_counts.contains_key(state.as_str()) {
            assert_eq!(*n, 0, "nothing seeded is {state}, the dashboard shows {n}");
        }
    }
    assert_eq!(dashboard["chart_days"], 14, "{dashboard:#}");
    assert!(
        dashboard["services"]
            .as_array()
            .is_some_and(|s| s.contains(&json!({ "name": "web", "state": "running" }))),
        "the web service runs, says the dashboard: {dashboard:#}"
    );
    assert!(
        dashboard["chart_bars"].as_u64().unwrap_or(0) > 0,
        "{dashboard:#}"
    );

    // hostile caller text is shown as text; the search by name finds the one call
    let calls = step(results, "hostile_inert");
    assert_eq!(calls["text_shows_hostile"], true, "{calls:#}");
    assert_eq!(calls["img_in_table"], 0, "{calls:#}");
    assert_eq!(calls["script_in_table"], 0, "{calls:#}");
    assert!(
        calls["rows"].as_u64().unwrap_or(0) >= 10,
        "the calls list shows a page of the {} calls: {calls:#}",
        seeded.calls
    );
    assert_eq!(
        calls["search_rows"],
        json!([seeded.recording_key]),
        "{calls:#}"
    );

    // (e) the recording loads and has the seeded WAV's duration
    let play = step(results, "play_recording");
    assert_eq!(
        play["src"],
        format!("/api/calls/{}/recording", seeded.recording_key),
        "{play:#}"
    );
    let duration = play["media"]["duration"].as_f64().unwrap_or(0.0);
    assert!(
        (duration - RECORDING_SECS).abs() < 0.1,
        "the audio element's duration {duration} s, the WAV's {RECORDING_SECS} s: {play:#}"
    );
    assert_eq!(play["media"]["play_error"], Value::Null, "{play:#}");
    let answers = play["recording_answers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !answers.is_empty()
            && answers.iter().all(|a| {
                (a["status"] == 200 || a["status"] == 206) && a["type"] == "audio/wav"
            }),
        "the recording is served as audio/wav (whole or by range): {play:#}"
    );
    assert!(
        play["media"]["current_time"].as_f64().unwrap_or(0.0) > 0.0,
        "the recording did not play: {play:#}"
    );
    assert_eq!(
        play["transcript_speakers"]
            .as_array()
            .map_or(0, |turns| turns.len()),
        seeded.recording_turns,
        "{play:#}"
    );
    assert_eq!(
        play["call_records"],
        json!([seeded.recording_record.as_str()]),
        "{play:#}"
    );

    // (f) retry: the row leaves needs-attention, and the queue says queued
    let retry = step(results, "retry_record");
    assert_eq!(
        state_name(retry["state_before"].as_str().unwrap_or_default()),
        "needs_attention",
        "{retry:#}"
    );
    assert_eq!(
        state_name(retry["state_after"].as_str().unwrap_or_default()),
        "queued",
        "{retry:#}"
    );
    assert_eq!(retry["retry_status"], 200, "{retry:#}");
    assert_eq!(
        queue_state(&web.daemon.data_dir, &seeded.retry_id),
        Some(StateName::Queued),
        "the queue's own record of the retried one"
    );

    // (c, first half) a setting saved
    let saved = step(results, "setting_saved");
    assert_eq!(saved["put_status"], 200, "{saved:#}");
    assert_eq!(saved["value_after_reload"], NEW_SHOP_NAME, "{saved:#}");

    // (d) a bad value: 422, its message next to its field, nothing saved
    let bad = step(results, "bad_value");
    assert_eq!(bad["put_status"], 422, "{bad:#}");
    assert!(
        bad["error_text"].as_str().is_some_and(|t| !t.is_empty()),
        "{bad:#}"
    );
    assert_eq!(bad["error_visible"], true, "{bad:#}");
    assert_eq!(bad["error_near_field"], true, "{bad:#}");
    assert_eq!(bad["other_errors"], json!([]), "{bad:#}");
    assert_eq!(bad["value_after_reload"], bad["value_before"], "{bad:#}");
    assert_ne!(bad["value_after_reload"], BAD_TIMEZONE, "{bad:#}");

    assert_no_incidents(results, "flows.mjs (first)");
}

fn check_after_restart(results: &Value) {
    step(results, "login");
    // (c, second half) the setting survived the restart
    let kept = step(results, "setting_kept");
    assert_eq!(kept["value"], NEW_SHOP_NAME, "{kept:#}");

    // (g) logout; the back button shows no data and lands on /login
    let out = step(results, "logout_back");
    assert_eq!(out["before_logout_shows_caller"], true, "{out:#}");
    assert_eq!(out["after_logout"], "/login", "{out:#}");
    assert_eq!(out["after_back"], "/login", "{out:#}");
    assert_eq!(out["after_back_shows_caller"], false, "{out:#}");
    assert_eq!(out["after_back_has_calls_table"], 0, "{out:#}");
    assert_eq!(out["after_back_has_logout"], 0, "{out:#}");
    assert_eq!(out["api_status_after_logout"], 401, "{out:#}");
    assert_eq!(out["dashboard_after_logout"], "/login", "{out:#}");

    assert_no_incidents(results, "flows.mjs (after restart)");
}

fn check_screenshots(results: &Value) {
    let pages = [
        "login",
        "dashboard",
        "calls",
        "call-detail",
        "queue",
        "on-call",
        "settings",
        "updates",
        "diagnostics",
    ];
    for page in pages {
        let shot = step(results, &format!("shoot_{page}"));
        for width in ["desktop", "phone"] {
            let png = shot[format!("{width}_png")].as_str().unwrap_or_default();
            let bytes = fs::read(png).unwrap_or_else(|e| panic!("{page} {width}: {png}: {e}"));
            assert!(
                bytes.starts_with(b"\x89PNG") && bytes.len() > 2_000,
                "{png} is not a PNG of a page"
            );
        }
        let width = shot["phone_scroll_width"].as_u64().unwrap_or(u64::MAX);
        assert!(
            width <= 362,
            "{page} is {width} px wide on a 360 px phone (it scrolls sideways): {shot:#}"
        );
    }
    for width in ["desktop", "phone"] {
        let setup = screenshots_dir().join(format!("setup-{width}.png"));
        assert!(setup.is_file(), "no {}", setup.display());
    }
    assert_no_incidents(results, "screenshots.mjs");
}

/// The state the queue's mirror has for `id` (readable while the daemon holds the queue).
fn queue_state(data_dir: &Path, id: &RecordId) -> Option<StateName> {
    let records = Outbox::read_mirror(&data_dir.join("queue")).expect("read the queue's mirror");
    records
        .iter()
        .rev()
        .find(|r| &r.id == id)
        .map(|r| r.state.name())
}

/// `benches/seed_calls.py` (the web page's benchmark seeds 10,000 calls with it) writes call
/// records in the shape the box reads: none is skipped as unreadable.
#[test]
fn the_benchmark_seeds_call_records_the_box_reads() {
    require_tool("python3");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new("python3")
        .arg(repo_dir().join("benches/seed_calls.py"))
        .arg(dir.path())
        .args(["--calls", "40", "--days", "14"])
        .output()
        .expect("run benches/seed_calls.py");
    assert!(
        out.status.success(),
        "seed_calls.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (records, bad) = call_log::read_records(&dir.path().join("calls"));
    assert_eq!(bad, Vec::<PathBuf>::new(), "records the box cannot read");
    assert_eq!(records.len(), 40);
    let now = Utc::now();
    for record in &records {
        assert!(record.answered_at <= now && record.answered_at > now - Span::days(15));
        assert_eq!(
            record.key,
            call_log::record_key(record.answered_at, &record.call_id),
            "the file name follows the box's own key"
        );
        let dialog = record.dialog.as_ref().expect("a dialog outcome");
        assert!(!dialog.transcript.is_empty() && !record.turns.is_empty());
    }
}
