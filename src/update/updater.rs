//! `callbox update check|apply`: the steps, each logged, each leaving the installation whole.
//!
//! 1. Trust: the root built into the binary (`trust.rs`), moved forward by the rotations kept
//!    in `<root>/trust/<n>.root.json` (re-verified every time) and any newer ones the server
//!    publishes (`<server>/root/<n>.json`, verified, then kept).
//! 2. Check: `<server>/<channel>/<arch>/release.json`, verified (signatures, expiry, newer,
//!    not a replay, this architecture and channel). A release that failed health is skipped.
//! 3. Download: into `downloads/`, at most the manifest's length, resumed after a cut, sha256
//!    checked; unpacked into a staging directory renamed whole into `releases/<version>`.
//! 4. Switch, only with the line idle (the box itself is asked), journalled first; restart;
//!    health within the bound, else switch back, restart, and remember the release as failed.
//!
//! What the running box is asked (idle, restart, health) goes through [`BoxControl`], which
//! the app implements; tests implement it too.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::artifact::{ArtifactCheck, ArtifactError};
use super::install::{InstallError, Installation, Rollback, Switch, UpdateState};
use super::metadata::{Artifact, Expectation, Refusal, Release, Root};
use super::release::{self, artifact_path, manifest_path, ReleaseError};
use super::settings::UpdateConfig;
use super::trust::{self, Anchor, TrustDir, TrustError};
use super::version::Version;
use crate::infra::{disk, http};

/// The most a manifest or root document may be.
const METADATA_LIMIT: u64 = 64 * 1024;
/// Room kept free beyond what the release needs.
const SPACE_MARGIN: u64 = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no update server configured ([update] server or --server)")]
    NoServer,
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("refused: {0}")]
    Artifact(#[from] ArtifactError),
    #[error("refused: {0}")]
    Trust(#[from] TrustError),
    #[error("{url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("not enough free space in {path}: {free} bytes free, {needed} needed")]
    NoSpace {
        path: PathBuf,
        free: u64,
        needed: u64,
    },
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("the line did not fall idle: {0}")]
    Busy(String),
    #[error("release {version} failed its health check before; it is never retried")]
    FailedBefore { version: Version },
}

/// What the updater asks of the running box.
pub trait BoxControl {
    /// Returns once no call is in progress (and, if `hold`, new calls are answered busy until
    /// `release_hold`), or an error after `limit`.
    fn wait_idle(&mut self, limit: Duration, hold: bool) -> Result<(), String>;
    fn release_hold(&mut self);
    /// Restarts the box on whatever `current` points at.
    fn restart(&mut self) -> Result<(), String>;
    /// The box runs `version` and answers (READY, `/healthz`, SIP OPTIONS) within `limit`.
    fn healthy(&mut self, version: Version, limit: Duration) -> Result<(), String>;
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    UpToDate {
        installed: Version,
    },
    Available {
        installed: Version,
        release: Release,
    },
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    UpToDate {
        installed: Version,
    },
    Installed {
        from: Version,
        to: Version,
    },
    RolledBack {
        from: Version,
        to: Option<Version>,
        reason: String,
    },
}

pub struct Updater {
    install: Installation,
    anchor: Anchor,
    settings: UpdateConfig,
    server: String,
    arch: String,
    installed: Version,
    client: reqwest::blocking::Client,
}

impl Updater {
    /// `anchor`: where trust starts (`Anchor::for_this_build`).
    pub fn new(settings: &UpdateConfig, arch: &str, anchor: Anchor) -> Result<Self, UpdateError> {
        if settings.server.is_empty() {
            return Err(UpdateError::NoServer);
        }
        let mut options = http::HttpOptions::new(Duration::from_secs(10), None);
        options.extra_ca_file = settings.ca_file.clone();
        options.https_only = true;
        let client = http::blocking_client(&options).map_err(|e| UpdateError::Fetch {
            url: settings.server.clone(),
            reason: e.to_string(),
        })?;
        let install = Installation::new(&settings.root);
        let installed = install.current()?.unwrap_or_else(Version::running);
        Ok(Self {
            install,
            anchor,
            settings: settings.clone(),
            server: settings.server.trim_end_matches('/').to_string(),
            arch: arch.to_string(),
            installed,
            client,
        })
    }

