//! Durable enqueue: the time between the dialog handing over a booked job and being allowed to
//! tell the caller "booked" (sled flush + mirror fsync). Runs on the disk the temp directory is
//! on — point TMPDIR at the SD card on the box.
//!
//! Criterion reports the mean/median; the tail matters more on an SD card, so a second, plain
//! measurement times 2,000 single enqueues and prints p50/p90/p99/max.

use callbox::queue::{
    Address, AppointmentWindow, CallerInfo, JobRequest, Outbox, Payload, QueueOptions, Urgency,
};
use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use std::time::{Duration, Instant};

fn job(n: u64) -> Payload {
    let start = Utc::now() + chrono::Duration::hours(12);
    Payload::Job(JobRequest {
        call_key: format!("bench-{n}"),
        caller: CallerInfo {
            name: "Jane Doe".into(),
            phone_e164: Some("+15125550100".into()),
            callback_phone_e164: None,
        },
        known_customer_id: None,
        known_location_id: None,
        service_address: Address {
            street: "1 Main St".into(),
            unit: None,
            city: "Austin".into(),
            state: "TX".into(),
            zip: "78701".into(),
            country: "USA".into(),
        },
        problem_summary: "No heat, furnace clicks but won't light".into(),
        // About 1 KiB, like a two-minute call's transcript.
        transcript: "Caller says the furnace clicks and the burners never light. ".repeat(17),
        urgency: Urgency::Emergency,
        job_type_hint: Some("no_heat".into()),
        business_unit_id: Some(7),
        job_type_id: Some(89),
        campaign_id: Some(1011),
        dialled_number: Some("+15125550199".into()),
        appointment: AppointmentWindow {
            start_utc: start,
            end_utc: start + chrono::Duration::hours(2),
            arrival_window_start_utc: None,
            arrival_window_end_utc: None,
        },
        assign_on_call_technician: true,
        booked_offline: false,
        confirmation_number: format!("CB-{n}"),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn enqueue_bench(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (q, _) = Outbox::open(dir.path(), QueueOptions::default()).expect("open queue");
    let mut n = 0;
    let mut group = c.benchmark_group("queue");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("enqueue_durable", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(q.enqueue(job(n))).expect("enqueue")
        })
    });
    group.finish();
}

/// Per-enqueue latencies over 2,000 enqueues into a queue already holding them all (the queue
/// after a long outage), printed as percentiles.
fn enqueue_percentiles(_: &mut Criterion) {
    const N: usize = 2000;
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let (q, _) = Outbox::open(dir.path(), QueueOptions::default()).expect("open queue");
    let mut samples = Vec::with_capacity(N);
    rt.block_on(async {
        for n in 0..N {
            let payload = job(n as u64);
            let t = Instant::now();
            q.enqueue(payload).await.expect("enqueue");
            samples.push(t.elapsed());
        }
    });
    samples.sort();
    let pct = |p: f64| samples[((N as f64 * p) as usize).min(N - 1)];
    println!(
        "queue/enqueue_durable latency over {N} enqueues: p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}  (dir {})",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[N - 1],
        dir.path().display()
    );
}

criterion_group!(benches, enqueue_bench, enqueue_percentiles);
criterion_main!(benches);
