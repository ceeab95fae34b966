//! The daemon's life: `callbox status` from the status file it keeps, configuration warnings
//! in the log, and SIGTERM during a call (busy for new calls, the call finished with a BYE
//! after the grace period, its record and recording written, exit 0 within the bound).

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Waits until `callbox status` answers and `what` holds.
fn wait_status(
    daemon: &Daemon,
    timeout: Duration,
    what: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + scaled(timeout);
    loop {
        let (code, out) = daemon.status();
        if code == Some(0) {
            let status: serde_json::Value = serde_json::from_str(&out).expect("status JSON");
            if what(&status) {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "status never matched; last:\n{out}\nlog:\n{}",
                    daemon.log_tail(80)
                );
            }
        } else if Instant::now() > deadline {
            panic!(
                "callbox status kept failing ({code:?}):\n{out}\nlog:\n{}",
                daemon.log_tail(80)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_shows_services_calls_and_config_warnings() {
    let _g = serial();
    let mut daemon = Daemon::start(
        DaemonConfig::answering()
            .strings("sip.allowed_peers", &["0.0.0.0/0"])
            .set("call.idle_timeout_secs", 3),
    );
    // The warning is logged once logging has started (it used to be lost before that).
    let log = daemon.log();
    assert!(
        log.contains("sip.allowed_peers") && log.contains("lets anyone on the network"),
        "the allowed_peers warning is not in the log:\n{}",
        daemon.log_tail(60)
    );

    let status = wait_status(&daemon, Duration::from_secs(10), |s| {
        s["phase"] == "running" && s["services"]["sip"]["state"] == "running"
    });
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["pid"], daemon.pid());
    assert_eq!(status["sip_address"], daemon.sip.to_string());
    assert_eq!(status["calls_in_progress"], 0);
    assert_eq!(status["queue"]["queued"], 0);
    for service in ["sip", "calls", "status", "queue compaction"] {
        assert_eq!(
            status["services"][service]["state"], "running",
            "service {service}: {status:#}"
        );
        assert_eq!(status["services"][service]["restarts"], 0, "{status:#}");
    }
    let warnings = status["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("sip.allowed_peers"))),
        "the config warning is kept on the status: {status:#}"
    );

    // A call in progress shows, and is gone once the box has hung up (idle timeout).
    let call = Sipp::new(daemon.sip, "call_wait_bye.xml").spawn();
    wait_status(&daemon, Duration::from_secs(10), |s| {
        s["calls_in_progress"] == 1
    });
    call.wait().assert_ok(&daemon);
    wait_status(&daemon, Duration::from_secs(10), |s| {
        s["calls_in_progress"] == 0
    });

    daemon.sigterm();
    let (exit, _) = daemon.wait_exit(scaled(Duration::from_secs(15)));
    assert!(exit.is_some_and(|e| e.success()), "exit {exit:?}");
    let (code, out) = daemon.status();
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("callbox is not running"), "{out}");
    assert!(out.contains("\"phase\": \"stopped\""), "{out}");
}

#[test]
fn status_says_when_the_daemon_is_not_running_or_its_status_is_stale() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("callbox.toml");
    std::fs::write(
        &config,
        format!("[storage]\ndata_dir = {:?}\n", data.to_string_lossy()),
    )
    .unwrap();
    let status = |config: &std::path::Path| {
        let out = std::process::Command::new(callbox_bin())
            .arg("--config")
            .arg(config)
            .arg("status")
            .output()
            .expect("run callbox status");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    let (code, out) = status(&config);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("callbox is not running: no status file"),
        "{out}"
    );

    // This test's own process stands in for a daemon that lives but stopped writing.
    let written = chrono::Utc::now() - chrono::Duration::seconds(90);
    let report = serde_json::json!({
        "version": "0.1.0",
        "pid": std::process::id(),
        "phase": "running",
        "written_at": written,
        "started_at": written,
        "uptime_secs": 0,
        "sip_address": "127.0.0.1:5060",
        "calls_in_progress": 0,
        "queue": null,
        "services": {},
        "warnings": [],
    });
    std::fs::create_dir_all(data.join("run")).unwrap();
    std::fs::write(data.join("run/status.json"), report.to_string()).unwrap();
    let (code, out) = status(&config);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("STALE"), "{out}");

    // A pid that is not running: not running, whatever the file says.
    let mut gone = report.clone();
    gone["pid"] = serde_json::json!(u32::MAX - 1);
    gone["written_at"] = serde_json::json!(chrono::Utc::now());
    std::fs::write(data.join("run/status.json"), gone.to_string()).unwrap();
    let (code, out) = status(&config);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("callbox is not running"), "{out}");
}

