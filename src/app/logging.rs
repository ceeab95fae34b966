//! The process's log: stderr, filtered by `log.filter` or `$CALLBOX_LOG`, and the last
//! [`TAIL_LINES`] lines kept in memory for the web page's log tail and the support bundle
//! (exactly what the log prints, so the same redaction).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// How many formatted lines the log tail keeps.
pub const TAIL_LINES: usize = 2000;

/// The last lines the log printed, numbered from 1.
#[derive(Debug)]
pub struct LogTail {
    lines: Mutex<(u64, VecDeque<(u64, String)>)>,
    capacity: usize,
}

impl LogTail {
    pub fn new(capacity: usize) -> LogTail {
        LogTail {
            lines: Mutex::new((0, VecDeque::with_capacity(capacity.min(4096)))),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `text` (one or more lines) as the newest lines.
    pub fn push(&self, text: &str) {
        let mut guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let (seq, lines) = &mut *guard;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            *seq += 1;
            if lines.len() == self.capacity {
                lines.pop_front();
            }
            lines.push_back((*seq, line.to_string()));
        }
    }

    /// Lines numbered above `after`, oldest first, at most `limit`; with `after == 0` the
    /// newest `limit`.
    pub fn after(&self, after: u64, limit: usize) -> Vec<(u64, String)> {
        let guard = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let newer: Vec<&(u64, String)> = guard.1.iter().filter(|(s, _)| *s > after).collect();
        let skip = if after == 0 {
            newer.len().saturating_sub(limit)
        } else {
            0
        };
        newer.into_iter().skip(skip).take(limit).cloned().collect()
    }
}

/// The process's log tail.
pub fn log_tail() -> Arc<LogTail> {
    static TAIL: OnceLock<Arc<LogTail>> = OnceLock::new();
    TAIL.get_or_init(|| Arc::new(LogTail::new(TAIL_LINES)))
        .clone()
}

/// Writes one event to stderr and, once complete, to the tail.
struct TeeWriter {
    buf: Vec<u8>,
    tail: Arc<LogTail>,
}

impl Write for TeeWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TeeWriter {
    fn drop(&mut self) {
        let _ = std::io::stderr().write_all(&self.buf);
        self.tail.push(&String::from_utf8_lossy(&self.buf));
    }
}

#[derive(Clone)]
struct Tee(Arc<LogTail>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Tee {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> TeeWriter {
        TeeWriter {
            buf: Vec::with_capacity(256),
            tail: self.0.clone(),
        }
    }
}

/// Logs go to stderr (and the tail), without colour or timestamps when journald is reading
/// them (it adds its own).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLBOX_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Tee(log_tail()))
        .with_ansi(false)
        .with_target(false);
    let result = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        eprintln!("callbox: logging was already initialised");
    }
}

/// Logs every warning of the configuration (logging must have started) and returns them for
/// the status.
pub fn log_config_warnings(config: &crate::config::Config) -> Vec<String> {
    config
        .warnings()
        .into_iter()
        .map(|issue| {
            tracing::warn!(key = %issue.key, "config: {}", issue.reason);
            issue.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_newest_lines_numbered() {
        let tail = LogTail::new(3);
        tail.push("one\ntwo\n");
        tail.push("three\n");
        tail.push("four\n");
        let all = tail.after(0, 10);
        assert_eq!(
            all,
            vec![(2, "two".into()), (3, "three".into()), (4, "four".into())]
        );
        assert_eq!(tail.after(3, 10), vec![(4, "four".to_string())]);
        assert_eq!(tail.after(0, 1), vec![(4, "four".to_string())]);
        assert_eq!(tail.after(1, 1), vec![(2, "two".to_string())]);
    }
}
