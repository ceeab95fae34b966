//! The support bundle: a `.tar.gz` of the status, the configuration as `callbox config show`
//! prints it (secrets "set"/"unset"), the page's overlay, the log tail, versions and queue
//! counts. No secret value goes in: the configuration is serialised through `Secret`, the
//! overlay never holds secrets, and the log is what the log printed.

use crate::config::Config;
use crate::queue::QueueCounts;
use std::io::Write;
use std::path::Path;

/// What the bundle is made of.
pub struct Facts<'a> {
    pub status: serde_json::Value,
    pub config: &'a Config,
    pub data_dir: &'a Path,
    pub queue: Option<QueueCounts>,
    pub log: Vec<(u64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("rendering {what}: {reason}")]
    Render { what: &'static str, reason: String },
}

/// The bundle's files, name and content.
pub fn files(facts: &Facts<'_>) -> Result<Vec<(&'static str, Vec<u8>)>, BundleError> {
    let render = |what: &'static str, e: &dyn std::fmt::Display| BundleError::Render {
        what,
        reason: e.to_string(),
    };
    let status = serde_json::to_vec_pretty(&facts.status).map_err(|e| render("the status", &e))?;
    let config =
        toml::to_string_pretty(facts.config).map_err(|e| render("the configuration", &e))?;
    let overlay = crate::config::overlay::read_overlay(facts.data_dir)
        .map_err(|e| render("the page's settings", &e))
        .and_then(|t| toml::to_string_pretty(&t).map_err(|e| render("the page's settings", &e)))?;
    let log: String = facts
        .log
        .iter()
        .map(|(seq, line)| format!("{seq} {line}\n"))
        .collect();
    let queue = serde_json::to_vec_pretty(&facts.queue).map_err(|e| render("the queue", &e))?;
    Ok(vec![
        ("status.json", status),
        ("config-show.toml", config.into_bytes()),
        ("settings-overlay.toml", overlay.into_bytes()),
        ("log-tail.txt", log.into_bytes()),
        ("versions.txt", versions(facts.config).into_bytes()),
        ("queue-counts.json", queue),
    ])
}

/// The `.tar.gz`.
pub fn build(facts: &Facts<'_>) -> Result<Vec<u8>, BundleError> {
    let files = files(facts)?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(
            &mut header,
            format!("callbox-support/{name}"),
            bytes.as_slice(),
        )?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    Ok(gz.finish()?)
}

/// The libvosk build.rs links (the pinned PyPI `vosk` wheel's).
const LIBVOSK: &str = "0.3.45 (pinned by build.rs)";

/// callbox, libvosk, espeak-ng and the OS.
fn versions(config: &Config) -> String {
    let espeak = std::process::Command::new(&config.voice.program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "not found".into());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_default();
    format!(
        "callbox {}\nlibvosk {LIBVOSK}\nespeak-ng {espeak}\nos {os} (kernel {kernel}, {})\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}
