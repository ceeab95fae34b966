//! Serving a recording: `Range: bytes=…` with one range (what `<audio>` asks for), else the
//! whole file. Only the part asked for is read, and never more than [`MAX_PART_BYTES`] at once.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// The most one answer carries: a longer range is answered in part (the player asks again).
pub const MAX_PART_BYTES: u64 = 8 * 1024 * 1024;
/// A request without a range for a file larger than this is refused (the player uses ranges).
pub const MAX_WHOLE_BYTES: u64 = 64 * 1024 * 1024;

/// What a `Range` header asks of a file of a known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range (absent, another unit, several ranges, malformed): the whole file.
    Whole,
    /// Bytes `start..=end`, both within the file.
    Part { start: u64, end: u64 },
    /// Starts past the end, or an empty suffix: 416 with `Content-Range: bytes */<len>`.
    Unsatisfiable,
}

/// Reads a `Range` header value against a file of `len` bytes (RFC 9110 §14.1.2; a header we
/// do not understand is ignored, as the RFC allows).
pub fn parse(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(byte_ranges) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return suffix(last, len);
    }
    let Some(start) = number(first) else {
        return RangeRequest::Whole;
    };
    let end = match last {
        "" => u64::MAX,
        text => match number(text) {
            Some(end) if end >= start => end,
            _ => return RangeRequest::Whole,
        },
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part {
        start,
        end: end.min(len - 1),
    }
}

/// `bytes=-N`: the last N bytes.
fn suffix(last: &str, len: u64) -> RangeRequest {
    match number(last) {
        None => RangeRequest::Whole,
        Some(0) => RangeRequest::Unsatisfiable,
        Some(_) if len == 0 => RangeRequest::Unsatisfiable,
        Some(n) => RangeRequest::Part {
            start: len.saturating_sub(n),
            end: len - 1,
        },
    }
}

fn byte_ranges(header: &str) -> Option<&str> {
    let (unit, spec) = header.trim().split_once('=')?;
    unit.trim().eq_ignore_ascii_case("bytes").then_some(spec)
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What to answer with.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// 200 with the whole file.
    Whole(Vec<u8>),
    /// 206: `Content-Range: bytes start-end/len`.
    Part {
        bytes: Vec<u8>,
        start: u64,
        end: u64,
        len: u64,
    },
    /// 416: `Content-Range: bytes */len`.
    Unsatisfiable { len: u64 },
    /// No range asked and the file is larger than [`MAX_WHOLE_BYTES`].
    TooLarge { len: u64 },
}

/// Reads what `range_header` asks of the file at `path`.
pub fn read(path: &Path, range_header: Option<&str>) -> io::Result<Served> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    match parse(range_header, len) {
        RangeRequest::Whole if len > MAX_WHOLE_BYTES => Ok(Served::TooLarge { len }),
        RangeRequest::Whole => {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.take(MAX_WHOLE_BYTES).read_to_end(&mut bytes)?;
            Ok(Served::Whole(bytes))
        }
        RangeRequest::Unsatisfiable => Ok(Served::Unsatisfiable { len }),
        RangeRequest::Part { start, end } => {
            let end = end.min(start + MAX_PART_BYTES - 1);
            file.seek(SeekFrom::Start(start))?;
            let mut bytes = Vec::new();
            file.take(end - start + 1).read_to_end(&mut bytes)?;
            let end = start + (bytes.len() as u64).saturating_sub(1);
            Ok(Served::Part {
                bytes,
                start,
                end,
                len,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Part { start, end }
    }

    #[test]
    fn single_ranges_are_understood() {
        assert_eq!(parse(Some("bytes=0-99"), 1000), part(0, 99));
        assert_eq!(parse(Some("bytes=10-"), 1000), part(10, 999));
        assert_eq!(parse(Some("bytes=-100"), 1000), part(900, 999));
        assert_eq!(parse(Some("bytes=-5000"), 1000), part(0, 999));
        assert_eq!(parse(Some("bytes=990-2000"), 1000), part(990, 999));
        assert_eq!(parse(Some("Bytes = 5-5"), 1000), part(5, 5));
        assert_eq!(parse(Some("bytes=0-"), 1), part(0, 0));
    }

    #[test]
    fn past_the_end_is_unsatisfiable() {
        assert_eq!(
            parse(Some("bytes=1000-"), 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            parse(Some("bytes=5000-6000"), 1000),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(parse(Some("bytes=-0"), 1000), RangeRequest::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-10"), 0), RangeRequest::Unsatisfiable);
    }

    #[test]
    fn what_we_do_not_understand_gets_the_whole_file() {
        for header in [
            None,
            Some(""),
            Some("items=0-10"),
            Some("bytes=0-10,20-30"),
            Some("bytes=10-5"),
            Some("bytes=a-b"),
            Some("bytes=-"),
            Some("bytes=+1-2"),
            Some("bytes=1-2-3"),
            Some("bytes 0-10"),
            Some("bytes=99999999999999999999999-"),
        ] {
            assert_eq!(parse(header, 1000), RangeRequest::Whole, "{header:?}");
        }
    }

    #[test]
    fn only_the_asked_part_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        let content: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        std::fs::write(&path, &content).unwrap();

        assert_eq!(read(&path, None).unwrap(), Served::Whole(content.clone()));
        assert_eq!(
            read(&path, Some("bytes=10-19")).unwrap(),
            Served::Part {
                bytes: content[10..20].to_vec(),
                start: 10,
                end: 19,
                len: 1000
            }
        );
        assert_eq!(
            read(&path, Some("bytes=-3")).unwrap(),
            Served::Part {
                bytes: content[997..].to_vec(),
                start: 997,
                end: 999,
                len: 1000
            }
        );
        assert_eq!(
            read(&path, Some("bytes=1000-")).unwrap(),
            Served::Unsatisfiable { len: 1000 }
        );
        assert!(read(&dir.path().join("missing.wav"), None).is_err());
    }
}
