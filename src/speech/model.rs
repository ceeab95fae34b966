//! The Vosk model directory: its layout, its checksum manifest, installing it, and the status
//! the box reports when it is missing or broken (the box then runs its keypad-only flow).
//!
//! A model directory (as Alpha Cephei ships them) holds:
//! - `am/final.mdl` — the acoustic model (Kaldi binary, starts with `\0B`);
//! - `conf/mfcc.conf`, `conf/model.conf` — feature and decoder options;
//! - `graph/` — either `HCLr.fst` + `Gr.fst` (small models: grammars supported) or `HCLG.fst`
//!   (big models: no runtime grammars), OpenFst files with magic `d6 fd b2 7e`;
//! - `ivector/` — optional speaker adaptation.
//!
//! `callbox-model.sha256` (sha256sum format: `<hex>  <relative path>`) lists every other file.
//! `callbox model install` writes it; `callbox model verify` checks it.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;
use tracing::{error, info, warn};

use super::asr::{Recognizer, SpeechModel, Upsample};
use crate::infra::fs;
use crate::infra::http::{self, HttpOptions};

/// The checksum manifest's file name, inside the model directory.
pub const MANIFEST: &str = "callbox-model.sha256";

/// The model a real box runs: URL and pinned sha256 of Alpha Cephei's small US English model.
pub const SMALL_EN_US_URL: &str =
    "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip";

/// sha256 of that archive, as pinned by other projects' install scripts (e.g. numen's
/// get-model.sh); this machine cannot reach alphacephei.com to re-check it.
pub const SMALL_EN_US_SHA256: &str =
    "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498";

/// Largest archive `install` downloads or unpacks (the big English model is 1.8 GB).
pub const MAX_ARCHIVE_BYTES: u64 = 4 << 30;

const FST_MAGIC: [u8; 4] = [0xd6, 0xfd, 0xb2, 0x7e];

/// What is wrong with a model directory or an install.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("model directory {0} does not exist")]
    NotFound(PathBuf),
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    #[error("{MANIFEST} line {line}: {reason}")]
    ManifestSyntax { line: usize, reason: String },
    #[error("{file}: listed in {MANIFEST} but missing")]
    ManifestMissingFile { file: String },
    #[error("{file}: sha256 {actual} does not match {MANIFEST} ({expected})")]
    ManifestMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file}: not listed in {MANIFEST}")]
    ManifestExtraFile { file: String },
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("download {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("sha256 of {what} is {actual}, expected {expected}")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0:?} is not a sha256 (64 hex digits)")]
    BadSha256(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which decoding graph a model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// `HCLr.fst` + `Gr.fst`: lookahead composition; runtime grammars work.
    Lookahead,
    /// `HCLG.fst`: a static graph; grammars are ignored by libvosk.
    Static,
}

/// A model directory that passed [`verify_layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLayout {
    pub graph: GraphKind,
    pub has_ivector: bool,
    /// The model's sample rate (`--sample-frequency` in `conf/mfcc.conf`, default 16 kHz).
    pub sample_rate: u32,
}

fn starts_with(path: &Path, prefixes: &[&[u8]]) -> Result<bool, ModelError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(io_err(path))?;
    let n = file.read(&mut head).map_err(io_err(path))?;
    Ok(prefixes.iter().any(|p| head[..n].starts_with(p)))
}

/// Checks that `dir` looks like a Vosk model: the files libvosk needs exist and the binary
/// ones carry their format's magic (catches truncated or garbage files before libvosk does).
pub fn verify_layout(dir: &Path) -> Result<ModelLayout, ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::NotFound(dir.to_path_buf()));
    }
    let broken = |rel: &str, reason: &str| ModelError::Layout {
        path: dir.join(rel),
        reason: reason.to_string(),
    };
    let file = |rel: &str| -> Result<PathBuf, ModelError> {
        let p = dir.join(rel);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() > 0 => Ok(p),
            Ok(m) if m.is_file() => Err(broken(rel, "is empty")),
            Ok(_) => Err(broken(rel, "is not a file")),
            Err(_) => Err(broken(rel, "is missing")),
        }
    };
    let mdl = file("am/final.mdl")?;
    // Kaldi binary ("\0B") or text ("<TransitionModel>") format.
    if !starts_with(&mdl, &[b"\0B", b"<"])? {
        return Err(broken("am/final.mdl", "is not a Kaldi model file"));
    }
    file("conf/mfcc.conf")?;
    file("conf/model.conf")?;
    let graph = if dir.join("graph/HCLG.fst").exists() {
        let p = file("graph/HCLG.fst")?;
        if !starts_with(&p, &[&FST_MAGIC])? {
            return Err(broken("graph/HCLG.fst", "is not an OpenFst file"));
        }
        GraphKind::Static
    } else if dir.join("graph/HCLr.fst").exists() || dir.join("graph/Gr.fst").exists() {
        for rel in ["graph/HCLr.fst", "graph/Gr.fst"] {
            let p = file(rel)?;
            if !starts_with(&p, &[&FST_MAGIC])? {
                return Err(broken(rel, "is not an OpenFst file"));
            }
        }
        GraphKind::Lookahead
    } else {
        return Err(broken(
            "graph",
            "has neither HCLG.fst nor HCLr.fst + Gr.fst",
        ));
    };
    let has_ivector = dir.join("ivector").is_dir();
    if has_ivector {
        for rel in [
            "ivector/final.ie",
            "ivector/final.dubm",
            "ivector/final.mat",
        ] {
            file(rel)?;
        }
    }
    Ok(ModelLayout {
        graph,
        has_ivector,
        sample_rate: super::asr::model_sample_rate(dir),
    })
}

