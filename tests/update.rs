//! Remote updates end to end (issue 14), with the box's own `release keygen` / `release
//! build`, a release server on loopback (plain HTTP, with Range), and `callbox update apply`
//! switching a real installation and restarting a real daemon through `restart_command`.
//!
//! The binary under test is a development build (no release root built in): each box's
//! updater is handed the root of its own `release keygen` through `CALLBOX_TEST_RELEASE_ROOT`
//! (see `trusting`), the way only such a build accepts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_callbox");
const NEW: &str = env!("CARGO_PKG_VERSION");
const OLD: &str = "0.0.9";

// ---- a release server: static files, `Range: bytes=N-`, and a cut after N bytes ----

struct ReleaseServer {
    url: String,
    cut_after: Arc<AtomicUsize>,
}

impl ReleaseServer {
    fn start(dir: PathBuf) -> ReleaseServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut_after = Arc::new(AtomicUsize::new(usize::MAX));
        let cut = cut_after.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &dir, cut.load(Ordering::SeqCst));
            }
        });
        ReleaseServer { url, cut_after }
    }
}

fn serve(mut stream: TcpStream, dir: &Path, cut_after: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    let mut from = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range: bytes=") {
            from = range.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let file = dir.join(path.trim_start_matches('/'));
    let Ok(body) = std::fs::read(&file) else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let (status, body) = if from > 0 && from < body.len() {
        ("206 Partial Content", &body[from..])
    } else {
        ("200 OK", &body[..])
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body[..body.len().min(cut_after)]);
}

// ---- an installation with an old release, a config and a restart script ----

struct Box_ {
    dir: tempfile::TempDir,
    server: ReleaseServer,
    sip_port: u16,
}

impl Box_ {
    fn new() -> Box_ {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("opt");
        let keys = dir.path().join("keys");
        let out = callbox(
            &["release", "keygen", "--out", keys.to_str().unwrap()],
            None,
        );
        assert!(out.status.success(), "{}", text(&out));
        let old = root.join("releases").join(OLD);
        std::fs::create_dir_all(&old).unwrap();
        std::fs::copy(shipped_binary(), old.join("callbox")).unwrap();
        std::fs::copy(libvosk(), old.join("libvosk.so")).unwrap();
        std::os::unix::fs::symlink(format!("releases/{OLD}"), root.join("current")).unwrap();
        let server = ReleaseServer::start(dir.path().join("server"));
        let sip_port = common::free_udp_port();
        let b = Box_ {
            dir,
            server,
            sip_port,
        };
        b.write_config();
        b
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn write_config(&self) {
        let restart = self.path("restart.sh");
        std::fs::write(
            &restart,
            format!(
                "#!/bin/sh\n\
                 pidfile={pid}\n\
                 if [ -f $pidfile ]; then kill $(cat $pidfile) 2>/dev/null; \
                 while kill -0 $(cat $pidfile) 2>/dev/null; do sleep 0.1; done; fi\n\
                 {root}/current/callbox --config {config} run >>{log} 2>&1 &\n\
                 echo $! > $pidfile\n",
                pid = self.path("daemon.pid").display(),
                root = self.path("opt").display(),
                config = self.path("callbox.toml").display(),
                log = self.path("daemon.log").display(),
            ),
        )
        .unwrap();
        let config = format!(
            "[storage]\ndata_dir = {data:?}\n\
             [sip]\nlisten = \"127.0.0.1:{port}\"\nmax_calls_per_source = 2\n\
             [call]\nmode = \"answering\"\n\
             [media]\nrtp_timeout_secs = 15\n\
             [web]\nenabled = false\n\
             [update]\nserver = {server:?}\nroot = {root:?}\nhealth_timeout_secs = 10\n\
             idle_wait_secs = 60\nrestart_command = [\"sh\", {restart:?}]\n",
            data = self.path("data").display().to_string(),
            port = self.sip_port,
            server = self.server.url,
            root = self.path("opt").display().to_string(),
            restart = restart.display().to_string(),
        );
        std::fs::write(self.path("callbox.toml"), config).unwrap();
    }

    fn build(&self, version: &str, extra: &[&str]) -> Output {
        self.build_for(version, std::env::consts::ARCH, extra)
    }

    fn build_for(&self, version: &str, arch: &str, extra: &[&str]) -> Output {
        let key = std::fs::read_dir(self.path("keys"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "key"))
            .unwrap();
        let mut args = vec![
            "release",
            "build",
            "--version",
            version,
            "--arch",
            arch,
            "--out",
        ];
        let out = self.path("server");
        let out = out.to_str().unwrap().to_string();
        let key = key.to_str().unwrap().to_string();
        args.push(&out);
        args.extend(["--key", &key]);
        let binary = shipped_binary().to_str().unwrap().to_string();
        let lib = libvosk().to_str().unwrap().to_string();
        if !extra.contains(&"--binary") {
            args.extend(["--binary", &binary, "--libvosk", &lib]);
        }
        args.extend(extra);
        let output = callbox(&args, None);
        assert!(output.status.success(), "{}", text(&output));
        output
    }

    /// A release of `version` that ships `binary` (a stand-in for a bad build).
    fn build_shipping(&self, version: &str, binary: &Path) -> Output {
        let lib = libvosk();
        self.build(
            version,
            &[
                "--binary",
                binary.to_str().unwrap(),
                "--libvosk",
                lib.to_str().unwrap(),
            ],
        )
    }

    /// A release 9.0.0 whose binary exits at once.
    fn build_broken(&self) -> Output {
        let broken = self.path("broken-callbox");
        std::fs::write(&broken, "#!/bin/sh\nexit 1\n").unwrap();
        std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        self.build_shipping("9.0.0", &broken)
    }

    fn update(&self, action: &str) -> Output {
        callbox(&["update", action], Some(&self.path("callbox.toml")))
    }

    fn tarball(&self, version: &str) -> PathBuf {
        self.path(&format!(
            "server/stable/{arch}/callbox-{version}-{arch}.tar.gz",
            arch = std::env::consts::ARCH
        ))
    }

    fn current(&self) -> String {
        std::fs::read_link(self.path("opt/current"))
            .unwrap()
            .display()
            .to_string()
    }

    /// Every file and link of the installation but the updater's own state and downloads.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.path("opt"), &self.path("opt"), &mut out);
        out
    }

