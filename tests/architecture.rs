//! The layer rules of ARCHITECTURE.md, enforced: every `crate::…` path (including `use
//! crate::{…}` groups and `super::super::…` chains that climb to the crate root) in
//! `src/**/*.rs` is checked against the table of what each layer may import.
//!
//! | layer          | may import                                  |
//! |----------------|---------------------------------------------|
//! | `infra`        | nothing of the crate                        |
//! | `trade`        | infra                                       |
//! | `telephony`    | infra, trade                                |
//! | `speech`       | infra, telephony                            |
//! | `dialog`       | infra, trade, telephony, speech             |
//! | `queue`        | infra, trade                                |
//! | `servicetitan` | infra, trade, queue                         |
//! | `alert`        | infra, trade, queue                         |
//! | `web`          | infra, trade, queue                         |
//! | `config`       | infra, and every layer's `settings` only    |
//! | `app`, `main`  | everything                                  |
//!
//! Besides: no layer imports `config` or `app`, and no layer imports another layer's
//! `settings` module (it takes values the composition root built from them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each layer may import besides itself. `app` and `main` may import everything.
const LAYERS: &[(&str, &[&str])] = &[
    ("infra", &[]),
    ("trade", &["infra"]),
    ("telephony", &["infra", "trade"]),
    ("speech", &["infra", "telephony"]),
    ("dialog", &["infra", "trade", "telephony", "speech"]),
    ("queue", &["infra", "trade"]),
    ("servicetitan", &["infra", "trade", "queue"]),
    ("alert", &["infra", "trade", "queue"]),
    ("web", &["infra", "trade", "queue"]),
    ("update", &["infra"]),
    ("weather", &["infra"]),
    ("config", &["infra"]),
];

/// Top-level files that belong to the composition root (everything else of it is under
/// `src/app/`).
const APP_FILES: &[&str] = &["app", "lookup", "simulate"];

/// Imports that break the rules and are tolerated for now: `(importing file, imported
/// layer)`. Empty; an entry that no longer happens fails the test, so the list only shrinks.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

/// One rule broken: `file` imports `target` (the path as written, for the message).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    layer: String,
    target: String,
    path: String,
}

/// The layer a source file belongs to: `src/<layer>/…` or `src/<layer>.rs`; the app's
/// top-level files are `app`; `main.rs` is `main`; `lib.rs` is `lib`.
fn layer_of(rel: &Path) -> String {
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string());
    let _src = parts.next();
    let first = parts.next().unwrap_or_default();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    if APP_FILES.contains(&name.as_str()) {
        "app".into()
    } else {
        name
    }
}

/// The module path of a file below the crate root: `src/dialog/understanding/triage.rs` →
/// `[dialog, understanding, triage]`; `mod.rs` names its folder.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .skip(1)
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if !matches!(stem.as_str(), "mod" | "lib" | "main") {
            parts.push(stem);
        }
    }
    parts
}

/// Blanks comments, string and character literals, so that only code is scanned.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // Raw string r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F}'); otherwise a lifetime.
            if next == Some('\\') {
                let close = (i + 2..(i + 12).min(chars.len())).find(|&j| chars[j] == '\'');
                i = close.map_or(i + 1, |j| j + 1);
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The first identifier of `s` (after whitespace).
fn ident(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// The top-level items of the `{…}` group `s` begins with.
fn group_items(s: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(&s[start..i]);
                    break;
                }
            }
            ',' if depth == 1 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `(module, submodule)` pairs a path tail names: `telephony::settings::X` →
/// `[(telephony, Some(settings))]`, `{queue, speech::tts}` → `[(queue, None), (speech, Some(tts))]`.
fn targets(tail: &str) -> Vec<(String, Option<String>)> {
    let tail = tail.trim_start();
    if tail.starts_with('{') {
        return group_items(tail).into_iter().flat_map(targets).collect();
    }
    let Some(first) = ident(tail) else {
        return Vec::new();
    };
    let rest = tail.trim_start()[first.len()..].trim_start();
    let subs: Vec<Option<String>> = match rest.strip_prefix("::") {
        Some(after) if after.trim_start().starts_with('{') => group_items(after.trim_start())
            .into_iter()
            .map(|item| ident(item).map(String::from))
            .collect(),
        Some(after) => vec![ident(after).map(String::from)],
        None => vec![None],
    };
    subs.into_iter()
        .map(|sub| (first.to_string(), sub))
        .collect()
}

/// Every crate-level module a file's code names: `crate::X…` paths and `super::…` chains that
/// climb to the crate root from `module` (the file's module path).
fn imports(code: &str, module: &[String]) -> Vec<(String, Option<String>, String)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("crate::") {
        if at > 0
            && (bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'$')
        {
            continue;
        }
        let tail = &code[at + "crate::".len()..];
        for (target, sub) in targets(tail) {
            let shown = format!(
                "crate::{target}{}",
                sub.as_deref().map(|s| format!("::{s}")).unwrap_or_default()
            );
            found.push((target, sub, shown));
        }
    }
    for (at, _) in code.match_indices("super::") {
        if at > 0
            && (bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b':')
        {
            continue;
        }
        let mut tail = &code[at..];
        let mut climbs = 0;
        while let Some(rest) = tail.strip_prefix("super::") {
            climbs += 1;
            tail = rest.trim_start();
        }
        if climbs < module.len() {
            continue; // stays inside the file's own top-level module
        }
        for (target, sub) in targets(tail) {
            let shown = format!(
                "{}{target}{}",
                "super::".repeat(climbs),
                sub.as_deref().map(|s| format!("::{s}")).unwrap_or_default()
            );
            found.push((target, sub, shown));
        }
    }
    found
}

