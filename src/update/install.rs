//! The installation on disk and the one way it changes: an atomic switch of a symlink.
//!
//! ```text
//! <root>/releases/<version>/   callbox, libvosk.so, release.json (the verified manifest)
//! <root>/current  -> releases/<version>     what systemd starts
//! <root>/previous -> releases/<version>     what a rollback goes back to
//! <root>/trust/<n>.root.json                rotated roots learnt since the build (the anchor
//!                                           itself is built into the binary: `trust.rs`)
//! <root>/state/update.json                  last check, result, journal, failed versions
//! <root>/downloads/                         artifacts being fetched (resumed)
//! ```
//!
//! A link is switched by making `current.new` and renaming it over `current` (atomic on
//! POSIX), then syncing the directory: a power cut leaves the old or the new link, never
//! neither. A release directory appears whole by the rename of a staging directory.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::version::Version;
use crate::infra::fs;

/// The longest a hold on new calls lasts, however it was left.
pub const HOLD_MAX: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("update state {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The update root (`[update] root`, default `/opt/callbox`).
#[derive(Debug, Clone)]
pub struct Installation {
    root: PathBuf,
}

impl Installation {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn releases_dir(&self) -> PathBuf {
        self.root.join("releases")
    }

    pub fn release_dir(&self, version: Version) -> PathBuf {
        self.releases_dir().join(version.to_string())
    }

    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    pub fn trust_dir(&self) -> PathBuf {
        self.root.join("trust")
    }

    pub fn state_path(&self) -> PathBuf {
        self.root.join("state").join("update.json")
    }

    fn link(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The version `current` points at, if it points at a release directory.
    pub fn current(&self) -> Result<Option<Version>, InstallError> {
        self.linked("current")
    }

    pub fn previous(&self) -> Result<Option<Version>, InstallError> {
        self.linked("previous")
    }

    fn linked(&self, name: &str) -> Result<Option<Version>, InstallError> {
        let link = self.link(name);
        let target = match std::fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&link)(e)),
        };
        let version = target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<Version>().ok());
        match version {
            Some(v) if target.parent() == Some(Path::new("releases")) => Ok(Some(v)),
            // The package's own installation (/usr/lib/callbox) or anything else: not ours.
            _ => Ok(None),
        }
    }

    /// Where the link `name` points, as written (relative `releases/<v>`, or e.g. the
    /// package's `/usr/lib/callbox`).
    fn raw_target(&self, name: &str) -> Result<Option<PathBuf>, InstallError> {
        let link = self.link(name);
        match std::fs::read_link(&link) {
            Ok(target) => Ok(Some(target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at(&link)(e)),
        }
    }

    /// Points `name` at `releases/<version>` atomically.
    fn point(&self, name: &str, version: Version) -> Result<(), InstallError> {
        let dir = self.release_dir(version);
        if !dir.join("callbox").is_file() {
            return Err(InstallError::Layout {
                path: dir,
                reason: "no callbox binary in this release".into(),
            });
        }
        self.point_raw(name, &Path::new("releases").join(version.to_string()))
    }

    /// Makes `<name>.new` point at `target` and renames it over `name`, then syncs the root.
    fn point_raw(&self, name: &str, target: &Path) -> Result<(), InstallError> {
        let link = self.link(name);
        let staging = self.link(&format!("{name}.new"));
        match std::fs::remove_file(&staging) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&staging)(e)),
        }
        std::os::unix::fs::symlink(target, &staging).map_err(io_at(&staging))?;
        std::fs::rename(&staging, &link).map_err(io_at(&link))?;
        fs::sync_dir(&self.root).map_err(io_at(&self.root))
    }

    /// `previous` := what `current` was (a release or the package's installation), then
    /// `current` := `version`.
    pub fn switch_to(&self, version: Version) -> Result<(), InstallError> {
        let new_target = Path::new("releases").join(version.to_string());
        if let Some(old) = self.raw_target("current")? {
            if old != new_target {
                self.point_raw("previous", &old)?;
            }
        }
        self.point("current", version)
    }

    /// `current` := what `previous` points at (a rollback).
    pub fn roll_back(&self) -> Result<(), InstallError> {
        let target = self
            .raw_target("previous")?
            .ok_or_else(|| InstallError::Layout {
                path: self.link("previous"),
                reason: "no previous installation to roll back to".into(),
            })?;
        self.point_raw("current", &target)
    }

    /// Moves a fully written staging directory into place as `releases/<version>`.
    pub fn commit_release(&self, staging: &Path, version: Version) -> Result<(), InstallError> {
        let dest = self.release_dir(version);
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(io_at(&dest))?;
        }
        std::fs::rename(staging, &dest).map_err(io_at(&dest))?;
        fs::sync_dir(&self.releases_dir()).map_err(io_at(&self.releases_dir()))
    }

    /// A fresh staging directory for `version` under `releases/`.
    pub fn staging_dir(&self, version: Version) -> Result<PathBuf, InstallError> {
        let dir = self.releases_dir().join(format!(".staging-{version}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_at(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        Ok(dir)
    }

    /// Removes every release but `current` and `previous` (and staging left by a crash).
    pub fn clean(&self) -> Result<Vec<String>, InstallError> {
        let keep: Vec<String> = [self.current()?, self.previous()?]
            .into_iter()
            .flatten()
            .map(|v| v.to_string())
            .collect();
        let dir = self.releases_dir();
        let mut removed = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(io_at(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_at(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            std::fs::remove_dir_all(entry.path()).map_err(io_at(&entry.path()))?;
            removed.push(name);
        }
        Ok(removed)
    }

    /// `<root>/hold-calls`: while it is fresh the box answers new calls busy (the switch is
    /// near; `update.busy_during_switch`). World-readable: the box runs as its own user.
    pub fn hold_path(&self) -> PathBuf {
        self.root.join("hold-calls")
    }

    pub fn set_hold(&self) -> Result<(), InstallError> {
        let path = self.hold_path();
        std::fs::write(&path, b"the updater is about to switch releases\n")
            .map_err(io_at(&path))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .map_err(io_at(&path))
    }

    pub fn clear_hold(&self) {
        let _ = std::fs::remove_file(self.hold_path());
    }

    /// A hold is honoured for at most [`HOLD_MAX`]: one left by a killed updater lapses.
    pub fn hold_active(&self, now: std::time::SystemTime) -> bool {
        std::fs::metadata(self.hold_path())
            .and_then(|m| m.modified())
            .is_ok_and(|set| now.duration_since(set).is_ok_and(|age| age < HOLD_MAX))
    }

    pub fn load_state(&self) -> Result<UpdateState, InstallError> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| InstallError::State {
                path,
                reason: format!("unreadable ({e}); move it aside to start afresh"),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(UpdateState::default()),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    pub fn save_state(&self, state: &UpdateState) -> Result<(), InstallError> {
        let path = self.state_path();
        let dir = self.root.join("state");
        std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| InstallError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        fs::write_atomic(&path, &bytes).map_err(io_at(&path))
    }
}

/// What the updater remembers across runs (and power cuts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateState {
    /// RFC 3339.
    pub last_check: Option<String>,
    /// What the last check or apply came to, in words.
    pub last_result: Option<String>,
    /// The highest version any verified release offered (refuses replays of older ones).
    pub highest_seen: Option<Version>,
    /// Releases that failed their health check: never retried.
    #[serde(default)]
    pub failed: Vec<Version>,
    /// The last rollback: to what, from what, why, when.
    pub rolled_back: Option<Rollback>,
    /// A switch under way: written before the switch, cleared once the release is healthy
    /// or rolled back. Found at start, it is finished (health checked) or undone.
    pub switching: Option<Switch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    pub from: Option<Version>,
    pub to: Version,
    pub started: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    pub from: Version,
    pub to: Option<Version>,
    pub reason: String,
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(install: &Installation, version: &str) -> Version {
        let v: Version = version.parse().unwrap();
        let staging = install.staging_dir(v).unwrap();
        std::fs::write(staging.join("callbox"), format!("binary {version}")).unwrap();
        install.commit_release(&staging, v).unwrap();
        v
    }

    #[test]
    fn a_switch_keeps_the_previous_release_and_a_rollback_returns_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        let (a, b) = (release(&install, "1.0.0"), release(&install, "1.1.0"));
        assert_eq!(install.current().unwrap(), None);
        install.switch_to(a).unwrap();
        install.switch_to(b).unwrap();
        assert_eq!(install.current().unwrap(), Some(b));
        assert_eq!(install.previous().unwrap(), Some(a));
        let binary = std::fs::read_to_string(dir.path().join("current/callbox")).unwrap();
        assert_eq!(binary, "binary 1.1.0");
        install.roll_back().unwrap();
        assert_eq!(install.current().unwrap(), Some(a));
        assert!(!dir.path().join("current.new").exists());
    }

    #[test]
    fn cleaning_keeps_current_and_previous_only() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        for v in ["1.0.0", "1.1.0", "1.2.0"] {
            let v = release(&install, v);
            install.switch_to(v).unwrap();
        }
        std::fs::create_dir_all(install.releases_dir().join(".staging-1.3.0")).unwrap();
        let mut removed = install.clean().unwrap();
        removed.sort();
        assert_eq!(removed, vec![".staging-1.3.0", "1.0.0"]);
        assert!(install.release_dir("1.1.0".parse().unwrap()).exists());
        assert!(install.release_dir("1.2.0".parse().unwrap()).exists());
    }

    #[test]
    fn a_release_without_a_binary_is_never_linked() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        let v: Version = "2.0.0".parse().unwrap();
        let staging = install.staging_dir(v).unwrap();
        install.commit_release(&staging, v).unwrap();
        assert!(install.switch_to(v).is_err());
        assert_eq!(install.current().unwrap(), None);
    }

    #[test]
    fn the_first_update_over_the_package_rolls_back_to_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        std::os::unix::fs::symlink("/usr/lib/callbox", dir.path().join("current")).unwrap();
        let v = release(&install, "1.1.0");
        install.switch_to(v).unwrap();
        assert_eq!(install.current().unwrap(), Some(v));
        install.roll_back().unwrap();
        let target = std::fs::read_link(dir.path().join("current")).unwrap();
        assert_eq!(target, Path::new("/usr/lib/callbox"));
    }

    #[test]
    fn a_link_to_the_package_directory_is_not_a_release() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/usr/lib/callbox", dir.path().join("current")).unwrap();
        assert_eq!(Installation::new(dir.path()).current().unwrap(), None);
    }

    #[test]
    fn a_hold_is_seen_while_fresh_and_lapses_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        let now = std::time::SystemTime::now();
        assert!(!install.hold_active(now));
        install.set_hold().unwrap();
        assert!(install.hold_active(now + std::time::Duration::from_secs(5)));
        assert!(!install.hold_active(now + HOLD_MAX + std::time::Duration::from_secs(5)));
        install.clear_hold();
        assert!(!install.hold_active(now));
    }

    #[test]
    fn state_round_trips_and_a_damaged_state_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let install = Installation::new(dir.path());
        assert_eq!(install.load_state().unwrap(), UpdateState::default());
        let state = UpdateState {
            highest_seen: Some("1.2.0".parse().unwrap()),
            failed: vec!["1.1.0".parse().unwrap()],
            ..UpdateState::default()
        };
        install.save_state(&state).unwrap();
        assert_eq!(install.load_state().unwrap(), state);
        std::fs::write(install.state_path(), b"{half").unwrap();
        assert!(install
            .load_state()
            .unwrap_err()
            .to_string()
            .contains("move it aside"));
    }
}
