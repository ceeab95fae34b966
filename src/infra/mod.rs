//! Infrastructure every layer may use; it imports nothing of the crate.

pub mod settings;
