//! The web page's console against the real daemon (issue 12): seeded calls and queue, setup
//! code → password → login over HTTPS, the dashboard's queue counts, the call list, a setting
//! saved from the page and kept across a restart, a bad value refused field by field, and the
//! restart asked for from the page.
//!
//! Needs the page's routes (`/api/dashboard`, `/api/calls`, `/api/settings`, `/api/restart`,
//! PLAN12.md) from the web branch.

mod common;
mod support;
mod sync_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use callbox::dialog::call_log::{self, CallRecord, CallerRecord, DialogRecord, RtpRecord};
use callbox::queue::{CallbackRequest, CallerInfo, Outbox, Payload, QueueOptions};
use common::{scaled, Daemon, DaemonConfig};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery staple 12";

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

/// Three calls today: two callbacks, one job.
fn seed_calls(data_dir: &Path) -> Vec<String> {
    let calls = data_dir.join("calls");
    let now = chrono::Utc::now();
    (0..3)
        .map(|i| {
            let at = now - chrono::Duration::minutes(10 * (i + 1));
            let record = CallRecord {
                key: call_log::record_key(at, &format!("seeded-{i}")),
                call_id: format!("seeded-{i}"),
                caller: CallerRecord {
                    number: Some(format!("+1312555010{i}")),
                    display_name: Some(format!("Caller {i}")),
                    presentation: "available".into(),
                    raw: String::new(),
                },
                dialled: None,
                codec: "PCMU".into(),
                answered_at: at,
                ended_at: at + chrono::Duration::seconds(60),
                end_reason: "caller_hung_up".into(),
                digits: Vec::new(),
                recording: None,
                recording_stopped: None,
                rtp: RtpRecord::default(),
                turns: Vec::new(),
                records: Vec::new(),
                dialog: Some(DialogRecord {
                    // The oldest call came when the memory held speech for no more calls.
                    mode: if i == 2 {
                        "keypad_only_memory"
                    } else {
                        "speech"
                    }
                    .into(),
                    outcome: if i == 0 { "job" } else { "callback" }.into(),
                    confirmation_number: None,
                    caller_hung_up: false,
                    enqueue_failed: false,
                    transcript: Vec::new(),
                    outdoor: None,
                    caller_temp: None,
                    bridged: None,
                }),
                page: None,
            };
            call_log::write_record(&calls, &record).expect("write call record");
            record.key
        })
        .collect()
}

/// Two queued callbacks and one that needs attention.
fn seed_queue(data_dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (outbox, _) =
            Outbox::open(&data_dir.join("queue"), QueueOptions::default()).expect("open queue");
        let mut ids = Vec::new();
        for i in 0..3 {
            let payload = Payload::Callback(CallbackRequest {
                call_key: format!("seeded-{i}"),
                caller: CallerInfo {
                    name: format!("Caller {i}"),
                    phone_e164: Some(format!("+1312555010{i}")),
                    callback_phone_e164: None,
                },
                reason: "call me back".into(),
                preferred_time: None,
            });
            ids.push(outbox.enqueue(payload).await.expect("enqueue"));
        }
        outbox
            .mark_needs_attention(&ids[2], "ServiceTitan rejected the phone number")
            .await
            .expect("needs attention");
        outbox.flush().await.expect("flush");
    });
}

fn daemon(data_dir: &Path, web_port: u16) -> Daemon {
    Daemon::start(
        DaemonConfig::answering()
            .set("storage.data_dir", data_dir.display().to_string())
            .set("web.enabled", true)
            .set("web.listen", format!("127.0.0.1:{web_port}")),
    )
}

/// The page over HTTPS, trusting the box's own certificate.
struct Page {
    base: String,
    client: Client,
    cookie: String,
    csrf: String,
}

