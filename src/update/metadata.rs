//! Signed metadata, after The Update Framework (TUF), reduced to what one appliance needs.
//!
//! Two kinds of document, each an envelope `{"signed": {...}, "signatures": [{"keyid",
//! "sig"}]}` whose signatures are over the exact bytes of `signed` as sent (no
//! canonicalisation to get wrong):
//! - **root**: the keys that may sign releases and how many must (`threshold`), with a
//!   version and an expiry. A new root must be signed by a threshold of the old root's keys
//!   *and* of its own, and carry the next version: that is key rotation.
//! - **release**: one version for one architecture on one channel, with an expiry and each
//!   artifact's sha256 and length.
//!
//! Everything here is **sans-I/O**: bytes and the time in, a verified document or a typed
//! refusal out.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::keys::{self, PublicKey, ReleaseKey};
use super::version::Version;

/// The metadata format this box reads.
pub const SPEC: u32 = 1;

/// Why a document was refused. Every refusal leaves the installation unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the {what} is not valid metadata: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("the {what} carries no signature")]
    Unsigned { what: &'static str },
    #[error("the {what} is signed only by keys this box does not trust ({keyids})")]
    UnknownKey { what: &'static str, keyids: String },
    #[error("the {what} has {valid} valid signature(s) by trusted keys; {needed} needed (a bad or forged signature)")]
    BelowThreshold {
        what: &'static str,
        valid: usize,
        needed: usize,
    },
    #[error("the {what} expired at {expires} (a frozen or replayed old document)")]
    Expired {
        what: &'static str,
        expires: DateTime<Utc>,
    },
    #[error("the new root is version {got}; this box trusts version {trusted}, so only {trusted}+1 is next")]
    RootOutOfOrder { trusted: u64, got: u64 },
    #[error("release {offered} is not newer than the installed {installed}")]
    NotNewer {
        installed: Version,
        offered: Version,
    },
    #[error(
        "release {offered} is older than {seen}, already offered to this box (a replayed release)"
    )]
    Replayed { seen: Version, offered: Version },
    #[error("the release is for {offered}; this box is {expected}")]
    WrongArch { expected: String, offered: String },
    #[error("the release is for channel {offered:?}; this box follows {expected:?}")]
    WrongChannel { expected: String, offered: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureEntry {
    pub keyid: String,
    pub sig: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    signed: &'a RawValue,
    signatures: Vec<SignatureEntry>,
}

/// The keys that may sign, and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(rename = "type")]
    pub kind: String,
    pub spec: u32,
    pub version: u64,
    pub expires: DateTime<Utc>,
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

/// One release of the box's software.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(rename = "type")]
    pub kind: String,
    pub spec: u32,
    pub version: Version,
    pub channel: String,
    /// Rust's name of the architecture: "aarch64", "x86_64".
    pub arch: String,
    pub published: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub artifacts: Vec<Artifact>,
}

/// A file of the release and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub name: String,
    pub sha256: String,
    pub length: u64,
}

/// What a box expects of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub installed: Version,
    /// The highest version any verified release ever offered this box (kept across restarts).
    pub highest_seen: Option<Version>,
    pub arch: String,
    pub channel: String,
}

impl Root {
    /// A first root, e.g. from `release keygen`.
    pub fn new(keys: Vec<PublicKey>, threshold: usize, expires: DateTime<Utc>) -> Self {
        Root {
            kind: "root".into(),
            spec: SPEC,
            version: 1,
            expires,
            keys,
            threshold,
        }
    }

    /// Verifies `bytes` as the root that follows this one (key rotation). Expiry is not
    /// judged: an intermediate root of a chain may have expired since; the root a chain ends
    /// at is checked by `trust::check_current`.
    pub fn verify_next(&self, bytes: &[u8]) -> Result<Root, Refusal> {
        const WHAT: &str = "new root";
        let (raw, signatures) = open(bytes, WHAT)?;
        let next: Root = parse(raw, WHAT)?;
        check_root_shape(&next, WHAT)?;
        check_signatures(raw.get().as_bytes(), &signatures, self, WHAT)?;
        check_signatures(raw.get().as_bytes(), &signatures, &next, WHAT)?;
        if next.version != self.version + 1 {
            return Err(Refusal::RootOutOfOrder {
                trusted: self.version,
                got: next.version,
            });
        }
        Ok(next)
    }

