//! Making releases (`callbox release keygen`, `callbox release build`), for whoever ships the
//! box. The output of `build` is a directory a plain web server can serve as it is:
//!
//! ```text
//! <out>/<channel>/<arch>/release.json                    the signed manifest
//! <out>/<channel>/<arch>/callbox-<version>-<arch>.tar.gz  callbox + libvosk.so
//! ```

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::keys::{hex, KeyError, ReleaseKey};
use super::metadata::{self, Artifact, Release, Root, SPEC};
use super::version::Version;
use crate::infra::fs;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |e| ReleaseError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Where a release's files live on the server, relative to its base URL.
pub fn manifest_path(channel: &str, arch: &str) -> String {
    format!("{channel}/{arch}/release.json")
}

pub fn artifact_path(channel: &str, arch: &str, name: &str) -> String {
    format!("{channel}/{arch}/{name}")
}

/// `release keygen`: `count` keys and a first root that trusts them with `threshold`.
/// Returns the key files written and the root's path.
pub fn keygen(
    out: &Path,
    count: usize,
    threshold: usize,
    now: DateTime<Utc>,
    valid_days: i64,
) -> Result<(Vec<PathBuf>, PathBuf), ReleaseError> {
    if count == 0 || threshold == 0 || threshold > count {
        return Err(ReleaseError::Invalid(format!(
            "threshold {threshold} of {count} keys: need 1 ≤ threshold ≤ keys"
        )));
    }
    fs::create_private_dir_all(out).map_err(file_error(out))?;
    let keys: Vec<ReleaseKey> = (0..count).map(|_| ReleaseKey::generate()).collect();
    let mut paths = Vec::new();
    for key in &keys {
        let id = key.public().key_id();
        let path = out.join(format!("release-{}.key", &id[..16]));
        key.save(&path)?;
        paths.push(path);
    }
    let root = Root::new(
        keys.iter().map(|k| k.public()).collect(),
        threshold,
        now + Duration::days(valid_days),
    );
    let signers: Vec<&ReleaseKey> = keys.iter().collect();
    let bytes =
        metadata::sign(&root, &signers).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
    let root_path = out.join("root.json");
    fs::write_atomic(&root_path, &bytes).map_err(file_error(&root_path))?;
    Ok((paths, root_path))
}

/// `release rotate`: the root after `current` (its bytes as published), trusting `new_keys`
/// with `threshold`, signed by `old_keys` (a threshold of the current root's) and by every new
/// key. Checked the way a box will check it before it is returned.
pub fn rotate(
    current: &[u8],
    old_keys: &[ReleaseKey],
    new_keys: &[ReleaseKey],
    threshold: usize,
    now: DateTime<Utc>,
    valid_days: i64,
) -> Result<(Root, Vec<u8>), ReleaseError> {
    let current = Root::verify_anchor(current)
        .map_err(|e| ReleaseError::Invalid(format!("the current root: {e}")))?;
    if new_keys.is_empty() || threshold == 0 || threshold > new_keys.len() {
        return Err(ReleaseError::Invalid(format!(
            "threshold {threshold} of {} new keys: need 1 ≤ threshold ≤ keys",
            new_keys.len()
        )));
    }
    let mut next = Root::new(
        new_keys.iter().map(ReleaseKey::public).collect(),
        threshold,
        now + Duration::days(valid_days),
    );
    next.version = current.version + 1;
    let mut signers: Vec<&ReleaseKey> = Vec::new();
    for key in old_keys.iter().chain(new_keys) {
        if !signers.iter().any(|k| k.public() == key.public()) {
            signers.push(key);
        }
    }
    let bytes =
        metadata::sign(&next, &signers).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
    current.verify_next(&bytes).map_err(|e| {
        ReleaseError::Invalid(format!(
            "the new root would be refused by a box trusting root {}: {e}",
            current.version
        ))
    })?;
    Ok((next, bytes))
}

