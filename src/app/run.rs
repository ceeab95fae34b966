//! `callbox run`: opens the stores, starts every long-running service under the supervisor,
//! binds SIP and hands every answered call to its call flow, until SIGTERM or Ctrl-C; then
//! stops taking calls, lets the calls in progress finish (up to `call.shutdown_grace_secs`),
//! ends the rest with a BYE, flushes the queue and returns.

use crate::alert::Dispatcher;
use crate::app::calls::{CallDesk, CallsInProgress};
use crate::app::console::calls::CallIndex;
use crate::app::console::{Console, ConsoleParts};
use crate::app::flow::{load_greeting, prepare_flow, speech_state, Flow, LiveFlow};
use crate::app::housekeeping;
use crate::app::logging::log_config_warnings;
use crate::app::notify::{self, Notifier};
use crate::app::services;
use crate::app::shutdown::shutdown_signal;
use crate::app::status::{self, AppStatus, Phase};
use crate::app::stores::{make_private, open_cache, open_queue};
use crate::app::supervisor::{AbortOnDrop, RestartPolicy, Service, Supervisor};
use crate::config::{Config, DataPaths};
use crate::queue::Outbox;
use crate::servicetitan::cache::StCache;
use crate::servicetitan::SyncWorker;
use crate::telephony::line::{self, AnsweredCall, LineSettings};
use crate::telephony::sip::udp::SipHandle;
use crate::telephony::sip::{udp, EndpointConfig};
use anyhow::{anyhow, Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Notify};
use tracing::{error, info, warn};

/// After the grace period, how long the calls that were ended get to write their records.
const RECORDS_BOUND: Duration = Duration::from_secs(10);
/// How long the BYEs of ended calls get to be answered.
const BYE_BOUND: Duration = Duration::from_secs(3);
/// How long the services get to stop once cancelled.
const SERVICES_BOUND: Duration = Duration::from_secs(5);
/// How often the main loop looks at the services' health (and pings systemd's watchdog).
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// How long the SIP endpoint may take to answer the watchdog's liveness question.
const SIP_ANSWER_BOUND: Duration = Duration::from_secs(2);

/// The running appliance, as shutdown needs it.
struct Running {
    config: Arc<Config>,
    paths: DataPaths,
    /// `None` when the data partition was too full for the queue to open.
    queue: Option<Outbox>,
    cache: Option<Arc<StCache>>,
    supervisor: Supervisor,
    calls: Arc<CallsInProgress>,
    /// Set at shutdown: the line refuses new calls with 486.
    stopping: watch::Sender<bool>,
    /// The SIP endpoint of the current run of the SIP service.
    sip: Arc<Mutex<Option<SipHandle>>>,
    status: Arc<AppStatus>,
    /// The web page asked for a restart and the line is idle.
    restart: Arc<Notify>,
}

