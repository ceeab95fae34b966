//! Page calls the box places over SIP, with sipp as the technician's phone (UAS scenarios
//! `tests/sipp/uas_*.xml`): `callbox alert test --channel phone --to sip:tech@<sipp>` places
//! one call (its own ephemeral SIP port, the configured voice) and prints the outcome.

mod common;

use common::*;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callbox::telephony::g711;

/// What the box's RTP sink (the technician's phone's ear) heard.
struct Sink {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<u8>>>,
}

impl Sink {
    fn start() -> Sink {
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP sink");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut packets = Vec::new();
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, _)) = socket.recv_from(&mut buf) {
                    packets.push(buf[..n].to_vec());
                }
            }
            packets
        });
        Sink { port, stop, thread }
    }

    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sink thread")
    }
}

/// One `callbox alert test --channel phone` against one sipp scenario.
struct Page {
    sipp: SippRun,
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    /// RTP packets the box sent to the technician (scenarios with `rtp_port`).
    rtp: Vec<Vec<u8>>,
}

impl Page {
    fn context(&self) -> String {
        format!(
            "callbox exit {:?}\n--- stdout ---\n{}\n--- stderr (tail) ---\n{}\n{}",
            self.exit,
            self.stdout,
            tail(&self.stderr, 60),
            self.sipp.report()
        )
    }

