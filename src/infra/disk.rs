//! The data partition's free space, and the reserve kept on it for the job queue: a call's
//! recording stops before the queue could run out of room for a booking.

use std::path::{Path, PathBuf};

/// Bytes an unprivileged writer may still use on the file system holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The decision: a writer that will write up to `next_bytes` before it looks again may go on
/// only if the free space stays at or above the reserve afterwards.
pub fn may_write(free: u64, reserve: u64, next_bytes: u64) -> bool {
    free >= reserve.saturating_add(next_bytes)
}

/// The reserve kept free on the data partition for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceReserve {
    /// Any path on the data partition (the data directory).
    pub dir: PathBuf,
    pub reserve_bytes: u64,
}

impl SpaceReserve {
    pub fn new(dir: impl Into<PathBuf>, reserve_bytes: u64) -> SpaceReserve {
        SpaceReserve {
            dir: dir.into(),
            reserve_bytes,
        }
    }

    /// Whether `next_bytes` more may be written. When the free space cannot be read the
    /// answer is yes: a failed `statvfs` must not silence every recording.
    pub fn allows(&self, next_bytes: u64) -> bool {
        match free_bytes(&self.dir) {
            Ok(free) => may_write(free, self.reserve_bytes, next_bytes),
            Err(_) => true,
        }
    }

    /// The free space is already below the reserve.
    pub fn is_breached(&self) -> bool {
        !self.allows(0)
    }
}

/// Name of the ballast file in the data directory.
pub const BALLAST_FILE: &str = ".space-reserve";

/// Space held on the data partition by a file of real blocks, given back when the partition
/// is found full at start-up so the queue can still open (sled writes when it opens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballast {
    pub path: PathBuf,
    pub bytes: u64,
}

impl Ballast {
    pub fn in_dir(data_dir: &Path, bytes: u64) -> Ballast {
        Ballast {
            path: data_dir.join(BALLAST_FILE),
            bytes,
        }
    }

    /// Whether the ballast is in place.
    pub fn is_held(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| m.len() >= self.bytes)
    }

    /// Puts the ballast in place when it is missing and the partition has room for it with
    /// `keep_free` to spare. Returns whether it is in place.
    pub fn ensure(&self, keep_free: u64) -> std::io::Result<bool> {
        if self.bytes == 0 || self.is_held() {
            return Ok(self.bytes > 0);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !may_write(free_bytes(dir)?, keep_free, self.bytes) {
            return Ok(false);
        }
        let tmp = self.path.with_extension("tmp");
        let written =
            write_zeros(&tmp, self.bytes).and_then(|()| std::fs::rename(&tmp, &self.path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| true)
    }

    /// Deletes the ballast; returns the bytes given back (0 when there was none).
    pub fn release(&self) -> std::io::Result<u64> {
        let len = match std::fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        std::fs::remove_file(&self.path)?;
        Ok(len)
    }
}

/// Writes `bytes` zero bytes (real blocks, not a sparse file) and syncs them.
fn write_zeros(path: &Path, bytes: u64) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let chunk = vec![0u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_stops_before_the_reserve_would_be_touched() {
        let mib = 1024 * 1024;
        assert!(may_write(100 * mib, 64 * mib, 16_000));
        assert!(may_write(64 * mib + 16_000, 64 * mib, 16_000));
        assert!(!may_write(64 * mib + 15_999, 64 * mib, 16_000));
        assert!(!may_write(10 * mib, 64 * mib, 0));
        assert!(may_write(0, 0, 0));
        assert!(!may_write(u64::MAX - 1, u64::MAX, 16_000), "no overflow");
    }

    #[test]
    fn free_space_of_a_real_directory_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        assert!(SpaceReserve::new(dir.path(), 0).allows(0));
        assert!(SpaceReserve::new(dir.path(), u64::MAX).is_breached());
        assert!(free_bytes(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_ballast_is_held_then_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let ballast = Ballast::in_dir(dir.path(), 100_000);
        assert!(!ballast.is_held());
        assert!(ballast.ensure(0).unwrap());
        assert_eq!(std::fs::metadata(&ballast.path).unwrap().len(), 100_000);
        assert!(ballast.ensure(0).unwrap(), "already in place");
        assert_eq!(ballast.release().unwrap(), 100_000);
        assert!(!ballast.path.exists());
        assert_eq!(ballast.release().unwrap(), 0);
        // No room beyond what must stay free: not taken.
        assert!(!ballast.ensure(u64::MAX - 100_000).unwrap());
        assert!(!ballast.path.exists());
    }
}
