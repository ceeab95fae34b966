//! The append-only JSON-lines mirror of the queue: the way back when sled is damaged.
//!
//! Every stored change is a line `{"op":"put","v":2,"crc32":…,"body":"…"}` (the same envelope
//! sled holds) or `{"op":"remove","id":…,"at":…}`. The current file is `outbox.jsonl`; it is
//! rotated to `outbox-<UTC time>.jsonl` when it passes the size limit or the day changes, and the
//! new file starts with a snapshot of every record not yet synced, so the current file alone
//! always holds all unfinished work and pruning old files only drops synced history.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{Envelope, Record};
use super::QueueError;
use crate::trade::RecordId;

pub(crate) const CURRENT: &str = "outbox.jsonl";
const ROTATED_PREFIX: &str = "outbox-";

/// One line of the mirror.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum MirrorLine {
    Put(Envelope),
    Remove { id: RecordId, at: DateTime<Utc> },
}

impl MirrorLine {
    pub(crate) fn to_line(&self) -> Result<String, QueueError> {
        let mut s = serde_json::to_string(self).map_err(|e| QueueError::Encode(e.to_string()))?;
        s.push('\n');
        Ok(s)
    }
}

/// The writer side, owned by the outbox under its lock.
pub(crate) struct Mirror {
    dir: PathBuf,
    file: Arc<File>,
    len: u64,
    /// UTC day the current file was started (approximately: its mtime when reopened).
    day: NaiveDate,
    /// Bytes of the snapshot the current file starts with: rotating on size alone would loop
    /// when the unfinished work is larger than the limit.
    snapshot_len: u64,
    max_bytes: u64,
    keep_files: usize,
}

impl Mirror {
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        keep_files: usize,
        now: DateTime<Utc>,
    ) -> Result<Mirror, QueueError> {
        crate::infra::fs::create_private_dir_all(dir)
            .map_err(|e| QueueError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(CURRENT);
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(crate::infra::private::FILE_MODE)
            .open(&path)
            .map_err(|e| QueueError::io(format!("opening {}", path.display()), e))?;
        let len = drop_torn_tail(&mut file, &path)?;
        let day = match file.metadata().and_then(|m| m.modified()) {
            Ok(t) if existed => DateTime::<Utc>::from(t).date_naive(),
            _ => now.date_naive(),
        };
        if !existed {
            sync_dir(dir)?;
        }
        Ok(Mirror {
            dir: dir.to_path_buf(),
            file: Arc::new(file),
            len,
            day,
            snapshot_len: 0,
            max_bytes,
            keep_files,
        })
    }

    /// Whether appending `extra` bytes at `now` should start a new file first.
    pub(crate) fn needs_rotation(&self, now: DateTime<Utc>, extra: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let too_big = self.len + extra > self.max_bytes.max(2 * self.snapshot_len);
        too_big || now.date_naive() != self.day
    }

    /// Closes the current file under a dated name and starts a new one with `snapshot`.
    pub(crate) fn rotate(
        &mut self,
        now: DateTime<Utc>,
        snapshot: &[String],
    ) -> Result<(), QueueError> {
        self.file
            .sync_data()
            .map_err(|e| QueueError::io("syncing the mirror before rotation", e))?;
        let current = self.dir.join(CURRENT);
        let stamp = now.format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let mut rotated = self.dir.join(format!("{ROTATED_PREFIX}{stamp}.jsonl"));
        let mut n = 1;
        while rotated.exists() {
            rotated = self
                .dir
                .join(format!("{ROTATED_PREFIX}{stamp}-{n:03}.jsonl"));
            n += 1;
        }
        std::fs::rename(&current, &rotated)
            .map_err(|e| QueueError::io(format!("rotating {}", current.display()), e))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(crate::infra::private::FILE_MODE)
            .open(&current)
            .map_err(|e| QueueError::io(format!("creating {}", current.display()), e))?;
        let text: String = snapshot.concat();
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| QueueError::io("writing the mirror snapshot", e))?;
        sync_dir(&self.dir)?;
        self.file = Arc::new(file);
        self.len = text.len() as u64;
        self.snapshot_len = self.len;
        self.day = now.date_naive();
        self.prune();
        Ok(())
    }

    /// Appends lines (each ending in '\n'); the caller fsyncs the returned file outside the lock.
    pub(crate) fn append(&mut self, text: &str) -> Result<Arc<File>, QueueError> {
        if let Err(e) = (&*self.file).write_all(text.as_bytes()) {
            // A full disk can take half a line; cut it, or the next line would be glued to it.
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::error!("queue: cannot cut a partial mirror line: {cut}");
            }
            return Err(QueueError::io("appending to the queue mirror", e));
        }
        self.len += text.len() as u64;
        Ok(Arc::clone(&self.file))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Deletes rotated files beyond the newest `keep_files`. Failure only costs space, so it is
    /// logged rather than failing the write that triggered it.
    fn prune(&self) {
        let mut rotated = rotated_files(&self.dir);
        if rotated.len() <= self.keep_files {
            return;
        }
        let excess = rotated.len() - self.keep_files;
        for path in rotated.drain(..excess) {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "queue: cannot prune old mirror file: {e}");
            }
        }
    }
}

