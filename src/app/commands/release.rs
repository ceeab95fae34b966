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
        "trusted root: {} (install it on each box as <update root>/trust/root.json)",
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
