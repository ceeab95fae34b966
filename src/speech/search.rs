//! The recogniser's search width: `speech.max_active` over the model's own `conf/model.conf`.
//!
//! **Why.** Each libvosk recogniser composes the lookahead graph lazily into caches of its own,
//! and how much it composes grows with how many decoding states it keeps alive per frame
//! (Kaldi's `--max-active`; the small Vosk models ship 3000). Measured with the daemon, four
//! simultaneous 30 s calls and a new recogniser every turn (benches/README.md, "Memory per
//! call"): 47.7 MiB per call at the model's 3000, 35.8 MiB at 1000, and less CPU.
//!
//! **How.** libvosk reads its decoding options only from `<model>/conf/model.conf` and its C
//! API sets none of them, and the model directory is the shop's (installed, checksummed: not
//! ours to edit). So when a width is set, the box loads the model through a *view* of it: a
//! directory under `<data_dir>/speech-search/` named like the model, whose entries are
//! symbolic links to the model's, except `conf/model.conf`, written with the option replaced.
//! The rewrite itself is a pure function ([`with_max_active`]).

use std::io;
use std::path::{Path, PathBuf};

/// Default of `speech.max_active`: Kaldi's active-state limit per frame (0 = the model's own).
pub const DEFAULT_MAX_ACTIVE: u32 = 1000;

/// The model's `model.conf` text with `--max-active` set to `max_active` (the line replaced,
/// or added when the model has none); everything else as it was.
pub fn with_max_active(model_conf: &str, max_active: u32) -> String {
    let option = format!("--max-active={max_active}");
    let mut found = false;
    let mut lines: Vec<String> = model_conf
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("--max-active=") {
                found = true;
                option.clone()
            } else {
                line.to_string()
            }
        })
        .collect();
    if !found {
        lines.push(option);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The directory to load the model from: `model_dir` itself when `max_active` is 0 (the
/// model's own search), else a view of it under `views` with the width set (made anew each
/// time, so it follows the model). Errors are the view's (the caller may fall back to the
/// model itself).
pub fn model_view(model_dir: &Path, views: &Path, max_active: u32) -> io::Result<PathBuf> {
    if max_active == 0 {
        return Ok(model_dir.to_path_buf());
    }
    let name = model_dir
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "model path has no name"))?;
    let model_dir = std::fs::canonicalize(model_dir)?;
    let view = views.join(name);
    if view.exists() {
        std::fs::remove_dir_all(&view)?;
    }
    std::fs::create_dir_all(view.join("conf"))?;
    for entry in std::fs::read_dir(&model_dir)? {
        let entry = entry?;
        if entry.file_name() == "conf" {
            continue;
        }
        symlink(&entry.path(), &view.join(entry.file_name()))?;
    }
    let conf = model_dir.join("conf");
    if conf.is_dir() {
        for entry in std::fs::read_dir(&conf)? {
            let entry = entry?;
            if entry.file_name() != "model.conf" {
                symlink(&entry.path(), &view.join("conf").join(entry.file_name()))?;
            }
        }
    }
    let original = std::fs::read_to_string(conf.join("model.conf")).unwrap_or_default();
    crate::infra::fs::write_atomic(
        &view.join("conf").join("model.conf"),
        with_max_active(&original, max_active).as_bytes(),
    )?;
    Ok(view)
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    if target.is_dir() {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "model views need symbolic links",
        ))
    } else {
        std::fs::copy(target, link).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL_MODEL_CONF: &str = "--min-active=200\n--max-active=3000\n--beam=10.0\n\
                                    --lattice-beam=2.0\n--acoustic-scale=1.0\n";

    #[test]
    fn the_width_replaces_the_models_and_nothing_else() {
        let text = with_max_active(SMALL_MODEL_CONF, 1000);
        assert_eq!(
            text,
            "--min-active=200\n--max-active=1000\n--beam=10.0\n--lattice-beam=2.0\n\
             --acoustic-scale=1.0\n"
        );
        // A model without the option gets it.
        assert_eq!(
            with_max_active("--beam=13.0", 700),
            "--beam=13.0\n--max-active=700\n"
        );
        assert_eq!(with_max_active("", 700), "--max-active=700\n");
    }

    #[test]
    fn a_view_links_the_model_and_rewrites_only_its_model_conf() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = dir.path().join("vosk-model-small");
        std::fs::create_dir_all(model.join("conf")).expect("conf");
        std::fs::create_dir_all(model.join("am")).expect("am");
        std::fs::write(model.join("am").join("final.mdl"), b"weights").expect("mdl");
        std::fs::write(
            model.join("conf").join("mfcc.conf"),
            b"--use-energy=false\n",
        )
        .expect("mfcc");
        std::fs::write(model.join("conf").join("model.conf"), SMALL_MODEL_CONF).expect("conf");
        let views = dir.path().join("data").join("speech-search");

        // 0: the model itself, no view.
        assert_eq!(model_view(&model, &views, 0).expect("same"), model);
        assert!(!views.exists());

        let view = model_view(&model, &views, 1000).expect("view");
        assert_eq!(view.file_name(), model.file_name(), "named like the model");
        assert_eq!(
            std::fs::read(view.join("am").join("final.mdl")).expect("linked"),
            b"weights"
        );
        assert_eq!(
            std::fs::read_to_string(view.join("conf").join("mfcc.conf")).expect("linked"),
            "--use-energy=false\n"
        );
        let conf = std::fs::read_to_string(view.join("conf").join("model.conf")).expect("conf");
        assert!(conf.contains("--max-active=1000\n"), "{conf}");
        assert!(!conf.contains("3000"), "{conf}");
        // The shop's model is untouched.
        assert_eq!(
            std::fs::read_to_string(model.join("conf").join("model.conf")).expect("model"),
            SMALL_MODEL_CONF
        );
        // Made anew: a second view with another width replaces the first.
        let again = model_view(&model, &views, 500).expect("again");
        let conf = std::fs::read_to_string(again.join("conf").join("model.conf")).expect("conf");
        assert!(conf.contains("--max-active=500\n"), "{conf}");
    }
}