    pub fn installation(&self) -> &Installation {
        &self.install
    }

    /// Fetches and verifies what the server offers; records the check.
    pub fn check(&mut self, now: DateTime<Utc>) -> Result<CheckOutcome, UpdateError> {
        let mut state = self.install.load_state()?;
        let result = self.check_with(&mut state, now);
        state.last_check = Some(now.to_rfc3339());
        state.last_result = Some(match &result {
            Ok(CheckOutcome::UpToDate { installed }) => format!("up to date ({installed})"),
            Ok(CheckOutcome::Available { release, .. }) => {
                format!("release {} available", release.version)
            }
            Err(e) => e.to_string(),
        });
        self.install.save_state(&state)?;
        result
    }

    fn check_with(
        &mut self,
        state: &mut UpdateState,
        now: DateTime<Utc>,
    ) -> Result<CheckOutcome, UpdateError> {
        let root = self.trusted_root(now)?;
        let url = format!(
            "{}/{}",
            self.server,
            manifest_path(&self.settings.channel, &self.arch)
        );
        let bytes = self.fetch_small(&url)?;
        let expect = Expectation {
            installed: self.installed,
            highest_seen: state.highest_seen,
            arch: self.arch.clone(),
            channel: self.settings.channel.clone(),
        };
        let release = match root.verify_release(&bytes, now, &expect) {
            Ok(release) => release,
            Err(Refusal::NotNewer { installed, .. }) => {
                return Ok(CheckOutcome::UpToDate { installed })
            }
            Err(refusal) => return Err(refusal.into()),
        };
        if state.failed.contains(&release.version) {
            return Err(UpdateError::FailedBefore {
                version: release.version,
            });
        }
        state.highest_seen = Some(
            state
                .highest_seen
                .map_or(release.version, |v| v.max(release.version)),
        );
        Ok(CheckOutcome::Available {
            installed: self.installed,
            release,
        })
    }

    /// The built-in root, moved forward by the kept rotations (verified again) and by every
    /// newer one the server has (verified, then kept).
    fn trusted_root(&self, now: DateTime<Utc>) -> Result<Root, UpdateError> {
        let dir = TrustDir::new(self.install.trust_dir());
        if self.install.trust_dir().join("root.json").exists() {
            tracing::warn!(
                "update: trust/root.json is no longer read; the release root is built into the binary"
            );
        }
        let mut root = trust::verify_chain(self.anchor.root(), &dir.links()?)?;
        loop {
            let version = root.version + 1;
            let url = format!("{}/root/{version}.json", self.server);
            let Some(next) = self.fetch_optional(&url)? else {
                break;
            };
            root = root.verify_next(&next)?;
            dir.keep(version, &next)?;
            tracing::info!(version, "update: trusted root rotated");
        }
        trust::check_current(&root, now)?;
        Ok(root)
    }

    /// Check, download, switch, health; rolls back by itself.
    pub fn apply(
        &mut self,
        now: DateTime<Utc>,
        control: &mut dyn BoxControl,
    ) -> Result<ApplyOutcome, UpdateError> {
        if let Some(outcome) = self.recover(control)? {
            return Ok(outcome);
        }
        // A finished rollback may have moved `current`.
        self.installed = self.install.current()?.unwrap_or_else(Version::running);
        let release = match self.check(now)? {
            CheckOutcome::UpToDate { installed } => {
                return Ok(ApplyOutcome::UpToDate { installed })
            }
            CheckOutcome::Available { release, .. } => release,
        };
        self.stage(&release)?;
        self.switch(&release, control)
    }