/// Every regular file under `dir` except the manifest, as sorted `/`-separated relative paths.
fn model_files(dir: &Path) -> Result<Vec<String>, ModelError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let entry = entry.map_err(io_err(&d))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_err(&path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(|_| ModelError::Layout {
                        path: path.clone(),
                        reason: "outside the model directory".into(),
                    })?
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                if rel != MANIFEST {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `callbox-model.sha256` for every file in `dir`; returns how many files it lists.
pub fn write_manifest(dir: &Path) -> Result<usize, ModelError> {
    let files = model_files(dir)?;
    let mut text = String::new();
    for rel in &files {
        text.push_str(&format!("{}  {rel}\n", sha256_file(&dir.join(rel))?));
    }
    let path = dir.join(MANIFEST);
    fs::write_atomic(&path, text.as_bytes()).map_err(io_err(&path))?;
    Ok(files.len())
}

/// The result of checking a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestCheck {
    /// Every listed file is present with its checksum and nothing else is there.
    Verified { files: usize },
    /// The directory has no manifest (a model copied by hand).
    Absent,
}

/// Checks every file against `callbox-model.sha256`. Returns the first problem found.
pub fn check_manifest(dir: &Path) -> Result<ManifestCheck, ModelError> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Ok(ManifestCheck::Absent);
    }
    let reader = BufReader::new(File::open(&path).map_err(io_err(&path))?);
    let mut listed = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io_err(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        let syntax = |reason: &str| ModelError::ManifestSyntax {
            line: i + 1,
            reason: reason.to_string(),
        };
        // sha256sum writes "<hex>  <name>" (text mode) or "<hex> *<name>" (binary mode).
        let (sum, rest) = line
            .split_once(' ')
            .ok_or_else(|| syntax("expected `<sha256>  <file>`"))?;
        let name = rest
            .strip_prefix(' ')
            .or_else(|| rest.strip_prefix('*'))
            .ok_or_else(|| syntax("expected two spaces between checksum and file"))?;
        if !is_sha256(sum) {
            return Err(syntax("checksum is not 64 hex digits"));
        }
        let rel = Path::new(name);
        if name.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(syntax("file name must be a relative path inside the model"));
        }
        let file = dir.join(rel);
        if !file.is_file() {
            return Err(ModelError::ManifestMissingFile {
                file: name.to_string(),
            });
        }
        let actual = sha256_file(&file)?;
        if !actual.eq_ignore_ascii_case(sum) {
            return Err(ModelError::ManifestMismatch {
                file: name.to_string(),
                expected: sum.to_lowercase(),
                actual,
            });
        }
        listed.push(name.to_string());
    }
    if let Some(extra) = model_files(dir)?.into_iter().find(|f| !listed.contains(f)) {
        return Err(ModelError::ManifestExtraFile { file: extra });
    }
    Ok(ManifestCheck::Verified {
        files: listed.len(),
    })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether speech recognition is available, for the log and the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelStatus {
    /// Loaded and self-tested.
    Ready { path: PathBuf, name: String },
    /// No model directory: the box runs keypad-only.
    Missing { reason: String },
    /// A model directory that cannot be used: the box runs keypad-only.
    Broken { reason: String },
}

impl ModelStatus {
    pub fn is_ready(&self) -> bool {
        matches!(self, ModelStatus::Ready { .. })
    }
}

