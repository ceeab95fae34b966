//! Files that survive a power cut and that only the box's user can read.
//!
//! [`write_atomic`] is the one way the box replaces a file: a temporary file in the same
//! directory (created 0600), written, fsynced, renamed over the target, and the directory
//! fsynced so the rename itself is durable. A reader sees the old file or the new one, never a
//! half-written one. [`create_private_dir_all`] makes missing directories 0700.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of every file the box creates.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of every directory the box creates.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Replaces `path` with `bytes`, atomically and durably. The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |out| out.write_all(bytes))
}

/// Replaces `path` with what `fill` writes, atomically and durably: when `fill` or any step
/// fails, `path` is untouched and the temporary file is removed. The parent directory must
/// exist.
pub fn write_atomic_with<T, E>(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<io::Error>,
{
    let tmp = temp_path(path)?;
    let result = write_then_rename(path, &tmp, fill);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename<T, E>(
    path: &Path,
    tmp: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<io::Error>,
{
    // Truncate rather than refuse: a temporary file left by a power cut may carry this name
    // again after a reboot (same pid).
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(tmp)?;
    let mut out = BufWriter::new(file);
    let value = fill(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    sync_dir(parent_of(path))?;
    Ok(value)
}

/// `.<name>.<pid>-<n>.tmp` beside `path`: same directory (so the rename is atomic), hidden,
/// and distinct per process and per write (two writers of one path never share it).
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let tmp_name = format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Ok(parent_of(path).join(tmp_name))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename, a new file or a removal in `dir` survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, each new one 0700. Directories that already exist
/// keep their mode.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn writes_replace_the_file_private_and_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("record.json");
        write_atomic(&path, b"first").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        assert_eq!(mode(&path), 0o600);
        write_atomic(&path, b"second, longer").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second, longer");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("export.jsonl");
        write_atomic(&path, b"old").expect("write");
        let err = write_atomic_with(&path, |out| -> io::Result<()> {
            out.write_all(b"half")?;
            Err(io::Error::other("the source broke"))
        })
        .expect_err("fill failed");
        assert_eq!(err.to_string(), "the source broke");
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope").join("file");
        assert!(write_atomic(&path, b"x").is_err());
        assert!(write_atomic(Path::new("/"), b"x").is_err());
    }

    #[test]
    fn concurrent_writers_of_one_path_leave_one_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prompt.wav");
        std::thread::scope(|s| {
            for n in 0..8u8 {
                let path = &path;
                s.spawn(move || write_atomic(path, &[n; 4096]).expect("write"));
            }
        });
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a mixed file");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn the_fill_returns_its_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("n");
        let n = write_atomic_with(&path, |out| -> io::Result<usize> {
            out.write_all(b"12345")?;
            Ok(5)
        })
        .expect("write");
        assert_eq!(n, 5);
    }

    #[test]
    fn private_dirs_are_0700() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a").join("b");
        create_private_dir_all(&deep).expect("create");
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        create_private_dir_all(&deep).expect("exists already");
    }
}