impl Running {
    /// The SIP endpoint of the current run of the SIP service, if it runs.
    fn current_sip(&self) -> Option<SipHandle> {
        self.sip.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs the appliance until SIGINT or SIGTERM. Logging must have started: the
/// configuration's warnings are logged first.
pub async fn run(config: Config) -> Result<()> {
    let status = AppStatus::new(log_config_warnings(&config));
    let notifier = Notifier::from_env();
    let running = start(config, status.clone()).await?;
    status.set_phase(Phase::Running);
    notifier.ready(&status_line(&running));
    serve_until_stopped(&running, &notifier).await;
    stop(running, &notifier).await
}

/// Opens the stores, prepares the call flow, binds SIP and starts every service.
async fn start(mut config: Config, status: Arc<AppStatus>) -> Result<Running> {
    crate::trade::redact::show_full_numbers(config.log.full_numbers);
    let paths = config.data_paths();
    paths
        .create_all()
        .with_context(|| format!("creating the data directory {}", paths.root.display()))?;
    make_private(&paths);
    let greeting = load_greeting(&config)?;
    let queue = open_queue(&config, &paths)?;
    // sled locks the cache directory: this is the process's one handle to it, shared by the
    // call flow, the alerts and the sync.
    let cache = open_cache(&config, &paths);
    let mut supervisor = Supervisor::new(RestartPolicy::default(), status.services.clone());
    let shared = Shared {
        flow: Arc::new(std::sync::RwLock::new(Flow::Answering { voicemail: false })),
        sip: Arc::new(Mutex::new(None)),
        index: build_call_index(&paths).await,
        restart: Arc::new(Notify::new()),
        outbound: crate::app::pager::OutboundLine::new(),
    };
    let alerts = start_background_services(
        &mut supervisor,
        &config,
        &paths,
        queue.as_ref(),
        &cache,
        &status,
        &shared,
    )?;
    let flow = match &queue {
        Some(queue) => prepare_flow(&config, &paths, greeting.clone(), queue, cache.clone()).await,
        None => answering_without_queue(&paths),
    };
    // Issue 15: a box that can call out while a caller holds bridges "connect me to someone".
    let flow = crate::app::bridge::attach(
        flow,
        &config,
        &shared.outbound,
        queue.as_ref(),
        &cache,
        alerts,
    );
    status.set_speech(speech_state(&flow, &config));
    let weather = crate::app::weather::start(&mut supervisor, &config, &paths);
    *shared.flow.write().unwrap_or_else(|e| e.into_inner()) = flow;

    let (socket, local) = bind_sip(&mut config).await?;
    status.set_sip_address(local);
    let config = Arc::new(config);
    say_listening(&config, &paths, local);
    let desk = Arc::new(CallDesk {
        config: config.clone(),
        paths: paths.clone(),
        greeting,
        flow: shared.flow.clone(),
        index: shared.index.clone(),
        queue: queue.clone(),
        weather,
    });
    let lines = start_call_handling(
        &mut supervisor,
        desk,
        (socket, local),
        (shared.sip.clone(), shared.outbound.clone()),
        &status,
    );
    Ok(Running {
        config,
        paths,
        queue,
        cache,
        supervisor,
        calls: lines.calls,
        stopping: lines.stopping,
        sip: lines.sip,
        status,
        restart: shared.restart,
    })
}

/// What call handling and the web page's console share.
struct Shared {
    flow: LiveFlow,
    sip: Arc<Mutex<Option<SipHandle>>>,
    index: Arc<CallIndex>,
    restart: Arc<Notify>,
    /// Calls the box places (page calls): the SIP line takes them from here. Hook for the
    /// paging ladder: `crate::app::pager::LinePager::new(shared.outbound.clone(), ..)`.
    outbound: crate::app::pager::OutboundLine,
}

/// The web page's call index, read from the call records off the reactor.
async fn build_call_index(paths: &DataPaths) -> Arc<CallIndex> {
    let dir = paths.calls.clone();
    let started = std::time::Instant::now();
    let index = tokio::task::spawn_blocking(move || CallIndex::build(&dir))
        .await
        .unwrap_or_else(|_| CallIndex::build(&paths.calls));
    info!(
        calls = index.len(),
        ms = started.elapsed().as_millis() as u64,
        "call index built"
    );
    Arc::new(index)
}

/// Everything beside call handling: compaction, alerts, the sync, housekeeping, the web page,
/// the status file. Without a queue (data partition full) only housekeeping and the status file run.
/// Returns the running alert dispatcher (the bridge asks it whom to ring).
fn start_background_services(
    supervisor: &mut Supervisor,
    config: &Config,
    paths: &DataPaths,
    queue: Option<&Outbox>,
    cache: &Option<Arc<StCache>>,
    status: &Arc<AppStatus>,
    shared: &Shared,
) -> Result<Option<Arc<Dispatcher>>> {
    let mut handles = Handles::default();
    if let Some(queue) = queue {
        let pager = phone_pager(config, shared, status);
        let (services, found) = background_services(config, queue, cache.clone(), pager)?;
        handles = found;
        for service in services {
            supervisor.spawn(service);
        }
    }
    if let Some(survey) = crate::app::survey::box_service(
        config,
        handles.sync.as_deref(),
        &shared.outbound,
        status,
        &shared.flow,
    ) {
        supervisor.spawn(survey);
    }
    supervisor.spawn(housekeeping_service(
        config,
        paths,
        queue,
        cache.clone(),
        status,
    ));
    let console = Console::new(
        ConsoleParts {
            config: Arc::new(config.clone()),
            paths: paths.clone(),
            status: status.clone(),
            queue: queue.cloned(),
            cache: cache.clone(),
            sync: handles.sync,
            alerts: handles.alerts.clone(),
            flow: shared.flow.clone(),
            index: shared.index.clone(),
            restart: shared.restart.clone(),
        },
        tokio::runtime::Handle::current(),
    );
    supervisor.spawn(services::web(config, Arc::new(console)));
    supervisor.spawn(status::status_writer(
        status.clone(),
        queue.cloned(),
        status::status_path(&paths.root),
    ));
    Ok(handles.alerts)
}

/// The call flow when the queue could not open: the greeting, and nothing queued.
fn answering_without_queue(paths: &DataPaths) -> Flow {
    error!(
        "CALL MODE: answering, NOTHING CAN BE QUEUED — the data partition is full and the job \
         queue cannot open: callers hear the greeting; free space under {} and restart callbox",
        paths.root.display()
    );
    Flow::Answering { voicemail: false }
}

/// What shutdown needs of call handling.
struct CallHandling {
    calls: Arc<CallsInProgress>,
    stopping: watch::Sender<bool>,
    sip: Arc<Mutex<Option<SipHandle>>>,
}

/// The SIP endpoint and line, and the intake that gives every answered call its own task.
fn start_call_handling(
    supervisor: &mut Supervisor,
    desk: Arc<CallDesk>,
    (socket, local): (UdpSocket, SocketAddr),
    (sip, outbound): (
        Arc<Mutex<Option<SipHandle>>>,
        crate::app::pager::OutboundLine,
    ),
    status: &Arc<AppStatus>,
) -> CallHandling {
    let (calls_tx, calls_rx) = mpsc::channel::<AnsweredCall>(8);
    let (stopping, stopping_rx) = watch::channel(false);
    supervisor.spawn(sip_service(
        desk.config.clone(),
        socket,
        local,
        calls_tx,
        stopping_rx,
        sip.clone(),
        outbound,
    ));
    let calls = CallsInProgress::new(status.clone());
    supervisor.spawn(intake_service(desk, calls_rx, calls.clone()));
    CallHandling {
        calls,
        stopping,
        sip,
    }
}

/// The background services the web page's console reads.
#[derive(Default)]
struct Handles {
    sync: Option<Arc<SyncWorker>>,
    alerts: Option<Arc<Dispatcher>>,
}

/// Compaction, alerts and the sync: the services beside call handling.
/// The paging ladder's phone channel: page calls over the shop's line (`[sip]
/// outbound_target`), waiting while a caller is on it. `None` when the box cannot dial out or
/// cannot speak: the ladder then has no phone channel (webhook/ntfy only), and says so.
fn phone_pager(
    config: &Config,
    shared: &Shared,
    status: &Arc<AppStatus>,
) -> Option<Arc<dyn crate::alert::PhonePager>> {
    if config.sip.outbound_target.is_empty() {
        warn!("sip.outbound_target is empty: the box cannot page the on-call technician by phone");
        return None;
    }
    let status = status.clone();
    let busy: crate::app::pager::LineBusy = Arc::new(move || status.calls_in_progress() > 0);
    match crate::app::pager::box_pager(config, shared.outbound.clone(), busy) {
        Ok(pager) => Some(Arc::new(pager)),
        Err(err) => {
            warn!("no page calls by phone: {err}");
            None
        }
    }
}

fn background_services(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
    pager: Option<Arc<dyn crate::alert::PhonePager>>,
) -> Result<(Vec<Service>, Handles)> {
    let mut list = vec![services::compaction(queue)];
    let alerts =
        services::alerts(config, queue, cache.clone(), pager)?.map(|(service, dispatcher)| {
            list.push(service);
            dispatcher
        });
    list.extend(crate::app::sms::booking_texts(
        config,
        queue,
        cache.clone(),
    )?);
    let sync = services::sync(config, queue, cache).map(|(service, worker)| {
        list.push(service);
        worker
    });
    Ok((list, Handles { sync, alerts }))
}

/// Housekeeping: recordings and call records within their age and disk budget (never an
/// unsynced call's), cache eviction by age. Each pass's report goes onto the status.
fn housekeeping_service(
    config: &Config,
    paths: &DataPaths,
    queue: Option<&Outbox>,
    cache: Option<Arc<StCache>>,
    status: &Arc<AppStatus>,
) -> Service {
    let settings = housekeeping::Settings::from_config(config);
    let unsynced = match queue {
        Some(queue) => housekeeping::Unsynced::Queue(queue.clone()),
        None => housekeeping::Unsynced::Mirror(paths.queue.clone()),
    };
    info!(
        retention_days = config.storage.retention_days,
        budget_mb = config.storage.recordings_budget_mb,
        reserve_mb = config.storage.queue_reserve_mb,
        cache_max_age_days = config.storage.cache_max_age_days,
        "housekeeping started"
    );
    let (report, reports) = tokio::sync::watch::channel(Default::default());
    let report = Arc::new(report);
    let status = status.clone();
    Service::new("housekeeping", move |token| {
        let pass = housekeeping::run(
            settings.clone(),
            unsynced.clone(),
            cache.clone(),
            report.clone(),
        );
        let status = status.clone();
        let mut reports = reports.clone();
        Box::pin(async move {
            tokio::pin!(pass);
            loop {
                tokio::select! {
                    () = &mut pass => return Err(anyhow!("the housekeeping loop ended")),
                    changed = reports.changed() => {
                        if changed.is_ok() {
                            status.set_housekeeping(reports.borrow_and_update().clone());
                        }
                    }
                    () = token.cancelled() => return Ok(()),
                }
            }
        })
    })
}

/// Binds the SIP socket and settles the address the box advertises.
async fn bind_sip(config: &mut Config) -> Result<(UdpSocket, SocketAddr)> {
    let socket = UdpSocket::bind(config.sip.listen)
        .await
        .with_context(|| format!("binding SIP to udp://{}", config.sip.listen))?;
    let local = socket
        .local_addr()
        .context("reading the SIP socket address")?;
    config.sip.public_address = Some(advertised_ip(config, local));
    Ok((socket, local))
}

fn say_listening(config: &Config, paths: &DataPaths, local: SocketAddr) {
    info!(
        sip = %local,
        data_dir = %paths.root.display(),
        allowed_peers = ?config.sip.allowed_peers,
        "callbox listening for calls on udp://{local}"
    );
}

/// The SIP endpoint and the line, as one service: the line holds the endpoint's handle, so
/// they stop and restart together. The first run uses the socket bound at start-up; a restart
/// binds the same address (`local`) again.
fn sip_service(
    config: Arc<Config>,
    socket: UdpSocket,
    local: SocketAddr,
    calls: mpsc::Sender<AnsweredCall>,
    stopping: watch::Receiver<bool>,
    current: Arc<Mutex<Option<SipHandle>>>,
    outbound: crate::app::pager::OutboundLine,
) -> Service {
    let mut first = Some(socket);
    let dials = outbound.receiver();
    Service::new("sip", move |token| {
        let socket = first.take();
        let (config, calls, stopping, current, dials) = (
            config.clone(),
            calls.clone(),
            stopping.clone(),
            current.clone(),
            dials.clone(),
        );
        Box::pin(async move {
            let socket = match socket {
                Some(socket) => socket,
                None => UdpSocket::bind(local)
                    .await
                    .with_context(|| format!("binding SIP to udp://{local} again"))?,
            };
            let endpoint_config = EndpointConfig::from_config(&config.sip, local);
            // The ATA's registrations outlive a restart (sip.require_registration).
            let kept = config
                .data_paths()
                .root
                .join("run")
                .join("sip-registrations.json");
            let (sip, events, task) =
                udp::spawn_keeping_registrations(socket, endpoint_config, kept)
                    .context("starting the SIP endpoint")?;
            let mut endpoint = AbortOnDrop(task);
            *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(sip.clone());
            let mut dials = dials.lock().await;
            tokio::select! {
                ended = &mut endpoint.0 => Err(match ended {
                    Ok(()) => anyhow!("the SIP endpoint stopped"),
                    Err(err) => anyhow!("the SIP endpoint failed: {err}"),
                }),
                () = line::run(Arc::new(line_settings(&config)), sip, events, calls, stopping, &mut dials) => {
                    // The line ends when the endpoint's events do: name the endpoint's fate
                    // (a panic) when that is why.
                    match tokio::time::timeout(Duration::from_secs(1), &mut endpoint.0).await {
                        Ok(Err(err)) => Err(anyhow!("the SIP endpoint failed: {err}")),
                        _ => Err(anyhow!("the line stopped")),
                    }
                }
                () = token.cancelled() => Ok(()),
            }
        })
    })
    .critical()
}

#[cfg(test)]
#[path = "run_sip_tests.rs"]
mod sip_tests;

/// Hands every answered call to its own task.
fn intake_service(
    desk: Arc<CallDesk>,
    answered: mpsc::Receiver<AnsweredCall>,
    calls: Arc<CallsInProgress>,
) -> Service {
    let answered = Arc::new(tokio::sync::Mutex::new(answered));
    Service::new("calls", move |token| {
        let (desk, answered, calls) = (desk.clone(), answered.clone(), calls.clone());
        Box::pin(async move {
            let mut answered = answered.lock().await;
            loop {
                tokio::select! {
                    call = answered.recv() => match call {
                        Some(call) => calls.start(call, desk.clone()),
                        None => return Err(anyhow!("the line's call channel closed")),
                    },
                    () = token.cancelled() => return Ok(()),
                }
            }
        })
    })
    .critical()
}

/// Until SIGTERM or Ctrl-C: pings systemd's watchdog while every critical service runs (a
/// wedged reactor stops the pings, and systemd restarts the box) and keeps `STATUS=` current.
async fn serve_until_stopped(running: &Running, notifier: &Notifier) {
    let watchdog = notify::watchdog_interval();
    let every = watchdog.map_or(HEALTH_EVERY, |w| w.min(HEALTH_EVERY));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut said = String::new();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = running.restart.notified() => {
                info!("restart asked for from the web page: stopping; systemd starts callbox again");
                return;
            }
            _ = tick.tick() => {}
        }
        if watchdog.is_some() {
            keep_watchdog(running, notifier).await;
        }
        note_ata_contact(running).await;
        follow_update_hold(running);
        let line = status_line(running);
        if line != said {
            notifier.status(&line);
            said = line;
        }
    }
}

