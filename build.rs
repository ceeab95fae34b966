//! Finds `libvosk.so` for the `vosk` crate (whose `vosk-sys` only says `#[link(name = "vosk")]`)
//! and makes the binaries find it at run time.
//!
//! Where the library comes from, in order:
//! 1. `VOSK_LIB_DIR`: a directory holding `libvosk.so` (e.g. a release directory, or a library
//!    built from source).
//! 2. `VOSK_WHEEL`: a local copy of the pinned PyPI `vosk` 0.3.45 wheel for the target (offline
//!    builds); its sha256 is checked.
//! 3. Otherwise the wheel is downloaded with `python3 -m pip download` (the machine's pip
//!    configuration, proxy and index apply), its sha256 checked against the pin below, and
//!    `vosk/libvosk.so` extracted into `$OUT_DIR/vosk/`.
//!
//! The release root (the update trust anchor, `src/update/trust.rs`) is embedded too: the file
//! named by `CALLBOX_RELEASE_ROOT_JSON`, else `firmware/update/root.json` when it exists, is
//! copied to `$OUT_DIR/release-root.json` (empty when there is none: a development build, which
//! refuses every update). See `embed_release_root`.
//!
//! Run-time lookup: the binaries get an rpath of `$ORIGIN` (a release ships `libvosk.so`
//! beside the `callbox` binary) followed by the absolute library directory (so test and bench
//! binaries under `target/` run as built). The library is also copied next to the built
//! binaries in `target/<profile>/`, which is what `cargo run` executes.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const VOSK_VERSION: &str = "0.3.45";

/// The pinned wheels: (target arch, wheel file name, pip --platform tags, sha256).
const WHEELS: &[(&str, &str, &[&str], &str)] = &[
    (
        "x86_64",
        "vosk-0.3.45-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.whl",
        &["manylinux_2_12_x86_64", "manylinux2010_x86_64"],
        "25e025093c4399d7278f543568ed8cc5460ac3a4bf48c23673ace1e25d26619f",
    ),
    (
        "aarch64",
        "vosk-0.3.45-py3-none-manylinux2014_aarch64.whl",
        &["manylinux2014_aarch64"],
        "54efb47dd890e544e9e20f0316413acec7f8680d04ec095c6140ab4e70262704",
    ),
    // 32-bit Raspberry Pi OS (armv7-unknown-linux-gnueabihf): hard-float ARMv7, glibc >= 2.27.
    // Pinned so a cross build finds it; not built or tested in CI here (the box is aarch64).
    (
        "arm",
        "vosk-0.3.45-py3-none-linux_armv7l.whl",
        &["linux_armv7l"],
        "4221f83287eefe5abbe54fc6f1da5774e9e3ffcbbdca1705a466b341093b072e",
    ),
];

fn main() {
    if let Err(message) = run() {
        eprintln!("\nerror: callbox build.rs: {message}\n");
        std::process::exit(1);
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

fn run() -> Result<(), String> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=VOSK_LIB_DIR");
    println!("cargo:rerun-if-env-changed=VOSK_WHEEL");
    embed_release_root()?;

    let os = env("CARGO_CFG_TARGET_OS")?;
    let arch = env("CARGO_CFG_TARGET_ARCH")?;
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    if os != "linux" {
        return Err(format!(
            "libvosk is only wired up for Linux targets (this is {os}); set VOSK_LIB_DIR"
        ));
    }

    let lib_dir = match std::env::var_os("VOSK_LIB_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !dir.join("libvosk.so").is_file() {
                return Err(format!("VOSK_LIB_DIR={} has no libvosk.so", dir.display()));
            }
            dir
        }
        None => from_wheel(&arch, &out_dir)?,
    };
    let lib_dir = lib_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", lib_dir.display()))?;

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=dylib=vosk");
    // Literal `$ORIGIN`: cargo hands link args to the linker without a shell.
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:{}",
        lib_dir.display()
    );
    // Beside the binaries (`target/<profile>/` is three levels above OUT_DIR), so `cargo run`
    // and a copied-out `target/release` directory behave like a release.
    if let Some(profile_dir) = out_dir.ancestors().nth(3) {
        let dest = profile_dir.join("libvosk.so");
        let src = lib_dir.join("libvosk.so");
        if !same_file(&src, &dest) {
            // Best effort: a read-only target dir still links; the absolute rpath finds it.
            let _ = std::fs::copy(&src, &dest);
        }
    }
    Ok(())
}