    /// Downloads, checks and unpacks the release into `releases/<version>`.
    fn stage(&mut self, release: &Release) -> Result<(), UpdateError> {
        let dir = self.install.release_dir(release.version);
        if dir.join("callbox").is_file() {
            return Ok(());
        }
        let artifact = tarball_of(release)?;
        self.check_space(artifact)?;
        let tarball = self.download(release, artifact)?;
        step("downloaded");
        let staging = self.install.staging_dir(release.version)?;
        if let Err(e) = release::unpack(&tarball, &staging) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e.into());
        }
        step("unpacked");
        self.install.commit_release(&staging, release.version)?;
        step("committed");
        let _ = std::fs::remove_file(&tarball);
        tracing::info!(version = %release.version, "update: release unpacked");
        Ok(())
    }

    fn check_space(&self, artifact: &Artifact) -> Result<(), UpdateError> {
        let root = self.install.root();
        std::fs::create_dir_all(root).map_err(|source| InstallError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let free = disk::free_bytes(root).map_err(|source| InstallError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let needed = artifact
            .length
            .saturating_mul(4)
            .saturating_add(SPACE_MARGIN);
        if free < needed {
            return Err(UpdateError::NoSpace {
                path: root.to_path_buf(),
                free,
                needed,
            });
        }
        Ok(())
    }

    /// Fetches the artifact into `downloads/<name>`, resuming a `.part` left by a cut.
    fn download(&self, release: &Release, artifact: &Artifact) -> Result<PathBuf, UpdateError> {
        let dir = self.install.downloads_dir();
        std::fs::create_dir_all(&dir).map_err(|source| InstallError::Io {
            path: dir.clone(),
            source,
        })?;
        let part = dir.join(format!("{}.part", artifact.name));
        let mut check = ArtifactCheck::new(artifact);
        let kept = resume_from(&part, &mut check);
        let url = format!(
            "{}/{}",
            self.server,
            artifact_path(&release.channel, &release.arch, &artifact.name)
        );
        let fetch_error = |reason: String| UpdateError::Fetch {
            url: url.clone(),
            reason,
        };
        let mut request = self.client.get(&url);
        if kept > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={kept}-"));
        }
        let mut response = request
            .send()
            .map_err(|e| fetch_error(e.without_url().to_string()))?;
        let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT && kept > 0;
        if !response.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", response.status())));
        }
        if !resumed && kept > 0 {
            check = ArtifactCheck::new(artifact);
        }
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(&part)
            .map_err(|source| InstallError::Io {
                path: part.clone(),
                source,
            })?;
        let streamed = stream(&mut response, &mut out, &mut check);
        let _ = out.sync_all();
        match streamed {
            Err(StreamError::Artifact(e)) => {
                let _ = std::fs::remove_file(&part);
                return Err(e.into());
            }
            Err(StreamError::Io(reason)) => {
                return Err(fetch_error(format!(
                    "{reason}; {} of {} bytes kept, resumed next time",
                    check.received(),
                    artifact.length
                )))
            }
            Ok(()) => {}
        }
        if let Err(e) = check.finish() {
            if !matches!(e, ArtifactError::Incomplete { .. }) {
                let _ = std::fs::remove_file(&part);
            }
            return Err(e.into());
        }
        let done = dir.join(&artifact.name);
        std::fs::rename(&part, &done).map_err(|source| InstallError::Io {
            path: done.clone(),
            source,
        })?;
        Ok(done)
    }

    /// The switch itself: journal, link, restart, health; back again when unhealthy.
    fn switch(
        &mut self,
        release: &Release,
        control: &mut dyn BoxControl,
    ) -> Result<ApplyOutcome, UpdateError> {
        let idle_limit = Duration::from_secs(self.settings.idle_wait_secs);
        control
            .wait_idle(idle_limit, self.settings.busy_during_switch)
            .map_err(UpdateError::Busy)?;
        let from = self.install.current()?;
        let mut state = self.install.load_state()?;
        state.switching = Some(Switch {
            from,
            to: release.version,
            started: Utc::now().to_rfc3339(),
        });
        self.install.save_state(&state)?;
        step("journalled");
        tracing::info!(from = ?from.map(|v| v.to_string()), to = %release.version, "update: switching");
        let switched = self.install.switch_to(release.version);
        control.release_hold();
        switched?;
        step("switched");
        self.confirm(control, from, release.version)
    }

    /// After a switch: restart and wait for health; roll back when it does not come.
    fn confirm(
        &mut self,
        control: &mut dyn BoxControl,
        from: Option<Version>,
        to: Version,
    ) -> Result<ApplyOutcome, UpdateError> {
        let limit = Duration::from_secs(self.settings.health_timeout_secs);
        let health = control.restart().and_then(|()| {
            step("restarted");
            control.healthy(to, limit)
        });
        let mut state = self.install.load_state()?;
        let outcome = match health {
            Ok(()) => {
                let removed = self.install.clean()?;
                tracing::info!(version = %to, ?removed, "update: release healthy");
                state.last_result = Some(format!("installed {to}"));
                ApplyOutcome::Installed {
                    from: from.unwrap_or(self.installed),
                    to,
                }
            }
            Err(reason) => self.roll_back(&mut state, control, from, to, reason)?,
        };
        state.switching = None;
        self.install.save_state(&state)?;
        Ok(outcome)
    }

    fn roll_back(
        &mut self,
        state: &mut UpdateState,
        control: &mut dyn BoxControl,
        from: Option<Version>,
        to: Version,
        reason: String,
    ) -> Result<ApplyOutcome, UpdateError> {
        tracing::error!(version = %to, "update: release not healthy ({reason}); rolling back");
        // Failed first (the journal stays): a kill from here on is finished as a rollback.
        if !state.failed.contains(&to) {
            state.failed.push(to);
        }
        state.rolled_back = Some(Rollback {
            from: to,
            to: from,
            reason: reason.clone(),
            at: Utc::now().to_rfc3339(),
        });
        state.last_result = Some(format!("release {to} rolled back: {reason}"));
        self.install.save_state(state)?;
        step("failed");
        self.install.roll_back()?;
        step("rolled-back");
        if let Err(e) = control.restart() {
            tracing::error!("update: restarting the previous release failed: {e}");
        }
        Ok(ApplyOutcome::RolledBack {
            from: to,
            to: from,
            reason,
        })
    }

    /// A switch journalled but never confirmed (the updater was killed): confirm it now, or
    /// roll it back.
    fn recover(
        &mut self,
        control: &mut dyn BoxControl,
    ) -> Result<Option<ApplyOutcome>, UpdateError> {
        let state = self.install.load_state()?;
        let Some(switch) = state.switching else {
            return Ok(None);
        };
        tracing::warn!(to = %switch.to, "update: a switch was interrupted; finishing it");
        let linked = self.install.current()? == Some(switch.to);
        if linked && !state.failed.contains(&switch.to) {
            return self.confirm(control, switch.from, switch.to).map(Some);
        }
        if linked {
            // Killed during a rollback: finish it.
            self.install.roll_back()?;
            if let Err(e) = control.restart() {
                tracing::error!("update: restarting the previous release failed: {e}");
            }
        }
        // Killed before the link moved, or after the rollback's: the old release runs.
        let mut state = self.install.load_state()?;
        state.switching = None;
        self.install.save_state(&state)?;
        Ok(None)
    }

    fn fetch_small(&self, url: &str) -> Result<Vec<u8>, UpdateError> {
        self.fetch_optional(url)?.ok_or_else(|| UpdateError::Fetch {
            url: url.to_string(),
            reason: "HTTP 404 Not Found".into(),
        })
    }

    fn fetch_optional(&self, url: &str) -> Result<Option<Vec<u8>>, UpdateError> {
        let fetch_error = |reason: String| UpdateError::Fetch {
            url: url.to_string(),
            reason,
        };
        let response = self
            .client
            .get(url)
            .send()
            .map_err(|e| fetch_error(e.without_url().to_string()))?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", response.status())));
        }
        let mut bytes = Vec::new();
        response
            .take(METADATA_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fetch_error(e.to_string()))?;
        if bytes.len() as u64 > METADATA_LIMIT {
            return Err(fetch_error(format!("larger than {METADATA_LIMIT} bytes")));
        }
        Ok(Some(bytes))
    }
}

