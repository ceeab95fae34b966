//! `callbox run`: opens the stores, starts the services, binds SIP and hands every answered
//! call to its call flow, until SIGTERM or Ctrl-C.

use crate::app::calls::{handle_call, CallDesk};
use crate::app::flow::{load_greeting, prepare_flow};
use crate::app::services;
use crate::app::shutdown::shutdown_signal;
use crate::app::stores::{open_cache, open_queue};
use crate::app::supervisor::Service;
use crate::config::{Config, DataPaths};
use crate::queue::Outbox;
use crate::servicetitan::cache::StCache;
use crate::telephony::line::{self, AnsweredCall};
use crate::telephony::sip::{udp, EndpointConfig};
use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Runs the appliance until SIGINT or SIGTERM.
pub async fn run(mut config: Config) -> Result<()> {
    let paths = config.data_paths();
    paths
        .create_all()
        .with_context(|| format!("creating the data directory {}", paths.root.display()))?;
    let greeting = load_greeting(&config)?;
    let queue = open_queue(&config, &paths)?;
    // sled locks the cache directory: this is the process's one handle to it, shared by the
    // call flow, the alerts and the sync.
    let cache = open_cache(&paths);
    let token = CancellationToken::new();
    for mut service in background_services(&config, &queue, cache.clone())? {
        tokio::spawn(service.start(token.clone()));
    }
    let flow = prepare_flow(&config, &paths, greeting.clone(), &queue, cache).await;

    let socket = bind_sip(&config).await?;
    let local = socket
        .local_addr()
        .context("reading the SIP socket address")?;
    config.sip.public_address = Some(advertised_ip(&config, local));
    let config = Arc::new(config);
    let endpoint_config = EndpointConfig::from_config(&config.sip, local);
    let (sip, events, sip_task) =
        udp::spawn(socket, endpoint_config).context("starting the SIP endpoint")?;
    say_listening(&config, &paths, local);

    let (calls_tx, calls_rx) = mpsc::channel::<AnsweredCall>(8);
    let line_task = tokio::spawn(line::run(config.clone(), sip.clone(), events, calls_tx));
    let desk = Arc::new(CallDesk {
        config,
        paths,
        greeting,
        flow,
        queue,
    });
    take_calls(desk, calls_rx).await;
    token.cancel();
    line_task.abort();
    sip_task.abort();
    Ok(())
}

/// Compaction, alerts and the sync: the services beside call handling.
fn background_services(
    config: &Config,
    queue: &Outbox,
    cache: Option<Arc<StCache>>,
) -> Result<Vec<Service>> {
    let mut list = vec![services::compaction(queue)];
    list.extend(services::alerts(config, queue, cache.clone())?);
    list.extend(services::sync(config, queue, cache));
    Ok(list)
}

async fn bind_sip(config: &Config) -> Result<UdpSocket> {
    UdpSocket::bind(config.sip.listen)
        .await
        .with_context(|| format!("binding SIP to udp://{}", config.sip.listen))
}

fn say_listening(config: &Config, paths: &DataPaths, local: SocketAddr) {
    info!(
        sip = %local,
        data_dir = %paths.root.display(),
        allowed_peers = ?config.sip.allowed_peers,
        "callbox listening for calls on udp://{local}"
    );
}

/// Hands every answered call to its own task until the line stops or the box is stopped.
async fn take_calls(desk: Arc<CallDesk>, mut calls: mpsc::Receiver<AnsweredCall>) {
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            call = calls.recv() => match call {
                Some(call) => {
                    let desk = desk.clone();
                    tokio::spawn(async move {
                        if let Err(err) = handle_call(call, &desk).await {
                            error!(error = %err, "call record could not be written");
                        }
                    });
                }
                None => {
                    error!("the line stopped; exiting so systemd restarts the box");
                    return;
                }
            },
            _ = &mut shutdown => {
                info!("shutting down");
                return;
            }
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
