use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// A service whose first `failures` runs fail (by error, or by panic with `panic`), then runs
/// until cancelled; it records when each run started.
fn flaky(
    name: &'static str,
    failures: u32,
    panic: bool,
    starts: Arc<Mutex<Vec<Instant>>>,
) -> Service {
    let runs = Arc::new(AtomicU32::new(0));
    Service::new(name, move |token| {
        let runs = runs.clone();
        let starts = starts.clone();
        Box::pin(async move {
            starts.lock().unwrap().push(Instant::now());
            let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= failures {
                if panic {
                    panic!("kaboom {n}");
                }
                anyhow::bail!("boom {n}");
            }
            token.cancelled().await;
            Ok(())
        })
    })
    .critical()
}

async fn wait_until(statuses: &ServiceStatuses, what: impl Fn(&ServiceStatuses) -> bool) {
    for _ in 0..10_000 {
        if what(statuses) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("status never reached: {:?}", statuses.snapshot());
}

fn running(statuses: &ServiceStatuses, name: &str) -> bool {
    matches!(
        statuses.get(name).map(|s| s.state),
        Some(ServiceState::Running { .. })
    )
}

#[tokio::test(start_paused = true)]
async fn a_service_that_fails_twice_is_restarted_twice_with_doubling_delays() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let statuses = ServiceStatuses::default();
    let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
    sup.spawn(flaky("sync", 2, false, starts.clone()));
    wait_until(&statuses, |s| {
        s.get("sync").is_some_and(|s| s.restarts == 2) && running(s, "sync")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(300)).await;

    let starts = starts.lock().unwrap().clone();
    assert_eq!(
        starts.len(),
        3,
        "two failures, then one run that keeps going"
    );
    assert_eq!(starts[1] - starts[0], Duration::from_secs(1));
    assert_eq!(starts[2] - starts[1], Duration::from_secs(2));
    let status = statuses.get("sync").unwrap();
    assert_eq!(status.restarts, 2);
    assert_eq!(status.last_error.as_deref(), Some("boom 2"));
    assert!(statuses.healthy());
    sup.shutdown(Duration::from_secs(5)).await;
    assert_eq!(statuses.get("sync").unwrap().state, ServiceState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_caught_and_the_service_restarted() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let statuses = ServiceStatuses::default();
    let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
    sup.spawn(flaky("calls", 1, true, starts.clone()));
    wait_until(&statuses, |s| {
        s.get("calls").is_some_and(|s| s.restarts == 1) && running(s, "calls")
    })
    .await;
    let status = statuses.get("calls").unwrap();
    assert_eq!(status.last_error.as_deref(), Some("panicked: kaboom 1"));
    assert_eq!(starts.lock().unwrap().len(), 2);
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn status_goes_running_restarting_running_stopped() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let statuses = ServiceStatuses::default();
    let mut changes = statuses.subscribe();
    let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = {
        let statuses = statuses.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if let Some(s) = statuses.get("alerts") {
                    let name = match s.state {
                        ServiceState::Running { .. } => "running".to_string(),
                        ServiceState::Restarting {
                            restarts,
                            last_error,
                            ..
                        } => format!("restarting {restarts} {last_error}"),
                        ServiceState::Stopped => "stopped".to_string(),
                    };
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&name) {
                        seen.push(name);
                    }
                }
            }
        })
    };
    sup.spawn(flaky("alerts", 1, false, starts));
    // While it waits to restart, a critical service makes the box unhealthy.
    wait_until(&statuses, |s| !s.healthy()).await;
    wait_until(&statuses, |s| {
        running(s, "alerts") && s.get("alerts").unwrap().restarts == 1
    })
    .await;
    assert!(statuses.healthy());
    sup.shutdown(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    recorder.abort();
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["running", "restarting 1 boom 1", "running", "stopped"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_that_ends_by_itself_is_restarted() {
    let runs = Arc::new(AtomicU32::new(0));
    let statuses = ServiceStatuses::default();
    let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
    let counter = runs.clone();
    sup.spawn(Service::new("compaction", move |_token| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // Runs at 0, 1 s, 3 s: ended by itself each time, never silently.
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let status = statuses.get("compaction").unwrap();
    assert_eq!(status.last_error.as_deref(), Some("ended by itself"));
    assert_eq!(status.restarts, 3);
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped_and_reset_after_a_healthy_run() {
    let policy = RestartPolicy::default();
    let delays: Vec<u64> = (1..=8).map(|n| policy.delay(n).as_secs()).collect();
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(policy.delay(u32::MAX), Duration::from_secs(60));

    // Fails at once three times (waits 1, 2, 4 s), then runs for two minutes and fails: the
    // wait after that healthy run is 1 s again.
    let starts = Arc::new(Mutex::new(Vec::new()));
    let runs = Arc::new(AtomicU32::new(0));
    let statuses = ServiceStatuses::default();
    let mut sup = Supervisor::new(policy, statuses.clone());
    let (s, r) = (starts.clone(), runs.clone());
    sup.spawn(Service::new("line", move |token| {
        let (starts, runs) = (s.clone(), r.clone());
        Box::pin(async move {
            starts.lock().unwrap().push(Instant::now());
            match runs.fetch_add(1, Ordering::SeqCst) {
                0..=2 => anyhow::bail!("early"),
                3 => {
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    anyhow::bail!("late")
                }
                _ => {
                    token.cancelled().await;
                    Ok(())
                }
            }
        })
    }));
    tokio::time::sleep(Duration::from_secs(200)).await;
    let starts = starts.lock().unwrap().clone();
    let gaps: Vec<u64> = starts.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, vec![1, 2, 4, 121]);
    sup.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_aborts_a_service_that_ignores_the_token() {
    let statuses = ServiceStatuses::default();
    let mut sup = Supervisor::new(RestartPolicy::default(), statuses.clone());
    sup.spawn(Service::new("stuck", |_token| {
        Box::pin(async {
            std::future::pending::<()>().await;
            Ok(())
        })
    }));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    sup.shutdown(Duration::from_secs(2)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

/// A failed service's error is said once per cause: one whose message embeds its source (the
/// web page's "cannot listen on …: Address already in use") is not followed by that source
/// again; causes the message does not name are kept, with the context around them.
#[test]
fn a_failure_names_each_cause_once() {
    #[derive(Debug, thiserror::Error)]
    #[error("web: cannot listen on 127.0.0.1:8443: {source}")]
    struct Bind {
        source: std::io::Error,
    }
    let in_use = || std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
    let err = anyhow::Error::new(Bind { source: in_use() });
    assert_eq!(
        describe(&err),
        "web: cannot listen on 127.0.0.1:8443: Address already in use"
    );
    assert_eq!(format!("{err:#}").matches("already in use").count(), 2);
    let err = anyhow::Error::new(in_use()).context("opening the SMS store");
    assert_eq!(
        describe(&err),
        "opening the SMS store: Address already in use"
    );
}
