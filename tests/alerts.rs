//! Alerts to the on-call technician, end to end: the real dialog engine queues the alert
//! (simulate's code path), the real dispatcher sends it to a local HTTP receiver (axum on
//! 127.0.0.1) that records every request and drops repeats by `Idempotency-Key`, the way a
//! real receiver would. Also: 500s and refused connections, ntfy's form, a SIGKILL mid-delivery
//! of the real `app::run`, start-up without a channel, config errors and the test alert.
//!
//! The daemon runs as a child process of this test binary (it re-executes itself into
//! `child_callbox_run`), not as `target/debug/callbox`: that path is shared by every build in
//! the target directory, this binary is not.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use callbox::alert::{AlertSettings, Dispatcher, NoOnCall};
use callbox::app::lookup::CacheOnCall;
use callbox::config::Config;
use callbox::queue::{ListFilter, Outbox, Payload, QueueOptions, Record, RecordKind};
use callbox::servicetitan::cache::StCache;
use callbox::servicetitan::types::{Technician, TechnicianShift};
use chrono::Utc;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const JANE: &str = "+13125550142";

// ---- the receiver ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Request {
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn key(&self) -> String {
        self.header("idempotency-key").unwrap_or("").to_string()
    }
}

/// A webhook receiver: answers 500 to the first `fail_first` requests, hangs while `hang`,
/// else 200; "delivers" each idempotency key once.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Request>>>,
    delivered: Arc<Mutex<Vec<Request>>>,
    seen: Arc<Mutex<BTreeSet<String>>>,
    fail_first: Arc<AtomicUsize>,
    hang: Arc<AtomicBool>,
}