/// Pings the watchdog when the SIP endpoint answers (its task is being run: the reactor is
/// not wedged) and every critical service runs.
async fn keep_watchdog(running: &Running, notifier: &Notifier) {
    if !sip_answers(running).await {
        warn!("the SIP endpoint does not answer: not pinging the watchdog");
    } else if !notify::ping_if_healthy(notifier, &running.status.services) {
        warn!(services = ?running.status.services.snapshot(), "a critical service is not running: not pinging the watchdog");
    }
}

/// While the updater holds the line (`update.busy_during_switch`, `<update root>/hold-calls`
/// fresh), new calls are answered busy; calls in progress go on.
fn follow_update_hold(running: &Running) {
    if !running.config.update.busy_during_switch {
        return;
    }
    let install = crate::update::install::Installation::new(&running.config.update.root);
    let held = install.hold_active(std::time::SystemTime::now());
    if *running.stopping.borrow() != held {
        if held {
            info!("the updater is about to switch releases: new calls get busy");
        } else {
            info!("the updater's hold is over: answering new calls again");
        }
        let _ = running.stopping.send(held);
    }
}

/// Puts the ATA's last SIP contact (from the endpoint's counters) onto the status.
async fn note_ata_contact(running: &Running) {
    let sip = running.current_sip();
    let Some(sip) = sip else { return };
    let Ok(Ok(status)) = tokio::time::timeout(SIP_ANSWER_BOUND, sip.status()).await else {
        return;
    };
    if let Some((at, from)) = status.stats.last_peer_contact {
        let ago = chrono::Duration::from_std(at.elapsed()).unwrap_or_default();
        running.status.set_ata_contact(status::AtaContact {
            at: chrono::Utc::now() - ago,
            from,
        });
    }
}