impl fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelStatus::Ready { path, name } => {
                write!(f, "ready: {name} ({})", path.display())
            }
            ModelStatus::Missing { reason } => {
                write!(f, "MISSING, keypad-only mode: {reason}")
            }
            ModelStatus::Broken { reason } => {
                write!(f, "BROKEN, keypad-only mode: {reason}")
            }
        }
    }
}

/// Loads the speech model for the running box: layout check, load, and a self-test that
/// feeds one second of silence the way calls will (so a model that refuses 8 kHz is found
/// at start-up, not on the first call). Never fails: a missing or broken model gives a
/// status, a loud `error!` line, and `None` (the call flow then stays keypad-only).
/// Blocking (seconds on a Pi): call it from a blocking thread.
pub fn open(dir: &Path, upsample: Upsample) -> (ModelStatus, Option<SpeechModel>) {
    let status_model = match load_checked(dir, upsample) {
        Ok(model) => (
            ModelStatus::Ready {
                path: dir.to_path_buf(),
                name: model.name().to_string(),
            },
            Some(model),
        ),
        Err(ModelError::NotFound(path)) => (
            ModelStatus::Missing {
                reason: format!(
                    "{} does not exist; install one with `callbox model install`",
                    path.display()
                ),
            },
            None,
        ),
        Err(err) => (
            ModelStatus::Broken {
                reason: err.to_string(),
            },
            None,
        ),
    };
    match &status_model.0 {
        ModelStatus::Ready { .. } => info!(model = %dir.display(), "speech model ready"),
        status => error!(
            model = %dir.display(),
            "SPEECH RECOGNITION UNAVAILABLE, answering keypad-only: speech model {status}"
        ),
    }
    status_model
}

/// Loads a model directory with the checks of [`open`] (layout, load, a self-test on 8 kHz
/// silence) and no log line: for a second model (`[speech] spanish_model`) whose absence is
/// not the box's keypad-only mode.
pub fn load_checked(dir: &Path, upsample: Upsample) -> Result<SpeechModel, ModelError> {
    let layout = verify_layout(dir)?;
    if layout.graph == GraphKind::Static {
        warn!(model = %dir.display(), "model has a static HCLG graph: grammar turns will use open vocabulary");
    }
    let broken = |reason: String| ModelError::Layout {
        path: dir.to_path_buf(),
        reason,
    };
    let model = SpeechModel::load(dir, upsample).map_err(|e| broken(e.to_string()))?;
    let mut rec = Recognizer::new_open(&model).map_err(|e| broken(e.to_string()))?;
    let silence = [0i16; 160];
    for _ in 0..50 {
        rec.accept(&silence)
            .map_err(|e| broken(format!("self-test: {e}")))?;
    }
    rec.finish()
        .map_err(|e| broken(format!("self-test: {e}")))?;
    Ok(model)
}

/// Where `install` takes the model archive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallSource {
    /// Download over HTTP(S); the archive must have this sha256.
    Url { url: String, sha256: String },
    /// A local `.zip` (or `.whl`), `.tar.gz`/`.tgz` or `.tar`; checked when a sha256 is given.
    File {
        path: PathBuf,
        sha256: Option<String>,
    },
}

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub dir: PathBuf,
    pub archive_sha256: String,
    pub files: usize,
    pub layout: ModelLayout,
}

