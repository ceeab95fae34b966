//! Integration-test harness: runs the real `callbox` binary against real SIP peers
//! (sipp, baresip, raw UDP) on 127.0.0.1.
//!
//! * [`Daemon`] spawns `callbox run --config <temp>` on free loopback ports, waits until it
//!   answers OPTIONS (or logs "listening"), captures stderr to a file and kills the process on
//!   drop. If the test is panicking, drop prints the daemon's log so the failure explains itself.
//! * [`Sipp`] runs one sipp scenario from `tests/sipp/` with a timeout and keeps its logs.
//! * [`assets`] generates the test audio/pcaps once per test process (tests/assets/gen-assets.sh).
//! * [`serial`] serialises tests: the machine has 2 shared cores and sipp's RTP timing suffers
//!   when several calls run at once.
//!
//! Missing tools (sipp, espeak-ng, sox, baresip) make tests FAIL, not skip: CI installs them
//! with scripts/install-test-deps.sh.
#![allow(dead_code)]

pub mod rtp_peer;
pub mod tmpfs;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub const LOOPBACK: &str = "127.0.0.1";

/// How long a daemon may take to answer OPTIONS (or log "listening") after it is started.
/// With the real model on a loaded 2-core machine the model alone took 13 s once, and the
/// prompts are rendered after it; a ready daemon returns at once, so this is only how long a
/// failure takes to show.
const READY_WAIT: Duration = Duration::from_secs(60);

/// Scales every timeout; set CALLBOX_TEST_TIMEOUT_SCALE=3 on a slow or busy machine.
pub fn scaled(d: Duration) -> Duration {
    let scale: f64 = std::env::var("CALLBOX_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    d.mul_f64(scale.max(1.0))
}

/// One test at a time per test binary. Poisoning is ignored: a failed test must not fail the rest.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The binary under test: `CALLBOX_TEST_BIN` when set (a release build, or a build from a
/// target directory shared with other checkouts, whose `debug/callbox` may be theirs), else
/// the one cargo built for this test.
pub fn callbox_bin() -> PathBuf {
    std::env::var_os("CALLBOX_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_callbox")))
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scenario(name: &str) -> PathBuf {
    let p = repo_dir().join("tests/sipp").join(name);
    assert!(p.is_file(), "no sipp scenario {}", p.display());
    p
}

