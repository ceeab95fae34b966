//! `callbox model`: check or install the speech model.

use super::load_config;
use crate::config::Config;
use crate::speech::model::{self, InstallSource, ManifestCheck};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum ModelAction {
    /// Check a model directory: layout, checksum manifest, and (with --load) that libvosk loads
    /// it and decodes phone audio. Exit status 2 when it is missing or broken.
    Verify {
        /// Model directory (default: speech.model_dir from the configuration).
        dir: Option<PathBuf>,
        /// Also load the model and run the start-up self-test (seconds).
        #[arg(long)]
        load: bool,
    },
    /// Install a model from a local archive (.zip, .tar.gz, .tgz, .tar) or a URL with a pinned
    /// sha256; writes the checksum manifest and swaps the model into place.
    Install {
        /// A local archive.
        #[arg(conflicts_with_all = ["url", "small_en_us"])]
        archive: Option<PathBuf>,
        /// Download this URL (needs --sha256).
        #[arg(long, requires = "sha256")]
        url: Option<String>,
        /// Expected sha256 of the archive.
        #[arg(long)]
        sha256: Option<String>,
        /// Download the small US English model (the real box's model) at its pinned sha256.
        #[arg(long, conflicts_with_all = ["url", "sha256"])]
        small_en_us: bool,
        /// Where to install (default: speech.model_dir from the configuration).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub fn model(config_path: Option<&Path>, action: ModelAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        ModelAction::Verify { dir, load } => {
            verify(&dir.unwrap_or_else(|| config.model_dir()), load, &config)
        }
        ModelAction::Install {
            archive,
            url,
            sha256,
            small_en_us,
            dir,
        } => {
            let source = install_source(archive, url, sha256, small_en_us)?;
            install(&source, &dir.unwrap_or_else(|| config.model_dir()))
        }
    }
}

/// Layout, then the checksum manifest, then (with `load`) the start-up self-test.
fn verify(dir: &Path, load: bool, config: &Config) -> Result<ExitCode> {
    let layout = match model::verify_layout(dir) {
        Ok(layout) => layout,
        Err(err) => {
            println!("{}: BROKEN OR MISSING: {err}", dir.display());
            return Ok(ExitCode::from(2));
        }
    };
    println!(
        "{}: layout OK ({:?} graph, {} Hz{})",
        dir.display(),
        layout.graph,
        layout.sample_rate,
        if layout.has_ivector { ", ivector" } else { "" }
    );
    match model::check_manifest(dir) {
        Ok(ManifestCheck::Verified { files }) => {
            println!("{}: {files} files match {}", dir.display(), model::MANIFEST)
        }
        Ok(ManifestCheck::Absent) => println!(
            "{}: warning: no {} (installed by hand?); checksums not checked",
            dir.display(),
            model::MANIFEST
        ),
        Err(err) => {
            println!("{}: BROKEN: {err}", dir.display());
            return Ok(ExitCode::from(2));
        }
    }
    if load {
        let (status, _) = model::open(dir, config.speech.upsample);
        println!("{}: {status}", dir.display());
        if !status.is_ready() {
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn install_source(
    archive: Option<PathBuf>,
    url: Option<String>,
    sha256: Option<String>,
    small_en_us: bool,
) -> Result<InstallSource> {
    Ok(match (archive, url, small_en_us) {
        (Some(path), None, false) => InstallSource::File { path, sha256 },
        (None, Some(url), false) => InstallSource::Url {
            url,
            sha256: sha256.unwrap_or_default(),
        },
        (None, None, true) => InstallSource::Url {
            url: model::SMALL_EN_US_URL.into(),
            sha256: model::SMALL_EN_US_SHA256.into(),
        },
        _ => anyhow::bail!("give one of: ARCHIVE, --url URL --sha256 HEX, --small-en-us"),
    })
}

fn install(source: &InstallSource, dest: &Path) -> Result<ExitCode> {
    let report = model::install(source, dest)
        .with_context(|| format!("installing the model into {}", dest.display()))?;
    println!(
        "installed {} ({} files, archive sha256 {}, {:?} graph)",
        report.dir.display(),
        report.files,
        report.archive_sha256,
        report.layout.graph
    );
    Ok(ExitCode::SUCCESS)
}