impl Page {
    fn client(data_dir: &Path) -> Client {
        callbox::web::install_crypto_provider();
        let cert_path = data_dir.join("web/cert.pem");
        let deadline = std::time::Instant::now() + scaled(Duration::from_secs(20));
        while !cert_path.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let cert = std::fs::read(&cert_path).expect("the page's certificate");
        Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&cert).expect("pem")])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    fn wait_up(client: &Client, base: &str) {
        let deadline = std::time::Instant::now() + scaled(Duration::from_secs(20));
        loop {
            if client
                .get(format!("{base}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page did not come up"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// First start: the setup code sets the password; then log in.
    fn set_up_and_log_in(data_dir: &Path, port: u16) -> Page {
        let base = format!("https://127.0.0.1:{port}");
        let client = Self::client(data_dir);
        Self::wait_up(&client, &base);
        let code = std::fs::read_to_string(data_dir.join("web/setup-code")).expect("setup code");
        let answer = client
            .post(format!("{base}/api/setup"))
            .json(&json!({ "setup_code": code.trim(), "password": PASSWORD }))
            .send()
            .expect("setup");
        assert_eq!(answer.status(), StatusCode::OK);
        Self::log_in(data_dir, port)
    }

    fn log_in(data_dir: &Path, port: u16) -> Page {
        let base = format!("https://127.0.0.1:{port}");
        let client = Self::client(data_dir);
        Self::wait_up(&client, &base);
        let answer = client
            .post(format!("{base}/api/session"))
            .json(&json!({ "password": PASSWORD }))
            .send()
            .expect("login");
        assert_eq!(answer.status(), StatusCode::OK);
        let cookie = answer
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(callbox::web::SESSION_COOKIE))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string();
        let body: Value = answer.json().expect("json");
        let csrf = body["csrf_token"].as_str().expect("csrf").to_string();
        Page {
            base,
            client,
            cookie,
            csrf,
        }
    }

    fn get(&self, path: &str) -> (StatusCode, Value) {
        let answer = self
            .client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .expect("GET");
        let status = answer.status();
        (status, answer.json().unwrap_or(Value::Null))
    }

    /// A page's HTML, logged in.
    fn html(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .and_then(|r| r.text())
            .expect("page")
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (StatusCode, Value) {
        let answer = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .json(&body)
            .send()
            .expect("request");
        let status = answer.status();
        (status, answer.json().unwrap_or(Value::Null))
    }
}

fn field<'a>(settings: &'a Value, key: &str) -> &'a Value {
    settings["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["fields"].as_array().into_iter().flatten())
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no field {key} in {settings}"))
}

#[test]
fn the_console_shows_the_box_and_keeps_a_setting_across_a_restart() {
    let _serial = common::serial();
    let data = tempfile::tempdir().expect("tempdir");
    let data_dir: PathBuf = data.path().join("data");
    std::fs::create_dir_all(data_dir.join("calls")).expect("mkdir");
    let keys = seed_calls(&data_dir);
    seed_queue(&data_dir);
    let port = free_tcp_port();

    let mut first = daemon(&data_dir, port);
    let page = Page::set_up_and_log_in(&data_dir, port);

    let (status, dashboard) = page.get("/api/dashboard");
    assert_eq!(status, StatusCode::OK, "{dashboard}");
    assert_eq!(dashboard["queue"]["queued"], 2, "{dashboard}");
    assert_eq!(dashboard["queue"]["needs_attention"], 1, "{dashboard}");

    let (status, calls) = page.get("/api/calls?limit=50");
    assert_eq!(status, StatusCode::OK, "{calls}");
    assert_eq!(calls["total"], 3, "{calls}");
    assert_eq!(calls["calls"][0]["key"], keys[0].as_str(), "newest first");
    let (_, jobs) = page.get("/api/calls?outcome=job");
    assert_eq!(jobs["total"], 1, "{jobs}");
    let (_, searched) = page.get("/api/calls?q=3125550102");
    assert_eq!(searched["total"], 1, "{searched}");
    // How each caller could answer, on the call's detail.
    let (_, spoken) = page.get(&format!("/api/calls/{}", keys[0]));
    assert_eq!(spoken["mode"], "speech", "{spoken}");
    let (_, keyed) = page.get(&format!("/api/calls/{}", keys[2]));
    assert_eq!(keyed["mode"], "keypad_only_memory", "{keyed}");
    let html = page.html(&format!("/calls/{}", keys[2]));
    assert!(
        html.contains("data-mode=\"keypad_only_memory\">off, keypad only: the memory held speech"),
        "{html}"
    );

    let (status, errors) = page.send(
        reqwest::Method::PUT,
        "/api/settings",
        json!({ "changes": { "shop.timezone": "Chicago", "shop.name": "Frosty Air" } }),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{errors}");
    assert!(errors["errors"]["shop.timezone"].is_string(), "{errors}");

    let (status, applied) = page.send(
        reqwest::Method::PUT,
        "/api/settings",
        json!({ "changes": { "shop.name": "Frosty Air", "storage.retention_days": 30 } }),
    );
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["applied"], json!(["shop.name"]));
    assert_eq!(applied["restart_needed"], json!(["storage.retention_days"]));
    let (_, settings) = page.get("/api/settings");
    assert_eq!(field(&settings, "shop.name")["value"], "Frosty Air");
    assert_eq!(field(&settings, "shop.name")["source"], "page");
    assert_eq!(
        settings["restart_pending"],
        json!(["storage.retention_days"])
    );

    let (status, plan) = page.send(reqwest::Method::POST, "/api/restart", json!({}));
    assert!(status.is_success(), "{status} {plan}");
    assert_eq!(plan["calls_in_progress"], 0, "{plan}");
    let (exited, _) = first.wait_exit(scaled(Duration::from_secs(20)));
    assert!(
        exited.is_some_and(|s| s.success()),
        "the restart stops the box cleanly (systemd starts it again): {exited:?}"
    );
    assert!(first.log().contains("restart asked for from the web page"));

    let second = daemon(&data_dir, port);
    let page = Page::log_in(&data_dir, port);
    let (_, settings) = page.get("/api/settings");
    assert_eq!(field(&settings, "shop.name")["value"], "Frosty Air");
    assert_eq!(field(&settings, "storage.retention_days")["value"], 30);
    assert_eq!(settings["restart_pending"], json!([]));
    let (_, dashboard) = page.get("/api/dashboard");
    assert_eq!(dashboard["shop_name"], "Frosty Air");
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_passes_each_step_with_good_credentials_and_names_the_failure() {
    let st_config = support::st_server::StServerConfig::default();
    let seed = support::st_server::seed::hvac_shop(&st_config);
    let server = support::st_server::StServer::start_seeded(st_config, seed);
    let data = tempfile::tempdir().expect("tempdir");
    let config = sync_support::config(&server, data.path());
    let report = callbox::app::console::test_connection(&config).await;
    let steps: Vec<(&str, bool)> = report
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.ok))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("token", true),
            ("customer lookup", true),
            ("capacity", true)
        ],
        "{report:?}"
    );

    let mut wrong = config.clone();
    wrong.servicetitan.client_secret = callbox::infra::Secret::new("not-the-secret-4411");
    let report = callbox::app::console::test_connection(&wrong).await;
    assert_eq!(report.steps.len(), 1, "{report:?}");
    assert_eq!(report.steps[0].name, "token");
    assert!(!report.steps[0].ok);
    let text = format!("{report:?}");
    assert!(
        !text.contains("not-the-secret-4411"),
        "the detail shows the secret"
    );
    assert!(!text.contains(support::st_server::TEST_CLIENT_SECRET));
}