/// Panics with an install hint when a tool is missing: CI must install it, a silent skip would hide that.
pub fn require_tool(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{tool}` is not installed or not on PATH. The integration tests need sipp (Debian package \
         sip-tester), baresip, espeak-ng, sox and python3: run scripts/install-test-deps.sh \
         (apt-get) first, or the README's test command, which does."
    );
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago (the web page's listener).
pub fn free_tcp_port() -> u16 {
    let l = std::net::TcpListener::bind((LOOPBACK, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind((LOOPBACK, 0)).expect("bind 127.0.0.1:0");
    s.local_addr().expect("local_addr").port()
}

/// Where the kernel's ephemeral ports begin (`ip_local_port_range`; 32768 by default).
fn ephemeral_ports_start() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .filter(|&start: &u16| start > 21000)
        .unwrap_or(32768)
}

/// `len` consecutive free UDP ports starting at an even port (RTP ranges, sipp's media ports).
/// Taken below the kernel's ephemeral ports: a port checked free here is only bound later (by
/// sipp or the daemon), and meanwhile any socket bound to port 0 in another test process (the
/// two test lanes run at once) could be given it if it were in the ephemeral range.
pub fn free_udp_port_range(len: u16) -> u16 {
    const FIRST: u16 = 20000;
    static NEXT: Mutex<u16> = Mutex::new(0);
    let end = ephemeral_ports_start();
    let mut next = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    if *next == 0 {
        // spread test processes apart
        let slots = u32::from((end - FIRST) / 100);
        *next = FIRST + (std::process::id() % slots) as u16 * 100;
    }
    for _ in 0..2000 {
        let base = *next & !1;
        if u32::from(base) + u32::from(len) >= u32::from(end) {
            *next = FIRST;
            continue;
        }
        *next = base + len + 2;
        let all_free = (base..base + len).all(|p| UdpSocket::bind((LOOPBACK, p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no {len} consecutive free UDP ports on 127.0.0.1");
}

// ---------------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------------

/// Directory of generated test assets (speech.ulaw, dtmf123.pcap, ...), made once per process by
/// tests/assets/gen-assets.sh under the target dir.
pub fn assets() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        for tool in ["espeak-ng", "sox", "soxi", "python3"] {
            require_tool(tool);
        }
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // remove asset dirs of test processes that are gone
        if let Ok(entries) = fs::read_dir(&root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("assets-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let dir = root.join(format!("assets-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(repo_dir().join("tests/assets/gen-assets.sh"))
            .arg(&dir)
            .output()
            .expect("run tests/assets/gen-assets.sh");
        assert!(
            out.status.success(),
            "tests/assets/gen-assets.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

// ---------------------------------------------------------------------------------------------
// Daemon
// ---------------------------------------------------------------------------------------------

/// Config overrides on top of the harness defaults, by dotted key: `.set("sip.answer_delay_ms", 2000)`.
#[derive(Default, Clone)]
pub struct DaemonConfig {
    values: BTreeMap<String, toml::Value>,
    env: Vec<(String, String)>,
    seed: Option<PathBuf>,
}

impl DaemonConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// The pre-speech answering flow (greeting, recording, digits): for the tests about the
    /// SIP line and media rather than the dialog (which is the default `call.mode`).
    pub fn answering() -> Self {
        Self::new().set("call.mode", "answering")
    }

    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.values.insert(key.to_string(), value.into());
        self
    }

    pub fn strings(self, key: &str, values: &[&str]) -> Self {
        let v: Vec<toml::Value> = values.iter().map(|s| toml::Value::from(*s)).collect();
        self.set(key, toml::Value::Array(v))
    }

    pub fn account(self, username: &str, password: &str) -> Self {
        let mut t = toml::Table::new();
        t.insert("username".into(), username.into());
        t.insert("password".into(), password.into());
        self.set(
            "sip.accounts",
            toml::Value::Array(vec![toml::Value::Table(t)]),
        )
    }

    /// Fills the daemon's ServiceTitan cache from this fixture (`callbox cache seed`) before
    /// it starts, as an installer would.
    pub fn seed(mut self, fixture: impl Into<PathBuf>) -> Self {
        self.seed = Some(fixture.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub sip: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub config_path: PathBuf,
    /// When false, waiting for readiness only watches the log (a daemon that must refuse 127.0.0.1).
    probe_options: bool,
    /// Extra environment of the process, kept for [`Daemon::restart`].
    env: Vec<(String, String)>,
}

impl Daemon {
    pub fn start(cfg: DaemonConfig) -> Daemon {
        Self::start_inner(cfg, true)
    }

    /// Start without OPTIONS probes (for a daemon whose allow-list excludes 127.0.0.1: probes
    /// would count against its stranger rate limit). Readiness = "listening" in the log.
    pub fn start_quiet(cfg: DaemonConfig) -> Daemon {
        Self::start_inner(cfg, false)
    }

    fn start_inner(cfg: DaemonConfig, probe_options: bool) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("callbox-it-")
            .tempdir()
            .expect("tempdir");
        // `storage.data_dir` may be set by the test (e.g. on a small tmpfs).
        let data_dir = match cfg.values.get("storage.data_dir").and_then(|v| v.as_str()) {
            Some(path) => PathBuf::from(path),
            None => dir.path().join("data"),
        };
        let sip: SocketAddr = format!("{LOOPBACK}:{}", free_udp_port()).parse().unwrap();
        let rtp_min = free_udp_port_range(40);

        let mut table = toml::Table::new();
        let defaults: Vec<(String, toml::Value)> = vec![
            (
                "storage.data_dir".into(),
                data_dir.to_string_lossy().as_ref().into(),
            ),
            ("sip.listen".into(), sip.to_string().into()),
            ("media.rtp_port_min".into(), i64::from(rtp_min).into()),
            ("media.rtp_port_max".into(), i64::from(rtp_min + 39).into()),
            ("log.filter".into(), "debug".into()),
            // Daemons of consecutive tests would contend for the web page's fixed port; a
            // test that wants the page turns it on with its own port.
            ("web.enabled".into(), false.into()),
        ];
        for (k, v) in defaults.into_iter().chain(cfg.values.clone()) {
            let (section, key) = k.split_once('.').expect("config keys are section.key");
            let sect = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            sect.as_table_mut()
                .expect("section is a table")
                .insert(key.to_string(), v);
        }
        let config_path = dir.path().join("callbox.toml");
        fs::write(
            &config_path,
            toml::to_string(&table).expect("serialise config"),
        )
        .expect("write config");

        if let Some(fixture) = &cfg.seed {
            let out = Command::new(callbox_bin())
                .arg("--config")
                .arg(&config_path)
                .args(["cache", "seed"])
                .arg(fixture)
                .output()
                .expect("run callbox cache seed");
            assert!(
                out.status.success(),
                "callbox cache seed {} failed: {}",
                fixture.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let log_path = dir.path().join("callbox.stderr.log");
        let child = spawn_callbox(&config_path, dir.path(), &log_path, &cfg.env);
        let mut d = Daemon {
            child: Some(child),
            dir,
            sip,
            data_dir,
            log_path,
            config_path,
            probe_options,
            env: cfg.env.clone(),
        };
        d.wait_ready(scaled(READY_WAIT));
        d
    }

    pub fn port(&self) -> u16 {
        self.sip.port()
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 5 s) and starts it again on the same
    /// configuration and data directory, as a reboot or `systemctl restart` would. Its log
    /// goes on in the same file.
    pub fn restart(&mut self) {
        self.stop();
        let child = spawn_callbox(
            &self.config_path,
            self.dir.path(),
            &self.log_path,
            &self.env,
        );
        self.child = Some(child);
        self.wait_ready(scaled(READY_WAIT));
    }

    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Last `n` lines of the daemon's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Panics (with the daemon's log) if the process has exited.
    pub fn assert_alive(&mut self) {
        let child = self.child.as_mut().expect("child");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "callbox exited unexpectedly ({status}); log {}:\n{}",
                self.log_path.display(),
                self.log_tail(200)
            );
        }
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut n = 0;
        loop {
            self.assert_alive();
            let log = self.log();
            if log.contains("listening") && !self.probe_options {
                return;
            }
            if self.probe_options {
                n += 1;
                let msg = options_request(sock.local_addr().unwrap(), self.sip, n);
                let _ = sock.send_to(msg.as_bytes(), self.sip);
                let mut buf = [0u8; 8192];
                if let Ok((len, _)) = sock.recv_from(&mut buf) {
                    if buf[..len].starts_with(b"SIP/2.0 ") {
                        return;
                    }
                }
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
            if Instant::now() > deadline {
                panic!(
                    "callbox did not become ready on {} within {timeout:?} (no OPTIONS answer / no \
                     'listening' log line); config:\n{}\nlog:\n{}",
                    self.sip,
                    fs::read_to_string(&self.config_path).unwrap_or_default(),
                    self.log_tail(200)
                );
            }
        }
    }

    /// Runs `callbox queue <args>` against this daemon's data dir (read from the mirror while
    /// the daemon runs) and returns its standard output.
    pub fn queue(&self, args: &[&str]) -> String {
        let out = Command::new(callbox_bin())
            .arg("--config")
            .arg(&self.config_path)
            .arg("queue")
            .args(args)
            .output()
            .expect("run callbox queue");
        assert!(
            out.status.success(),
            "callbox queue {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn calls_dir(&self) -> PathBuf {
        self.data_dir.join("calls")
    }

    /// All call records, sorted by file name.
    pub fn call_records(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = match fs::read_dir(self.calls_dir()) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("read {}: {e}", self.calls_dir().display()),
        };
        files.sort();
        files
            .iter()
            .map(|p| {
                let text = fs::read_to_string(p).expect("read call record");
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", p.display()))
            })
            .collect()
    }

    /// Waits until at least `n` call records exist (they are written when a call ends).
    pub fn wait_records(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + scaled(timeout);
        loop {
            let recs = self.call_records();
            if recs.len() >= n || Instant::now() > deadline {
                return recs;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Exactly one call record, waiting for it; panics with the log otherwise.
    pub fn one_record(&self) -> serde_json::Value {
        let recs = self.wait_records(1, Duration::from_secs(10));
        // a second record would show up shortly after the first if the box split the call
        std::thread::sleep(Duration::from_millis(300));
        let recs = if recs.len() == 1 {
            self.call_records()
        } else {
            recs
        };
        assert_eq!(
            recs.len(),
            1,
            "expected exactly one call record in {}, found {}: {recs:#?}\nlog:\n{}",
            self.calls_dir().display(),
            recs.len(),
            self.log_tail(150)
        );
        recs.into_iter().next().unwrap()
    }

    pub fn recording_path(&self, record: &serde_json::Value) -> PathBuf {
        let rel = record["recording"].as_str().unwrap_or_else(|| {
            panic!(
                "call record has no recording: {record:#}\nlog:\n{}",
                self.log_tail(100)
            )
        });
        let p = self.data_dir.join(rel);
        assert!(
            p.is_file(),
            "recording {} named in the call record does not exist",
            p.display()
        );
        assert!(
            p.starts_with(self.data_dir.join("recordings")),
            "recording {} is not under <data_dir>/recordings",
            p.display()
        );
        p
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    /// Sends SIGTERM (the process keeps running until it has stopped by itself).
    pub fn sigterm(&self) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
    }

    /// Holds the whole process for `d` (SIGSTOP, then SIGCONT), as a loaded machine does when
    /// it does not schedule the box: its media loop misses ticks and the caller's packets
    /// pile up meanwhile.
    pub fn hold(&self, d: Duration) {
        let pid = self.pid().to_string();
        let stopped = Command::new("kill").args(["-STOP", &pid]).status();
        std::thread::sleep(d);
        let resumed = Command::new("kill").args(["-CONT", &pid]).status();
        assert!(
            stopped.is_ok_and(|s| s.success()),
            "kill -STOP {pid} failed"
        );
        assert!(
            resumed.is_ok_and(|s| s.success()),
            "kill -CONT {pid} failed"
        );
    }

    /// Waits up to `within` for the process to exit; `None` (after a SIGKILL) when it did
    /// not. Returns how long the wait took.
    pub fn wait_exit(&mut self, within: Duration) -> (Option<ExitStatus>, Duration) {
        let mut child = self.child.take().expect("child");
        let started = Instant::now();
        while started.elapsed() < within {
            if let Ok(Some(st)) = child.try_wait() {
                return (Some(st), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        (None, started.elapsed())
    }

    /// Runs `callbox status` against this daemon's configuration: (exit code, stdout).
    pub fn status(&self) -> (Option<i32>, String) {
        let out = Command::new(callbox_bin())
            .arg("--config")
            .arg(&self.config_path)
            .arg("status")
            .output()
            .expect("run callbox status");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Sends SIGTERM and waits a little, then SIGKILL.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "===== callbox log ({}; config {}) =====\n{}\n===== end of callbox log =====",
                self.log_path.display(),
                self.config_path.display(),
                self.log_tail(300)
            );
            if std::env::var_os("CALLBOX_TEST_KEEP").is_some() {
                let path = self.dir.path().to_path_buf();
                // keep the data dir for a post-mortem
                let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
                let _ = dir.keep();
                eprintln!("kept {}", path.display());
            }
        }
    }
}

/// `callbox run --config <config>` in `cwd`, stdout and stderr appended to `log_path`.
fn spawn_callbox(config: &Path, cwd: &Path, log_path: &Path, env: &[(String, String)]) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .expect("open log file");
    let mut cmd = Command::new(callbox_bin());
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .env("RUST_BACKTRACE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn callbox binary")
}

/// A minimal OPTIONS request from `from` to `to`.
pub fn options_request(from: SocketAddr, to: SocketAddr, n: u32) -> String {
    format!(
        "OPTIONS sip:callbox@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-probe-{pid}-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{from}>;tag=probe{n}\r\n\
         To: <sip:callbox@{to}>\r\n\
         Call-ID: probe-{pid}-{n}@127.0.0.1\r\n\
         CSeq: {n} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        pid = std::process::id()
    )
}

// ---------------------------------------------------------------------------------------------
// sipp
// ---------------------------------------------------------------------------------------------

pub struct Sipp {
    scenario: PathBuf,
    target: SocketAddr,
    args: Vec<String>,
    timeout: Duration,
    calls: u32,
    pub local_port: u16,
    pub media_port: u16,
}

pub struct SippRun {
    pub name: String,
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub output: String,
    pub errors: String,
    pub messages: String,
    pub logs_dir: PathBuf,
}

impl Sipp {
    pub fn new(target: SocketAddr, scenario_name: &str) -> Sipp {
        require_tool("sipp");
        Sipp {
            scenario: scenario(scenario_name),
            target,
            args: Vec::new(),
            timeout: Duration::from_secs(30),
            calls: 1,
            local_port: free_udp_port(),
            media_port: free_udp_port_range(4),
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    pub fn calls(mut self, n: u32) -> Self {
        self.calls = n;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn spawn(self) -> SippChild {
        let name = self
            .scenario
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let logs_dir = sipp_logs_dir(&name);
        let timeout = scaled(self.timeout);
        let mut cmd = Command::new("sipp");
        cmd.arg(self.target.to_string())
            .arg("-sf")
            .arg(&self.scenario)
            .args(["-i", LOOPBACK, "-mi", LOOPBACK])
            .args(["-p", &self.local_port.to_string()])
            .args(["-mp", &self.media_port.to_string()])
            .args(["-s", "callbox", "-m", &self.calls.to_string()])
            .args(["-timeout", &format!("{}s", timeout.as_secs())])
            .args(["-timeout_error", "-nostdin", "-trace_err", "-trace_msg"])
            .arg("-error_file")
            .arg(logs_dir.join("errors.log"))
            .arg("-message_file")
            .arg(logs_dir.join("messages.log"))
            .args(&self.args)
            // relative media file names in the scenarios resolve against the assets
            .current_dir(assets())
            .stdin(Stdio::null())
            .stdout(File::create(logs_dir.join("stdout.log")).expect("log"))
            .stderr(File::create(logs_dir.join("stderr.log")).expect("log"));
        let child = cmd.spawn().expect("spawn sipp");
        SippChild {
            child,
            name,
            logs_dir,
            deadline: Instant::now() + timeout + Duration::from_secs(10),
        }
    }

    pub fn run(self) -> SippRun {
        self.spawn().wait()
    }
}

/// A fresh directory for one sipp run's logs under the target dir (kept for post-mortems,
/// replaced by the next test run).
fn sipp_logs_dir(name: &str) -> PathBuf {
    static N: Mutex<u32> = Mutex::new(0);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sipp-logs");
    let mut n = N.lock().unwrap_or_else(|e| e.into_inner());
    if *n == 0 {
        // drop logs of test processes that are gone
        if let Ok(entries) = fs::read_dir(&root) {
            for e in entries.flatten() {
                let fname = e.file_name().to_string_lossy().into_owned();
                let pid = fname.split('-').next().unwrap_or_default().to_string();
                if !Path::new("/proc").join(&pid).exists() {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
    *n += 1;
    let dir = root.join(format!("{}-{:03}-{name}", std::process::id(), *n));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create sipp log dir");
    dir
}

pub struct SippChild {
    child: Child,
    name: String,
    logs_dir: PathBuf,
    deadline: Instant,
}

impl SippChild {
    pub fn wait(mut self) -> SippRun {
        let mut timed_out = false;
        let status = loop {
            match self.child.try_wait().expect("try_wait sipp") {
                Some(st) => break Some(st),
                None if Instant::now() > self.deadline => {
                    timed_out = true;
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let read = |f: &str| {
            let mut s = String::new();
            if let Ok(mut file) = File::open(self.logs_dir.join(f)) {
                let mut b = Vec::new();
                let _ = file.read_to_end(&mut b);
                s = String::from_utf8_lossy(&b).into_owned();
            }
            s
        };
        let output = format!("{}{}", read("stdout.log"), read("stderr.log"));
        SippRun {
            name: self.name.clone(),
            status,
            timed_out,
            output,
            errors: read("errors.log"),
            messages: read("messages.log"),
            logs_dir: self.logs_dir.clone(),
        }
    }
}

impl SippRun {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    /// A report of this run for failure messages.
    pub fn report(&self) -> String {
        let tail = |s: &str, n: usize| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "sipp scenario {} exited {:?}{} (logs in {})\n--- sipp errors ---\n{}\n--- sipp SIP messages ---\n{}\n--- sipp output (tail) ---\n{}",
            self.name,
            self.status,
            if self.timed_out { " (killed: harness timeout)" } else { "" },
            self.logs_dir.display(),
            tail(&self.errors, 60),
            tail(&self.messages, 150),
            tail(&self.output, 40)
        )
    }

    /// Panics with the sipp logs and the daemon's log unless sipp exited 0.
    pub fn assert_ok(&self, daemon: &Daemon) {
        assert!(
            self.success(),
            "{}\n--- callbox log (tail) ---\n{}",
            self.report(),
            daemon.log_tail(150)
        );
    }

    /// SIP messages sipp received (from its -trace_msg log), first lines only.
    pub fn received_start_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut grab = false;
        for line in self.messages.lines() {
            if line.contains("message received") {
                grab = true;
                continue;
            }
            if grab && !line.trim().is_empty() {
                out.push(line.trim().to_string());
                grab = false;
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Audio
// ---------------------------------------------------------------------------------------------

pub struct Wav {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits: u16,
    pub samples: Vec<f64>,
}

impl Wav {
    pub fn read(path: &Path) -> Wav {
        let reader =
            hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let spec = reader.spec();
        let samples = match spec.sample_format {
            hound::SampleFormat::Int => {
                let scale = f64::from(1u32 << (spec.bits_per_sample - 1));
                reader
                    .into_samples::<i32>()
                    .map(|s| f64::from(s.expect("sample")) / scale)
                    .collect()
            }
            hound::SampleFormat::Float => reader
                .into_samples::<f32>()
                .map(|s| f64::from(s.expect("sample")))
                .collect(),
        };
        Wav {
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits: spec.bits_per_sample,
            samples,
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(
            self.samples.len() as f64 / f64::from(self.channels) / f64::from(self.sample_rate),
        )
    }

    pub fn rms(&self) -> f64 {
        rms(&self.samples)
    }
}

pub fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// Best normalised cross-correlation of `reference` against `signal` over lags
/// -`max_lag`..=`max_lag` (signal shifted left by lag). Normalised over the overlapping part,
/// so 1.0 means identical up to gain. Returns (ncc, lag in samples).
pub fn best_normalised_xcorr(reference: &[f64], signal: &[f64], max_lag: usize) -> (f64, isize) {
    let mut best = (f64::MIN, 0isize);
    let max_lag = max_lag as isize;
    for lag in -max_lag..=max_lag {
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (i, &x) in reference.iter().enumerate() {
            let j = i as isize + lag;
            if j < 0 || j as usize >= signal.len() {
                continue;
            }
            let y = signal[j as usize];
            sxy += x * y;
            sxx += x * x;
            syy += y * y;
        }
        if sxx > 0.0 && syy > 0.0 {
            let ncc = sxy / (sxx.sqrt() * syy.sqrt());
            if ncc > best.0 {
                best = (ncc, lag);
            }
        }
    }
    best
}

/// Digits of a call record as (digit, source) pairs.
pub fn record_digits(record: &serde_json::Value) -> Vec<(String, String)> {
    record["digits"]
        .as_array()
        .unwrap_or_else(|| panic!("call record has no digits array: {record:#}"))
        .iter()
        .map(|d| {
            (
                d["digit"].as_str().unwrap_or("?").to_string(),
                d["source"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// `text` spoken by espeak-ng in `voice` at 140 words a minute, as 8 kHz samples peaking at
/// -3 dBFS.
pub fn spoken(voice: &str, text: &str) -> Vec<i16> {
    spoken_at(voice, 140, text)
}

/// [`spoken`] at `words_per_minute`.
pub fn spoken_at(voice: &str, words_per_minute: u32, text: &str) -> Vec<i16> {
    let samples = espeak(voice, words_per_minute, text);
    normalised(&samples, &samples)
}

/// [`spoken`] without espeak-ng's leading and trailing silence: from the first to the last
/// 20 ms frame at or above `floor_db` dBFS (measured before the gain), so a script knows
/// where the speech is.
pub fn spoken_trimmed(voice: &str, text: &str, floor_db: f64) -> Vec<i16> {
    let samples = espeak(voice, 140, text);
    let loud: Vec<usize> = samples
        .chunks(160)
        .enumerate()
        .filter(|(_, f)| rtp_peer::energy_db(f) >= floor_db)
        .map(|(i, _)| i)
        .collect();
    let (Some(&first), Some(&last)) = (loud.first(), loud.last()) else {
        panic!("espeak-ng said nothing above {floor_db} dBFS for {text:?}");
    };
    let speech = &samples[first * 160..((last + 1) * 160).min(samples.len())];
    normalised(&samples, speech)
}

/// espeak-ng's 8 kHz samples of `text`, as it made them.
fn espeak(voice: &str, words_per_minute: u32, text: &str) -> Vec<i16> {
    require_tool("espeak-ng");
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("caller.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", &words_per_minute.to_string(), "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("run espeak-ng");
    assert!(status.success(), "espeak-ng failed for {text:?}");
    callbox::telephony::wav::read_wav_8k_mono(&wav).expect("espeak-ng WAV")
}

/// `part` with the gain that makes `whole` peak at -3 dBFS.
fn normalised(whole: &[i16], part: &[i16]) -> Vec<i16> {
    let peak = whole
        .iter()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap_or(1)
        .max(1);
    let gain = 0.7 * 32767.0 / f64::from(peak);
    part.iter().map(|&s| (f64::from(s) * gain) as i16).collect()
}

/// A queue record (`callbox queue show <id>`), polled until `done` holds for it (or `within` has passed).
pub fn alert_when(
    daemon: &Daemon,
    id: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let text = daemon.queue(&["show", id]);
        let record: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("queue show {id}: {e}\n{text}"));
        if done(&record) || Instant::now() > deadline {
            return record;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
