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
}

pub fn cache(config_path: Option<&Path>, action: CacheAction) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    match action {
        CacheAction::Seed { file } => {
            let plan = crate::trade::phone::dialling_plan(&config.shop.default_country)
                .context("no dialling plan for shop.default_country")?;
            seed(&config.data_paths().root.join("cache"), &file, plan)
        }
    }
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
