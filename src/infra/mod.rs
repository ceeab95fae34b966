//! Plumbing every layer may use and that knows nothing of the trade: durable files, the HTTP
//! client, backoff. Imports nothing of the crate.

pub mod backoff;
pub mod fs;
pub mod http;