/// Logs each step; `CALLBOX_UPDATER_PAUSE_AT=<step>` holds the updater there (for the tests
/// that kill it at each step in turn, and for an operator who wants to watch one).
fn step(name: &str) {
    tracing::info!(step = name, "update: step");
    if std::env::var("CALLBOX_UPDATER_PAUSE_AT").is_ok_and(|at| at == name) {
        eprintln!("callbox: update paused at {name}");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn tarball_of(release: &Release) -> Result<&Artifact, UpdateError> {
    release
        .artifacts
        .iter()
        .find(|a| a.name.ends_with(".tar.gz"))
        .ok_or_else(|| {
            Refusal::Malformed {
                what: "release manifest",
                reason: "no .tar.gz artifact".into(),
            }
            .into()
        })
}

/// Feeds a kept `.part` into the check; returns how many bytes it had (0 when unusable).
fn resume_from(part: &Path, check: &mut ArtifactCheck) -> u64 {
    let Ok(bytes) = std::fs::read(part) else {
        return 0;
    };
    if check.feed(&bytes).is_err() {
        let _ = std::fs::remove_file(part);
        return 0;
    }
    bytes.len() as u64
}

enum StreamError {
    Artifact(ArtifactError),
    Io(String),
}

/// Copies the body into `out` through the check, stopping at the first byte too many.
fn stream(
    body: &mut impl Read,
    out: &mut impl Write,
    check: &mut ArtifactCheck,
) -> Result<(), StreamError> {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = body
            .read(&mut buffer)
            .map_err(|e| StreamError::Io(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        let chunk = &buffer[..n];
        check.feed(chunk).map_err(StreamError::Artifact)?;
        out.write_all(chunk)
            .map_err(|e| StreamError::Io(e.to_string()))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_larger_than_the_free_space_is_refused_before_any_download() {
        let dir = tempfile::tempdir().unwrap();
        let settings = UpdateConfig {
            server: "http://127.0.0.1:9".into(),
            root: dir.path().to_path_buf(),
            ..UpdateConfig::default()
        };
        let key = crate::update::keys::ReleaseKey::generate();
        let root = Root::new(
            vec![key.public()],
            1,
            Utc::now() + chrono::Duration::days(1),
        );
        let root_file = dir.path().join("root.json");
        std::fs::write(
            &root_file,
            crate::update::metadata::sign(&root, &[&key]).unwrap(),
        )
        .unwrap();
        let anchor = Anchor::for_test(&root_file).unwrap();
        let updater = Updater::new(&settings, "aarch64", anchor).unwrap();
        let free = disk::free_bytes(dir.path()).unwrap();
        let huge = Artifact {
            name: "callbox-9.9.9-aarch64.tar.gz".into(),
            sha256: "00".repeat(32),
            length: free,
        };
        assert!(matches!(
            updater.check_space(&huge),
            Err(UpdateError::NoSpace { .. })
        ));
        let small = Artifact {
            length: 1024,
            ..huge
        };
        updater.check_space(&small).unwrap();
        assert!(!dir.path().join("downloads").exists());
    }

    #[test]
    fn the_body_stops_at_the_first_byte_past_the_manifest_length() {
        let body = vec![7u8; 10_000];
        let artifact = Artifact {
            name: "x.tar.gz".into(),
            sha256: "00".repeat(32),
            length: 4_000,
        };
        let mut check = ArtifactCheck::new(&artifact);
        let mut written = Vec::new();
        let result = stream(&mut body.as_slice(), &mut written, &mut check);
        assert!(matches!(
            result,
            Err(StreamError::Artifact(ArtifactError::TooLong { .. }))
        ));
        assert!(written.len() <= 4_000, "{} bytes kept", written.len());
    }
}
