//! `callbox cache`: the ServiceTitan cache the box recognises callers from.

use super::{current_thread_runtime, load_config};
use crate::servicetitan::cache::StCache;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum CacheAction {
    /// Load a JSON fixture (customers with locations and appointments, technicians, on-call
    /// shifts, capacity; the format of `simulate --seed`) into the cache, as fresh now. For
    /// installers before the first sync, and for tests. The box must be stopped.
    Seed { file: PathBuf },
    /// Fill the cache from ServiceTitan (`[servicetitan]`) as the running sync does: job types,
    /// business units, campaigns, technicians, on-call shifts, capacity, and the details of
    /// customers known by phone, with a visit in the coming days, or with an active membership
    /// (whose numbers it learns). What is fresh is kept. For installers before the first call
    /// and for tests; the box must be stopped. Prints the cache's ages as JSON.
    Refresh {
        /// The refresh's time, RFC 3339 (default: now); the clock runs on from it.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
    },
}

pub fn cache(config_path: Option<&Path>, action: CacheAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        CacheAction::Seed { file } => {
            let plan = crate::trade::phone::dialling_plan(&config.shop.default_country)
                .context("no dialling plan for shop.default_country")?;
            seed(&config.data_paths().root.join("cache"), &file, plan)
        }
        CacheAction::Refresh { now } => refresh(&config, now),
    }
}

/// `callbox cache refresh`: the sync worker's cache refreshes, once, on a clock started at
/// `now`. Customer details are refreshed pass by pass until no backlog is left.
fn refresh(
    config: &crate::config::Config,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<ExitCode> {
    use crate::infra::clock::ManualClock;
    super::multi_thread_runtime()?.block_on(async {
        let clock = ManualClock::new(now.unwrap_or_else(chrono::Utc::now));
        // Real time from `now` on: the client's back-offs and timeouts still pass.
        let step = std::time::Duration::from_millis(10);
        let ticks = clock.tick(step, step);
        let worker = crate::servicetitan::open_worker_with_clock(
            &config.servicetitan,
            crate::queue::QueueOptions::from_settings(&config.queue),
            &config.storage.data_dir,
            &config.shop.default_country,
            clock.shared(),
        )?;
        worker
            .refresh_reference_if_stale()
            .await
            .context("refreshing job types, business units, campaigns, technicians, shifts")?;
        worker
            .refresh_capacity_if_stale()
            .await
            .context("refreshing capacity")?;
        let mut customers = 0;
        for _ in 0..10_000 {
            let n = worker
                .refresh_customer_details_if_stale()
                .await
                .context("refreshing customer details")?;
            if n == 0 {
                break;
            }
            customers += n;
        }
        ticks.abort();
        let status = worker.status();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "customers_refreshed": customers,
                "caches": status.caches,
            }))?
        );
        Ok(ExitCode::SUCCESS)
    })
}

fn seed(
    dir: &Path,
    file: &Path,
    plan: &'static crate::trade::phone::DiallingPlan,
) -> Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cache = StCache::open(dir)
        .with_context(|| {
            format!(
                "opening the cache in {} (is `callbox run` holding it?)",
                dir.display()
            )
        })?
        .with_phone_plan(plan);
    crate::app::simulate::seed(&cache, file, chrono::Utc::now())?;
    current_thread_runtime()?
        .block_on(cache.flush())
        .with_context(|| format!("writing the cache in {}", dir.display()))?;
    println!("seeded {} from {}", dir.display(), file.display());
    Ok(ExitCode::SUCCESS)
}