    fn state(&self) -> serde_json::Value {
        let out = self.update("status");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn stop_daemon(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.path("daemon.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Box_ {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.strip_prefix(base).unwrap().display().to_string();
        if name == "state" || name == "downloads" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(
                name,
                std::fs::read_link(&path)
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes(),
            );
        } else if meta.is_dir() {
            walk(base, &path, out);
        } else {
            out.insert(name, std::fs::read(&path).unwrap());
        }
    }
}

/// The binary releases ship in these tests: this one without its symbols (a third of the
/// size, so building and unpacking a release takes seconds, not half a minute).
fn shipped_binary() -> &'static Path {
    static SHIPPED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("callbox-stripped-{}", std::process::id()));
        let stripped = Command::new("strip")
            .arg("--strip-all")
            .arg(BIN)
            .arg("-o")
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        if stripped {
            out
        } else {
            PathBuf::from(BIN)
        }
    })
}

fn libvosk() -> PathBuf {
    Path::new(BIN).parent().unwrap().join("libvosk.so")
}

/// Runs the binary; with a box's config, its updater trusts that box's test root.
fn callbox(args: &[&str], config: Option<&Path>) -> Output {
    let mut command = Command::new(BIN);
    if let Some(config) = config {
        command.arg("--config").arg(config);
        trusting(&mut command, config);
    }
    command.args(args).output().unwrap()
}

/// `CALLBOX_TEST_RELEASE_ROOT` = the box's `keys/root.json` (beside its config), unless the
/// test put another root in `test-root.json` there.
fn trusting(command: &mut Command, config: &Path) {
    let dir = config.parent().unwrap();
    let chosen = dir.join("test-root.json");
    let root = if chosen.exists() {
        chosen
    } else {
        dir.join("keys/root.json")
    };
    command.env("CALLBOX_TEST_RELEASE_ROOT", root);
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn refused(b: &Box_, expect: &str) {
    let before = b.snapshot();
    let out = b.update("apply");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(expect),
        "{expect:?} not in {}",
        text(&out)
    );
    assert_eq!(b.snapshot(), before, "the installation changed");
    assert_eq!(b.current(), format!("releases/{OLD}"));
}

