//! The local web page's access rules over real HTTPS on 127.0.0.1 (issue 12): setup code →
//! password → login → status, every route refused without a session, CSRF on every change,
//! login lock-out, cookie attributes, logout, no secret in the log, hostile text shown inert.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, Once, OnceLock};

use std::collections::BTreeMap;

use callbox::web::backend::{
    AlertRow, Applied, BackendError, BoxFuture, CallDetail, CallPage, CallQuery, CallSummary,
    ConnectionReport, ConnectionStep, DashboardView, DayCalls, FieldKind, LogLine, OnCallView,
    QueueQuery, QueueRow, RestartPlan, ServiceView, SettingField, SettingsSection, SettingsView,
    TranscriptTurn, UpdatesView,
};
use callbox::web::{
    routes, Access, SettingsErrors, Verb, WebBackend, WebConfig, WebServer, SESSION_COOKIE,
};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

const HOSTILE: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";

// ---- the log, captured for the whole test binary ----

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_log() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let buffer = log_buffer().clone();
        tracing_subscriber::fmt()
            .with_writer(move || LogWriter(buffer.clone()))
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    });
}

fn log_text() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

// ---- a box with its web page ----

/// A secret the backend holds (and, like a buggy backend, even puts in the settings view):
/// no page or API answer may carry it.
const SECRET: &str = "st-client-secret-7f3a9c-never-shown";
const CALL_KEY: &str = "20261204-2114-call1";
const RECORD_ID: &str = "rec-needs-attention-1";

