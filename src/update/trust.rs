//! The trust anchor and its rotation chain.
//!
//! The anchor is the shipper's root metadata, **built into the binary** (`build.rs` embeds
//! `CALLBOX_RELEASE_ROOT_JSON` or `firmware/update/root.json`): nothing on the box's disk can
//! change whom it trusts. A root rotated since the build is learnt from the update server
//! (`<server>/root/<n>.json`) and kept as `<update root>/trust/<n>.root.json`; every run walks
//! the chain again from the embedded root, each link signed by a threshold of the previous
//! root's keys and of its own and numbered one more. A link that does not verify, or a gap
//! (a later link kept without an earlier one), refuses the update: nothing is trusted past
//! it. Links numbered at or below the embedded root's version are ignored (a binary built
//! with a newer root wins over what an older one learnt).
//!
//! A build with no root embedded (a development build) refuses every update, unless a root
//! is handed in explicitly ([`Anchor::test`], from `CALLBOX_TEST_RELEASE_ROOT`, which only
//! such a build accepts): the tests' way in, never a box's.
//!
//! [`verify_chain`] is **sans-I/O**; [`TrustDir`] reads and writes the links.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::metadata::{Refusal, Root};
use crate::infra::fs;

/// The root metadata embedded at build time; empty in a development build.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/release-root.json"));

/// The environment variable a development build takes a test root from (path to a
/// `root.json`). Not a `CALLBOX_<SECTION>_<KEY>` name: there is no `[test]` section.
pub const TEST_ROOT_VAR: &str = "CALLBOX_TEST_RELEASE_ROOT";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("this is a development build with no release root built in: it refuses every update (a shipper builds with CALLBOX_RELEASE_ROOT_JSON or firmware/update/root.json; tests give {TEST_ROOT_VAR})")]
    NoAnchor,
    #[error("this build has a release root built in; {TEST_ROOT_VAR} is for development builds only and is refused")]
    TestRootInReleaseBuild,
    #[error("the {source_name} release root does not verify: {refusal}")]
    BadAnchor {
        source_name: &'static str,
        refusal: Refusal,
    },
    #[error("the test root {path}: {reason}")]
    TestRoot { path: PathBuf, reason: String },
    #[error("trust/{version}.root.json does not follow root {trusted}: {refusal} (nothing past it is trusted)")]
    BadLink {
        version: u64,
        trusted: u64,
        refusal: Refusal,
    },
    #[error("trust/{missing}.root.json is missing but trust/{found}.root.json is kept (a broken rotation chain)")]
    MissingLink { missing: u64, found: u64 },
    #[error("the trusted root (version {version}) expired at {expires}")]
    Expired {
        version: u64,
        expires: DateTime<Utc>,
    },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// Where the chain starts.
#[derive(Debug, Clone)]
pub struct Anchor {
    root: Root,
    source: AnchorSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorSource {
    /// Built into this binary.
    Embedded,
    /// Handed in by `CALLBOX_TEST_RELEASE_ROOT` to a development build.
    Test,
}

impl AnchorSource {
    pub fn name(self) -> &'static str {
        match self {
            AnchorSource::Embedded => "built-in",
            AnchorSource::Test => "test",
        }
    }
}

/// Whether this binary has a root built in.
pub fn embedded_bytes() -> Option<&'static [u8]> {
    (!EMBEDDED.is_empty()).then_some(EMBEDDED)
}

impl Anchor {
    /// This binary's anchor: the embedded root, or in a development build the test root at
    /// `test_root` (the value of [`TEST_ROOT_VAR`]), else [`TrustError::NoAnchor`].
    pub fn for_this_build(test_root: Option<&Path>) -> Result<Anchor, TrustError> {
        Self::choose(embedded_bytes(), test_root)
    }

    fn choose(embedded: Option<&[u8]>, test_root: Option<&Path>) -> Result<Anchor, TrustError> {
        match (embedded, test_root) {
            (Some(_), Some(_)) => Err(TrustError::TestRootInReleaseBuild),
            (Some(bytes), None) => Self::from_bytes(bytes, AnchorSource::Embedded),
            (None, Some(path)) => Self::test(path),
            (None, None) => Err(TrustError::NoAnchor),
        }
    }

