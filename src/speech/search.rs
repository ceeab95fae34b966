//! The recogniser's search width: `speech.max_active` and `speech.beam` over the model's own
//! `conf/model.conf`.
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
//! The rewrite itself is a pure function ([`with_search`]).
//!
//! **The beam.** Kaldi's `--beam` prunes the states further from the best than the beam: the
//! per-recogniser caches shrink on long utterances (benches/README.md: the longest test
//! sentences' peak 55.7 → 42.1 MiB at beam 9 with 1000 active). Its accuracy cost can only be
//! measured with the shop's own model and callers, so the default is the model's own beam;
//! `callbox transcribe --beam` replays the box's recordings with another to compare.

use std::io;
use std::path::{Path, PathBuf};

/// Default of `speech.max_active`: Kaldi's active-state limit per frame (0 = the model's own).
pub const DEFAULT_MAX_ACTIVE: u32 = 1000;

/// How widely the recognisers search: each option 0 (the max-active) or 0.0 (the beam)
/// keeps the model's own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SearchWidth {
    /// Kaldi's `--max-active`: decoding states kept per frame.
    pub max_active: u32,
    /// Kaldi's `--beam`: how far (in cost) from the best a state may be and stay.
    pub beam: f32,
}

impl SearchWidth {
    /// Nothing changed: the model is loaded as it is.
    pub fn is_models_own(&self) -> bool {
        self.max_active == 0 && self.beam <= 0.0
    }

    /// The `model.conf` lines this width sets, in order.
    fn options(&self) -> Vec<(&'static str, String)> {
        let mut options = Vec::new();
        if self.max_active != 0 {
            options.push(("--max-active=", self.max_active.to_string()));
        }
        if self.beam > 0.0 {
            options.push(("--beam=", format!("{:.1}", self.beam)));
        }
        options
    }
}

impl std::fmt::Display for SearchWidth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.max_active {
            0 => write!(f, "max-active: the model's")?,
            n => write!(f, "max-active {n}")?,
        }
        if self.beam > 0.0 {
            write!(f, ", beam {:.1}", self.beam)
        } else {
            write!(f, ", beam: the model's")
        }
    }
}

/// The model's `model.conf` text with each option of `width` set (its line replaced, or added
/// when the model has none); everything else as it was.
pub fn with_search(model_conf: &str, width: SearchWidth) -> String {
    let options = width.options();
    let mut found = vec![false; options.len()];
    let mut lines: Vec<String> = model_conf
        .lines()
        .map(|line| {
            let option = options
                .iter()
                .position(|(name, _)| line.trim_start().starts_with(name));
            match option {
                Some(k) => {
                    found[k] = true;
                    format!("{}{}", options[k].0, options[k].1)
                }
                None => line.to_string(),
            }
        })
        .collect();
    for (k, (name, value)) in options.iter().enumerate() {
        if !found[k] {
            lines.push(format!("{name}{value}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The directory to load the model from: `model_dir` itself when `width` is the model's own,
/// else a view of it under `views` with the width set (made anew each time, so it follows the
/// model). Errors are the view's (the caller may fall back to the model itself).
pub fn model_view(model_dir: &Path, views: &Path, width: SearchWidth) -> io::Result<PathBuf> {
    if width.is_models_own() {
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
        with_search(&original, width).as_bytes(),
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
        let text = with_search(SMALL_MODEL_CONF, active(1000));
        assert_eq!(
            text,
            "--min-active=200\n--max-active=1000\n--beam=10.0\n--lattice-beam=2.0\n\
             --acoustic-scale=1.0\n"
        );
        // A model without the option gets it.
        assert_eq!(
            with_search("--beam=13.0", active(700)),
            "--beam=13.0\n--max-active=700\n"
        );
        assert_eq!(with_search("", active(700)), "--max-active=700\n");
    }

    fn active(max_active: u32) -> SearchWidth {
        SearchWidth {
            max_active,
            beam: 0.0,
        }
    }

    #[test]
    fn the_beam_replaces_the_models_beam_and_only_it() {
        let width = SearchWidth {
            max_active: 1000,
            beam: 9.0,
        };
        assert_eq!(
            with_search(SMALL_MODEL_CONF, width),
            "--min-active=200\n--max-active=1000\n--beam=9.0\n--lattice-beam=2.0\n\
             --acoustic-scale=1.0\n",
            "--lattice-beam is another option and stays"
        );
        // The beam alone leaves the model's max-active.
        let beam_only = SearchWidth {
            max_active: 0,
            beam: 8.5,
        };
        assert_eq!(
            with_search(SMALL_MODEL_CONF, beam_only),
            "--min-active=200\n--max-active=3000\n--beam=8.5\n--lattice-beam=2.0\n\
             --acoustic-scale=1.0\n"
        );
        assert_eq!(with_search("", beam_only), "--beam=8.5\n");
        assert!(SearchWidth::default().is_models_own());
        assert!(!beam_only.is_models_own());
        assert_eq!(width.to_string(), "max-active 1000, beam 9.0");
        assert_eq!(
            SearchWidth::default().to_string(),
            "max-active: the model's, beam: the model's"
        );
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
        assert_eq!(
            model_view(&model, &views, SearchWidth::default()).expect("same"),
            model
        );
        assert!(!views.exists());

        let view = model_view(&model, &views, active(1000)).expect("view");
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
        let again = model_view(&model, &views, active(500)).expect("again");
        let conf = std::fs::read_to_string(again.join("conf").join("model.conf")).expect("conf");
        assert!(conf.contains("--max-active=500\n"), "{conf}");
    }
}