/// The shipper's root metadata (`release keygen`'s `root.json`, or a later rotated root) into
/// `$OUT_DIR/release-root.json`, which `src/update/trust.rs` includes. Checked here only for
/// shape (the build has no JSON parser); the binary verifies its signatures, and a unit test
/// (`update::trust`) fails a build whose embedded root does not verify.
fn embed_release_root() -> Result<(), String> {
    const VAR: &str = "CALLBOX_RELEASE_ROOT_JSON";
    const DEFAULT: &str = "firmware/update/root.json";
    println!("cargo:rerun-if-env-changed={VAR}");
    // The directory, not the file: watching a missing file would rerun this script (and
    // rebuild the crate) on every build.
    println!("cargo:rerun-if-changed=firmware/update");
    let out = PathBuf::from(env("OUT_DIR")?).join("release-root.json");
    let source = match std::env::var_os(VAR) {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => Some(PathBuf::from(DEFAULT)).filter(|p| p.is_file()),
    };
    let bytes = match &source {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(path).map_err(|e| {
                format!(
                    "{VAR} / {DEFAULT}: the release root {}: {e}",
                    path.display()
                )
            })?;
            let text = String::from_utf8_lossy(&bytes);
            let looks_like_root = bytes.len() <= 64 * 1024
                && text.trim_start().starts_with('{')
                && text.contains("\"signed\"")
                && text.contains("\"signatures\"")
                && text.contains("\"root\"");
            if !looks_like_root {
                return Err(format!(
                    "the release root {} is not signed root metadata (make it with `callbox release keygen`)",
                    path.display()
                ));
            }
            bytes
        }
        // A development build: it says so and refuses every update (`update::trust`).
        None => Vec::new(),
    };
    if std::fs::read(&out).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.len() == b.len() && a.modified().ok() <= b.modified().ok(),
        _ => false,
    }
}

/// `$OUT_DIR/vosk/libvosk.so` from the pinned wheel (downloaded unless `VOSK_WHEEL` is set).
fn from_wheel(arch: &str, out_dir: &Path) -> Result<PathBuf, String> {
    let &(_, file, platforms, sha256) =
        WHEELS.iter().find(|(a, ..)| *a == arch).ok_or_else(|| {
            format!("no pinned vosk wheel for {arch} (x86_64, aarch64, arm); set VOSK_LIB_DIR")
        })?;
    let lib_dir = out_dir.join("vosk");
    let lib = lib_dir.join("libvosk.so");
    let stamp = lib_dir.join("wheel.sha256");
    if lib.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(sha256) {
        return Ok(lib_dir);
    }

    let wheel = match std::env::var_os("VOSK_WHEEL") {
        Some(path) => PathBuf::from(path),
        None => {
            let dir = out_dir.join("wheel");
            let wheel = dir.join(file);
            if !wheel.is_file() {
                download_wheel(&dir, platforms)?;
            }
            wheel
        }
    };
    let bytes = std::fs::read(&wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let actual = hex(&Sha256::digest(&bytes));
    if actual != sha256 {
        return Err(format!(
            "{} has sha256 {actual}, expected {sha256} (vosk {VOSK_VERSION} for {arch})",
            wheel.display()
        ));
    }
    std::fs::create_dir_all(&lib_dir).map_err(|e| format!("{}: {e}", lib_dir.display()))?;
    // The wheel is a zip; python3 is already required for pip, so it unpacks it too.
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('vosk/libvosk.so'))",
        ])
        .arg(&wheel)
        .arg(&lib)
        .status()
        .map_err(|e| format!("running python3: {e}"))?;
    if !status.success() {
        return Err(format!(
            "could not extract vosk/libvosk.so from {}",
            wheel.display()
        ));
    }
    std::fs::write(&stamp, sha256).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(lib_dir)
}

fn download_wheel(dir: &Path, platforms: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--quiet",
    ])
    .arg(format!("vosk=={VOSK_VERSION}"))
    .args([
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
    ]);
    for platform in platforms {
        cmd.args(["--platform", platform]);
    }
    cmd.arg("-d").arg(dir);
    let status = cmd.status().map_err(|e| {
        format!("running `python3 -m pip download` for the vosk wheel: {e} (install python3 and pip, or set VOSK_LIB_DIR / VOSK_WHEEL)")
    })?;
    if !status.success() {
        return Err(format!(
            "`python3 -m pip download vosk=={VOSK_VERSION}` failed (no network? set VOSK_WHEEL to a downloaded wheel or VOSK_LIB_DIR to a directory with libvosk.so)"
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