/// The recording: a real 8 kHz 16-bit mono WAV (a player can load it) with a known pattern,
/// so a range can be checked.
fn recording_bytes() -> Vec<u8> {
    let data: Vec<u8> = (0..8000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut bytes = b"RIFF".to_vec();
    bytes.extend((36 + data.len() as u32).to_le_bytes());
    bytes.extend(b"WAVEfmt ");
    bytes.extend(16u32.to_le_bytes());
    bytes.extend(1u16.to_le_bytes()); // PCM
    bytes.extend(1u16.to_le_bytes()); // mono
    bytes.extend(8000u32.to_le_bytes());
    bytes.extend(16_000u32.to_le_bytes());
    bytes.extend(2u16.to_le_bytes());
    bytes.extend(16u16.to_le_bytes());
    bytes.extend(b"data");
    bytes.extend((data.len() as u32).to_le_bytes());
    bytes.extend(data);
    bytes
}

struct TestBackend {
    recording: std::path::PathBuf,
}

impl TestBackend {
    fn new(data_dir: &Path) -> Arc<TestBackend> {
        let recording = data_dir.join("call.wav");
        fs::write(&recording, recording_bytes()).unwrap();
        Arc::new(TestBackend { recording })
    }

    fn status_json() -> Value {
        json!({
            "line": "registered",
            "queue": { "pending": 3, "needs_attention": 1 },
            "last_caller": HOSTILE,
        })
    }

    fn summary() -> CallSummary {
        CallSummary {
            key: CALL_KEY.into(),
            answered_local: "2026-12-04 21:14".into(),
            caller_number: "+15551230000".into(),
            caller_name: Some(HOSTILE.into()),
            duration_secs: 95,
            outcome: "job".into(),
            urgency: "urgent".into(),
            has_recording: true,
            ..CallSummary::default()
        }
    }

    fn stuck_record() -> QueueRow {
        QueueRow {
            id: RECORD_ID.into(),
            kind: "job".into(),
            state: "needs_attention".into(),
            about: HOSTILE.into(),
            call_key: Some(CALL_KEY.into()),
            servicetitan_ids: vec![("customer".into(), "9001".into())],
            attention: Some(HOSTILE.into()),
            attempts: 3,
            retryable: true,
            ..QueueRow::default()
        }
    }
}

impl WebBackend for TestBackend {
    fn status(&self) -> Value {
        Self::status_json()
    }
    fn dashboard(&self) -> DashboardView {
        DashboardView {
            shop_name: HOSTILE.to_string(),
            queue: BTreeMap::from([("needs_attention".into(), 1), ("queued".into(), 3)]),
            services: vec![ServiceView {
                name: "sync".into(),
                state: "running".into(),
                ..ServiceView::default()
            }],
            ..DashboardView::default()
        }
    }
    fn calls_per_day(&self, days: u32) -> Vec<DayCalls> {
        (1..=days)
            .map(|d| DayCalls {
                date: format!("2026-11-{d:02}"),
                by_outcome: BTreeMap::from([("job".into(), d % 3)]),
            })
            .collect()
    }
    fn calls(&self, query: &CallQuery) -> CallPage {
        let wanted = |c: &CallSummary| query.outcome.as_ref().is_none_or(|o| *o == c.outcome);
        let calls: Vec<CallSummary> = [Self::summary()].into_iter().filter(wanted).collect();
        CallPage {
            total: calls.len(),
            calls,
            outcomes: vec!["job".into(), "lead".into()],
        }
    }
    fn call(&self, key: &str) -> Result<CallDetail, BackendError> {
        if key != CALL_KEY {
            return Err(BackendError::NotFound(format!("no call {key}")));
        }
        Ok(CallDetail {
            summary: Self::summary(),
            end_reason: "caller hung up".into(),
            transcript: vec![
                TranscriptTurn {
                    at: "0:01".into(),
                    speaker: "box".into(),
                    text: "Thanks for calling.".into(),
                },
                TranscriptTurn {
                    at: "0:04".into(),
                    speaker: "caller".into(),
                    text: HOSTILE.into(),
                },
            ],
            records: vec![Self::stuck_record()],
            ..CallDetail::default()
        })
    }
    fn recording(&self, key: &str) -> Result<std::path::PathBuf, BackendError> {
        match key {
            CALL_KEY => Ok(self.recording.clone()),
            _ => Err(BackendError::NotFound(format!("no recording for {key}"))),
        }
    }
    fn queue(&self, _query: &QueueQuery) -> Result<Vec<QueueRow>, BackendError> {
        Ok(vec![Self::stuck_record()])
    }
    fn retry(&self, id: &str) -> Result<QueueRow, BackendError> {
        if id != RECORD_ID {
            return Err(BackendError::NotFound(format!("no record {id}")));
        }
        Ok(QueueRow {
            state: "queued".into(),
            attention: None,
            retryable: false,
            ..Self::stuck_record()
        })
    }
    fn export_queue(&self) -> Result<Vec<u8>, BackendError> {
        Ok(format!("{{\"id\":\"{RECORD_ID}\"}}\n").into_bytes())
    }
    fn on_call(&self) -> OnCallView {
        OnCallView::default()
    }
    fn acknowledge_alert(&self, id: &str, by: &str) -> Result<AlertRow, BackendError> {
        if id != RECORD_ID {
            return Err(BackendError::NotFound(format!("no alert {id}")));
        }
        Ok(AlertRow {
            id: id.into(),
            acknowledged_by: Some(format!("{by} (web)")),
            ..AlertRow::default()
        })
    }
    fn settings(&self) -> SettingsView {
        SettingsView {
            sections: vec![
                SettingsSection {
                    name: "shop".into(),
                    fields: vec![SettingField {
                        key: "shop.name".into(),
                        value: json!("Acme Heating"),
                        help: "The shop's name, as the box says it.".into(),
                        source: "file".into(),
                        ..SettingField::default()
                    }],
                },
                SettingsSection {
                    name: "servicetitan".into(),
                    fields: vec![SettingField {
                        key: "servicetitan.client_secret".into(),
                        kind: FieldKind::Secret,
                        value: json!(SECRET),
                        secret_set: true,
                        source: "file".into(),
                        ..SettingField::default()
                    }],
                },
            ],
            restart_pending: Vec::new(),
        }
    }
    fn apply_settings(&self, changes: &BTreeMap<String, Value>) -> Result<Applied, SettingsErrors> {
        let mut errors = Vec::new();
        for (key, value) in changes {
            match (key.as_str(), value) {
                ("shop.name", Value::String(name)) if !name.trim().is_empty() => {}
                ("shop.name", _) => errors.push((key.clone(), "must not be empty".to_string())),
                ("servicetitan.client_secret", Value::String(_)) => {}
                _ => errors.push((key.clone(), "no such setting".to_string())),
            }
        }
        if !errors.is_empty() {
            return Err(SettingsErrors::from(errors));
        }
        Ok(Applied {
            applied: changes.keys().cloned().collect(),
            restart_needed: Vec::new(),
        })
    }
    fn test_connection(&self) -> BoxFuture<'_, ConnectionReport> {
        Box::pin(async {
            ConnectionReport {
                steps: vec![ConnectionStep {
                    name: "token".into(),
                    ok: false,
                    detail: "401 from the auth server".into(),
                }],
            }
        })
    }
    fn hear(&self, text: String) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        Box::pin(async move { Ok(format!("RIFF{text}").into_bytes()) })
    }
    fn restart(&self) -> Result<RestartPlan, BackendError> {
        Ok(RestartPlan {
            calls_in_progress: 1,
            message: "restarting after the call in progress".into(),
        })
    }
    fn updates(&self) -> UpdatesView {
        UpdatesView {
            version: env!("CARGO_PKG_VERSION").into(),
            available: false,
            missing: Some("the updater (not built yet)".into()),
            ..UpdatesView::default()
        }
    }
    fn check_updates(&self) -> BoxFuture<'_, UpdatesView> {
        Box::pin(async { self.updates() })
    }
    fn log_tail(&self, after: u64, limit: usize) -> Vec<LogLine> {
        (after + 1..=3)
            .take(limit)
            .map(|seq| LogLine {
                seq,
                text: format!("line {seq}"),
            })
            .collect()
    }
    fn support_bundle(&self) -> Result<Vec<u8>, BackendError> {
        Ok(vec![0x1f, 0x8b, 8, 0])
    }
}