impl Receiver {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
    fn delivered(&self) -> Vec<Request> {
        self.delivered.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mut req = Request {
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        status: 0,
    };
    if r.hang.load(Ordering::SeqCst) {
        r.requests.lock().unwrap().push(req);
        // Never answers: the sender is killed or times out first.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return StatusCode::OK;
    }
    let failing = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    req.status = status.as_u16();
    r.requests.lock().unwrap().push(req.clone());
    if !failing && r.seen.lock().unwrap().insert(req.key()) {
        r.delivered.lock().unwrap().push(req);
    }
    status
}

async fn start_receiver(addr: SocketAddr, r: Receiver) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route("/{*path}", post(receive))
        .with_state(r);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// A loopback port nothing listens on (connection refused) until a receiver binds it.
fn free_tcp_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn free_udp_addr() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr")
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- the box --------------------------------------------------------------------------------

const CHILD_CONFIG: &str = "CALLBOXTEST_ALERTS_CHILD_CONFIG";

/// Not a test: `callbox run` (the same calls as main.rs) when re-executed by [`Run::start`].
#[test]
fn child_callbox_run() {
    let Some(path) = std::env::var_os(CHILD_CONFIG) else {
        return;
    };
    let config = Config::load(Some(Path::new(&path))).expect("config");
    callbox::app::init_logging(&config.log.filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(callbox::app::run(config))
        .expect("callbox run");
}

/// `callbox simulate` as a caller who smells gas: the real engine queues the alert. On its own
/// thread: simulate runs its own runtime, which cannot start inside the test's.
fn simulate_gas_call(data: &Path) {
    let data = data.to_path_buf();
    let stdout = std::thread::spawn(move || {
        let mut config = Config::default();
        config.storage.data_dir = data;
        let opts = callbox::app::simulate::SimulateOptions {
            caller_id: Some(JANE.into()),
            seed: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations/seed.json")),
            offline: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        callbox::app::simulate::run(
            &config,
            &opts,
            &mut &b"i smell gas in the basement\n"[..],
            &mut out,
        )
        .expect("simulate");
        String::from_utf8_lossy(&out).into_owned()
    })
    .join()
    .expect("simulate thread");
    assert!(stdout.contains("\"on_call_alert\""), "{stdout}");
}

fn open_queue(data: &Path) -> Outbox {
    Outbox::open(&data.join("queue"), QueueOptions::default())
        .expect("queue")
        .0
}

fn alerts(outbox: &Outbox) -> Vec<Record> {
    outbox
        .list(&ListFilter {
            kind: Some(RecordKind::OnCallAlert),
            ..ListFilter::default()
        })
        .expect("list")
}

fn config(data: &Path, url: &str, format: &str) -> Config {
    let mut c = Config::default();
    c.storage.data_dir = data.to_path_buf();
    c.shop.name = "Acme Heating".into();
    c.alerts.webhook_url = url.into();
    c.alerts.format = format.into();
    c.alerts.retry_max_secs = 1;
    c.alerts.timeout_secs = 3;
    let errors: Vec<_> = c.validate().into_iter().filter(|i| i.is_error()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    c
}

/// Mike is on call now, with a phone, in the box's ServiceTitan cache.
fn mike_on_call(data: &Path) -> Arc<StCache> {
    let cache = Arc::new(StCache::open(&data.join("cache")).expect("cache"));
    let now = Utc::now();
    let techs: Vec<Technician> = serde_json::from_value(serde_json::json!([
        {"id": 31, "name": "Mike Jones", "phoneNumber": "+13125550100", "active": true}
    ]))
    .expect("technicians");
    let shifts: Vec<TechnicianShift> = serde_json::from_value(serde_json::json!([{
        "id": 1, "shiftType": "OnCall", "active": true, "technicianId": 31,
        "start": now - chrono::Duration::hours(1), "end": now + chrono::Duration::hours(1)
    }]))
    .expect("shifts");
    cache.put_technicians(techs, now).expect("put");
    cache.put_on_call_shifts(shifts, now).expect("put");
    cache
}

// ---- in-process dispatcher ------------------------------------------------------------------

/// Jane's gas call in a fresh data dir, and a receiver listening for the alert.
async fn gas_call_and_receiver() -> (
    tempfile::TempDir,
    PathBuf,
    SocketAddr,
    Receiver,
    tokio::task::JoinHandle<()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    simulate_gas_call(&data);
    let addr = free_tcp_addr();
    let receiver = Receiver::default();
    let server = start_receiver(addr, receiver.clone()).await;
    (dir, data, addr, receiver, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gas_call_reaches_the_on_call_technician_with_caller_address_and_name() {
    let (_dir, data, addr, receiver, _server) = gas_call_and_receiver().await;
    let c = config(&data, &format!("http://{addr}/hooks/oncall"), "json");
    let outbox = open_queue(&data);
    let on_call = Arc::new(CacheOnCall {
        cache: mike_on_call(&data),
    });
    let d = Dispatcher::new(
        AlertSettings::from_settings(&c.alerts, &c.shop.name, &c.shop.timezone).unwrap(),
        outbox.clone(),
        on_call,
    )
    .unwrap();
    assert_eq!(d.deliver_due().await.unwrap(), 1);

    let id = alerts(&outbox)[0].id.to_string();
    let got = receiver.delivered();
    assert_eq!(got.len(), 1, "{:?}", receiver.requests());
    let req = &got[0];
    assert_eq!(req.key(), id);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["idempotency_key"], id.as_str());
    assert_eq!(body["hazard"], "gas");
    assert_eq!(body["caller"]["phone"], JANE);
    assert_eq!(body["caller"]["name"], "Jane Doe");
    assert!(
        body["address_line"]
            .as_str()
            .unwrap_or("")
            .contains("123 Maple"),
        "{body}"
    );
    assert_eq!(body["caller_said"], "i smell gas in the basement");
    assert_eq!(body["on_call"]["name"], "Mike Jones");
    assert_eq!(body["on_call"]["phone"], "+13125550100");
    assert_eq!(body["on_call"]["source"], "servicetitan");
    assert_eq!(body["shop"], "Acme Heating");
    let text = body["text"].as_str().unwrap_or("");
    for want in [
        "gas smell",
        JANE,
        "123 Maple",
        "On call: Mike Jones, +13125550100",
    ] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }

    // Durably delivered: nothing more to send, and the sync lane is untouched.
    let r = &alerts(&outbox)[0];
    assert!(
        !r.alert.pending && r.alert.delivered_at.is_some(),
        "{:?}",
        r.alert
    );
    assert_eq!(r.alert.delivered_to, vec!["webhook".to_string()]);
    assert_eq!(r.state, callbox::queue::RecordState::Queued);
    assert_eq!(d.deliver_due().await.unwrap(), 0);
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_and_500s_are_retried_and_delivered_once_under_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    simulate_gas_call(&data);
    // Nothing listens here yet: connection refused.
    let addr = free_tcp_addr();
    let c = config(&data, &format!("http://{addr}/hook"), "json");
    let outbox = open_queue(&data);
    let id = alerts(&outbox)[0].id.clone();
    let d = Dispatcher::new(
        AlertSettings::from_settings(&c.alerts, &c.shop.name, &c.shop.timezone).unwrap(),
        outbox.clone(),
        Arc::new(NoOnCall),
    )
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let d = d.clone();
        tokio::spawn(async move {
            d.run(async {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    let attempts = || outbox.get(&id).unwrap().map_or(0, |r| r.alert.attempts);
    wait_for("two refused attempts", Duration::from_secs(20), || {
        attempts() >= 2
    })
    .await;
    let r = outbox.get(&id).unwrap().unwrap();
    assert!(r.alert.pending);
    assert!(
        r.alert
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("cannot reach"),
        "{:?}",
        r.alert
    );

    // The receiver comes up, but fails twice with 500 before it takes the alert.
    let receiver = Receiver::default();
    receiver.fail_first.store(2, Ordering::SeqCst);
    let _server = start_receiver(addr, receiver.clone()).await;
    wait_for("delivery", Duration::from_secs(20), || {
        outbox.get(&id).unwrap().is_some_and(|r| !r.alert.pending)
    })
    .await;
    // Long enough for a wrongly repeated send to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop_tx.send(());
    let _ = runner.await;

    let reqs = receiver.requests();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 500, 200], "no resend after the 200");
    assert!(
        reqs.iter().all(|r| r.key() == id.as_str()),
        "the key is the record id on every try: {:?}",
        reqs.iter().map(Request::key).collect::<Vec<_>>()
    );
    assert_eq!(receiver.delivered().len(), 1);
    let r = outbox.get(&id).unwrap().unwrap();
    // At least one refused attempt (its error was seen above) and the three requests: the
    // second attempt counted above may still have been in flight when the receiver came up,
    // and then it is the first 500.
    assert!(r.alert.attempts >= 4, "{:?}", r.alert);
    assert_eq!(r.alert.last_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_format_sends_text_with_title_priority_tags_and_the_bearer_token() {
    let (_dir, data, addr, receiver, _server) = gas_call_and_receiver().await;
    let mut c = config(&data, &format!("http://{addr}/acme-oncall-7f3k"), "ntfy");
    c.alerts.webhook_token = "tk_s3cret".into();
    c.alerts.fallback_name = "Dana (owner)".into();
    c.alerts.fallback_phone = "+13125550111".into();
    let outbox = open_queue(&data);
    let d = Dispatcher::new(
        AlertSettings::from_settings(&c.alerts, &c.shop.name, &c.shop.timezone).unwrap(),
        outbox.clone(),
        Arc::new(NoOnCall),
    )
    .unwrap();
    assert_eq!(d.deliver_due().await.unwrap(), 1);
    let req = &receiver.delivered()[0];
    assert_eq!(req.key(), alerts(&outbox)[0].id.as_str());
    assert_eq!(
        req.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(req.header("priority"), Some("urgent"));
    assert_eq!(req.header("tags"), Some("rotating_light,warning"));
    assert_eq!(
        req.header("title"),
        Some("SAFETY: gas smell - Jane Doe +13125550142")
    );
    assert_eq!(req.header("authorization"), Some("Bearer tk_s3cret"));
    // Plain text, no JSON; the fallback technician because ServiceTitan has no shift.
    assert!(!req.body.trim_start().starts_with('{'), "{}", req.body);
    for want in [
        "SAFETY ALERT (gas smell)",
        "Caller: Jane Doe, +13125550142",
        "Address: 123 Maple",
        "Caller said: \"i smell gas in the basement\"",
        "On call: Dana (owner), +13125550111",
    ] {
        assert!(req.body.contains(want), "{want:?} not in\n{}", req.body);
    }
}

// ---- the real daemon ------------------------------------------------------------------------

fn write_run_config(dir: &Path, data: &Path, url: Option<&str>) -> PathBuf {
    let mut text = format!(
        "[storage]\ndata_dir = {:?}\n[sip]\nlisten = \"{}\"\n[log]\nfilter = \"info\"\n",
        data.to_string_lossy(),
        free_udp_addr()
    );
    if let Some(url) = url {
        text.push_str(&format!(
            "[alerts]\nwebhook_url = \"{url}\"\ntimeout_secs = 30\nretry_max_secs = 1\n"
        ));
    }
    let path = dir.join("callbox.toml");
    std::fs::write(&path, text).expect("config");
    path
}

struct Run {
    child: Child,
    log: PathBuf,
}

impl Run {
    fn start(config: &Path, log: PathBuf) -> Run {
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "child_callbox_run",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_CONFIG, config)
            .env_remove("CALLBOX_STORAGE_DATA_DIR")
            .env_remove("CALLBOX_ALERTS_WEBHOOK_URL")
            .env_remove("CALLBOX_ALERTS_WEBHOOK_TOKEN")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup"))
            .stderr(file)
            .spawn()
            .expect("spawn callbox run");
        Run { child, log }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn kill(&mut self) {
        // SIGKILL: no shutdown path runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("===== callbox log =====\n{}", self.log());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_cut_off_by_sigkill_is_delivered_after_restart_under_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    simulate_gas_call(&data);
    let id = alerts(&open_queue(&data))[0].id.clone();

    let addr = free_tcp_addr();
    let receiver = Receiver::default();
    receiver.hang.store(true, Ordering::SeqCst);
    let _server = start_receiver(addr, receiver.clone()).await;
    let config = write_run_config(dir.path(), &data, Some(&format!("http://{addr}/hook")));

    // First run: the request is on the wire and unanswered when the box is killed.
    let mut first = Run::start(&config, dir.path().join("run1.log"));
    wait_for("the first attempt", Duration::from_secs(30), || {
        !receiver.requests().is_empty()
    })
    .await;
    first.kill();
    assert!(first.log().contains("pending=1"), "{}", first.log());
    assert!(receiver.delivered().is_empty());

    // Second run: the receiver answers now; the queue still owes the alert.
    receiver.hang.store(false, Ordering::SeqCst);
    let mut second = Run::start(&config, dir.path().join("run2.log"));
    wait_for("delivery after restart", Duration::from_secs(30), || {
        !receiver.delivered().is_empty()
    })
    .await;
    // Let the box write "delivered" down, then stop it hard again.
    wait_for("the delivered log line", Duration::from_secs(10), || {
        second.log().contains("on-call technician alerted")
    })
    .await;
    second.kill();

    let reqs = receiver.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    assert!(reqs.iter().all(|r| r.key() == id.as_str()), "{reqs:?}");
    assert_eq!(receiver.delivered().len(), 1);
    let r = open_queue(&data).get(&id).unwrap().unwrap();
    assert!(!r.alert.pending, "{:?}", r.alert);
    assert!(r.alert.attempts >= 2, "{:?}", r.alert);
    assert!(matches!(r.payload, Payload::OnCallAlert(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_channel_the_box_says_so_loudly_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    simulate_gas_call(&data);
    let config = write_run_config(dir.path(), &data, None);
    let mut run = Run::start(&config, dir.path().join("run.log"));
    wait_for("the start-up log", Duration::from_secs(30), || {
        run.log().contains("listening for calls")
    })
    .await;
    run.kill();
    let log = run.log();
    let line = log
        .lines()
        .find(|l| l.contains("NO ALERT CHANNEL"))
        .unwrap_or_else(|| panic!("no warning in\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("pending=1"), "{line}");
    // The alert stays owed in the queue (and goes to the office with the sync: see
    // servicetitan_sync's on_call_alert test).
    let r = &alerts(&open_queue(&data))[0];
    assert!(r.alert.pending);
}

/// What `callbox config check` prints for each issue (`<file>: error: <key>: <reason>`).
#[test]
fn config_check_names_the_bad_alerts_key() {
    for (text, want) in [
        (
            "[alerts]\nwebhook_url = \"http://hooks.example.com/x\"\n",
            "alerts.webhook_url: `http://hooks.example.com/x`: plain http is only allowed",
        ),
        (
            "[alerts]\nwebhook_url = \"https://ntfy.sh/x\"\nformat = \"sms\"\n",
            "alerts.format: `sms` is not one of json, ntfy",
        ),
        (
            "[alerts]\nwebhok_url = \"x\"\n",
            "did you mean `webhook_url`",
        ),
        (
            "[alerts]\nwebhook_url = \"https://ntfy.sh/\"\nformat = \"ntfy\"\n",
            "ntfy needs the topic in the URL",
        ),
    ] {
        let issues = callbox::config::check(text);
        let shown: Vec<String> = issues
            .iter()
            .filter(|i| i.is_error())
            .map(ToString::to_string)
            .collect();
        assert!(
            shown.iter().any(|s| s.contains(want)),
            "{want:?} not in {shown:?}"
        );
    }
    // And the box refuses to start on it rather than running without alerts.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[alerts]\nformat = \"sms\"\n").unwrap();
    let err = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(err.contains("alerts.format"), "{err}");
}

/// `callbox alert test` is this call plus printing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_sends_a_marked_test_and_reports_failure() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_tcp_addr();
    let receiver = Receiver::default();
    let _server = start_receiver(addr, receiver.clone()).await;
    let mut c = config(dir.path(), &format!("http://{addr}/hook"), "json");
    c.alerts.fallback_name = "Dana".into();
    c.alerts.webhook_token = "tok-env".into();
    let settings = AlertSettings::from_settings(&c.alerts, &c.shop.name, &c.shop.timezone).unwrap();
    let reports = callbox::alert::send_test(&settings, &NoOnCall, Utc::now())
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].result.is_ok(), "{reports:?}");
    let req = &receiver.delivered()[0];
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["test"], true);
    assert!(body["title"].as_str().unwrap_or("").starts_with("TEST:"));
    assert!(body["text"]
        .as_str()
        .unwrap_or("")
        .starts_with("TEST ALERT"));
    assert_eq!(body["on_call"]["name"], "Dana");
    assert_eq!(req.header("authorization"), Some("Bearer tok-env"));
    assert!(req.key().starts_with("test-"));

    // A receiver that refuses: the report says so, with the status, and never the token.
    receiver.fail_first.store(1, Ordering::SeqCst);
    let reports = callbox::alert::send_test(&settings, &NoOnCall, Utc::now())
        .await
        .unwrap();
    let err = reports[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(!err.contains("tok-env") && !format!("{reports:?}").contains("tok-env"));
}