    /// A test root read from `path` (development builds only; see [`Anchor::for_this_build`]).
    fn test(path: &Path) -> Result<Anchor, TrustError> {
        let bytes = std::fs::read(path).map_err(|e| TrustError::TestRoot {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(&bytes, AnchorSource::Test)
    }

    /// A test root for unit tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn for_test(path: &Path) -> Result<Anchor, TrustError> {
        Self::test(path)
    }

    fn from_bytes(bytes: &[u8], source: AnchorSource) -> Result<Anchor, TrustError> {
        let root = Root::verify_anchor(bytes).map_err(|refusal| TrustError::BadAnchor {
            source_name: source.name(),
            refusal,
        })?;
        Ok(Anchor { root, source })
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn source(&self) -> AnchorSource {
        self.source
    }
}

/// Walks the kept links (`version → bytes`) from `anchor`: the newest root they reach.
/// Links at or below the anchor's version are ignored; a link that does not verify or a gap
/// before a kept link is an error. Expiry is not judged here (an intermediate root may have
/// expired; only the last one counts, see [`check_current`]).
pub fn verify_chain(anchor: &Root, links: &BTreeMap<u64, Vec<u8>>) -> Result<Root, TrustError> {
    let mut root = anchor.clone();
    for (&version, bytes) in links.range(anchor.version + 1..) {
        if version != root.version + 1 {
            return Err(TrustError::MissingLink {
                missing: root.version + 1,
                found: version,
            });
        }
        root = root
            .verify_next(bytes)
            .map_err(|refusal| TrustError::BadLink {
                version,
                trusted: root.version,
                refusal,
            })?;
    }
    Ok(root)
}

/// The root the chain ends at must not have expired.
pub fn check_current(root: &Root, now: DateTime<Utc>) -> Result<(), TrustError> {
    if now >= root.expires {
        return Err(TrustError::Expired {
            version: root.version,
            expires: root.expires,
        });
    }
    Ok(())
}

/// `<update root>/trust/`: the rotated roots learnt from the server, `<n>.root.json`.
#[derive(Debug, Clone)]
pub struct TrustDir {
    dir: PathBuf,
}

impl TrustDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn link_path(&self, version: u64) -> PathBuf {
        self.dir.join(format!("{version}.root.json"))
    }

    /// Every `<n>.root.json` kept (other files are not links and are left alone).
    pub fn links(&self) -> Result<BTreeMap<u64, Vec<u8>>, TrustError> {
        let io = |path: &Path, e: std::io::Error| TrustError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut links = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(links),
            Err(e) => return Err(io(&self.dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(&self.dir, e))?;
            let name = entry.file_name();
            let Some(version) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".root.json"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let path = entry.path();
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            links.insert(version, bytes);
        }
        Ok(links)
    }

    /// Keeps a verified link (atomically: a power cut leaves it whole or absent).
    pub fn keep(&self, version: u64, bytes: &[u8]) -> Result<(), TrustError> {
        let io = |path: &Path, e: std::io::Error| TrustError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let path = self.link_path(version);
        fs::write_atomic(&path, bytes).map_err(|e| io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::keys::ReleaseKey;
    use crate::update::metadata::sign;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).unwrap()
    }

    fn root_v(keys: &[&ReleaseKey], version: u64, expires: DateTime<Utc>) -> Root {
        let mut root = Root::new(keys.iter().map(|k| k.public()).collect(), 1, expires);
        root.version = version;
        root
    }

    /// Keys k0..k3 and roots 1..=4, root n trusting k(n-1) only, each link signed by the
    /// previous key and its own.
    struct Chain {
        keys: Vec<ReleaseKey>,
        anchor: Vec<u8>,
        links: BTreeMap<u64, Vec<u8>>,
    }

    fn chain() -> Chain {
        let keys: Vec<ReleaseKey> = (0..4).map(|_| ReleaseKey::generate()).collect();
        let far = now() + Duration::days(365);
        let anchor = sign(&root_v(&[&keys[0]], 1, far), &[&keys[0]]).unwrap();
        let mut links = BTreeMap::new();
        for version in 2..=4u64 {
            let new = &keys[version as usize - 1];
            let old = &keys[version as usize - 2];
            let root = root_v(&[new], version, far);
            links.insert(version, sign(&root, &[old, new]).unwrap());
        }
        Chain {
            keys,
            anchor,
            links,
        }
    }

    fn anchor_of(bytes: &[u8]) -> Root {
        Root::verify_anchor(bytes).unwrap()
    }

    #[test]
    fn the_chain_is_walked_from_the_anchor_to_the_newest_link() {
        let c = chain();
        let root = verify_chain(&anchor_of(&c.anchor), &c.links).unwrap();
        assert_eq!(root.version, 4);
        assert_eq!(root.keys, vec![c.keys[3].public()]);
        // No links: the anchor itself.
        let alone = verify_chain(&anchor_of(&c.anchor), &BTreeMap::new()).unwrap();
        assert_eq!(alone.version, 1);
    }

    #[test]
    fn a_tampered_link_fails_closed_and_nothing_past_it_is_trusted() {
        let c = chain();
        let mut links = c.links.clone();
        let text = String::from_utf8(links[&3].clone()).unwrap();
        // A byte of the signed part changed: its signatures no longer hold.
        let tampered = text.replacen("\"threshold\": 1", "\"threshold\":  1", 1);
        assert_ne!(tampered, text);
        links.insert(3, tampered.into_bytes());
        let err = verify_chain(&anchor_of(&c.anchor), &links).unwrap_err();
        assert!(
            matches!(
                err,
                TrustError::BadLink {
                    version: 3,
                    trusted: 2,
                    ..
                }
            ),
            "{err}"
        );
        // A link signed by its own key only (the previous root never agreed).
        let mut links = c.links.clone();
        let far = now() + Duration::days(365);
        let own_only = sign(&root_v(&[&c.keys[1]], 2, far), &[&c.keys[1]]).unwrap();
        links.insert(2, own_only);
        assert!(matches!(
            verify_chain(&anchor_of(&c.anchor), &links),
            Err(TrustError::BadLink { version: 2, .. })
        ));
        // Garbage where a link should be.
        let mut links = c.links.clone();
        links.insert(2, b"{}".to_vec());
        assert!(verify_chain(&anchor_of(&c.anchor), &links).is_err());
    }

    #[test]
    fn a_missing_link_fails_closed() {
        let c = chain();
        let mut links = c.links.clone();
        links.remove(&2);
        let err = verify_chain(&anchor_of(&c.anchor), &links).unwrap_err();
        assert_eq!(
            err,
            TrustError::MissingLink {
                missing: 2,
                found: 3
            }
        );
        let mut links = c.links.clone();
        links.remove(&3);
        assert!(matches!(
            verify_chain(&anchor_of(&c.anchor), &links),
            Err(TrustError::MissingLink {
                missing: 3,
                found: 4
            })
        ));
    }

    #[test]
    fn an_anchor_newer_than_the_kept_chain_wins() {
        let c = chain();
        // A binary built with root 3 (self-signed by its own key, as the shipper embeds it:
        // the published link, which carries the old key's signature too).
        let anchor3 = anchor_of(&c.links[&3]);
        assert_eq!(anchor3.version, 3);
        let root = verify_chain(&anchor3, &c.links).unwrap();
        assert_eq!(root.version, 4);
        // Links 1..=3 are not even read: damaged old links do not matter any more.
        let mut links = c.links.clone();
        links.insert(2, b"damaged".to_vec());
        links.insert(3, b"damaged".to_vec());
        assert_eq!(verify_chain(&anchor3, &links).unwrap().version, 4);
        // Built with root 4 and nothing newer kept: root 4.
        let anchor4 = anchor_of(&c.links[&4]);
        assert_eq!(verify_chain(&anchor4, &links).unwrap().version, 4);
    }

    #[test]
    fn only_the_last_root_must_be_unexpired() {
        let keys: Vec<ReleaseKey> = (0..2).map(|_| ReleaseKey::generate()).collect();
        let past = now() - Duration::days(1);
        let anchor = sign(&root_v(&[&keys[0]], 1, past), &[&keys[0]]).unwrap();
        let next = root_v(&[&keys[1]], 2, now() + Duration::days(30));
        let links = BTreeMap::from([(2, sign(&next, &[&keys[0], &keys[1]]).unwrap())]);
        let anchor = anchor_of(&anchor);
        assert!(matches!(
            check_current(&anchor, now()),
            Err(TrustError::Expired { version: 1, .. })
        ));
        let root = verify_chain(&anchor, &links).unwrap();
        check_current(&root, now()).unwrap();
    }

    #[test]
    fn a_development_build_refuses_without_a_test_root_and_a_release_build_refuses_one() {
        let c = chain();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.json");
        std::fs::write(&path, &c.anchor).unwrap();
        let err = Anchor::choose(None, None).unwrap_err();
        assert_eq!(err, TrustError::NoAnchor);
        assert!(err.to_string().contains("development build"), "{err}");
        let test = Anchor::choose(None, Some(&path)).unwrap();
        assert_eq!(test.source(), AnchorSource::Test);
        assert_eq!(test.root().version, 1);
        assert_eq!(
            Anchor::choose(Some(&c.anchor), Some(&path)).unwrap_err(),
            TrustError::TestRootInReleaseBuild
        );
        let built_in = Anchor::choose(Some(&c.anchor), None).unwrap();
        assert_eq!(built_in.source(), AnchorSource::Embedded);
        // A root that does not verify itself is no anchor.
        let unsigned = br#"{"signed": {"type": "root"}, "signatures": []}"#;
        assert!(matches!(
            Anchor::choose(Some(unsigned), None),
            Err(TrustError::BadAnchor { .. })
        ));
        assert!(matches!(
            Anchor::choose(None, Some(&dir.path().join("missing.json"))),
            Err(TrustError::TestRoot { .. })
        ));
    }

    /// Fails the build's tests when the shipper embedded a root that does not verify.
    #[test]
    fn the_embedded_root_if_any_verifies() {
        if let Some(bytes) = embedded_bytes() {
            Root::verify_anchor(bytes).expect("the embedded release root does not verify");
        }
    }

    #[test]
    fn the_trust_directory_keeps_numbered_links_only() {
        let dir = tempfile::tempdir().unwrap();
        let trust = TrustDir::new(dir.path().join("trust"));
        assert!(trust.links().unwrap().is_empty());
        trust.keep(2, b"two").unwrap();
        trust.keep(10, b"ten").unwrap();
        std::fs::write(dir.path().join("trust/root.json"), b"legacy").unwrap();
        std::fs::write(dir.path().join("trust/x.root.json"), b"junk").unwrap();
        let links = trust.links().unwrap();
        assert_eq!(links.keys().copied().collect::<Vec<_>>(), vec![2, 10]);
        assert_eq!(links[&2], b"two");
    }
}