#[test]
fn refusals_leave_the_installation_unchanged() {
    let b = Box_::new();
    // Nothing published yet.
    refused(&b, "404");
    // Expired the moment it was made.
    b.build(NEW, &["--valid-days", "0"]);
    refused(&b, "expired");
    // Another architecture.
    b.build_for("0.1.1", "riscv64", &[]);
    std::fs::rename(
        b.path("server/stable/riscv64/release.json"),
        b.path(&format!(
            "server/stable/{}/release.json",
            std::env::consts::ARCH
        )),
    )
    .unwrap();
    refused(&b, "riscv64");
    // Signed by a key the box does not trust.
    let stranger = b.path("stranger");
    assert!(callbox(
        &["release", "keygen", "--out", stranger.to_str().unwrap()],
        None
    )
    .status
    .success());
    let key = std::fs::read_dir(&stranger)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "key"))
        .unwrap();
    let out = callbox(
        &[
            "release",
            "build",
            "--version",
            NEW,
            "--arch",
            std::env::consts::ARCH,
            "--out",
            b.path("server").to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    refused(&b, "does not trust");
    // A good manifest whose signature lost a byte.
    b.build(NEW, &[]);
    let manifest = b.path(&format!(
        "server/stable/{}/release.json",
        std::env::consts::ARCH
    ));
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let sig = m["signatures"][0]["sig"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    m["signatures"][0]["sig"] = flipped.into();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    refused(&b, "valid signature");
    // Unsigned.
    m["signatures"] = serde_json::json!([]);
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    refused(&b, "no signature");
    // The tarball altered after signing, then made longer.
    b.build(NEW, &[]);
    let tarball = b.tarball(NEW);
    let mut bytes = std::fs::read(&tarball).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&tarball, &bytes).unwrap();
    refused(&b, "sha256");
    bytes[middle] ^= 0x55;
    bytes.extend_from_slice(b"more");
    std::fs::write(&tarball, &bytes).unwrap();
    refused(&b, "longer than");
    // An older release is "up to date", never a downgrade.
    b.build("0.0.5", &[]);
    let before = b.snapshot();
    let out = b.update("apply");
    assert!(text(&out).contains("up to date"), "{}", text(&out));
    assert_eq!(b.snapshot(), before);
}

#[test]
fn a_good_release_switches_after_a_cut_download_and_a_bad_one_rolls_back_for_good() {
    let b = Box_::new();
    b.build(NEW, &[]);
    // The first download is cut short: kept, and resumed by the next apply.
    b.server.cut_after.store(100_000, Ordering::SeqCst);
    let out = b.update("apply");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("resumed next time"), "{}", text(&out));
    assert_eq!(b.current(), format!("releases/{OLD}"));
    b.server.cut_after.store(usize::MAX, Ordering::SeqCst);
    let out = b.update("apply");
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out),
        std::fs::read_to_string(b.path("daemon.log")).unwrap_or_default()
    );
    assert_eq!(b.current(), format!("releases/{NEW}"));
    let state = b.state();
    assert_eq!(state["current"], NEW);
    assert_eq!(state["previous"], OLD);
    assert!(
        b.path(&format!("opt/releases/{OLD}/callbox")).exists(),
        "previous kept"
    );

    // A release whose binary exits at start: rolled back by itself, never retried.
    b.build_broken();
    let out = b.update("apply");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("rolled back"), "{}", text(&out));
    assert_eq!(b.current(), format!("releases/{NEW}"));
    let state = b.state();
    assert_eq!(state["state"]["failed"], serde_json::json!(["9.0.0"]));
    assert!(state["state"]["rolled_back"]["reason"]
        .as_str()
        .unwrap()
        .contains("not healthy"));
    // The old release answers again.
    let out = b.update("apply");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("never retried"), "{}", text(&out));
    assert_eq!(b.current(), format!("releases/{NEW}"));
}

/// Runs `update apply` held at `step`, then SIGKILLs it there.
fn kill_at(b: &Box_, step: &str) {
    use std::process::Stdio;
    let mut command = Command::new(BIN);
    trusting(&mut command, &b.path("callbox.toml"));
    let mut child = command
        .arg("--config")
        .arg(b.path("callbox.toml"))
        .args(["update", "apply"])
        .env("CALLBOX_UPDATER_PAUSE_AT", step)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let paused =
        lines.any(|line| line.is_ok_and(|l| l.contains(&format!("update paused at {step}"))));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(paused, "the updater never reached {step}");
}

