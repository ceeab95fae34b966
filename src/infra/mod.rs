//! Plumbing every layer may use and that knows nothing of the trade: durable files, the HTTP
//! client, backoff, setting issues, secrets. Imports nothing of the crate.

pub mod backoff;
pub mod fs;
pub mod http;
pub mod secret;
pub mod settings;

pub use secret::Secret;