/// An emergency call whose page nobody has taken yet (no alert channel, no pager: the office
/// is the only one who can): the On-call view's "Take it" (`POST /api/alerts/{id}/acknowledge`,
/// session + CSRF) notes who took it in the alert and in the caller's own call record, which
/// the call's detail then shows; a second taker is refused, a nameless one too.
#[test]
fn an_office_person_takes_an_alert_by_hand_and_the_call_shows_who_and_when() {
    let _serial = common::serial();
    let data = tempfile::tempdir().expect("tempdir");
    let data_dir: PathBuf = data.path().join("data");
    std::fs::create_dir_all(data_dir.join("calls")).expect("mkdir");
    let key = seed_calls(&data_dir).swap_remove(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let alert = runtime.block_on(async {
        let (outbox, _) =
            Outbox::open(&data_dir.join("queue"), QueueOptions::default()).expect("open queue");
        let id = outbox
            .enqueue(Payload::OnCallAlert(callbox::queue::OnCallAlert {
                call_key: key.clone(),
                caller: CallerInfo {
                    name: "Jane Doe".into(),
                    phone_e164: Some("+13125550142".into()),
                    callback_phone_e164: None,
                },
                hazard: callbox::queue::Hazard::NoHeat,
                address: None,
                known_customer_id: None,
                caller_said: "the heat is out and it's freezing".into(),
                raised_at_utc: chrono::Utc::now(),
                job_record_id: None,
            }))
            .await
            .expect("enqueue");
        outbox.flush().await.expect("flush");
        id
    });
    let port = free_tcp_port();
    let _box = daemon(&data_dir, port);
    let page = Page::set_up_and_log_in(&data_dir, port);

    let (_, on_call) = page.get("/api/on-call");
    let row = |view: &Value| {
        view["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["id"] == alert.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no alert {alert} in {view}"))
    };
    assert_eq!(row(&on_call)["acknowledged_by"], Value::Null, "{on_call}");
    let (_, detail) = page.get(&format!("/api/calls/{key}"));
    assert!(detail.get("paged").is_none(), "{detail}");

    let path = format!("/api/alerts/{alert}/acknowledge");
    let (status, refused) = page.send(reqwest::Method::POST, &path, json!({ "by": "  " }));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let before = chrono::Utc::now();
    let (status, taken) = page.send(reqwest::Method::POST, &path, json!({ "by": "Dana" }));
    assert_eq!(status, StatusCode::OK, "{taken}");
    assert_eq!(taken["acknowledged_by"], "Dana (web)", "{taken}");
    let (status, again) = page.send(reqwest::Method::POST, &path, json!({ "by": "Lee" }));
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the first taker keeps it: {again}"
    );
    let (status, _) = page.send(
        reqwest::Method::POST,
        "/api/alerts/cb-01JHC2V3W4X5Y6Z7A8B9C0D1E2/acknowledge",
        json!({ "by": "Dana" }),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The caller's record on disk, and the call's detail on the page.
    let (records, _) = call_log::read_records(&data_dir.join("calls"));
    let record = records.iter().find(|r| r.key == key).expect("the call");
    let noted = record
        .page
        .as_ref()
        .expect("the page's end in the call record");
    assert_eq!(
        (
            noted.outcome.as_str(),
            noted.by.as_deref(),
            noted.channel.as_deref()
        ),
        ("acknowledged", Some("Dana"), Some("web"))
    );
    assert_eq!(noted.alert, alert.as_str());
    let at = noted.at.expect("when");
    assert!(at >= before - chrono::Duration::seconds(1) && at <= chrono::Utc::now());
    let (_, detail) = page.get(&format!("/api/calls/{key}"));
    assert_eq!(detail["paged"]["by"], "Dana", "{detail}");
    assert_eq!(detail["paged"]["outcome"], "acknowledged", "{detail}");
    let html = page.html(&format!("/calls/{key}"));
    assert!(
        html.contains("data-outcome=\"acknowledged\">taken by Dana (web) at "),
        "{html}"
    );
    let (_, on_call) = page.get("/api/on-call");
    assert_eq!(row(&on_call)["acknowledged_by"], "Dana (web)", "{on_call}");
}