/// What `release build` is asked to make.
pub struct BuildRequest<'a> {
    pub version: Version,
    pub arch: &'a str,
    pub channel: &'a str,
    pub binary: &'a Path,
    pub libvosk: &'a Path,
    pub keys: &'a [ReleaseKey],
    pub out: &'a Path,
    pub now: DateTime<Utc>,
    pub valid_days: i64,
}

/// `release build`: the tarball and its signed manifest. Returns the manifest's path.
pub fn build(request: &BuildRequest<'_>) -> Result<PathBuf, ReleaseError> {
    if request.keys.is_empty() {
        return Err(ReleaseError::Invalid("at least one --key is needed".into()));
    }
    let dir = request.out.join(request.channel).join(request.arch);
    std::fs::create_dir_all(&dir).map_err(file_error(&dir))?;
    let name = format!("callbox-{}-{}.tar.gz", request.version, request.arch);
    let tarball = dir.join(&name);
    write_tarball(&tarball, request.binary, request.libvosk)?;
    let bytes = std::fs::read(&tarball).map_err(file_error(&tarball))?;
    let release = Release {
        kind: "release".into(),
        spec: SPEC,
        version: request.version,
        channel: request.channel.to_string(),
        arch: request.arch.to_string(),
        published: request.now,
        expires: request.now + Duration::days(request.valid_days),
        artifacts: vec![Artifact {
            name,
            sha256: hex(&Sha256::digest(&bytes)),
            length: bytes.len() as u64,
        }],
    };
    let signers: Vec<&ReleaseKey> = request.keys.iter().collect();
    let manifest =
        metadata::sign(&release, &signers).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
    let path = dir.join("release.json");
    fs::write_atomic(&path, &manifest).map_err(file_error(&path))?;
    Ok(path)
}

fn write_tarball(path: &Path, binary: &Path, libvosk: &Path) -> Result<(), ReleaseError> {
    for (what, file) in [("binary", binary), ("libvosk.so", libvosk)] {
        if !file.is_file() {
            return Err(ReleaseError::Invalid(format!(
                "{what} {} is not a file",
                file.display()
            )));
        }
    }
    let out = std::fs::File::create(path).map_err(file_error(path))?;
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    // Plain entries only: the box unpacks nothing else (a linked binary may have holes).
    tar.sparse(false);
    let add = |tar: &mut tar::Builder<_>, file: &Path, name: &str| {
        tar.append_path_with_name(file, name)
            .map_err(file_error(file))
    };
    add(&mut tar, binary, "callbox")?;
    add(&mut tar, libvosk, "libvosk.so")?;
    let gz = tar.into_inner().map_err(file_error(path))?;
    let out = gz.finish().map_err(file_error(path))?;
    out.sync_all().map_err(file_error(path))
}

