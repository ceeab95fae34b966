//! The running box's status: the supervised services, calls in progress, the SIP address,
//! the queue and the configuration's warnings. One shared handle ([`AppStatus`]) that the
//! status file (`<data_dir>/run/status.json`, read by `callbox status`) and later the web
//! page show.

use crate::app::housekeeping::HousekeepingStatus;
use crate::app::supervisor::{Service, ServiceStatus, ServiceStatuses};
use crate::queue::{Outbox, QueueCounts};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// How often the status file is rewritten when nothing changes.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// A status file older than this (while its process lives) means the daemon is wedged.
pub const STALE_AFTER: Duration = Duration::from_secs(20);

/// Where the box is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Starting,
    Running,
    /// SIGTERM: new calls get busy, calls in progress finish.
    Stopping,
    Stopped,
}

/// What the status shows that is not a service.
#[derive(Debug)]
struct Facts {
    phase: Phase,
    sip_address: Option<SocketAddr>,
    calls_in_progress: usize,
    warnings: Vec<String>,
    housekeeping: Option<HousekeepingStatus>,
    speech: Option<SpeechState>,
    ata_contact: Option<AtaContact>,
}

/// The ATA's last SIP contact (any request or answer from an allowed peer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtaContact {
    pub at: DateTime<Utc>,
    pub from: SocketAddr,
}

/// What the call flow can hear with, decided at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeechState {
    /// A speech model is loaded (else callers use their keypad).
    pub loaded: bool,
    /// "loaded (<model path>)" or "keypad only: <reason>".
    pub detail: String,
}

/// The shared status handle. Cheap to clone through its `Arc`.
#[derive(Debug)]
pub struct AppStatus {
    pub services: ServiceStatuses,
    started_at: DateTime<Utc>,
    facts: Mutex<Facts>,
    changed: watch::Sender<u64>,
}

/// The status as written to `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub pid: u32,
    pub phase: Phase,
    pub written_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub uptime_secs: i64,
    pub sip_address: Option<SocketAddr>,
    /// The ATA's last SIP contact.
    #[serde(default)]
    pub ata_last_contact: Option<AtaContact>,
    pub calls_in_progress: usize,
    pub queue: Option<QueueCounts>,
    /// The last housekeeping pass: disk use against the budget, the data partition's state.
    #[serde(default)]
    pub housekeeping: Option<HousekeepingStatus>,
    pub services: BTreeMap<String, ServiceStatus>,
    /// Configuration warnings, as logged at start-up.
    pub warnings: Vec<String>,
}

impl AppStatus {
    pub fn new(warnings: Vec<String>) -> Arc<AppStatus> {
        Arc::new(AppStatus {
            services: ServiceStatuses::default(),
            started_at: Utc::now(),
            facts: Mutex::new(Facts {
                phase: Phase::Starting,
                sip_address: None,
                calls_in_progress: 0,
                warnings,
                housekeeping: None,
                speech: None,
                ata_contact: None,
            }),
            changed: watch::channel(0).0,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn change(&self, f: impl FnOnce(&mut Facts)) {
        f(&mut self.lock());
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn set_phase(&self, phase: Phase) {
        self.change(|f| f.phase = phase);
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    pub fn set_sip_address(&self, addr: SocketAddr) {
        self.change(|f| f.sip_address = Some(addr));
    }

    pub fn set_calls_in_progress(&self, calls: usize) {
        self.change(|f| f.calls_in_progress = calls);
    }

    pub fn set_housekeeping(&self, report: HousekeepingStatus) {
        self.change(|f| f.housekeeping = Some(report));
    }

    pub fn set_speech(&self, speech: SpeechState) {
        self.change(|f| f.speech = Some(speech));
    }

    pub fn set_ata_contact(&self, contact: AtaContact) {
        self.change(|f| f.ata_contact = Some(contact));
    }

    pub fn ata_contact(&self) -> Option<AtaContact> {
        self.lock().ata_contact.clone()
    }

    pub fn speech(&self) -> Option<SpeechState> {
        self.lock().speech.clone()
    }

    pub fn calls_in_progress(&self) -> usize {
        self.lock().calls_in_progress
    }

    pub fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }

    /// The status now, with the queue's counts when the queue is open.
    pub fn report(&self, queue: Option<&Outbox>) -> StatusReport {
        let now = Utc::now();
        let facts = self.lock();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            phase: facts.phase,
            written_at: now,
            started_at: self.started_at,
            uptime_secs: (now - self.started_at).num_seconds(),
            sip_address: facts.sip_address,
            ata_last_contact: facts.ata_contact.clone(),
            calls_in_progress: facts.calls_in_progress,
            queue: queue.map(Outbox::counts),
            housekeeping: facts.housekeeping.clone(),
            services: self
                .services
                .snapshot()
                .into_iter()
                .map(|(name, status)| (name.to_string(), status))
                .collect(),
            warnings: facts.warnings.clone(),
        }
    }

    /// Resolves when anything in the status changes.
    async fn changed(&self, services: &mut watch::Receiver<u64>, own: &mut watch::Receiver<u64>) {
        tokio::select! {
            _ = services.changed() => {}
            _ = own.changed() => {}
        }
    }
}

/// `<data_dir>/run/status.json`.
pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("status.json")
}

/// Writes the status file every [`STATUS_EVERY`] and on every change.
pub(crate) fn status_writer(
    status: Arc<AppStatus>,
    queue: Option<Outbox>,
    path: PathBuf,
) -> Service {
    Service::new("status", move |token| {
        let (status, queue, path) = (status.clone(), queue.clone(), path.clone());
        Box::pin(async move {
            let mut services = status.services.subscribe();
            let mut own = status.changed.subscribe();
            loop {
                write_status(&path, &status.report(queue.as_ref()))?;
                tokio::select! {
                    _ = tokio::time::sleep(STATUS_EVERY) => {}
                    _ = status.changed(&mut services, &mut own) => {}
                    _ = token.cancelled() => return Ok(()),
                }
            }
        })
    })
}

/// Writes the report atomically: a temp file, fsync, rename, fsync of the directory.
pub fn write_status(path: &Path, report: &StatusReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).context("rendering the status")?;
    write_atomic(path, &json).with_context(|| format!("writing {}", path.display()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_private_dir(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut file = private_file(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

/// What `callbox status` makes of the status file.
#[derive(Debug)]
pub enum Reading {
    /// The daemon runs and wrote its status recently.
    Live(StatusReport),
    /// No status file: the daemon never ran here.
    Missing,
    /// The daemon stopped (cleanly, or its process is gone).
    NotRunning(StatusReport),
    /// The process lives but has not written its status for this long.
    Stale(StatusReport, chrono::Duration),
}

/// Reads the status file at `path` and judges it at `now`.
pub fn read_status(path: &Path, now: DateTime<Utc>) -> Result<Reading> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reading::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let report: StatusReport = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a status file", path.display()))?;
    let age = now - report.written_at;
    Ok(
        if report.phase == Phase::Stopped || !process_alive(report.pid) {
            Reading::NotRunning(report)
        } else if age > chrono::Duration::from_std(STALE_AFTER).unwrap_or_default() {
            Reading::Stale(report, age)
        } else {
            Reading::Live(report)
        },
    )
}

fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
