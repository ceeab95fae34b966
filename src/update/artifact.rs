//! Checking a downloaded artifact against its manifest entry while it streams in: never more
//! than `length` bytes are taken (a longer answer is refused at the first extra byte), and the
//! sha256 is compared at the end. A download cut short is kept and resumed: the bytes already
//! on disk are fed in again before the rest.

use sha2::{Digest, Sha256};

use super::keys::hex;
use super::metadata::Artifact;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("{name}: longer than the {length} bytes the manifest says; stopped reading")]
    TooLong { name: String, length: u64 },
    #[error("{name}: {received} of {length} bytes so far (the download is resumed next time)")]
    Incomplete {
        name: String,
        received: u64,
        length: u64,
    },
    #[error("{name}: sha256 {got} is not the manifest's {expected}")]
    WrongDigest {
        name: String,
        expected: String,
        got: String,
    },
}

/// The running check of one artifact.
pub struct ArtifactCheck {
    artifact: Artifact,
    hasher: Sha256,
    received: u64,
}

impl ArtifactCheck {
    pub fn new(artifact: &Artifact) -> Self {
        Self {
            artifact: artifact.clone(),
            hasher: Sha256::new(),
            received: 0,
        }
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.artifact.length - self.received
    }

    /// Takes the next bytes; refuses any past the manifest's length (none of them taken).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ArtifactError> {
        if chunk.len() as u64 > self.remaining() {
            return Err(ArtifactError::TooLong {
                name: self.artifact.name.clone(),
                length: self.artifact.length,
            });
        }
        self.hasher.update(chunk);
        self.received += chunk.len() as u64;
        Ok(())
    }

    /// All bytes in: the digest must match.
    pub fn finish(self) -> Result<(), ArtifactError> {
        if self.received < self.artifact.length {
            return Err(ArtifactError::Incomplete {
                name: self.artifact.name,
                received: self.received,
                length: self.artifact.length,
            });
        }
        let got = hex(&self.hasher.finalize());
        if !got.eq_ignore_ascii_case(&self.artifact.sha256) {
            return Err(ArtifactError::WrongDigest {
                name: self.artifact.name,
                expected: self.artifact.sha256,
                got,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact_of(bytes: &[u8]) -> Artifact {
        Artifact {
            name: "callbox-1.2.0-aarch64.tar.gz".into(),
            sha256: hex(&Sha256::digest(bytes)),
            length: bytes.len() as u64,
        }
    }

    #[test]
    fn the_right_bytes_in_any_chunks_pass() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut check = ArtifactCheck::new(&artifact_of(&bytes));
        for chunk in bytes.chunks(333) {
            check.feed(chunk).unwrap();
        }
        check.finish().unwrap();
    }

    #[test]
    fn one_byte_too_many_is_refused_before_it_is_taken() {
        let bytes = b"release payload".to_vec();
        let mut check = ArtifactCheck::new(&artifact_of(&bytes));
        check.feed(&bytes[..10]).unwrap();
        let mut rest = bytes[10..].to_vec();
        rest.push(b'!');
        assert!(matches!(
            check.feed(&rest),
            Err(ArtifactError::TooLong { .. })
        ));
        assert_eq!(check.received(), 10);
    }

    #[test]
    fn short_and_altered_downloads_are_refused() {
        let bytes = b"release payload".to_vec();
        let mut short = ArtifactCheck::new(&artifact_of(&bytes));
        short.feed(&bytes[..5]).unwrap();
        assert!(matches!(
            short.finish(),
            Err(ArtifactError::Incomplete { received: 5, .. })
        ));
        let mut altered = bytes.clone();
        altered[3] ^= 0x20;
        let mut check = ArtifactCheck::new(&artifact_of(&bytes));
        check.feed(&altered).unwrap();
        assert!(matches!(
            check.finish(),
            Err(ArtifactError::WrongDigest { .. })
        ));
    }
}
