//! `callbox release keygen|build`: for whoever ships the box.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::update::release::{self, BuildRequest};
use crate::update::{ReleaseKey, Version};

/// `release keygen --out DIR [--keys N --threshold T]`.
pub fn keygen(out: &Path, keys: usize, threshold: usize, valid_days: i64) -> Result<ExitCode> {
    let (paths, root) = release::keygen(out, keys, threshold, Utc::now(), valid_days)?;
    for path in &paths {
        println!(
            "signing key: {} (keep it offline; never on a box)",
            path.display()
        );
    }
    println!(
        "trusted root: {} (build the box with it: CALLBOX_RELEASE_ROOT_JSON={} cargo build --release, or copy it to firmware/update/root.json)",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub struct BuildArgs<'a> {
    pub version: &'a str,
    pub arch: &'a str,
    pub channel: &'a str,
    pub keys: &'a [PathBuf],
    pub binary: Option<&'a Path>,
    pub libvosk: Option<&'a Path>,
    pub out: &'a Path,
    pub valid_days: i64,
}

/// `release build --version V --arch A --key FILE… --out DIR`.
pub fn build(args: &BuildArgs<'_>) -> Result<ExitCode> {
    let version: Version = args.version.parse()?;
    let keys = args
        .keys
        .iter()
        .map(|path| ReleaseKey::load(path))
        .collect::<Result<Vec<_>, _>>()?;
    let this_binary = std::env::current_exe().context("finding this binary")?;
    let binary = args.binary.map(Path::to_path_buf).unwrap_or(this_binary);
    let libvosk = match args.libvosk {
        Some(path) => path.to_path_buf(),
        None => binary
            .parent()
            .map(|dir| dir.join("libvosk.so"))
            .context("the binary has no directory")?,
    };
    let manifest = release::build(&BuildRequest {
        version,
        arch: args.arch,
        channel: args.channel,
        binary: &binary,
        libvosk: &libvosk,
        keys: &keys,
        out: args.out,
        now: Utc::now(),
        valid_days: args.valid_days,
    })?;
    println!(
        "release {version} for {} on {}: {}",
        args.arch,
        args.channel,
        manifest.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `release rotate --root FILE --old-key F… --new-key F… --out FILE`.
pub fn rotate(
    root: &Path,
    old_keys: &[PathBuf],
    new_keys: &[PathBuf],
    threshold: usize,
    valid_days: i64,
    out: &Path,
) -> Result<ExitCode> {
    let current = std::fs::read(root)
        .with_context(|| format!("reading the current root {}", root.display()))?;
    let load = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|path| ReleaseKey::load(path))
            .collect::<Result<Vec<_>, _>>()
    };
    let (next, bytes) = release::rotate(
        &current,
        &load(old_keys)?,
        &load(new_keys)?,
        threshold,
        Utc::now(),
        valid_days,
    )?;
    if out.exists() {
        anyhow::bail!(
            "{} already exists; a root is never overwritten",
            out.display()
        );
    }
    crate::infra::fs::write_atomic(out, &bytes)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "root {v}: {out} (publish it at <server>/root/{v}.json: boxes move to it at their next check; new builds may embed it)",
        v = next.version,
        out = out.display()
    );
    Ok(ExitCode::SUCCESS)
}