/// `current` names a release directory that holds a binary: the box can start.
fn startable(b: &Box_) -> String {
    let target = b.current();
    assert!(
        b.path("opt").join(&target).join("callbox").is_file(),
        "current -> {target} has no binary"
    );
    target
}

#[test]
fn an_updater_killed_at_any_step_leaves_a_box_that_starts_and_the_next_run_finishes() {
    for step in [
        "downloaded",
        "committed",
        "journalled",
        "switched",
        "restarted",
    ] {
        let b = Box_::new();
        b.build(NEW, &[]);
        kill_at(&b, step);
        let target = startable(&b);
        assert!(
            target == format!("releases/{OLD}") || target == format!("releases/{NEW}"),
            "after {step}: {target}"
        );
        let out = b.update("apply");
        assert!(out.status.success(), "after {step}: {}", text(&out));
        assert_eq!(b.current(), format!("releases/{NEW}"), "after {step}");
        assert!(b.state()["state"]["switching"].is_null(), "after {step}");
    }
    for step in ["failed", "rolled-back"] {
        let b = Box_::new();
        b.build_broken();
        kill_at(&b, step);
        startable(&b);
        let out = b.update("apply");
        assert_eq!(out.status.code(), Some(2), "after {step}: {}", text(&out));
        assert!(
            text(&out).contains("never retried"),
            "after {step}: {}",
            text(&out)
        );
        assert_eq!(b.current(), format!("releases/{OLD}"), "after {step}");
        assert!(b.state()["state"]["switching"].is_null(), "after {step}");
    }
}

#[test]
fn an_update_during_a_call_waits_until_the_caller_hangs_up_and_new_calls_get_busy() {
    let b = Box_::new();
    let config = b.path("callbox.toml");
    let text_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text_config}busy_during_switch = true\n")).unwrap();
    b.build(NEW, &[]);
    let out = Command::new("sh")
        .arg(b.path("restart.sh"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let sip: std::net::SocketAddr = format!("127.0.0.1:{}", b.sip_port).parse().unwrap();
    let status = b.path("data/run/status.json");
    let live = |calls: u64| {
        std::fs::read(&status)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .is_some_and(|s| s["phase"] == "running" && s["calls_in_progress"] == calls)
    };
    wait_for(|| live(0), "the old release running");
    let call = common::Sipp::new(sip, "call_wait_bye.xml")
        .timeout(Duration::from_secs(40))
        .spawn();
    wait_for(|| live(1), "the call in progress");
    let apply = std::thread::spawn(move || callbox(&["update", "apply"], Some(&config)));
    // The hold is seen within the box's 5 s status tick (it logs it): a new caller then hears
    // busy.
    wait_for(|| b.path("opt/hold-calls").exists(), "the updater's hold");
    wait_for(
        || {
            std::fs::read_to_string(b.path("daemon.log"))
                .is_ok_and(|log| log.contains("new calls get busy"))
        },
        "the box following the updater's hold",
    );
    let busy = common::Sipp::new(sip, "invite_486.xml").run();
    assert!(
        busy.status.is_some_and(|s| s.success()),
        "a new call during the hold was not refused busy: {}",
        busy.output
    );
    let run = call.wait();
    let call_ended = std::time::SystemTime::now();
    assert!(
        run.status.is_some_and(|s| s.success()),
        "the call was cut: {}",
        run.output
    );
    let out = apply.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(b.current(), format!("releases/{NEW}"));
    let switched = std::fs::symlink_metadata(b.path("opt/current"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        switched >= call_ended - Duration::from_millis(1500),
        "the switch came before the caller hung up"
    );
    assert!(
        !b.path("opt/hold-calls").exists(),
        "the hold outlived the switch"
    );
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it (PEM): a private release server.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "callbox test release CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, leaf.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

#[test]
fn a_private_https_server_is_trusted_only_through_its_ca_file() {
    let b = Box_::new();
    b.build(NEW, &[]);
    let (ca, cert, key) = test_ca(b.dir.path());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = format!(
        "import http.server, ssl, functools\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         ctx.load_cert_chain({cert:?}, {key:?})\n\
         handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory={dir:?})\n\
         server = http.server.HTTPServer(('127.0.0.1', {port}), handler)\n\
         server.socket = ctx.wrap_socket(server.socket, server_side=True)\n\
         server.serve_forever()\n",
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        dir = b.path("server").display().to_string(),
    );
    let mut server = Command::new("python3")
        .args(["-c", &script])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for(
        || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the HTTPS release server",
    );
    let url = format!("https://127.0.0.1:{port}");
    let config = b.path("callbox.toml");
    let check = |extra: &str| {
        let text = std::fs::read_to_string(&config).unwrap();
        let with = b.path("https.toml");
        std::fs::write(&with, format!("{text}{extra}")).unwrap();
        callbox(&["update", "check", "--server", &url], Some(&with))
    };
    let untrusted = check("");
    let trusted = check(&format!("ca_file = {:?}\n", ca.display().to_string()));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(untrusted.status.code(), Some(2), "{}", text(&untrusted));
    assert!(trusted.status.success(), "{}", text(&trusted));
    assert!(
        text(&trusted).contains(&format!("release {NEW} available")),
        "{}",
        text(&trusted)
    );
}

#[test]
fn a_release_that_runs_but_never_answers_options_is_rolled_back() {
    let b = Box_::new();
    // The new release starts, writes its status (READY, the right version), but listens for
    // SIP on another port than the box's: OPTIONS is never answered.
    let elsewhere = common::free_udp_port();
    let wrapper = b.path("deaf-callbox");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nCALLBOX_SIP_LISTEN=127.0.0.1:{elsewhere} exec {} \"$@\"\n",
            shipped_binary().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    b.build_shipping(NEW, &wrapper);
    let out = b.update("apply");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("SIP OPTIONS"), "{}", text(&out));
    assert_eq!(b.current(), format!("releases/{OLD}"));
    let state = b.state();
    assert_eq!(state["state"]["failed"], serde_json::json!([NEW]));
}

/// The first `*.key` file in `dir`.
fn key_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "key"))
        .unwrap()
}