/// True when the current SIP endpoint answers a status request within [`SIP_ANSWER_BOUND`].
async fn sip_answers(running: &Running) -> bool {
    let sip = running.current_sip();
    match sip {
        Some(sip) => tokio::time::timeout(SIP_ANSWER_BOUND, sip.status())
            .await
            .is_ok_and(|status| status.is_ok()),
        None => false,
    }
}

/// One line for `systemctl status`.
fn status_line(running: &Running) -> String {
    let calls = running.calls.count();
    let unhealthy: Vec<&str> = running
        .status
        .services
        .snapshot()
        .into_iter()
        .filter(|(_, s)| {
            !matches!(
                s.state,
                crate::app::supervisor::ServiceState::Running { .. }
            )
        })
        .map(|(name, _)| name)
        .collect();
    let addr = running.config.sip.listen;
    if unhealthy.is_empty() {
        format!("answering on udp://{addr}; {calls} calls in progress")
    } else {
        format!(
            "answering on udp://{addr}; {calls} calls in progress; restarting: {}",
            unhealthy.join(", ")
        )
    }
}

/// New calls get busy; calls in progress finish within the grace period, then the rest are
/// ended with a BYE; every record is written; the services stop; the queue is flushed.
async fn stop(running: Running, notifier: &Notifier) -> Result<()> {
    let grace = Duration::from_secs(running.config.call.shutdown_grace_secs);
    running.status.set_phase(Phase::Stopping);
    let _ = running.stopping.send(true);
    let in_progress = running.calls.count();
    info!(
        calls = in_progress,
        grace_secs = grace.as_secs(),
        "shutting down: new calls get busy; calls in progress may finish"
    );
    notifier.stopping(&format!(
        "stopping: {in_progress} calls in progress may finish within {} s",
        grace.as_secs()
    ));
    finish_calls(&running, grace).await;
    wait_for_byes(&running).await;
    running.supervisor.shutdown(SERVICES_BOUND).await;
    flush_stores(running.queue.as_ref(), running.cache.as_deref()).await;
    running.status.set_phase(Phase::Stopped);
    let path = status::status_path(&running.paths.root);
    if let Err(err) = status::write_status(&path, &running.status.report(running.queue.as_ref())) {
        warn!(error = %format!("{err:#}"), "the final status could not be written");
    }
    info!("stopped");
    Ok(())
}

