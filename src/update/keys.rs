//! Release-signing keys: ed25519, named by a key id (the SHA-256 of the public key, hex).
//!
//! A signing key lives in a private file (`release keygen`), never on a box; a box holds only
//! public keys, in the root built into its binary (see `trust.rs`).

use std::fmt;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::infra::fs;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("key: {0}")]
    Format(String),
}

/// A public key as metadata carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// "ed25519".
    pub scheme: String,
    /// 32 bytes, hex.
    pub public: String,
}

impl PublicKey {
    pub fn from_verifying(key: &VerifyingKey) -> Self {
        Self {
            scheme: "ed25519".to_string(),
            public: hex(key.as_bytes()),
        }
    }

    pub fn key_id(&self) -> String {
        hex(&Sha256::digest(self.public.as_bytes()))
    }

    pub fn verifying(&self) -> Result<VerifyingKey, KeyError> {
        if self.scheme != "ed25519" {
            return Err(KeyError::Format(format!(
                "scheme {:?} is not ed25519",
                self.scheme
            )));
        }
        let bytes: [u8; 32] = unhex(&self.public)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| KeyError::Format("public key is not 32 bytes of hex".into()))?;
        VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::Format("public key is not a valid ed25519 point".into()))
    }
}

/// A signing key file: `{"scheme":"ed25519","secret":"<hex>","public":"<hex>"}`, mode 0600.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    scheme: String,
    secret: String,
    public: String,
}

/// A release-signing key (only where releases are built).
pub struct ReleaseKey {
    signing: SigningKey,
}

impl fmt::Debug for ReleaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReleaseKey({})", self.public().key_id())
    }
}

impl ReleaseKey {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from_verifying(&self.signing.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> String {
        hex(&self.signing.sign(message).to_bytes())
    }

    /// Writes the key to a new 0600 file; refuses to overwrite one.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        if path.exists() {
            return Err(KeyError::File {
                path: path.display().to_string(),
                reason: "already exists; a signing key is never overwritten".into(),
            });
        }
        let file = KeyFile {
            scheme: "ed25519".into(),
            secret: hex(self.signing.as_bytes()),
            public: self.public().public,
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Format(e.to_string()))?;
        fs::write_atomic(path, &bytes).map_err(|e| KeyError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let file_error = |reason: String| KeyError::File {
            path: path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| file_error(format!("not a key file: {e}")))?;
        if file.scheme != "ed25519" {
            return Err(file_error(format!(
                "scheme {:?} is not ed25519",
                file.scheme
            )));
        }
        let secret: [u8; 32] = unhex(&file.secret)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| file_error("secret is not 32 bytes of hex".into()))?;
        let key = Self {
            signing: SigningKey::from_bytes(&secret),
        };
        if key.public().public != file.public {
            return Err(file_error(
                "public half does not match the secret (damaged file?)".into(),
            ));
        }
        Ok(key)
    }
}

/// Checks one hex signature of `message` by `key` (strict: no malleable signatures).
pub fn verify(key: &PublicKey, message: &[u8], signature: &str) -> bool {
    let Ok(verifying) = key.verifying() else {
        return false;
    };
    let Some(bytes) = unhex(signature).and_then(|b| <[u8; 64]>::try_from(b).ok()) else {
        return false;
    };
    verifying
        .verify_strict(message, &Signature::from_bytes(&bytes))
        .is_ok()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = ReleaseKey::generate();
        let other = ReleaseKey::generate();
        let sig = key.sign(b"release 1.2.3");
        assert!(verify(&key.public(), b"release 1.2.3", &sig));
        assert!(!verify(&key.public(), b"release 1.2.4", &sig));
        assert!(!verify(&other.public(), b"release 1.2.3", &sig));
        assert!(!verify(&key.public(), b"release 1.2.3", "zz"));
        let mut flipped = unhex(&sig).unwrap();
        flipped[10] ^= 1;
        assert!(!verify(&key.public(), b"release 1.2.3", &hex(&flipped)));
    }

    #[test]
    fn a_key_file_round_trips_is_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        let key = ReleaseKey::generate();
        key.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = ReleaseKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
        assert!(ReleaseKey::generate().save(&path).is_err());
        assert_eq!(ReleaseKey::load(&path).unwrap().public(), key.public());
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        ReleaseKey::generate().save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let other = ReleaseKey::generate().public().public;
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let damaged = text.replace(file["public"].as_str().unwrap(), &other);
        std::fs::write(&path, damaged).unwrap();
        assert!(ReleaseKey::load(&path)
            .unwrap_err()
            .to_string()
            .contains("does not match"));
    }
}