/// Installs a model archive into `dest`: fetch (or read), check the sha256, unpack into a
/// staging directory beside `dest`, find the model inside (archives wrap it in a top
/// directory), check its layout, write the manifest, then swap it into place by rename.
/// An existing model at `dest` is replaced only once the new one is complete.
pub fn install(source: &InstallSource, dest: &Path) -> Result<InstallReport, ModelError> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let leaf = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let staging = parent.join(format!(".{leaf}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    let result = install_staged(source, dest, &parent, &leaf, &staging);
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn install_staged(
    source: &InstallSource,
    dest: &Path,
    parent: &Path,
    leaf: &str,
    staging: &Path,
) -> Result<InstallReport, ModelError> {
    let (archive, name, actual) = match source {
        InstallSource::Url { url, sha256 } => {
            if !is_sha256(sha256) {
                return Err(ModelError::BadSha256(sha256.clone()));
            }
            let name = url
                .rsplit('/')
                .next()
                .and_then(|n| n.split(['?', '#']).next())
                .unwrap_or("model.zip")
                .to_string();
            let archive = staging.join("download");
            let actual = download(url, &archive)?;
            check_sum(url, sha256, &actual)?;
            (archive, name, actual)
        }
        InstallSource::File { path, sha256 } => {
            let actual = sha256_file(path)?;
            if let Some(expected) = sha256 {
                if !is_sha256(expected) {
                    return Err(ModelError::BadSha256(expected.clone()));
                }
                check_sum(&path.display().to_string(), expected, &actual)?;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (path.clone(), name, actual)
        }
    };
    let unpacked = staging.join("unpacked");
    std::fs::create_dir_all(&unpacked).map_err(io_err(&unpacked))?;
    unpack(&archive, &name, &unpacked)?;
    let root = find_model_root(&unpacked, 4).ok_or_else(|| ModelError::Archive {
        path: archive.clone(),
        reason: "contains no model (no directory with am/final.mdl)".into(),
    })?;
    let layout = verify_layout(&root)?;
    let files = write_manifest(&root)?;

    let ready = parent.join(format!(".{leaf}.new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ready);
    std::fs::rename(&root, &ready).map_err(io_err(&ready))?;
    if dest.exists() {
        let old = parent.join(format!(".{leaf}.old-{}", std::process::id()));
        std::fs::rename(dest, &old).map_err(io_err(dest))?;
        std::fs::rename(&ready, dest).map_err(io_err(dest))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&ready, dest).map_err(io_err(dest))?;
    }
    let _ = fs::sync_dir(parent);
    Ok(InstallReport {
        dir: dest.to_path_buf(),
        archive_sha256: actual,
        files,
        layout,
    })
}

fn check_sum(what: &str, expected: &str, actual: &str) -> Result<(), ModelError> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(ModelError::Checksum {
            what: what.to_string(),
            expected: expected.to_lowercase(),
            actual: actual.to_string(),
        })
    }
}

/// Downloads `url` to `to`, returning the sha256 of what was written.
fn download(url: &str, to: &Path) -> Result<String, ModelError> {
    let fail = |reason: String| ModelError::Download {
        url: url.to_string(),
        reason,
    };
    let options = HttpOptions::new(
        std::time::Duration::from_secs(30),
        Some(std::time::Duration::from_secs(3600)),
    );
    let client = http::blocking_client(&options).map_err(|e| fail(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .map_err(|e| fail(e.to_string()))?
        .error_for_status()
        .map_err(|e| fail(e.to_string()))?;
    let mut file = File::create(to).map_err(io_err(to))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = response.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > MAX_ARCHIVE_BYTES {
            return Err(fail(format!("larger than {MAX_ARCHIVE_BYTES} bytes")));
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err(to))?;
    }
    file.sync_all().map_err(io_err(to))?;
    Ok(hex(&hasher.finalize()))
}

fn unpack(archive: &Path, name: &str, into: &Path) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::Archive {
        path: archive.to_path_buf(),
        reason,
    };
    let lower = name.to_lowercase();
    let file = File::open(archive).map_err(io_err(archive))?;
    if lower.ends_with(".zip") || lower.ends_with(".whl") {
        let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
        let mut total = 0u64;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
            // enclosed_name refuses absolute paths and `..` (zip-slip).
            let rel = entry
                .enclosed_name()
                .ok_or_else(|| bad(format!("unsafe path {:?}", entry.name())))?;
            let out = into.join(rel);
            if entry.is_dir() {
                std::fs::create_dir_all(&out).map_err(io_err(&out))?;
                continue;
            }
            total += entry.size();
            if total > MAX_ARCHIVE_BYTES {
                return Err(bad(format!(
                    "unpacks to more than {MAX_ARCHIVE_BYTES} bytes"
                )));
            }
            if let Some(p) = out.parent() {
                std::fs::create_dir_all(p).map_err(io_err(p))?;
            }
            let mut f = File::create(&out).map_err(io_err(&out))?;
            std::io::copy(&mut entry, &mut f).map_err(io_err(&out))?;
        }
        Ok(())
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
        tar.unpack(into).map_err(|e| bad(e.to_string()))
    } else if lower.ends_with(".tar") {
        // tar's unpack refuses entries that would land outside `into`.
        tar::Archive::new(file)
            .unpack(into)
            .map_err(|e| bad(e.to_string()))
    } else {
        Err(bad(
            "unknown archive type (expected .zip, .tar.gz, .tgz or .tar)".into(),
        ))
    }
}

/// The directory under `dir` (itself included) that holds `am/final.mdl`, breadth-first.
fn find_model_root(dir: &Path, depth: usize) -> Option<PathBuf> {
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..=depth {
        let mut next = Vec::new();
        for d in level {
            if d.join("am").join("final.mdl").is_file() {
                return Some(d);
            }
            if let Ok(entries) = std::fs::read_dir(&d) {
                let mut subdirs: Vec<PathBuf> = entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                subdirs.sort();
                next.extend(subdirs);
            }
        }
        level = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with the right layout and magic numbers but no real model inside.
    pub(crate) fn fake_model(dir: &Path) {
        for (rel, bytes) in [
            ("am/final.mdl", &b"\0B<TransitionModel> fake"[..]),
            ("conf/mfcc.conf", b"--use-energy=false\n"),
            ("conf/model.conf", b"--beam=10.0\n"),
            ("graph/HCLr.fst", &[0xd6, 0xfd, 0xb2, 0x7e, 1, 2]),
            ("graph/Gr.fst", &[0xd6, 0xfd, 0xb2, 0x7e, 3, 4]),
        ] {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
    }

    #[test]
    fn layout_of_a_complete_directory() {
        let dir = tempfile::tempdir().unwrap();
        fake_model(dir.path());
        let layout = verify_layout(dir.path()).unwrap();
        assert_eq!(layout.graph, GraphKind::Lookahead);
        assert!(!layout.has_ivector);
        assert_eq!(layout.sample_rate, 16000);
    }

    #[test]
    fn layout_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            verify_layout(&dir.path().join("nope")),
            Err(ModelError::NotFound(_))
        ));
        let cases: [(&str, Option<&[u8]>, &str); 5] = [
            ("am/final.mdl", None, "am/final.mdl: is missing"),
            ("am/final.mdl", Some(b"garbage!"), "not a Kaldi model"),
            ("am/final.mdl", Some(b""), "is empty"),
            ("graph/Gr.fst", None, "graph/Gr.fst: is missing"),
            ("graph/HCLr.fst", Some(b"PK\x03\x04"), "not an OpenFst file"),
        ];
        for (rel, content, expected) in cases {
            let d = tempfile::tempdir().unwrap();
            fake_model(d.path());
            match content {
                None => std::fs::remove_file(d.path().join(rel)).unwrap(),
                Some(bytes) => std::fs::write(d.path().join(rel), bytes).unwrap(),
            }
            let err = verify_layout(d.path()).unwrap_err().to_string();
            assert!(err.contains(expected), "{rel}: {err}");
        }
        let d = tempfile::tempdir().unwrap();
        fake_model(d.path());
        std::fs::remove_file(d.path().join("graph/HCLr.fst")).unwrap();
        std::fs::remove_file(d.path().join("graph/Gr.fst")).unwrap();
        assert!(verify_layout(d.path())
            .unwrap_err()
            .to_string()
            .contains("neither HCLG.fst"));
    }

    #[test]
    fn manifest_round_trip_and_tampering() {
        let dir = tempfile::tempdir().unwrap();
        fake_model(dir.path());
        assert_eq!(check_manifest(dir.path()).unwrap(), ManifestCheck::Absent);
        assert_eq!(write_manifest(dir.path()).unwrap(), 5);
        let text = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(text.contains("  am/final.mdl\n"), "{text}");
        assert_eq!(
            check_manifest(dir.path()).unwrap(),
            ManifestCheck::Verified { files: 5 }
        );

        std::fs::write(dir.path().join("conf/model.conf"), "--beam=13.0\n").unwrap();
        assert!(matches!(
            check_manifest(dir.path()),
            Err(ModelError::ManifestMismatch { file, .. }) if file == "conf/model.conf"
        ));
        write_manifest(dir.path()).unwrap();
        std::fs::write(dir.path().join("extra.txt"), "x").unwrap();
        assert!(matches!(
            check_manifest(dir.path()),
            Err(ModelError::ManifestExtraFile { file }) if file == "extra.txt"
        ));
        std::fs::remove_file(dir.path().join("extra.txt")).unwrap();
        std::fs::remove_file(dir.path().join("graph/Gr.fst")).unwrap();
        assert!(matches!(
            check_manifest(dir.path()),
            Err(ModelError::ManifestMissingFile { file }) if file == "graph/Gr.fst"
        ));
        std::fs::write(
            dir.path().join(MANIFEST),
            format!("{}  ../etc/passwd\n", "0".repeat(64)),
        )
        .unwrap();
        assert!(matches!(
            check_manifest(dir.path()),
            Err(ModelError::ManifestSyntax { line: 1, .. })
        ));
    }

    #[test]
    fn status_display_is_loud_when_not_ready() {
        let s = ModelStatus::Missing { reason: "x".into() };
        assert!(s.to_string().contains("keypad-only"));
        assert!(!s.is_ready());
    }
}
