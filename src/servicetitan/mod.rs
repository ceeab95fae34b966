//! ServiceTitan: the v2 REST client, its caches, and the sync worker that turns queued call
//! records into customers, locations, jobs and notes.
//!
//! - [`client`]: `StClient` (token cache, rate limit, timeouts, retries, typed errors);
//! - [`types`]: request/response bodies from ServiceTitan's OpenAPI documents;
//! - [`verify`]: unknown-filter safety (every lookup's results are checked);
//! - [`ratelimit`], [`token`]: the sans-IO pieces behind the client, tested with a fake clock;
//! - [`cache`]: reference data and lookups kept in sled for offline use;
//! - [`decide`]: the sync's decisions, sans I/O (next step of a job, what to do after a
//!   failure);
//! - [`sync`]: the worker that drains the queue into ServiceTitan, exactly once: the async
//!   shell around [`decide`].

pub mod cache;
pub mod client;
pub mod decide;
pub mod error;
pub mod ratelimit;
pub mod settings;
pub mod survey;
pub mod sync;
pub mod token;
pub mod types;
pub mod verify;

pub use client::{install_crypto_provider, Environment, StClient, StClientConfig, RECORD_ID_KEY};
pub use error::StError;
pub use sync::{RunSummary, StatusSnapshot, SyncSettings, SyncWorker};

/// Builds the client configuration from `[servicetitan]` and the shop's country
/// (`shop.default_country`, whose dialling plan matches phone numbers).
pub fn client_config(
    c: &settings::ServiceTitanConfig,
    country: &str,
) -> Result<StClientConfig, StError> {
    let environment = c
        .environment()
        .map_err(|message| StError::Config { message })?;
    let mut cfg = StClientConfig::new(environment, c.tenant_id);
    cfg.app_key = c.app_key.clone();
    cfg.client_id = c.client_id.clone();
    cfg.client_secret = c.client_secret.clone();
    cfg.external_data_guid = c.external_data_guid.clone();
    cfg.connect_timeout = std::time::Duration::from_secs(c.connect_timeout_secs);
    cfg.token_timeout = std::time::Duration::from_secs(c.token_timeout_secs);
    cfg.api_timeout = std::time::Duration::from_secs(c.api_timeout_secs);
    cfg.max_requests_per_second = c.max_requests_per_second;
    cfg.phone_plan =
        crate::trade::phone::dialling_plan(country).ok_or_else(|| StError::Config {
            message: format!("no dialling plan for shop.default_country = {country:?}"),
        })?;
    cfg.retry_after_cap = std::time::Duration::from_secs(c.retry_after_cap_secs);
    cfg.max_retry_after = cfg.max_retry_after.min(cfg.retry_after_cap);
    Ok(cfg)
}

/// Why the sync could not be started.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("ServiceTitan sync is disabled (servicetitan.enabled = false): work stays queued")]
    Disabled,
    #[error(transparent)]
    Client(#[from] StError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Opens the queue (`<data_dir>/queue`, with the options from `[queue]`), the cache
/// (`<data_dir>/cache`) and the client (`[servicetitan]`), and joins them into a worker.
/// Installs the TLS crypto provider.
pub fn open_worker(
    settings: &settings::ServiceTitanConfig,
    queue: crate::queue::QueueOptions,
    data_dir: &std::path::Path,
    country: &str,
) -> Result<SyncWorker, OpenError> {
    open_worker_with_clock(
        settings,
        queue,
        data_dir,
        country,
        crate::infra::clock::SystemClock::shared(),
    )
}

/// [`open_worker`] on a given clock: the worker's and the client's waits and timestamps.
pub fn open_worker_with_clock(
    settings: &settings::ServiceTitanConfig,
    queue: crate::queue::QueueOptions,
    data_dir: &std::path::Path,
    country: &str,
    clock: crate::infra::clock::SharedClock,
) -> Result<SyncWorker, OpenError> {
    if !settings.enabled {
        return Err(OpenError::Disabled);
    }
    install_crypto_provider();
    let queue_dir = data_dir.join("queue");
    let cache_dir = data_dir.join("cache");
    for dir in [&queue_dir, &cache_dir] {
        crate::infra::fs::create_private_dir_all(dir).map_err(|source| OpenError::Dir {
            path: dir.clone(),
            source,
        })?;
    }
    let client = StClient::with_clock(client_config(settings, country)?, clock.clone())?;
    let (outbox, report) = crate::queue::Outbox::open(&queue_dir, queue)?;
    if !report.is_clean() {
        tracing::warn!(?report, "queue start-up check repaired something");
    }
    let cache = std::sync::Arc::new(
        cache::StCache::open(&cache_dir)?.with_phone_plan(client.config().phone_plan),
    );
    Ok(
        SyncWorker::new(client, outbox, cache, SyncSettings::from_config(settings))
            .with_clock(clock),
    )
}
