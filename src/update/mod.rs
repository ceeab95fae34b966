//! Remote updates (issue 14): signed releases, checked before anything changes.
//!
//! Layer rules: `update` imports `infra` only. The pieces are **sans-I/O** where they decide:
//! `metadata` verifies signed roots and release manifests (TUF's guarantees: threshold
//! signatures by trusted keys, key rotation, expiry, monotonic versions, per-artifact sha256
//! and length), `artifact` checks a download as it streams. `keys` makes and reads the
//! release-signing keys. `trust` holds the root built into the binary and walks its rotation
//! chain.

pub mod artifact;
pub mod install;
pub mod keys;
pub mod metadata;
pub mod release;
pub mod settings;
pub mod trust;
pub mod updater;
pub mod version;

pub use artifact::{ArtifactCheck, ArtifactError};
pub use keys::{PublicKey, ReleaseKey};
pub use metadata::{Artifact, Expectation, Refusal, Release, Root};
pub use version::Version;
