//! Plumbing every layer may use and that knows nothing of the trade: durable and private
//! files, the data partition's free space and the queue's reserve, the HTTP client, backoff,
//! the clock, setting issues, secrets. Imports nothing of the crate.

pub mod backoff;
pub mod clock;
pub mod disk;
pub mod fs;
pub mod http;
pub mod private;
pub mod secret;
pub mod settings;

pub use secret::Secret;
