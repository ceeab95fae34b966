//! What the updater asks of the running box, answered from the outside the way an operator
//! would check it: the status file (calls in progress, READY, version), the web page's
//! `/healthz`, and a SIP OPTIONS to the box's own port.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::status::{read_status, status_path, Phase, Reading};
use crate::config::Config;
use crate::update::trust::{Anchor, AnchorSource, TrustError, TEST_ROOT_VAR};
use crate::update::updater::BoxControl;
use crate::update::Version;

const POLL: Duration = Duration::from_millis(500);

/// Where trust starts: the root built into this binary, or in a development build the test
/// root named by `CALLBOX_TEST_RELEASE_ROOT` (logged as such); else why there is none.
pub fn anchor() -> Result<Anchor, TrustError> {
    let test_root = std::env::var_os(TEST_ROOT_VAR).map(PathBuf::from);
    let anchor = Anchor::for_this_build(test_root.as_deref())?;
    if anchor.source() == AnchorSource::Test {
        tracing::warn!(
            "update: a development build trusting the TEST root from {TEST_ROOT_VAR}, not a built-in one"
        );
    }
    Ok(anchor)
}

pub struct RunningBox {
    status_file: PathBuf,
    sip: SocketAddr,
    web: Option<(SocketAddr, PathBuf)>,
    restart_command: Vec<String>,
    install: crate::update::install::Installation,
    /// The pid that ran before the restart: health must come from a new process.
    old_pid: Option<u32>,
}

impl RunningBox {
    pub fn new(config: &Config) -> Self {
        let sip = match config.sip.listen {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            other => other,
        };
        let web = config.web.enabled.then(|| {
            let cert = config
                .web
                .cert_file
                .clone()
                .unwrap_or_else(|| config.storage.data_dir.join("web").join("cert.pem"));
            (loopback_for(config.web.listen), cert)
        });
        Self {
            status_file: status_path(&config.storage.data_dir),
            sip,
            web,
            restart_command: config.update.restart_command.clone(),
            install: crate::update::install::Installation::new(&config.update.root),
            old_pid: None,
        }
    }

    fn reading(&self) -> Option<Reading> {
        read_status(&self.status_file, Utc::now()).ok()
    }
}

fn loopback_for(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

impl BoxControl for RunningBox {
    fn wait_idle(&mut self, limit: Duration, hold: bool) -> Result<(), String> {
        if hold {
            self.install.set_hold().map_err(|e| e.to_string())?;
            tracing::info!("update: new calls are answered busy until the switch");
        }
        let waited = self.wait_for_no_calls(limit);
        if waited.is_err() {
            self.release_hold();
        }
        waited
    }

    fn release_hold(&mut self) {
        self.install.clear_hold();
    }

    fn restart(&mut self) -> Result<(), String> {
        let Some((program, args)) = self.restart_command.split_first() else {
            return Err("no [update] restart_command".into());
        };
        tracing::info!(command = ?self.restart_command, "update: restarting the box");
        let status = Command::new(program)
            .args(args)
            .status()
            .map_err(|e| format!("{program}: {e}"))?;
        if !status.success() {
            return Err(format!("{program} exited with {status}"));
        }
        Ok(())
    }

    fn healthy(&mut self, version: Version, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut last = String::from("no status yet");
        while Instant::now() < deadline {
            match self.check_once(version) {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            std::thread::sleep(POLL);
        }
        Err(format!("not healthy within {} s: {last}", limit.as_secs()))
    }
}

impl RunningBox {
    /// Returns once the box has no call in progress (or is not running), or an error after
    /// `limit`.
    fn wait_for_no_calls(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.reading() {
                Some(Reading::Live(report)) if report.calls_in_progress > 0 => {
                    tracing::info!(
                        calls = report.calls_in_progress,
                        "update: waiting for the line to be idle"
                    );
                }
                Some(Reading::Live(report)) => {
                    self.old_pid = Some(report.pid);
                    return Ok(());
                }
                // Not running (or never ran here): nothing to interrupt.
                _ => return Ok(()),
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "calls still in progress after {} s; trying again next time",
                    limit.as_secs()
                ));
            }
            std::thread::sleep(POLL * 2);
        }
    }

    fn check_once(&self, version: Version) -> Result<(), String> {
        let report = match self.reading() {
            Some(Reading::Live(report)) => report,
            Some(Reading::NotRunning(_)) => return Err("the box is not running".into()),
            Some(Reading::Stale(..)) => return Err("the box's status is stale".into()),
            _ => return Err("no status file".into()),
        };
        if Some(report.pid) == self.old_pid {
            return Err("the old process still runs".into());
        }
        if report.version != version.to_string() {
            return Err(format!("the box runs {}, not {version}", report.version));
        }
        if report.phase != Phase::Running {
            return Err(format!("the box is {:?}, not ready", report.phase));
        }
        sip_options(self.sip)?;
        if let Some((addr, cert)) = &self.web {
            healthz(*addr, cert, version)?;
        }
        Ok(())
    }
}

/// One OPTIONS to the box's SIP port; any SIP answer to it proves the endpoint runs.
fn sip_options(to: SocketAddr) -> Result<(), String> {
    let bind: SocketAddr = if to.is_ipv4() {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("SIP probe: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| format!("SIP probe: {e}"))?;
    let local = socket.local_addr().map_err(|e| format!("SIP probe: {e}"))?;
    let call_id = format!("update-health-{}", std::process::id());
    let request = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:updater@{local}>;tag=upd\r\nTo: <sip:{to}>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(request.as_bytes(), to)
        .map_err(|e| format!("SIP probe: {e}"))?;
    let mut buffer = [0u8; 4096];
    let (n, _) = socket
        .recv_from(&mut buffer)
        .map_err(|_| format!("no answer to SIP OPTIONS at {to}"))?;
    let answer = String::from_utf8_lossy(&buffer[..n]);
    if answer.starts_with("SIP/2.0 ") && answer.contains(&call_id) {
        Ok(())
    } else {
        Err(format!("a strange answer to SIP OPTIONS at {to}"))
    }
}

/// `GET /healthz` over HTTPS, trusting the box's own certificate.
fn healthz(addr: SocketAddr, cert: &std::path::Path, version: Version) -> Result<(), String> {
    let pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
    crate::infra::http::install_crypto_provider();
    let client = reqwest::blocking::Client::builder()
        .tls_certs_merge([certificate])
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("https://{addr}/healthz");
    let response = client
        .get(&url)
        .send()
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    let body: serde_json::Value = response
        .json()
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    if body["version"] == version.to_string() {
        Ok(())
    } else {
        Err(format!("{url} reports version {}", body["version"]))
    }
}