struct TestBox {
    base: String,
    client: reqwest::Client,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), callbox::web::WebError>>,
    redirect: Option<std::net::SocketAddr>,
}

impl TestBox {
    async fn start(settings: WebConfig) -> TestBox {
        Self::start_in(settings, tempfile::tempdir().unwrap()).await
    }

    /// Starts on an existing data directory (a restart).
    async fn start_in(settings: WebConfig, dir: TempDir) -> TestBox {
        capture_log();
        callbox::web::install_crypto_provider();
        let settings = WebConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..settings
        };
        let server = WebServer::bind(&settings, dir.path(), TestBackend::new(dir.path()))
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", server.local_addr().port());
        let redirect = server.redirect_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let cert = fs::read(dir.path().join("web/cert.pem")).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&cert).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestBox {
            base,
            client,
            dir,
            stop: Some(stop),
            server,
            redirect,
        }
    }

    fn web_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("web")
    }

    fn setup_code(&self) -> String {
        fs::read_to_string(self.web_dir().join("setup-code"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn set_up(&self, password: &str) {
        let code = self.setup_code();
        let answer = self
            .post_json(
                "/api/setup",
                json!({ "setup_code": code, "password": password }),
            )
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
    }

    /// Logs in; the `Cookie` header value and the CSRF token.
    async fn log_in(&self, password: &str) -> (String, String) {
        let answer = self
            .post_json("/api/session", json!({ "password": password }))
            .await;
        assert_eq!(answer.status(), StatusCode::OK);
        let cookie = session_cookie(answer.headers()).expect("a session cookie");
        let body: Value = answer.json().await.unwrap();
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        (cookie, csrf)
    }

    /// Shuts the server down; the data directory, for a restart.
    async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(std::time::Duration::from_secs(20), &mut self.server)
            .await
            .expect("the server stops on shutdown");
        result.unwrap().unwrap();
        self.dir
    }
}

/// `name=value` of the session cookie a response sets.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    set_cookie(headers).map(|c| c.split(';').next().unwrap_or_default().to_string())
}

fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(str::to_string)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn method_of(verb: Verb) -> Method {
    match verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Delete => Method::DELETE,
    }
}

/// A route's path with its parameters filled in with what the test backend knows.
fn concrete(path: &str) -> String {
    path.replace("{key}", CALL_KEY).replace("{id}", RECORD_ID)
}