/// Whether `layer` may import `target` (`sub`: the module below it, e.g. `settings`).
fn allowed(layer: &str, target: &str, sub: Option<&str>) -> bool {
    if layer == target || matches!(layer, "app" | "main" | "lib") {
        return true;
    }
    let target_layer = if APP_FILES.contains(&target) {
        "app"
    } else {
        target
    };
    if matches!(target_layer, "app" | "config") {
        return false;
    }
    if !LAYERS.iter().any(|(name, _)| *name == target_layer) {
        // Not a layer (e.g. a macro-generated path like `crate::__private`): not judged.
        return true;
    }
    if layer == "config" {
        return target_layer == "infra" || sub == Some("settings");
    }
    // Another layer's settings are the composition root's business.
    if sub == Some("settings") && target_layer != "infra" {
        return false;
    }
    LAYERS
        .iter()
        .find(|(name, _)| *name == layer)
        .is_some_and(|(_, may)| may.contains(&target_layer))
}

/// Every rule a file's source breaks.
fn violations_in(rel: &Path, source: &str) -> Vec<Violation> {
    let layer = layer_of(rel);
    let module = module_path(rel);
    let mut out = BTreeSet::new();
    for (target, sub, path) in imports(&code_only(source), &module) {
        if !allowed(&layer, &target, sub.as_deref()) {
            out.insert(Violation {
                file: rel.display().to_string(),
                layer: layer.clone(),
                target,
                path,
            });
        }
    }
    out.into_iter().collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_the_layers_it_may() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut broken = Vec::new();
    let mut excepted_seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(root).expect("under the manifest dir");
        let source = std::fs::read_to_string(file).expect("readable source");
        for v in violations_in(rel, &source) {
            let key = (v.file.as_str(), v.target.as_str());
            if KNOWN_EXCEPTIONS.contains(&key) {
                excepted_seen.insert((v.file.clone(), v.target.clone()));
            } else {
                broken.push(v);
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that break the layer rules (ARCHITECTURE.md):\n{}",
        broken
            .iter()
            .map(|v| format!("  {} ({}) imports {}", v.file, v.layer, v.path))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // An exception that no longer happens must leave the list, so it cannot come back.
    let stale: Vec<_> = KNOWN_EXCEPTIONS
        .iter()
        .filter(|(f, t)| !excepted_seen.contains(&(f.to_string(), t.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "KNOWN_EXCEPTIONS lists imports that are gone; remove them: {stale:?}"
    );
}

fn check(file: &str, source: &str) -> Vec<String> {
    violations_in(Path::new(file), source)
        .into_iter()
        .map(|v| v.path)
        .collect()
}

#[test]
fn the_scanner_finds_upward_and_config_imports() {
    // A lower layer importing a higher one, in every spelling.
    assert_eq!(
        check("src/telephony/line.rs", "use crate::dialog::Script;"),
        ["crate::dialog::Script"]
    );
    assert_eq!(
        check(
            "src/queue/outbox.rs",
            "use crate::{infra::Secret, servicetitan::{client, sync}};"
        ),
        ["crate::servicetitan::client", "crate::servicetitan::sync"]
    );
    assert_eq!(
        check(
            "src/speech/tts.rs",
            "fn f() { let c = crate::config::Config::default(); }"
        ),
        ["crate::config::Config"]
    );
    assert_eq!(
        check(
            "src/dialog/understanding/triage.rs",
            "use super::super::super::alert::x;"
        ),
        ["super::super::super::alert::x"]
    );
    assert_eq!(
        check("src/alert/mod.rs", "use crate::lookup::CacheLookups;"),
        ["crate::lookup::CacheLookups"]
    );
    // Another layer's settings, even of an allowed layer.
    assert_eq!(
        check(
            "src/servicetitan/mod.rs",
            "fn f(q: &crate::queue::settings::QueueConfig) {}"
        ),
        ["crate::queue::settings"]
    );
    assert_eq!(
        check(
            "src/dialog/x.rs",
            "use crate::telephony::{caller_id, settings};"
        ),
        ["crate::telephony::settings"]
    );
    // config may import settings only.
    assert_eq!(
        check("src/config/mod.rs", "use crate::telephony::caller_id;"),
        ["crate::telephony::caller_id"]
    );
}

#[test]
fn the_scanner_allows_what_the_table_allows() {
    for (file, source) in [
        (
            "src/dialog/engine.rs",
            "use crate::speech::tts::Speaker; use crate::telephony::caller_id;",
        ),
        (
            "src/dialog/engine.rs",
            "use super::settings::DialogConfig; use crate::dialog::x;",
        ),
        (
            "src/dialog/understanding/triage.rs",
            "use super::super::schedule::x;",
        ),
        (
            "src/servicetitan/sync.rs",
            "use crate::queue::Outbox; use crate::infra::settings::SettingIssue;",
        ),
        (
            "src/config/mod.rs",
            "pub use crate::alert::settings::AlertsConfig; use crate::infra::Secret;",
        ),
        (
            "src/app.rs",
            "use crate::config::Config; use crate::lookup::X;",
        ),
        ("src/lookup.rs", "use crate::servicetitan::cache::StCache;"),
        // Comments, docs and strings are not imports.
        (
            "src/queue/mod.rs",
            "//! See [`crate::servicetitan`].\nconst S: &str = \"crate::app\"; /* crate::config */",
        ),
        (
            "src/queue/mod.rs",
            "let q = '\"'; let r = r#\"crate::app \"x\"\"#;",
        ),
    ] {
        assert_eq!(
            check(file, source),
            Vec::<String>::new(),
            "{file}: {source}"
        );
    }
}