/// Waits for the calls in progress; after `grace`, ends the rest and waits for their records.
async fn finish_calls(running: &Running, grace: Duration) {
    if running.calls.wait(grace).await {
        return;
    }
    warn!(
        calls = running.calls.count(),
        "grace period over: ending the calls still in progress"
    );
    running.calls.end_all();
    if !running.calls.wait(RECORDS_BOUND).await {
        error!(
            calls = running.calls.count(),
            "calls did not finish within {RECORDS_BOUND:?} of being ended; their records may be missing"
        );
    }
}

/// Gives the BYEs of ended calls time to be answered before the endpoint stops.
async fn wait_for_byes(running: &Running) {
    let sip = running.current_sip();
    let Some(sip) = sip else { return };
    let deadline = tokio::time::Instant::now() + BYE_BOUND;
    while tokio::time::Instant::now() < deadline {
        match sip.status().await {
            Ok(s) if s.live_calls > 0 => tokio::time::sleep(Duration::from_millis(50)).await,
            _ => return,
        }
    }
    warn!("calls still open at the SIP layer after {BYE_BOUND:?}; stopping anyway");
}

async fn flush_stores(queue: Option<&Outbox>, cache: Option<&StCache>) {
    if let Some(queue) = queue {
        match queue.flush().await {
            Ok(()) => info!("job queue flushed"),
            Err(err) => error!(error = %err, "flushing the job queue failed"),
        }
    }
    if let Some(cache) = cache {
        if let Err(err) = cache.flush().await {
            warn!(error = %err, "flushing the ServiceTitan cache failed");
        }
    }
}

/// The address the box writes into Contact and SDP: the configured one, the bound one, or,
/// when bound to a wildcard, the local interface that routes to the ATA (a UDP connect sends
/// nothing; it only asks the kernel which interface it would use).
fn advertised_ip(config: &Config, bound: SocketAddr) -> IpAddr {
    if let Some(ip) = config.sip.public_address {
        return ip;
    }
    if !bound.ip().is_unspecified() {
        return bound.ip();
    }
    for net in &config.sip.allowed_peers {
        let peer = net.network();
        if peer.is_unspecified() || peer.is_loopback() {
            continue;
        }
        let probe = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.connect((peer, 5060)).and_then(|_| s.local_addr()));
        if let Ok(local) = probe {
            return local.ip();
        }
    }
    warn!("cannot tell which address the ATA reaches the box on; set sip.public_address");
    IpAddr::from([127, 0, 0, 1])
}

/// The line's part of the configuration.
fn line_settings(config: &Config) -> LineSettings {
    LineSettings {
        sip: config.sip.clone(),
        media: config.media.clone(),
        default_country: config.shop.default_country.clone(),
    }
}
