//! ServiceTitan: the v2 REST client, its caches, and the sync worker that turns queued call
//! records into customers, locations, jobs and notes.
//!
//! - [`client`]: `StClient` (token cache, rate limit, timeouts, retries, typed errors);
//! - [`types`]: request/response bodies from ServiceTitan's OpenAPI documents;
//! - [`verify`]: unknown-filter safety (every lookup's results are checked);
//! - [`ratelimit`], [`token`]: the sans-IO pieces behind the client, tested with a fake clock;
//! - [`cache`]: reference data and lookups kept in sled for offline use.

pub mod client;
pub mod error;
pub mod ratelimit;
pub mod token;
pub mod types;
pub mod verify;

pub use client::{install_crypto_provider, Environment, StClient, StClientConfig, RECORD_ID_KEY};
pub use error::StError;
