//! A small tmpfs for the tests about a full data partition: mounted on a fresh directory,
//! unmounted on drop. Needs root; [`SmallDisk::mount`] returns `None` (and the test says it is
//! skipped, and why) where mounting is impossible.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    pub mount: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let parent = tempfile::tempdir().ok()?;
        let mount = parent.path().join("disk");
        std::fs::create_dir(&mount).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mount)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk {
            mount,
            _parent: parent,
        })
    }

    /// Free bytes on the tmpfs.
    pub fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(&self.mount)
            .output()
            .expect("stat -f");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .map(|n| n.parse::<u64>().expect("number"));
        it.next().expect("blocks") * it.next().expect("block size")
    }

    /// Writes `path` until ENOSPC: the tmpfs is then 100 % full.
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.mount.join(name);
        let mut f = std::fs::File::create(&path).expect("create filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
        while f.write_all(&[0]).and_then(|()| f.flush()).is_ok() {}
        assert_eq!(self.free(), 0, "the tmpfs is full");
        path
    }

    /// Writes a file so that about `leave` bytes stay free.
    pub fn fill_leaving(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.mount.join(name);
        let size = self.free().saturating_sub(leave);
        write_zeros(&path, size);
        path
    }
}

fn write_zeros(path: &Path, size: u64) {
    let mut f = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).expect("write filler");
        left -= n as u64;
    }
    f.sync_all().expect("sync filler");
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}
