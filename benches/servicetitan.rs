//! ServiceTitan sync benchmarks: sync throughput against the in-process test server (as a
//! share of ServiceTitan's 60 requests/s ceiling) and cache lookup latency.

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/sync_support/mod.rs"]
mod sync_support;

use callbox::queue::Payload;
use callbox::servicetitan::cache::StCache;
use callbox::servicetitan::types::{Campaign, Customer, TechnicianShift};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};
use support::st_server::seed::hvac_shop;
use support::st_server::{StServer, StServerConfig};

/// Jobs per measured iteration.
const BATCH: usize = 20;

fn sync_throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server_config = StServerConfig::default();
    let seed = hvac_shop(&server_config);
    let server = StServer::start_seeded(server_config, seed);
    let dir = tempfile::tempdir().unwrap();
    let config = sync_support::config(&server, dir.path());
    let worker = rt.block_on(async { open_worker(&config) }).unwrap();
    // Warm the reference caches and the token outside the measurement.
    rt.block_on(worker.sync_once()).unwrap();
    let mut next = 0usize;
    let mut total_requests = 0usize;
    let mut total_time = Duration::ZERO;
    let mut group = c.benchmark_group("servicetitan_sync");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(30));
    group.bench_function(format!("{BATCH}_new_caller_jobs"), |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(async {
                    for _ in 0..BATCH {
                        worker
                            .outbox()
                            .enqueue(Payload::Job(sync_support::job(next)))
                            .await
                            .unwrap();
                        next += 1;
                    }
                });
                let before = server.api_request_count();
                let t = Instant::now();
                let summary = rt.block_on(worker.sync_once()).unwrap();
                elapsed += t.elapsed();
                assert_eq!(summary.synced, BATCH);
                total_requests += server.api_request_count() - before;
            }
            total_time += elapsed;
            elapsed
        })
    });
    group.finish();
    let rate = total_requests as f64 / total_time.as_secs_f64();
    eprintln!(
        "servicetitan_sync: {total_requests} requests in {:.1} s = {rate:.1} req/s = {:.2} of the 60 req/s ceiling \
         (client limit {} req/s); {:.2} requests per job; max {} in any 1 s at the server",
        total_time.as_secs_f64(),
        rate / 60.0,
        config.servicetitan.max_requests_per_second,
        total_requests as f64 / next as f64,
        server.max_requests_in_any_1s_window()
    );
}

fn cache_lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cache = StCache::open(dir.path()).unwrap();
    let now = chrono::Utc::now();
    let campaigns: Vec<Campaign> = (0..200)
        .map(|i| Campaign {
            id: i,
            name: format!("Campaign {i}"),
            active: true,
            is_default_campaign: i == 199,
            campaign_phone_numbers: vec![format!("(843) 55{:05}", i)],
        })
        .collect();
    cache.put_campaigns(campaigns, now).unwrap();
    let shifts: Vec<TechnicianShift> = (0..1000)
        .map(|i| TechnicianShift {
            id: i,
            shift_type: if i % 3 == 0 { "OnCall" } else { "Normal" }.into(),
            title: String::new(),
            active: true,
            technician_id: i % 20,
            start: now + chrono::Duration::hours(i),
            end: now + chrono::Duration::hours(i + 15),
        })
        .collect();
    cache.put_on_call_shifts(shifts, now).unwrap();
    for i in 0..10_000 {
        let customer = Customer {
            id: i,
            active: true,
            name: format!("C{i}"),
            kind: None,
            address: None,
            merged_to_id: None,
            external_data: None,
            modified_on: None,
        };
        cache
            .put_customers_for_phone(&format!("+1843{:07}", i), vec![customer], now)
            .unwrap();
    }
    let mut g = c.benchmark_group("servicetitan_cache");
    g.bench_function("customers_for_phone (10k phones)", |b| {
        b.iter(|| cache.customers_for_phone(black_box("+18430004321")))
    });
    g.bench_function("campaign_for_number (200 campaigns, last)", |b| {
        b.iter(|| cache.campaign_for_number(black_box("+18435500198")))
    });
    let at = now + chrono::Duration::hours(500);
    g.bench_function("on_call_technician_at (1000 shifts)", |b| {
        b.iter(|| cache.on_call_technician_at(black_box(at)))
    });
    g.bench_function("ages (status page)", |b| {
        b.iter(|| cache.ages(black_box(now)))
    });
    g.finish();
}

criterion_group!(benches, cache_lookups, sync_throughput);
criterion_main!(benches);

/// The sync worker for a whole configuration, as `callbox sync` opens it.
fn open_worker(
    c: &callbox::config::Config,
) -> Result<callbox::servicetitan::SyncWorker, callbox::servicetitan::OpenError> {
    callbox::servicetitan::open_worker(
        &c.servicetitan,
        callbox::queue::QueueOptions::from_settings(&c.queue),
        &c.storage.data_dir,
        &c.shop.default_country,
    )
}
