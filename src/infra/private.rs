//! Files and folders only the box's own user can read: recordings, call records with their
//! transcripts, the queue and its mirror, the cache, exports and prompts hold callers' names,
//! numbers, addresses and voices. Files are 0600 in 0700 folders.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file the box writes under its data directory.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder under (and of) the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The process umask: what anything else creates (sled's files) is private too.
pub const UMASK: u32 = 0o077;

/// Sets the process umask to [`UMASK`]. Call first thing in every command that writes.
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
}

/// Options for a new file with [`FILE_MODE`] (write, create, truncate).
pub fn new_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE);
    options
}

/// What [`tighten_tree`] changed and could not change.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub dirs: usize,
    pub files: usize,
    pub errors: Vec<(PathBuf, String)>,
}

/// Brings a tree written before these rules to them: every folder owned by this user to
/// [`DIR_MODE`], every file to [`FILE_MODE`] (without adding permissions a file lacked, e.g.
/// a read-only file stays read-only). Symbolic links are not followed; what belongs to another
/// user is left alone.
pub fn tighten_tree(root: &Path) -> Tightened {
    let me = rustix::process::geteuid().as_raw();
    let mut done = Tightened::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                done.errors.push((path, e.to_string()));
                continue;
            }
        };
        if meta.file_type().is_symlink() || meta.uid() != me {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        let wanted = if meta.is_dir() {
            DIR_MODE
        } else {
            mode & FILE_MODE
        };
        if mode != wanted {
            match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted)) {
                Ok(()) if meta.is_dir() => done.dirs += 1,
                Ok(()) => done.files += 1,
                Err(e) => done.errors.push((path.clone(), e.to_string())),
            }
        }
        if meta.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => stack.extend(entries.flatten().map(|e| e.path())),
                Err(e) => done.errors.push((path, e.to_string())),
            }
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_folders_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        crate::infra::fs::create_private_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        let file = nested.join("f");
        new_file().open(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn an_old_tree_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("recordings");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let open = sub.join("call.wav");
        std::fs::write(&open, b"x").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let read_only = sub.join("old.json");
        std::fs::write(&read_only, b"x").unwrap();
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

        let done = tighten_tree(dir.path());
        assert_eq!(done.errors, vec![]);
        assert_eq!((done.dirs, done.files), (2, 2));
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&open), 0o600);
        assert_eq!(mode(&read_only), 0o400);
        assert_eq!(
            tighten_tree(dir.path()),
            Tightened::default(),
            "nothing left"
        );
    }
}