    /// Verifies `bytes` as a root signed by its own keys (the anchor a box is installed with).
    pub fn verify_anchor(bytes: &[u8]) -> Result<Root, Refusal> {
        const WHAT: &str = "trusted root";
        let (raw, signatures) = open(bytes, WHAT)?;
        let root: Root = parse(raw, WHAT)?;
        check_root_shape(&root, WHAT)?;
        check_signatures(raw.get().as_bytes(), &signatures, &root, WHAT)?;
        Ok(root)
    }

    /// Verifies `bytes` as a release this box may install now.
    pub fn verify_release(
        &self,
        bytes: &[u8],
        now: DateTime<Utc>,
        expect: &Expectation,
    ) -> Result<Release, Refusal> {
        const WHAT: &str = "release manifest";
        let (raw, signatures) = open(bytes, WHAT)?;
        check_signatures(raw.get().as_bytes(), &signatures, self, WHAT)?;
        let release: Release = parse(raw, WHAT)?;
        check_release_shape(&release)?;
        check_expiry(release.expires, now, WHAT)?;
        check_offer(&release, expect)?;
        Ok(release)
    }
}

/// Signs `signed` with every key given: the envelope as bytes.
pub fn sign<T: Serialize>(signed: &T, keys: &[&ReleaseKey]) -> Result<Vec<u8>, serde_json::Error> {
    let raw = serde_json::to_string_pretty(signed)?;
    let signatures: Vec<SignatureEntry> = keys
        .iter()
        .map(|key| SignatureEntry {
            keyid: key.public().key_id(),
            sig: key.sign(raw.as_bytes()),
        })
        .collect();
    let signatures = serde_json::to_string_pretty(&signatures)?;
    Ok(format!("{{\n\"signed\": {raw},\n\"signatures\": {signatures}\n}}\n").into_bytes())
}

fn open<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(&'a RawValue, Vec<SignatureEntry>), Refusal> {
    let envelope: Envelope<'a> = serde_json::from_slice(bytes).map_err(|e| Refusal::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if envelope.signatures.is_empty() {
        return Err(Refusal::Unsigned { what });
    }
    Ok((envelope.signed, envelope.signatures))
}

fn parse<T: for<'de> Deserialize<'de>>(raw: &RawValue, what: &'static str) -> Result<T, Refusal> {
    serde_json::from_str(raw.get()).map_err(|e| Refusal::Malformed {
        what,
        reason: e.to_string(),
    })
}

/// A threshold of `root`'s keys, each counted once, signed `message`.
fn check_signatures(
    message: &[u8],
    signatures: &[SignatureEntry],
    root: &Root,
    what: &'static str,
) -> Result<(), Refusal> {
    let mut valid: Vec<&str> = Vec::new();
    let mut known = false;
    for entry in signatures {
        let Some(key) = root.keys.iter().find(|k| k.key_id() == entry.keyid) else {
            continue;
        };
        known = true;
        if !valid.contains(&entry.keyid.as_str()) && keys::verify(key, message, &entry.sig) {
            valid.push(&entry.keyid);
        }
    }
    if !known {
        let keyids = signatures
            .iter()
            .map(|s| s.keyid.get(..16).unwrap_or(&s.keyid))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Refusal::UnknownKey { what, keyids });
    }
    if valid.len() < root.threshold {
        return Err(Refusal::BelowThreshold {
            what,
            valid: valid.len(),
            needed: root.threshold,
        });
    }
    Ok(())
}

fn check_root_shape(root: &Root, what: &'static str) -> Result<(), Refusal> {
    let malformed = |reason: &str| Refusal::Malformed {
        what,
        reason: reason.to_string(),
    };
    if root.kind != "root" {
        return Err(malformed("type is not \"root\""));
    }
    if root.spec != SPEC {
        return Err(malformed("unknown spec version"));
    }
    if root.threshold == 0 || root.threshold > root.keys.len() {
        return Err(malformed(
            "threshold must be between 1 and the number of keys",
        ));
    }
    if root.keys.iter().any(|k| k.verifying().is_err()) {
        return Err(malformed("a key is not a valid ed25519 public key"));
    }
    Ok(())
}

