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
}
