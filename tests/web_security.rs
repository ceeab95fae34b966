//! The local web page's access rules over real HTTPS on 127.0.0.1 (issue 12): setup code →
//! password → login → status, every route refused without a session, CSRF on every change,
//! login lock-out, cookie attributes, logout, no secret in the log, hostile text shown inert.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, Once, OnceLock};

use callbox::web::backend::{
    Applied, BackendError, BoxFuture, CallDetail, CallPage, CallQuery, ConnectionReport,
    DashboardView, DayCalls, LogLine, OnCallView, QueueQuery, QueueRow, RestartPlan, SettingsView,
    UpdatesView,
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

struct TestBackend;

impl WebBackend for TestBackend {
    fn status(&self) -> Value {
        json!({
            "line": "registered",
            "queue": { "pending": 3, "needs_attention": 1 },
            "last_caller": HOSTILE,
        })
    }
    fn dashboard(&self) -> DashboardView {
        DashboardView {
            shop_name: HOSTILE.to_string(),
            ..DashboardView::default()
        }
    }
    fn calls_per_day(&self, _days: u32) -> Vec<DayCalls> {
        Vec::new()
    }
    fn calls(&self, _query: &CallQuery) -> CallPage {
        CallPage::default()
    }
    fn call(&self, key: &str) -> Result<CallDetail, BackendError> {
        Err(BackendError::NotFound(key.to_string()))
    }
    fn recording(&self, key: &str) -> Result<std::path::PathBuf, BackendError> {
        Err(BackendError::NotFound(key.to_string()))
    }
    fn queue(&self, _query: &QueueQuery) -> Result<Vec<QueueRow>, BackendError> {
        Ok(Vec::new())
    }
    fn retry(&self, id: &str) -> Result<QueueRow, BackendError> {
        Err(BackendError::NotFound(id.to_string()))
    }
    fn export_queue(&self) -> Result<Vec<u8>, BackendError> {
        Ok(Vec::new())
    }
    fn on_call(&self) -> OnCallView {
        OnCallView::default()
    }
    fn settings(&self) -> SettingsView {
        SettingsView::default()
    }
    fn apply_settings(
        &self,
        changes: &std::collections::BTreeMap<String, Value>,
    ) -> Result<Applied, SettingsErrors> {
        Ok(Applied {
            applied: changes.keys().cloned().collect(),
            restart_needed: Vec::new(),
        })
    }
    fn test_connection(&self) -> BoxFuture<'_, ConnectionReport> {
        Box::pin(async { ConnectionReport::default() })
    }
    fn hear(&self, _text: String) -> BoxFuture<'_, Result<Vec<u8>, BackendError>> {
        Box::pin(async { Err(BackendError::Unavailable("no voice in this test".into())) })
    }
    fn restart(&self) -> Result<RestartPlan, BackendError> {
        Err(BackendError::Unavailable("no restart in this test".into()))
    }
    fn updates(&self) -> UpdatesView {
        UpdatesView::default()
    }
    fn check_updates(&self) -> BoxFuture<'_, UpdatesView> {
        Box::pin(async { UpdatesView::default() })
    }
    fn log_tail(&self, _after: u64, _limit: usize) -> Vec<LogLine> {
        Vec::new()
    }
    fn support_bundle(&self) -> Result<Vec<u8>, BackendError> {
        Ok(Vec::new())
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
        let server = WebServer::bind(&settings, dir.path(), Arc::new(TestBackend))
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
        Verb::Delete => Method::DELETE,
    }
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
    assert_eq!(status, TestBackend.status());

    // The dashboard lists the status keys, the hostile value inert.
    let page = web
        .request(Method::GET, "/")
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let page = page.text().await.unwrap();
    for key in ["line", "queue", "last_caller"] {
        assert!(page.contains(&format!(">{key}<")), "{key} in {page}");
    }
    assert!(
        !page.contains("<script>alert") && !page.contains("<img"),
        "{page}"
    );
    assert!(page.contains("&lt;script&gt;"));

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
            let mut request = web.request(method_of(route.verb), route.path);
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
    // Unknown paths are refused too, not answered 404 to strangers.
    let unknown = web
        .request(Method::GET, "/api/no-such-thing")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_page = web.request(Method::GET, "/calls").send().await.unwrap();
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

    // With a session: every GET answers, every change without the CSRF token is refused.
    let (cookie, _csrf) = web.log_in(&password).await;
    for route in &protected {
        let answer = web
            .request(method_of(route.verb), route.path)
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        let what = format!("{} {}", route.verb.as_str(), route.path);
        match route.verb {
            Verb::Get => assert_eq!(answer.status(), StatusCode::OK, "{what}"),
            _ => assert_eq!(
                answer.status(),
                StatusCode::FORBIDDEN,
                "{what} without CSRF"
            ),
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
    let task = tokio::spawn(async move {
        callbox::web::serve(&settings, &data_dir, Arc::new(TestBackend), async move {
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