fn check_release_shape(release: &Release) -> Result<(), Refusal> {
    let malformed = |reason: &str| Refusal::Malformed {
        what: "release manifest",
        reason: reason.to_string(),
    };
    if release.kind != "release" {
        return Err(malformed("type is not \"release\""));
    }
    if release.spec != SPEC {
        return Err(malformed("unknown spec version"));
    }
    if release.artifacts.is_empty() {
        return Err(malformed("no artifacts"));
    }
    for artifact in &release.artifacts {
        let safe_name = !artifact.name.is_empty()
            && artifact
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !artifact.name.starts_with('.');
        if !safe_name {
            return Err(malformed("an artifact name is not a plain file name"));
        }
        if artifact.sha256.len() != 64 || keys::unhex(&artifact.sha256).is_none() {
            return Err(malformed("an artifact's sha256 is not 64 hex digits"));
        }
    }
    Ok(())
}

fn check_expiry(
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(), Refusal> {
    if now >= expires {
        return Err(Refusal::Expired { what, expires });
    }
    Ok(())
}

fn check_offer(release: &Release, expect: &Expectation) -> Result<(), Refusal> {
    if release.arch != expect.arch {
        return Err(Refusal::WrongArch {
            expected: expect.arch.clone(),
            offered: release.arch.clone(),
        });
    }
    if release.channel != expect.channel {
        return Err(Refusal::WrongChannel {
            expected: expect.channel.clone(),
            offered: release.channel.clone(),
        });
    }
    if release.version <= expect.installed {
        return Err(Refusal::NotNewer {
            installed: expect.installed,
            offered: release.version,
        });
    }
    if let Some(seen) = expect.highest_seen {
        if release.version < seen {
            return Err(Refusal::Replayed {
                seen,
                offered: release.version,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap()
    }

    fn root_of(keys: &[&ReleaseKey], threshold: usize) -> Root {
        Root::new(
            keys.iter().map(|k| k.public()).collect(),
            threshold,
            now() + Duration::days(365),
        )
    }

    fn release(version: &str) -> Release {
        Release {
            kind: "release".into(),
            spec: SPEC,
            version: version.parse().unwrap(),
            channel: "stable".into(),
            arch: "aarch64".into(),
            published: now() - Duration::hours(1),
            expires: now() + Duration::days(14),
            artifacts: vec![Artifact {
                name: format!("callbox-{version}-aarch64.tar.gz"),
                sha256: "ab".repeat(32),
                length: 1234,
            }],
        }
    }

    fn expect(installed: &str) -> Expectation {
        Expectation {
            installed: installed.parse().unwrap(),
            highest_seen: None,
            arch: "aarch64".into(),
            channel: "stable".into(),
        }
    }

    #[test]
    fn a_release_signed_by_a_trusted_key_is_accepted() {
        let (a, b) = (ReleaseKey::generate(), ReleaseKey::generate());
        let root = root_of(&[&a, &b], 1);
        let bytes = sign(&release("1.2.0"), &[&b]).unwrap();
        let got = root
            .verify_release(&bytes, now(), &expect("1.1.9"))
            .unwrap();
        assert_eq!(got.version.to_string(), "1.2.0");
    }

    #[test]
    fn each_bad_signature_is_refused_by_name() {
        let (a, b, stranger) = (
            ReleaseKey::generate(),
            ReleaseKey::generate(),
            ReleaseKey::generate(),
        );
        let root = root_of(&[&a, &b], 2);
        let e = expect("1.0.0");
        let by_stranger = sign(&release("1.2.0"), &[&stranger]).unwrap();
        assert!(matches!(
            root.verify_release(&by_stranger, now(), &e),
            Err(Refusal::UnknownKey { .. })
        ));
        let by_one = sign(&release("1.2.0"), &[&a]).unwrap();
        assert!(matches!(
            root.verify_release(&by_one, now(), &e),
            Err(Refusal::BelowThreshold {
                valid: 1,
                needed: 2,
                ..
            })
        ));
        let twice = sign(&release("1.2.0"), &[&a, &a]).unwrap();
        assert!(matches!(
            root.verify_release(&twice, now(), &e),
            Err(Refusal::BelowThreshold { valid: 1, .. })
        ));
        let both = sign(&release("1.2.0"), &[&a, &b]).unwrap();
        assert!(root.verify_release(&both, now(), &e).is_ok());
        // One changed byte of the signed part (a later version) breaks both signatures.
        let tampered = String::from_utf8(both)
            .unwrap()
            .replacen("\"1.2.0\"", "\"1.2.1\"", 1)
            .into_bytes();
        assert!(matches!(
            root.verify_release(&tampered, now(), &e),
            Err(Refusal::BelowThreshold { valid: 0, .. })
        ));
        let unsigned = br#"{"signed": {"type":"release"}, "signatures": []}"#;
        assert!(matches!(
            root.verify_release(unsigned, now(), &e),
            Err(Refusal::Unsigned { .. })
        ));
        assert!(matches!(
            root.verify_release(b"<html>", now(), &e),
            Err(Refusal::Malformed { .. })
        ));
    }

    #[test]
    fn expired_old_wrong_arch_and_replayed_releases_are_refused() {
        let key = ReleaseKey::generate();
        let root = root_of(&[&key], 1);
        let mut old = release("1.3.0");
        old.expires = now() - Duration::seconds(1);
        let bytes = sign(&old, &[&key]).unwrap();
        assert!(matches!(
            root.verify_release(&bytes, now(), &expect("1.0.0")),
            Err(Refusal::Expired { .. })
        ));
        let same = sign(&release("1.3.0"), &[&key]).unwrap();
        assert!(matches!(
            root.verify_release(&same, now(), &expect("1.3.0")),
            Err(Refusal::NotNewer { .. })
        ));
        let mut x86 = release("1.4.0");
        x86.arch = "x86_64".into();
        assert!(matches!(
            root.verify_release(&sign(&x86, &[&key]).unwrap(), now(), &expect("1.0.0")),
            Err(Refusal::WrongArch { .. })
        ));
        let mut beta = release("1.4.0");
        beta.channel = "beta".into();
        assert!(matches!(
            root.verify_release(&sign(&beta, &[&key]).unwrap(), now(), &expect("1.0.0")),
            Err(Refusal::WrongChannel { .. })
        ));
        // After a rollback the box runs 1.0.0 but has seen 1.4.0: 1.2.0 is a replay.
        let replay = sign(&release("1.2.0"), &[&key]).unwrap();
        let mut rolled_back = expect("1.0.0");
        rolled_back.highest_seen = Some("1.4.0".parse().unwrap());
        assert!(matches!(
            root.verify_release(&replay, now(), &rolled_back),
            Err(Refusal::Replayed { .. })
        ));
    }

    #[test]
    fn a_root_rotates_only_with_old_and_new_keys_and_the_next_version() {
        let (old, new) = (ReleaseKey::generate(), ReleaseKey::generate());
        let root = root_of(&[&old], 1);
        let mut next = root_of(&[&new], 1);
        next.version = 2;
        let by_both = sign(&next, &[&old, &new]).unwrap();
        let rotated = root.verify_next(&by_both).unwrap();
        assert_eq!(rotated.keys, vec![new.public()]);
        // Signed by the new key alone: anyone could make such a root.
        assert!(matches!(
            root.verify_next(&sign(&next, &[&new]).unwrap()),
            Err(Refusal::UnknownKey { .. })
        ));
        // By the old key alone: the new keys never agreed.
        assert!(root.verify_next(&sign(&next, &[&old]).unwrap()).is_err());
        let mut skipped = next.clone();
        skipped.version = 3;
        assert!(matches!(
            root.verify_next(&sign(&skipped, &[&old, &new]).unwrap()),
            Err(Refusal::RootOutOfOrder { .. })
        ));
        // Releases by the old key are refused after the rotation.
        let by_old = sign(&release("2.0.0"), &[&old]).unwrap();
        assert!(rotated
            .verify_release(&by_old, now(), &expect("1.0.0"))
            .is_err());
    }

    #[test]
    fn artifact_names_cannot_leave_the_release_directory() {
        let key = ReleaseKey::generate();
        let root = root_of(&[&key], 1);
        for name in ["../callbox", "/etc/passwd", ".hidden", "a/b", ""] {
            let mut r = release("1.2.0");
            r.artifacts[0].name = name.into();
            assert!(
                root.verify_release(&sign(&r, &[&key]).unwrap(), now(), &expect("1.0.0"))
                    .is_err(),
                "{name:?} accepted"
            );
        }
    }
}