/// Unpacks a checked release tarball into `dest`: only `callbox` and `libvosk.so`, plain
/// files, nothing else (no links, no paths).
pub fn unpack(tarball: &Path, dest: &Path) -> Result<(), ReleaseError> {
    let file = std::fs::File::open(tarball).map_err(file_error(tarball))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive.entries().map_err(file_error(tarball))?;
    let mut seen = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(file_error(tarball))?;
        let name = entry
            .path()
            .map_err(file_error(tarball))?
            .to_string_lossy()
            .into_owned();
        let allowed = matches!(name.as_str(), "callbox" | "libvosk.so");
        let kind = entry.header().entry_type();
        if !allowed || seen.contains(&name) {
            return Err(ReleaseError::Invalid(format!(
                "release archive holds {name:?}: only the files callbox and libvosk.so belong in it, once each"
            )));
        }
        if !kind.is_file() {
            return Err(ReleaseError::Invalid(format!(
                "release archive holds {name:?} as {kind:?}: only plain files belong in it"
            )));
        }
        let target = dest.join(&name);
        let mut out = std::fs::File::create(&target).map_err(file_error(&target))?;
        std::io::copy(&mut entry, &mut out).map_err(file_error(&target))?;
        out.sync_all().map_err(file_error(&target))?;
        let mode = if name == "callbox" { 0o755 } else { 0o644 };
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(file_error(&target))?;
        seen.push(name);
    }
    if !seen.iter().any(|n| n == "callbox") {
        return Err(ReleaseError::Invalid(
            "release archive has no callbox binary".into(),
        ));
    }
    fs::sync_dir(dest).map_err(file_error(dest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::metadata::Expectation;

    #[test]
    fn a_built_release_verifies_against_the_keygen_root_and_unpacks() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let (key_paths, root_path) = keygen(&dir.path().join("keys"), 2, 1, now, 3650).unwrap();
        let root = Root::verify_anchor(&std::fs::read(&root_path).unwrap()).unwrap();
        assert_eq!(root.threshold, 1);
        let bin = dir.path().join("callbox");
        let lib = dir.path().join("libvosk.so");
        std::fs::write(&bin, b"#!/bin/sh\necho new\n").unwrap();
        std::fs::write(&lib, b"ELF lib").unwrap();
        let key = ReleaseKey::load(&key_paths[1]).unwrap();
        let out = dir.path().join("server");
        let manifest = build(&BuildRequest {
            version: "1.5.0".parse().unwrap(),
            arch: "aarch64",
            channel: "stable",
            binary: &bin,
            libvosk: &lib,
            keys: std::slice::from_ref(&key),
            out: &out,
            now,
            valid_days: 30,
        })
        .unwrap();
        assert_eq!(manifest, out.join(manifest_path("stable", "aarch64")));
        let release = root
            .verify_release(
                &std::fs::read(&manifest).unwrap(),
                now,
                &Expectation {
                    installed: "1.4.0".parse().unwrap(),
                    highest_seen: None,
                    arch: "aarch64".into(),
                    channel: "stable".into(),
                },
            )
            .unwrap();
        let tarball = out.join(artifact_path(
            "stable",
            "aarch64",
            &release.artifacts[0].name,
        ));
        let unpacked = dir.path().join("unpacked");
        std::fs::create_dir(&unpacked).unwrap();
        unpack(&tarball, &unpacked).unwrap();
        assert_eq!(
            std::fs::read(unpacked.join("callbox")).unwrap(),
            b"#!/bin/sh\necho new\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(unpacked.join("callbox"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn an_archive_with_anything_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("evil.tar.gz");
        let out = std::fs::File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, "run-me.sh", &b"bad"[..])
            .unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let dest = dir.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        assert!(unpack(&path, &dest).is_err());
        assert!(std::fs::read_dir(&dest).unwrap().next().is_none());
        // A link named like the binary is not a binary.
        let out = std::fs::File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, "callbox", "/bin/sh").unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        assert!(unpack(&path, &dest).is_err());
        assert!(!dest.join("callbox").exists());
    }

    #[test]
    fn a_rotated_root_follows_the_current_one_and_needs_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let (old_paths, root_path) = keygen(&dir.path().join("old"), 2, 2, now, 10).unwrap();
        let current = std::fs::read(&root_path).unwrap();
        let old: Vec<ReleaseKey> = old_paths
            .iter()
            .map(|p| ReleaseKey::load(p).unwrap())
            .collect();
        let new = vec![ReleaseKey::generate()];
        let (next, bytes) = rotate(&current, &old, &new, 1, now, 365).unwrap();
        assert_eq!(next.version, 2);
        let trusted = Root::verify_anchor(&current).unwrap();
        assert_eq!(
            trusted.verify_next(&bytes).unwrap().keys,
            vec![new[0].public()]
        );
        // One old key of a threshold of two cannot rotate the root.
        let err = rotate(&current, &old[..1], &new, 1, now, 365).unwrap_err();
        assert!(err.to_string().contains("would be refused"), "{err}");
        assert!(rotate(&current, &old, &new, 2, now, 365).is_err());
    }

    #[test]
    fn keygen_refuses_an_impossible_threshold() {
        let dir = tempfile::tempdir().unwrap();
        assert!(keygen(dir.path(), 1, 2, Utc::now(), 10).is_err());
        assert!(keygen(dir.path(), 2, 0, Utc::now(), 10).is_err());
    }
}