/// SIGTERM during a call: a new INVITE gets 486; the call in progress goes on for the grace
/// period, then the box sends BYE (sipp answers it); the record and the recording exist; the
/// process exits 0 within the bound.
#[test]
fn sigterm_during_a_call_ends_it_with_a_bye_and_keeps_its_record() {
    let _g = serial();
    let grace = Duration::from_secs(3);
    let mut daemon = Daemon::start(
        DaemonConfig::answering()
            .set("call.idle_timeout_secs", 60)
            .set("call.shutdown_grace_secs", grace.as_secs() as i64),
    );
    let call = Sipp::new(daemon.sip, "call_audio_wait_bye.xml")
        .timeout(Duration::from_secs(60))
        .spawn();
    let deadline = Instant::now() + scaled(Duration::from_secs(10));
    while !daemon.log().contains("call answered") {
        assert!(
            Instant::now() < deadline,
            "the call was not answered:\n{}",
            daemon.log_tail(60)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let the 2.7 s of caller audio reach the recording.
    std::thread::sleep(Duration::from_millis(3200));

    daemon.sigterm();
    let stopping = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let busy = Sipp::new(daemon.sip, "invite_486.xml").run();
    busy.assert_ok(&daemon);

    let bound = grace + scaled(Duration::from_secs(8));
    let (exit, _) = daemon.wait_exit(bound.saturating_sub(stopping.elapsed()));
    let took = stopping.elapsed();
    assert!(
        exit.is_some_and(|e| e.code() == Some(0)),
        "callbox did not exit 0 within {bound:?} of SIGTERM: {exit:?}\nlog:\n{}",
        daemon.log_tail(80)
    );
    assert!(
        took >= grace - Duration::from_millis(200),
        "the call in progress was not given its grace period ({took:?} < {grace:?}):\n{}",
        daemon.log_tail(80)
    );
    // sipp passes only when it received the box's BYE and answered it.
    call.wait().assert_ok(&daemon);

    let rec = daemon.one_record();
    assert!(!rec["ended_at"].is_null(), "{rec:#}");
    let wav = Wav::read(&daemon.recording_path(&rec));
    assert!(
        wav.duration() >= Duration::from_millis(2500),
        "the recording lost the caller's audio: {:?}",
        wav.duration()
    );
    let log = daemon.log();
    assert!(log.contains("grace period over"), "{}", daemon.log_tail(60));
    assert!(log.contains("job queue flushed"), "{}", daemon.log_tail(60));
}

/// Under systemd (`Type=notify`): READY=1 once SIP is bound and the queue open, WATCHDOG=1 at
/// half of WATCHDOG_USEC while healthy, STOPPING=1 on SIGTERM.
#[test]
fn systemd_hears_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut daemon = Daemon::start(
        DaemonConfig::answering()
            .env("NOTIFY_SOCKET", socket_path.to_str().unwrap())
            .env("WATCHDOG_USEC", "1000000"),
    );
    let mut heard: Vec<String> = Vec::new();
    let mut listen = |until: &dyn Fn(&[String]) -> bool, timeout: Duration| {
        let deadline = Instant::now() + scaled(timeout);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline && !until(&heard) {
            if let Ok(n) = socket.recv(&mut buf) {
                heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        heard.clone()
    };
    let count = |heard: &[String], what: &str| heard.iter().filter(|m| m.contains(what)).count();

    let heard_now = listen(&|h| count(h, "WATCHDOG=1") >= 3, Duration::from_secs(10));
    assert!(
        heard_now
            .first()
            .is_some_and(|m| m.starts_with("READY=1\nSTATUS=")),
        "READY=1 first: {heard_now:?}"
    );
    assert!(count(&heard_now, "WATCHDOG=1") >= 3, "{heard_now:?}");

    daemon.sigterm();
    let heard_now = listen(&|h| count(h, "STOPPING=1") >= 1, Duration::from_secs(10));
    assert_eq!(count(&heard_now, "STOPPING=1"), 1, "{heard_now:?}");
    let (exit, _) = daemon.wait_exit(scaled(Duration::from_secs(10)));
    assert!(exit.is_some_and(|e| e.success()), "exit {exit:?}");
}

/// A supervised service that fails is logged with its error and restarted, and the status
/// shows its restarts and last error: here the status writer, by a directory in the way of
/// its temp file.
#[test]
fn a_failing_service_is_restarted_and_its_error_kept() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    wait_status(&daemon, Duration::from_secs(10), |s| {
        s["phase"] == "running"
    });
    let blocker = daemon.data_dir.join("run/status.json.tmp");
    std::fs::create_dir(&blocker).expect("block the status file's temp path");
    let deadline = Instant::now() + scaled(Duration::from_secs(20));
    while !daemon
        .log()
        .contains("service status failed; restarting it")
    {
        assert!(
            Instant::now() < deadline,
            "the failing status writer was not logged:\n{}",
            daemon.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_dir(&blocker).expect("unblock");
    let status = wait_status(&daemon, Duration::from_secs(20), |s| {
        s["services"]["status"]["state"] == "running"
            && s["services"]["status"]["restarts"].as_u64() >= Some(1)
    });
    let last_error = status["services"]["status"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        last_error.contains("status.json"),
        "the last error names what failed: {status:#}"
    );
    assert_eq!(status["services"]["sip"]["restarts"], 0, "{status:#}");
}

/// A free TCP port on loopback for the web page.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free TCP port")
}

#[test]
fn the_web_page_runs_under_the_supervisor_and_shows_the_status() {
    let _g = serial();
    let port = free_tcp_port();
    let daemon = Daemon::start(
        DaemonConfig::answering()
            .set("web.enabled", true)
            .set("web.listen", format!("127.0.0.1:{port}")),
    );
    let status = wait_status(&daemon, Duration::from_secs(15), |s| {
        s["services"]["web"]["state"] == "running"
    });
    assert_eq!(status["services"]["web"]["restarts"], 0, "{status:#}");

    // The box made its certificate and setup code under <data_dir>/web, private.
    let web = daemon.data_dir.join("web");
    let cert = std::fs::read(web.join("cert.pem")).expect("cert.pem");
    let code = std::fs::read_to_string(web.join("setup-code")).expect("setup-code");
    callbox::infra::http::install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&cert).expect("PEM")])
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{port}");

    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let refused = client
        .get(format!("{base}/api/status"))
        .send()
        .expect("status");
    assert_eq!(refused.status(), 401, "the status needs a session");

    let password = "correct horse battery";
    let setup = client
        .post(format!("{base}/api/setup"))
        .json(&serde_json::json!({ "setup_code": code.trim(), "password": password }))
        .send()
        .expect("setup");
    assert!(setup.status().is_success(), "setup: {}", setup.status());
    let login = client
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({ "password": password }))
        .send()
        .expect("login");
    assert!(login.status().is_success(), "login: {}", login.status());
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_string();
    let session: serde_json::Value = login.json().expect("login JSON");
    assert!(session["csrf_token"].is_string(), "{session}");

    let shown: serde_json::Value = client
        .get(format!("{base}/api/status"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .expect("status")
        .json()
        .expect("status JSON");
    assert_eq!(shown["pid"], daemon.pid(), "{shown:#}");
    assert_eq!(shown["services"]["sip"]["state"], "running", "{shown:#}");
    assert_eq!(shown["services"]["web"]["state"], "running", "{shown:#}");
    assert!(shown["queue"]["queued"].is_number(), "{shown:#}");
}