/// A password no other test uses, so the log check is specific.
fn unique_password(tag: &str) -> String {
    format!("pw-{tag}-{}", std::process::id())
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_code_then_password_then_login_then_status() {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password("setup-flow");

    let health = web.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let health: Value = health.json().await.unwrap();
    assert_eq!(
        health,
        json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })
    );

    // First start: private files, and the login page sends the visitor to setup.
    let code = web.setup_code();
    assert_eq!(mode(&web.web_dir()), 0o700);
    for file in ["setup-code", "cert.pem", "key.pem"] {
        assert_eq!(mode(&web.web_dir().join(file)), 0o600, "{file}");
    }
    let login = web.request(Method::GET, "/login").send().await.unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(login.headers()[header::LOCATION], "/setup");
    let no_password_yet = web
        .post_json("/api/session", json!({ "password": password }))
        .await;
    assert_eq!(no_password_yet.status(), StatusCode::CONFLICT);

    // A wrong code is refused and changes nothing.
    let wrong_code = "WRNG-CODE-2345";
    let refused = web
        .post_json(
            "/api/setup",
            json!({ "setup_code": wrong_code, "password": password }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(web.setup_code(), code, "the code still works");
    assert!(!web.web_dir().join("admin.json").exists());

    // Too short a password: 422 naming the field.
    let short = web
        .post_json(
            "/api/setup",
            json!({ "setup_code": code, "password": "short" }),
        )
        .await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let short: Value = short.json().await.unwrap();
    assert!(short["errors"]["password"].is_string(), "{short}");

    web.set_up(&password).await;
    assert!(
        !web.web_dir().join("setup-code").exists(),
        "the code is used up"
    );
    let admin = web.web_dir().join("admin.json");
    assert_eq!(mode(&admin), 0o600);
    let stored = fs::read_to_string(&admin).unwrap();
    assert!(stored.contains("$argon2id$") && !stored.contains(&password));
    let again = web
        .post_json(
            "/api/setup",
            json!({ "setup_code": code, "password": "another password" }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Wrong password, then the right one.
    let wrong = web
        .post_json("/api/session", json!({ "password": "not the password" }))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(wrong.headers()).is_none());
    let answer = web
        .post_json("/api/session", json!({ "password": password }))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    let set = set_cookie(answer.headers()).expect("Set-Cookie");
    let attributes: Vec<&str> = set.split(';').map(str::trim).collect();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            attributes.contains(&attribute),
            "{attribute} missing in {set}"
        );
    }
    let cookie = session_cookie(answer.headers()).unwrap();
    let body: Value = answer.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();
    assert!(csrf.len() >= 32);

    // The status is what the backend gives, with the security headers and no caching.
    let status = web
        .request(Method::GET, "/api/status")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let headers = status.headers().clone();
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let status: Value = status.json().await.unwrap();
    assert_eq!(status, TestBackend::status_json());

    // The dashboard: the shop's (hostile) name inert, the queue counts, the chart.
    let page = web
        .request(Method::GET, "/")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let page = page.text().await.unwrap();
    assert!(
        !page.contains("<script>alert") && !page.contains("<img"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.contains("<tr data-state=\"queued\">"), "{page}");
    assert!(page.contains("<td class=\"count\">3</td>"), "{page}");
    assert_eq!(page.matches("<g class=\"day\"").count(), 14);

    // The OpenAPI document lists every /api route of the router.
    let doc: Value = web
        .request(Method::GET, "/api/openapi.json")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for route in routes().iter().filter(|r| r.path.starts_with("/api/")) {
        let verb = route.verb.as_str().to_ascii_lowercase();
        assert!(
            doc["paths"][route.path][&verb].is_object(),
            "{verb} {} missing",
            route.path
        );
    }

    // The log: the password never; the setup code only in its start-up announcement, never
    // echoed on use; a guessed code never.
    let log = log_text();
    assert!(!log.contains(&password), "the password is in the log");
    assert!(
        !log.contains(wrong_code),
        "a guessed setup code is in the log"
    );
    let code_lines: Vec<&str> = log.lines().filter(|l| l.contains(&code)).collect();
    assert!(
        !code_lines.is_empty(),
        "the setup code is announced in the log"
    );
    for line in code_lines {
        assert!(
            line.contains("no admin password yet"),
            "setup code outside its announcement: {line}"
        );
    }
    assert!(
        log.contains("sha256="),
        "the certificate fingerprint is logged"
    );
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_without_a_session_is_refused() {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password("routes");
    web.set_up(&password).await;
    let forged = format!("{SESSION_COOKIE}={}", "ab".repeat(32));
    let protected: Vec<_> = routes()
        .iter()
        .filter(|r| r.access == Access::Session)
        .collect();
    assert!(protected.len() >= 4, "the table is the router's");

    for route in &protected {
        for cookie in [None, Some(forged.as_str())] {
            let mut request = web.request(method_of(route.verb), &concrete(route.path));
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            let answer = request.send().await.unwrap();
            let what = format!("{} {} (cookie {cookie:?})", route.verb.as_str(), route.path);
            if route.path.starts_with("/api/") {
                assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{what}");
            } else {
                assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{what}");
                assert_eq!(answer.headers()[header::LOCATION], "/login", "{what}");
            }
        }
    }
    // Every page and API route of the plan is in the table, behind a session.
    for (verb, path) in [
        (Verb::Get, "/"),
        (Verb::Get, "/calls"),
        (Verb::Get, "/calls/{key}"),
        (Verb::Get, "/queue"),
        (Verb::Get, "/on-call"),
        (Verb::Get, "/settings"),
        (Verb::Get, "/updates"),
        (Verb::Get, "/diagnostics"),
        (Verb::Get, "/api/dashboard"),
        (Verb::Get, "/api/calls"),
        (Verb::Get, "/api/calls/{key}"),
        (Verb::Get, "/api/calls/{key}/recording"),
        (Verb::Get, "/api/queue"),
        (Verb::Post, "/api/queue/{id}/retry"),
        (Verb::Get, "/api/queue/export"),
        (Verb::Get, "/api/on-call"),
        (Verb::Post, "/api/alerts/{id}/acknowledge"),
        (Verb::Get, "/api/settings"),
        (Verb::Put, "/api/settings"),
        (Verb::Post, "/api/settings/test-connection"),
        (Verb::Post, "/api/voice/preview"),
        (Verb::Post, "/api/restart"),
        (Verb::Get, "/api/updates"),
        (Verb::Post, "/api/updates/check"),
        (Verb::Get, "/api/logs"),
        (Verb::Get, "/api/support-bundle"),
    ] {
        assert!(
            protected.iter().any(|r| r.verb == verb && r.path == path),
            "{} {path} is not a session route",
            verb.as_str()
        );
    }
    // Unknown paths are refused too, not answered 404 to strangers.
    let unknown = web
        .request(Method::GET, "/api/no-such-thing")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_page = web
        .request(Method::GET, "/no-such-page")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_page.status(), StatusCode::SEE_OTHER);

    // The public routes answer without a session (/setup, once used, points to /login).
    let public = |path: &str| {
        routes()
            .iter()
            .any(|r| r.access == Access::Public && r.path == path)
    };
    for route in routes()
        .iter()
        .filter(|r| r.access == Access::Public && r.verb == Verb::Get)
    {
        let answer = web.request(Method::GET, route.path).send().await.unwrap();
        let location = answer
            .headers()
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap());
        match answer.status() {
            StatusCode::OK => {}
            StatusCode::SEE_OTHER if location.is_some_and(public) => {}
            other => panic!("GET {} answered {other} ({location:?})", route.path),
        }
    }

    // With a session: every GET answers (and is not cached); every change without the CSRF
    // token, or with a wrong one, is refused.
    let (cookie, _csrf) = web.log_in(&password).await;
    for route in &protected {
        let what = format!("{} {}", route.verb.as_str(), route.path);
        let path = concrete(route.path);
        if route.verb == Verb::Get {
            let answer = web
                .request(Method::GET, &path)
                .header(header::COOKIE, &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{what}");
            assert_eq!(
                answer.headers()[header::CACHE_CONTROL],
                "no-store",
                "{what}"
            );
            continue;
        }
        for token in [None, Some("0".repeat(64))] {
            let mut request = web
                .request(method_of(route.verb), &path)
                .header(header::COOKIE, &cookie)
                .json(&json!({ "changes": { "shop.name": "Acme" }, "text": "hi" }));
            if let Some(token) = &token {
                request = request.header("X-CSRF-Token", token);
            }
            let answer = request.send().await.unwrap();
            assert_eq!(
                answer.status(),
                StatusCode::FORBIDDEN,
                "{what} with token {token:?}"
            );
        }
    }
    let known_404 = web
        .request(Method::GET, "/api/no-such-thing")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(known_404.status(), StatusCode::NOT_FOUND);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_csrf_token_and_logout_ends_the_session() {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password("logout");
    web.set_up(&password).await;
    let (cookie, csrf) = web.log_in(&password).await;
    let (_other_cookie, other_csrf) = web.log_in(&password).await;

    let logout = |token: Option<String>| {
        let mut request = web
            .request(Method::DELETE, "/api/session")
            .header(header::COOKIE, &cookie);
        if let Some(token) = token {
            request = request.header("X-CSRF-Token", token);
        }
        request.send()
    };
    assert_eq!(logout(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        logout(Some("0".repeat(64))).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout(Some(other_csrf)).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "another session's token does not count"
    );
    let status = |cookie: &str| {
        web.request(Method::GET, "/api/status")
            .header(header::COOKIE, cookie.to_string())
            .send()
    };
    assert_eq!(
        status(&cookie).await.unwrap().status(),
        StatusCode::OK,
        "still logged in"
    );

    let out = logout(Some(csrf.clone())).await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(out.headers()).expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    assert_eq!(
        status(&cookie).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let page = web
        .request(Method::GET, "/")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        logout(Some(csrf)).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // A cross-site change is refused even with the right token (login included).
    let cross = web
        .request(Method::POST, "/api/session")
        .header(header::ORIGIN, "https://evil.example")
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_bad_logins_lock_the_source_out() {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password("lockout");
    web.set_up(&password).await;
    for attempt in 1..=9 {
        let answer = web
            .post_json(
                "/api/session",
                json!({ "password": format!("guess number {attempt}") }),
            )
            .await;
        assert_eq!(
            answer.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let tenth = web
        .post_json("/api/session", json!({ "password": "guess number 10" }))
        .await;
    assert_eq!(tenth.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = tenth.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");

    let right = web
        .post_json("/api/session", json!({ "password": password }))
        .await;
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(right.headers().contains_key(header::RETRY_AFTER));
    let setup = web
        .post_json(
            "/api/setup",
            json!({ "setup_code": "ABCD-EFGH-JKMN", "password": password }),
        )
        .await;
    assert_eq!(setup.status(), StatusCode::TOO_MANY_REQUESTS);

    let log = log_text();
    let lock_line = log
        .lines()
        .find(|l| l.contains("login locked out") && l.contains("127.0.0.1"))
        .expect("the lock-out is in the log");
    assert!(lock_line.contains("WARN"), "{lock_line}");
    assert!(!log.contains(&password));
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_and_plain_http_redirects() {
    let settings = WebConfig {
        redirect_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..WebConfig::default()
    };
    let web = TestBox::start(settings).await;
    let huge = "x".repeat(callbox::web::BODY_LIMIT_BYTES + 1);
    let answer = web
        .post_json("/api/session", json!({ "password": huge }))
        .await;
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let plain = web.redirect.expect("the redirect listener is bound");
    let answer = web
        .client
        .get(format!("http://{plain}/login?next=%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        answer.headers()[header::LOCATION],
        format!("{}/login?next=%2F", web.base).as_str()
    );
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_and_certificate_survive_a_restart() {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password("restart");
    web.set_up(&password).await;
    let (cookie, _) = web.log_in(&password).await;
    let cert = fs::read(web.web_dir().join("cert.pem")).unwrap();
    let dir = web.stop().await;

    let web = TestBox::start_in(WebConfig::default(), dir).await;
    assert_eq!(
        fs::read(web.web_dir().join("cert.pem")).unwrap(),
        cert,
        "same certificate"
    );
    assert!(
        !web.web_dir().join("setup-code").exists(),
        "no new setup code"
    );
    let old_session = web
        .request(Method::GET, "/api/status")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old_session.status(),
        StatusCode::UNAUTHORIZED,
        "sessions live in memory"
    );
    web.log_in(&password).await;
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_page_binds_nothing_and_waits_for_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let settings = WebConfig {
        enabled: false,
        ..WebConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let data_dir = dir.path().to_path_buf();
    let backend = TestBackend::new(dir.path());
    let task = tokio::spawn(async move {
        callbox::web::serve(&settings, &data_dir, backend, async move {
            let _ = stopped.await;
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!task.is_finished(), "serve runs until shutdown");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(!dir.path().join("web").exists());
}

// ---- the pages and the API behind a session ----

/// A box set up and logged in: the box, its cookie and CSRF token.
async fn logged_in(tag: &str) -> (TestBox, String, String) {
    let web = TestBox::start(WebConfig::default()).await;
    let password = unique_password(tag);
    web.set_up(&password).await;
    let (cookie, csrf) = web.log_in(&password).await;
    (web, cookie, csrf)
}

impl TestBox {
    async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.request(Method::GET, path)
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn change(
        &self,
        method: Method,
        path: &str,
        session: (&str, &str),
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .request(method, path)
            .header(header::COOKIE, session.0)
            .header("X-CSRF-Token", session.1);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_setting_is_refused_naming_its_field() {
    let (web, cookie, csrf) = logged_in("settings").await;
    let session = (cookie.as_str(), csrf.as_str());

    let bad = web
        .change(
            Method::PUT,
            "/api/settings",
            session,
            Some(json!({ "changes": { "shop.name": "  ", "servicetitan.client_secret": "new" } })),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["errors"]["shop.name"], "must not be empty", "{bad}");
    assert!(bad["errors"].get("servicetitan.client_secret").is_none());

    let unknown = web
        .change(
            Method::PUT,
            "/api/settings",
            session,
            Some(json!({ "changes": { "shop.colour": "red" } })),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown: Value = unknown.json().await.unwrap();
    assert!(unknown["errors"]["shop.colour"].is_string(), "{unknown}");

    let good = web
        .change(
            Method::PUT,
            "/api/settings",
            session,
            Some(json!({ "changes": { "shop.name": "Acme Heating & Air" } })),
        )
        .await;
    assert_eq!(good.status(), StatusCode::OK);
    let good: Value = good.json().await.unwrap();
    assert_eq!(good["applied"], json!(["shop.name"]));

    // The settings page has the contract's form, fields and error slots.
    let page = web.get("/settings", &cookie).await.text().await.unwrap();
    for needle in [
        "<form id=\"settings-form\"",
        "<fieldset data-section=\"shop\"",
        "name=\"shop.name\"",
        "id=\"field-shop-name\"",
        "data-error-for=\"shop.name\"",
        "<button id=\"save-settings\"",
        "id=\"field-servicetitan-client_secret\"",
        "type=\"password\" autocomplete=\"new-password\" placeholder=\"set\"",
        "<button id=\"test-connection\"",
    ] {
        assert!(page.contains(needle), "{needle} in\n{page}");
    }

    // "Hear it": at most 500 characters; the answer is a WAV.
    let long = web
        .change(
            Method::POST,
            "/api/voice/preview",
            session,
            Some(json!({ "text": "a".repeat(501) })),
        )
        .await;
    assert_eq!(long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let long: Value = long.json().await.unwrap();
    assert!(long["errors"]["text"].is_string(), "{long}");
    let heard = web
        .change(
            Method::POST,
            "/api/voice/preview",
            session,
            Some(json!({ "text": "Thanks for calling" })),
        )
        .await;
    assert_eq!(heard.status(), StatusCode::OK);
    assert_eq!(heard.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(heard.bytes().await.unwrap(), "RIFFThanks for calling");

    // Test connection reports each step; restart is accepted (202).
    let report = web
        .change(Method::POST, "/api/settings/test-connection", session, None)
        .await;
    assert_eq!(report.status(), StatusCode::OK);
    let report: Value = report.json().await.unwrap();
    assert_eq!(report["steps"][0]["name"], "token");
    assert_eq!(report["steps"][0]["ok"], false);
    let restart = web
        .change(Method::POST, "/api/restart", session, None)
        .await;
    assert_eq!(restart.status(), StatusCode::ACCEPTED);
    let restart: Value = restart.json().await.unwrap();
    assert_eq!(restart["calls_in_progress"], 1);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_caller_name_and_transcript_are_shown_inert() {
    let (web, cookie, _csrf) = logged_in("hostile").await;
    let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    for path in [
        "/".to_string(),
        "/calls".to_string(),
        format!("/calls/{CALL_KEY}"),
        "/queue".to_string(),
    ] {
        let answer = web.get(&path, &cookie).await;
        assert_eq!(answer.status(), StatusCode::OK, "{path}");
        let page = answer.text().await.unwrap();
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("<img"), "{path}: {page}");
        assert!(page.contains(escaped), "{path} shows the text, escaped");
    }
    let list = web.get("/calls", &cookie).await.text().await.unwrap();
    assert!(list.contains(&format!("<tr data-call-key=\"{CALL_KEY}\">")));
    let detail = web
        .get(&format!("/calls/{CALL_KEY}"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains("<li data-speaker=\"caller\""));
    assert!(detail.contains(&format!(
        "<audio id=\"recording\" controls preload=\"metadata\" src=\"/api/calls/{CALL_KEY}/recording\">"
    )));
    assert!(detail.contains(&format!("<tr data-record-id=\"{RECORD_ID}\"")));

    // An unknown call is a 404 page (with the frame), and 404 JSON from the API.
    let missing = web.get("/calls/no-such-call", &cookie).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("no call no-such-call"));
    let missing = web.get("/api/calls/no-such-call", &cookie).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["error"], "no call no-such-call");

    // The JSON carries the text as data (the page escapes it, the API need not).
    let call: Value = web
        .get(&format!("/api/calls/{CALL_KEY}"), &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(call["transcript"][1]["text"], HOSTILE);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_is_served_whole_or_by_range() {
    let (web, cookie, _csrf) = logged_in("recording").await;
    let path = format!("/api/calls/{CALL_KEY}/recording");
    let bytes = recording_bytes();
    let len = bytes.len();

    let whole = web.get(&path, &cookie).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/wav");
    assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(whole.bytes().await.unwrap(), bytes);

    let ranged = |range: &'static str| {
        web.request(Method::GET, &path)
            .header(header::COOKIE, &cookie)
            .header(header::RANGE, range)
            .send()
    };
    let part = ranged("bytes=100-199").await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()[header::CONTENT_RANGE],
        format!("bytes 100-199/{len}").as_str()
    );
    assert_eq!(part.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(part.bytes().await.unwrap(), bytes[100..200]);

    let open = ranged("bytes=4000-").await.unwrap();
    assert_eq!(open.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(open.bytes().await.unwrap(), bytes[4000..]);
    let tail = ranged("bytes=-16").await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), bytes[len - 16..]);

    let past = ranged("bytes=999999-").await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.headers()[header::CONTENT_RANGE],
        format!("bytes */{len}").as_str()
    );

    let unknown = web.get("/api/calls/nope/recording", &cookie).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_export_and_support_bundle() {
    let (web, cookie, csrf) = logged_in("queue").await;
    let session = (cookie.as_str(), csrf.as_str());
    let retried = web
        .change(
            Method::POST,
            &format!("/api/queue/{RECORD_ID}/retry"),
            session,
            None,
        )
        .await;
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["state"], "queued");
    let unknown = web
        .change(Method::POST, "/api/queue/nope/retry", session, None)
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let page = web.get("/queue", &cookie).await.text().await.unwrap();
    assert!(page.contains(&format!(
        "<tr data-record-id=\"{RECORD_ID}\" data-state=\"needs_attention\">"
    )));
    assert!(page.contains(&format!(
        "<button type=\"button\" class=\"retry\" data-record-id=\"{RECORD_ID}\">"
    )));

    let export = web.get("/api/queue/export", &cookie).await;
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(
        export.headers()[header::CONTENT_TYPE],
        "application/x-ndjson"
    );
    let disposition = export.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"callbox-queue-")
            && disposition.ends_with(".ndjson\""),
        "{disposition}"
    );
    assert!(export.text().await.unwrap().contains(RECORD_ID));

    let bundle = web.get("/api/support-bundle", &cookie).await;
    assert_eq!(bundle.headers()[header::CONTENT_TYPE], "application/gzip");
    let disposition = bundle.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"callbox-support-")
            && disposition.ends_with(".tar.gz\""),
        "{disposition}"
    );

    let logs: Value = web
        .get("/api/logs?after=1&limit=5", &cookie)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        logs,
        json!([{ "seq": 2, "text": "line 2" }, { "seq": 3, "text": "line 3" }])
    );
    let bad = web.get("/api/logs?after=x", &cookie).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let updates = web.get("/updates", &cookie).await.text().await.unwrap();
    assert!(updates.contains("the updater (not built yet)"), "{updates}");
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_api_answer_carries_a_secret() {
    let (web, cookie, csrf) = logged_in("secrets").await;
    let session = (cookie.as_str(), csrf.as_str());
    let mut seen = 0;
    for route in routes().iter().filter(|r| r.access == Access::Session) {
        if route.verb == Verb::Delete {
            continue; // logout: tested on its own
        }
        let path = concrete(route.path);
        let answer = match route.verb {
            Verb::Get => web.get(&path, &cookie).await,
            verb => {
                let body = match route.path {
                    "/api/settings" => Some(json!({ "changes": { "shop.name": "Acme" } })),
                    "/api/voice/preview" => Some(json!({ "text": "Hello" })),
                    "/api/alerts/{id}/acknowledge" => Some(json!({ "by": "Dana" })),
                    _ => None,
                };
                web.change(method_of(verb), &path, session, body).await
            }
        };
        let what = format!("{} {}", route.verb.as_str(), route.path);
        assert!(answer.status().is_success(), "{what}: {}", answer.status());
        let body = answer.bytes().await.unwrap();
        assert!(
            !String::from_utf8_lossy(&body).contains(SECRET),
            "{what} carries the secret"
        );
        seen += 1;
    }
    assert!(seen >= 25, "every session route was asked ({seen})");
    let settings: Value = web
        .get("/api/settings", &cookie)
        .await
        .json()
        .await
        .unwrap();
    let secret = &settings["sections"][1]["fields"][0];
    assert_eq!(secret["value"], Value::Null);
    assert_eq!(secret["secret_set"], true);
    assert!(!log_text().contains(SECRET), "the secret is in the log");
    web.stop().await;
}