fn keygen(dir: &Path) -> PathBuf {
    let out = callbox(&["release", "keygen", "--out", dir.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", text(&out));
    key_in(dir)
}

/// `release rotate`: the root after `from`, trusting `new_key`, signed by `old_key` and it.
fn rotate(from: &Path, old_key: &Path, new_key: &Path, out: &Path) {
    let result = callbox(
        &[
            "release",
            "rotate",
            "--root",
            from.to_str().unwrap(),
            "--old-key",
            old_key.to_str().unwrap(),
            "--new-key",
            new_key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(result.status.success(), "{}", text(&result));
}

/// A release of `version` for this machine signed by `key` alone.
fn build_signed_by(b: &Box_, version: &str, key: &Path) {
    let out = callbox(
        &[
            "release",
            "build",
            "--version",
            version,
            "--arch",
            std::env::consts::ARCH,
            "--out",
            b.path("server").to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--binary",
            shipped_binary().to_str().unwrap(),
            "--libvosk",
            libvosk().to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
}

fn check_refused(b: &Box_, expect: &str) {
    let before = b.snapshot();
    let out = b.update("check");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(expect),
        "{expect:?} not in {}",
        text(&out)
    );
    assert_eq!(b.snapshot(), before, "the installation changed");
}

#[test]
fn a_development_build_without_a_test_root_refuses_every_update_and_says_so() {
    let b = Box_::new();
    b.build(NEW, &[]);
    // The old way (an installed trust/root.json) no longer makes a box trust anything.
    std::fs::create_dir_all(b.path("opt/trust")).unwrap();
    std::fs::copy(b.path("keys/root.json"), b.path("opt/trust/root.json")).unwrap();
    let before = b.snapshot();
    for action in ["check", "apply"] {
        let out = callbox_untrusting(&b, &["update", action]);
        assert_eq!(out.status.code(), Some(2), "{action}: {}", text(&out));
        assert!(
            text(&out).contains("development build with no release root built in"),
            "{action}: {}",
            text(&out)
        );
    }
    assert_eq!(b.snapshot(), before, "the installation changed");
    assert_eq!(b.current(), format!("releases/{OLD}"));
    let status = callbox_untrusting(&b, &["update", "status"]);
    assert!(status.status.success(), "{}", text(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["trust"]["anchor"].is_null(), "{status}");
    assert!(
        status["trust"]["problem"]
            .as_str()
            .unwrap()
            .contains("refuses every update"),
        "{status}"
    );
    // With the test root handed in, the same build trusts it, and says which it uses.
    let trusted = b.state();
    assert_eq!(trusted["trust"]["anchor"]["source"], "test", "{trusted}");
    assert_eq!(trusted["trust"]["current"]["version"], 1, "{trusted}");
}

/// The binary with the box's config and no test root.
fn callbox_untrusting(b: &Box_, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(b.path("callbox.toml"))
        .args(args)
        .env_remove("CALLBOX_TEST_RELEASE_ROOT")
        .output()
        .unwrap()
}

#[test]
fn a_rotated_root_is_learnt_kept_and_verified_again_from_the_anchor_every_run() {
    let b = Box_::new();
    let old_key = key_in(&b.path("keys"));
    let new_key = keygen(&b.path("new-keys"));
    // A root 2 the new key alone signed: anyone could make it. Refused, and not kept.
    std::fs::create_dir_all(b.path("server/root")).unwrap();
    let forged = b.path("forged-2.json");
    rotate(&b.path("new-keys/root.json"), &new_key, &new_key, &forged);
    std::fs::write(
        b.path("server/root/2.json"),
        std::fs::read(&forged).unwrap(),
    )
    .unwrap();
    build_signed_by(&b, NEW, &new_key);
    check_refused(&b, "new root");
    assert!(
        !b.path("opt/trust/2.root.json").exists(),
        "a forged root was kept"
    );

    // The real rotation: root 2 signed by the old key and the new one.
    std::fs::remove_file(b.path("server/root/2.json")).unwrap();
    rotate(
        &b.path("keys/root.json"),
        &old_key,
        &new_key,
        &b.path("server/root/2.json"),
    );
    let out = b.update("check");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("release {NEW} available")),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(b.path("opt/trust/2.root.json")).unwrap(),
        std::fs::read(b.path("server/root/2.json")).unwrap(),
        "the rotated root is kept as published"
    );
    assert_eq!(b.state()["trust"]["current"]["version"], 2);
    // The server no longer has it: the kept link still counts.
    std::fs::remove_file(b.path("server/root/2.json")).unwrap();
    let out = b.update("check");
    assert!(out.status.success(), "{}", text(&out));
    // After the rotation the old key alone signs nothing the box installs.
    build_signed_by(&b, NEW, &old_key);
    check_refused(&b, "does not trust");
    build_signed_by(&b, NEW, &new_key);

    // A kept link tampered with: the chain breaks there and nothing past it is trusted.
    let kept = b.path("opt/trust/2.root.json");
    let good = std::fs::read(&kept).unwrap();
    let tampered = String::from_utf8(good.clone()).unwrap().replacen(
        "\"threshold\": 1",
        "\"threshold\":  1",
        1,
    );
    assert_ne!(tampered.as_bytes(), &good[..]);
    std::fs::write(&kept, tampered).unwrap();
    check_refused(&b, "trust/2.root.json does not follow root 1");

    // A gap: root 3 kept without root 2.
    std::fs::remove_file(&kept).unwrap();
    let third_key = keygen(&b.path("third-keys"));
    let root2 = b.path("root-2.json");
    std::fs::write(&root2, &good).unwrap();
    rotate(
        &root2,
        &new_key,
        &third_key,
        &b.path("opt/trust/3.root.json"),
    );
    check_refused(&b, "trust/2.root.json is missing");

    // A box whose anchor is root 2 (a newer build) ignores links up to 2, damaged or not,
    // and walks on to 3: releases by the third key are trusted.
    std::fs::write(b.path("opt/trust/2.root.json"), b"damaged").unwrap();
    std::fs::copy(&root2, b.path("test-root.json")).unwrap();
    build_signed_by(&b, NEW, &third_key);
    let out = b.update("check");
    assert!(out.status.success(), "{}", text(&out));
    let state = b.state();
    assert_eq!(state["trust"]["anchor"]["version"], 2, "{state}");
    assert_eq!(state["trust"]["current"]["version"], 3, "{state}");
}