    /// The outcome the command printed (`accepted`, `busy`, `FAILED: …`).
    fn outcome(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("phone sip:tech@"))
            .and_then(|rest| rest.split_once(": "))
            .map(|(_, outcome)| outcome.trim().to_string())
            .unwrap_or_default()
    }

    /// Peak sample level of the audio the box sent (PCMU after the 12-byte RTP header).
    fn peak(&self) -> i32 {
        self.rtp
            .iter()
            .filter(|p| p.len() > 12 && p[1] & 0x7f == 0)
            .flat_map(|p| {
                p[12..]
                    .iter()
                    .map(|&c| i32::from(g711::ulaw_decode(c)).abs())
            })
            .max()
            .unwrap_or(0)
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Writes a config for the command: SIP on loopback, RTP ports of its own, `extra` keys.
fn write_config(dir: &std::path::Path, extra: &[(&str, &str, toml::Value)]) -> PathBuf {
    let rtp_min = free_udp_port_range(10);
    let mut table: toml::Table = toml::from_str(&format!(
        "[storage]\ndata_dir = {:?}\n[sip]\nlisten = \"127.0.0.1:{}\"\n\
         outbound_ring_timeout_secs = 5\n[media]\nrtp_port_min = {rtp_min}\nrtp_port_max = {}\n",
        dir.join("data").to_string_lossy(),
        free_udp_port(),
        rtp_min + 9
    ))
    .expect("config toml");
    for (section, key, value) in extra {
        table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("table")
            .insert(key.to_string(), value.clone());
    }
    let path = dir.join("callbox.toml");
    std::fs::write(&path, toml::to_string(&table).expect("toml")).expect("write config");
    path
}

fn page(scenario: &str, extra: &[(&str, &str, toml::Value)]) -> Page {
    let dir = tempfile::Builder::new()
        .prefix("callbox-page-")
        .tempdir()
        .expect("tempdir");
    let config = write_config(dir.path(), extra);
    let sink = Sink::start();
    // sipp answers on its own port; the "remote" it is given is never used by a UAS scenario.
    let sipp = Sipp::new("127.0.0.1:9".parse().expect("addr"), scenario)
        .args(["-set", "rtp_port", &sink.port.to_string()])
        .timeout(Duration::from_secs(40));
    let to = format!("sip:tech@127.0.0.1:{}", sipp.local_port);
    let sipp = sipp.spawn();
    std::thread::sleep(Duration::from_millis(500));
    let mut child = Command::new(callbox_bin())
        .arg("--config")
        .arg(&config)
        .args(["alert", "test", "--channel", "phone", "--to", &to])
        .env("CALLBOX_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callbox alert test");
    let deadline = Instant::now() + scaled(Duration::from_secs(60));
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("callbox output");
    let sipp = sipp.wait();
    Page {
        sipp,
        exit: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        rtp: sink.finish(),
    }
}

/// Answered, the box's voice reaches the phone as RTP; digit 1 (RFC 4733) accepts; the box
/// thanks and hangs up (sipp answers its BYE).
#[test]
fn answered_page_accepted_by_digit_one() {
    let _g = serial();
    let p = page("uas_accept.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "accepted", "{ctx}");
    assert_eq!(p.exit, Some(0), "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
    // 2 s of listening before the key: ~100 packets of 20 ms, with the alert's speech in them.
    assert!(
        p.rtp.len() >= 50,
        "{} RTP packets reached the phone\n{ctx}",
        p.rtp.len()
    );
    assert!(
        p.peak() > 2000,
        "the audio is silent (peak {})\n{ctx}",
        p.peak()
    );
}

/// Digit 2 while the alert plays: passed, at once.
#[test]
fn digit_two_passes() {
    let _g = serial();
    let p = page("uas_pass.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "passed", "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
}

/// A 401 challenge (MD5) answered with sip.outbound_user/outbound_password; sipp checks the
/// digest (verifyauth) before answering.
#[test]
fn digest_challenge_is_answered() {
    let _g = serial();
    let p = page(
        "uas_auth.xml",
        &[
            ("sip", "outbound_user", "shop".into()),
            ("sip", "outbound_password", "s3cret-pw".into()),
        ],
    );
    let ctx = p.context();
    assert_eq!(p.outcome(), "accepted", "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
    assert!(
        !p.stderr.contains("s3cret-pw"),
        "the password is in the log\n{ctx}"
    );
}

/// The wrong password: sipp refuses with 403; the page call fails and says so.
#[test]
fn wrong_digest_password_is_refused() {
    let _g = serial();
    let p = page(
        "uas_auth.xml",
        &[
            ("sip", "outbound_user", "shop".into()),
            ("sip", "outbound_password", "guess".into()),
        ],
    );
    let ctx = p.context();
    assert!(p.outcome().starts_with("FAILED"), "{ctx}");
    assert!(p.outcome().contains("403"), "{ctx}");
    assert_eq!(p.exit, Some(1), "{ctx}");
}

/// 486 Busy Here: busy (and sipp got its ACK).
#[test]
fn busy_phone() {
    let _g = serial();
    let p = page("uas_busy.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "busy", "{ctx}");
    assert_eq!(p.exit, Some(1), "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
}

/// Rings past `outbound_ring_timeout_secs` (5 s): CANCEL, 487 ACKed, no_answer.
#[test]
fn no_answer_is_cancelled_at_the_ring_timeout() {
    let _g = serial();
    let started = Instant::now();
    let p = page("uas_no_answer.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "no_answer", "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
    assert!(started.elapsed() >= Duration::from_secs(5), "{ctx}");
}

/// 183 with SDP, then a 200 without: the early SDP carries the call; digit 1 accepts.
#[test]
fn early_media_then_answer() {
    let _g = serial();
    let p = page("uas_early_media.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "accepted", "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
    assert!(p.rtp.len() >= 25, "{} RTP packets\n{ctx}", p.rtp.len());
}

/// The technician hangs up during the alert: no_response (the ladder moves on).
#[test]
fn callee_hangs_up_during_the_alert() {
    let _g = serial();
    let p = page("uas_hangup.xml", &[]);
    let ctx = p.context();
    assert_eq!(p.outcome(), "no_response", "{ctx}");
    assert_eq!(p.exit, Some(1), "{ctx}");
    assert!(p.sipp.success(), "{ctx}");
}

/// baresip as the technician's softphone (auto-answer): another SIP stack answers the box's
/// INVITE (call established), and hangs up when its own 3 s source file ends, during the
/// alert: `no_response`. Where baresip's aufile can record, what it heard must not be silent.
#[test]
fn baresip_answers_hears_the_alert_and_hangs_up() {
    let _g = serial();
    require_tool("baresip");
    let dir = tempfile::Builder::new()
        .prefix("callbox-page-baresip-")
        .tempdir()
        .expect("tempdir");
    let config = write_config(dir.path(), &[]);
    let conf = dir.path().join("baresip");
    std::fs::create_dir_all(&conf).expect("baresip dir");
    let sip_port = free_udp_port();
    let rtp = free_udp_port_range(20);
    let modules = [
        "/usr/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
        "/usr/lib/aarch64-linux-gnu/baresip/modules",
    ]
    .into_iter()
    .find(|d| std::path::Path::new(d).join("aufile.so").exists())
    .expect("baresip modules (aufile.so, g711.so) not found: install the baresip package");
    let heard = conf.join("heard.wav");
    std::fs::write(
        conf.join("config"),
        format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             net_interface\t\t127.0.0.1\n\
             audio_player\t\taufile,{out}\n\
             audio_source\t\taufile,{tone}\n\
             audio_alert\t\taufile,{alert}\n\
             audio_srate\t\t8000\n\
             audio_channels\t\t1\n\
             rtp_ports\t\t{rtp}-{rtp_max}\n\
             module_path\t\t{modules}\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n",
            out = heard.display(),
            alert = conf.join("alert.wav").display(),
            tone = assets().join("tone.wav").display(),
            rtp_max = rtp + 19,
        ),
    )
    .expect("baresip config");
    std::fs::write(
        conf.join("accounts"),
        format!("<sip:tech@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"),
    )
    .expect("baresip accounts");
    std::fs::write(conf.join("contacts"), "").expect("contacts");
    let mut baresip = Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-t", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run baresip");
    std::thread::sleep(Duration::from_millis(1500));
    let out = Command::new("timeout")
        .arg(scaled(Duration::from_secs(60)).as_secs().to_string())
        .arg(callbox_bin())
        .arg("--config")
        .arg(&config)
        .args(["alert", "test", "--channel", "phone", "--to"])
        .arg(format!("sip:tech@127.0.0.1:{sip_port}"))
        .env("CALLBOX_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("callbox alert test");
    let _ = baresip.kill();
    let bs = baresip.wait_with_output().expect("baresip output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let ctx = format!(
        "callbox ({}) stdout:\n{stdout}\nstderr:\n{}\nbaresip:\n{}{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 60),
        String::from_utf8_lossy(&bs.stdout),
        String::from_utf8_lossy(&bs.stderr)
    );
    assert!(
        stdout.contains(&format!("phone sip:tech@127.0.0.1:{sip_port}: no_response")),
        "{ctx}"
    );
    let baresip_log = format!(
        "{}{}",
        String::from_utf8_lossy(&bs.stdout),
        String::from_utf8_lossy(&bs.stderr)
    );
    assert!(
        baresip_log.contains("Call established") || baresip_log.contains("call established"),
        "baresip did not answer\n{ctx}"
    );
    // baresip builds whose aufile module can record write what they heard: the alert.
    if heard.exists() {
        let wav = Wav::read(&heard);
        assert!(
            wav.rms() > 0.01,
            "baresip heard silence (rms {})\n{ctx}",
            wav.rms()
        );
    }
}

/// One FXO line: while the running box has a caller on it (its status file says so), the page
/// call waits, and dials once the caller hangs up.
#[test]
fn page_waits_for_the_caller_on_the_line_to_hang_up() {
    let _g = serial();
    let daemon = Daemon::start(DaemonConfig::answering());
    let caller = Sipp::new(daemon.sip, "call_hold.xml")
        .args(["-d", "8000"])
        .spawn();
    // Answered within 2 s; the status file shows the call at once (written on every change).
    std::thread::sleep(Duration::from_millis(2000));
    let data_dir = daemon.data_dir.to_string_lossy().into_owned();
    let p = page(
        "uas_accept.xml",
        &[("storage", "data_dir", data_dir.as_str().into())],
    );
    let caller = caller.wait();
    let ctx = format!(
        "{}\n--- daemon log ---\n{}",
        p.context(),
        daemon.log_tail(40)
    );
    caller.assert_ok(&daemon);
    assert!(
        p.stderr.contains("a caller is on the line"),
        "the page did not wait for the line\n{ctx}"
    );
    assert_eq!(p.outcome(), "accepted", "{ctx}");
}
