//! Infrastructure every layer may use; it imports nothing of the crate.

pub mod secret;
pub mod settings;

pub use secret::Secret;