/// A torn last line (power cut mid-append) would glue itself to the next line; cut it off.
fn drop_torn_tail(file: &mut File, path: &Path) -> Result<u64, QueueError> {
    let ctx = |e| QueueError::io(format!("checking {}", path.display()), e);
    let len = file.metadata().map_err(ctx)?.len();
    if len == 0 {
        return Ok(0);
    }
    // Read backwards in chunks to the last newline; the torn part is at most one line.
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start)).map_err(ctx)?;
        std::io::Read::read_exact(file, chunk).map_err(ctx)?;
        if let Some(pos) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + pos as u64 + 1;
            if keep != len {
                tracing::warn!(
                    path = %path.display(),
                    dropped = len - keep,
                    "queue: mirror ended in a torn line (unclean stop); cut it off"
                );
                file.set_len(keep).map_err(ctx)?;
                file.sync_data().map_err(ctx)?;
            }
            return Ok(keep);
        }
        if start == 0 {
            tracing::warn!(path = %path.display(), "queue: mirror holds no complete line; emptied");
            file.set_len(0).map_err(ctx)?;
            file.sync_data().map_err(ctx)?;
            return Ok(0);
        }
        end = start;
    }
}

/// Makes a rename or a new file survive a power cut.
fn sync_dir(dir: &Path) -> Result<(), QueueError> {
    crate::infra::fs::sync_dir(dir)
        .map_err(|e| QueueError::io(format!("syncing directory {}", dir.display()), e))
}

/// Rotated files, oldest first (their names sort by time).
fn rotated_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(ROTATED_PREFIX) && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    files
}

/// What the mirror says the queue holds: the newest copy of every record not removed.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub records: BTreeMap<RecordId, Record>,
    pub removed: BTreeSet<RecordId>,
    /// Lines that did not parse or failed their checksum (torn writes, damage).
    pub bad_lines: usize,
    pub lines: usize,
}

/// Reads every mirror file, oldest first. Missing directory = empty replay.
pub(crate) fn replay(dir: &Path) -> Result<Replay, QueueError> {
    let mut out = Replay::default();
    let mut files = rotated_files(dir);
    let current = dir.join(CURRENT);
    if current.exists() {
        files.push(current);
    }
    for path in files {
        let file = File::open(&path)
            .map_err(|e| QueueError::io(format!("reading {}", path.display()), e))?;
        for line in BufReader::new(file).split(b'\n') {
            let line =
                line.map_err(|e| QueueError::io(format!("reading {}", path.display()), e))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.lines += 1;
            match serde_json::from_slice::<MirrorLine>(&line) {
                Ok(MirrorLine::Put(envelope)) => match envelope.open() {
                    Ok(opened) => {
                        let record = opened.record;
                        let newer = out
                            .records
                            .get(&record.id)
                            .is_none_or(|old| record.revision >= old.revision);
                        if newer && !out.removed.contains(&record.id) {
                            out.records.insert(record.id.clone(), record);
                        }
                    }
                    Err(reason) => {
                        out.bad_lines += 1;
                        tracing::warn!(path = %path.display(), "queue: bad mirror line: {reason}");
                    }
                },
                Ok(MirrorLine::Remove { id, .. }) => {
                    out.records.remove(&id);
                    out.removed.insert(id);
                }
                Err(e) => {
                    out.bad_lines += 1;
                    tracing::warn!(path = %path.display(), "queue: unreadable mirror line: {e}");
                }
            }
        }
    }
    Ok(out)
}

/// Re-reads lines from a reader, for tests of the torn-tail logic.
#[cfg(test)]
pub(crate) fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let mut m = Mirror::open(dir.path(), 1 << 20, 2, now).unwrap();
            m.append("{\"a\":1}\n").unwrap();
        }
        let path = dir.path().join(CURRENT);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"op\":\"put\",\"v\":2,\"cr").unwrap();
        drop(f);
        let mut m = Mirror::open(dir.path(), 1 << 20, 2, now).unwrap();
        assert_eq!(m.len(), 8);
        m.append("{\"b\":2}\n").unwrap();
        assert_eq!(lines_of(&path), vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn rotation_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut now = Utc::now();
        let mut m = Mirror::open(dir.path(), 100, 2, now).unwrap();
        for i in 0..10 {
            let line = format!("{{\"n\":{i:080}}}\n");
            if m.needs_rotation(now, line.len() as u64) {
                m.rotate(now, &["{\"snapshot\":true}\n".to_string()])
                    .unwrap();
            }
            m.append(&line).unwrap();
            now += chrono::Duration::milliseconds(5);
        }
        assert_eq!(rotated_files(dir.path()).len(), 2);
        let current = lines_of(&dir.path().join(CURRENT));
        assert_eq!(current[0], "{\"snapshot\":true}");
    }
}
