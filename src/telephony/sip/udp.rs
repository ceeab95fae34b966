//! Runs the [`Endpoint`] on a UDP socket: datagrams and the clock in, datagrams and call
//! events out, commands from the application applied between them. One task owns the
//! endpoint, so the protocol core needs no locks.

use super::endpoint::{CallEvent, CallKey, Endpoint, EndpointConfig, EndpointError, OutgoingCall};
use super::registrar::SavedBinding;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

/// A command could not be carried out.
#[derive(Debug, Error)]
pub enum SipCommandError {
    #[error("the SIP endpoint has stopped")]
    Stopped,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
}

#[derive(Debug)]
enum Command {
    Answer(CallKey, Vec<u8>, oneshot::Sender<Result<(), EndpointError>>),
    Reject(
        CallKey,
        u16,
        String,
        oneshot::Sender<Result<(), EndpointError>>,
    ),
    AnswerReoffer(CallKey, Vec<u8>, oneshot::Sender<Result<(), EndpointError>>),
    RejectReoffer(
        CallKey,
        u16,
        String,
        oneshot::Sender<Result<(), EndpointError>>,
    ),
    HangUp(CallKey, oneshot::Sender<Result<(), EndpointError>>),
    Place(Box<OutgoingCall>, oneshot::Sender<CallKey>),
    Status(oneshot::Sender<SipStatus>),
}

/// A snapshot for the status page.
#[derive(Debug, Clone)]
pub struct SipStatus {
    pub local_addr: SocketAddr,
    pub live_calls: usize,
    pub stats: super::endpoint::EndpointStats,
    /// (address-of-record, contact, seconds left)
    pub registrations: Vec<(String, String, u64)>,
}

/// The application's handle on the running endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SipHandle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
}

macro_rules! call_command {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (tx, rx) = oneshot::channel();
        $self
            .commands
            .send(Command::$variant($($arg,)* tx))
            .await
            .map_err(|_| SipCommandError::Stopped)?;
        rx.await.map_err(|_| SipCommandError::Stopped)?.map_err(SipCommandError::from)
    }};
}

impl SipHandle {
    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub async fn answer(&self, call: CallKey, sdp: Vec<u8>) -> Result<(), SipCommandError> {
        call_command!(self, Answer, call, sdp)
    }

    pub async fn reject(
        &self,
        call: CallKey,
        status: u16,
        reason: &str,
    ) -> Result<(), SipCommandError> {
        call_command!(self, Reject, call, status, reason.to_string())
    }

    pub async fn answer_reoffer(&self, call: CallKey, sdp: Vec<u8>) -> Result<(), SipCommandError> {
        call_command!(self, AnswerReoffer, call, sdp)
    }

    pub async fn reject_reoffer(
        &self,
        call: CallKey,
        status: u16,
        reason: &str,
    ) -> Result<(), SipCommandError> {
        call_command!(self, RejectReoffer, call, status, reason.to_string())
    }

    pub async fn hang_up(&self, call: CallKey) -> Result<(), SipCommandError> {
        call_command!(self, HangUp, call)
    }

    /// Places a call (INVITE); its progress arrives as call events for the returned key.
    pub async fn place_call(&self, request: OutgoingCall) -> Result<CallKey, SipCommandError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Place(Box::new(request), tx))
            .await
            .map_err(|_| SipCommandError::Stopped)?;
        rx.await.map_err(|_| SipCommandError::Stopped)
    }

    pub async fn status(&self) -> Result<SipStatus, SipCommandError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Status(tx))
            .await
            .map_err(|_| SipCommandError::Stopped)?;
        rx.await.map_err(|_| SipCommandError::Stopped)
    }
}

/// Starts the endpoint on a bound socket. Call events arrive on the returned receiver; the
/// task ends when every [`SipHandle`] is dropped.
pub fn spawn(socket: UdpSocket, config: EndpointConfig) -> std::io::Result<Spawned> {
    spawn_inner(socket, config, None)
}

/// [`spawn`], keeping the REGISTER bindings in `file` (JSON, written atomically after each
/// accepted REGISTER) and taking back the live ones at start: after a restart the
/// registered-ATA mode still knows the ATA until its registration expires.
pub fn spawn_keeping_registrations(
    socket: UdpSocket,
    config: EndpointConfig,
    file: PathBuf,
) -> std::io::Result<Spawned> {
    spawn_inner(socket, config, Some(file))
}

/// The handle, the call events and the endpoint's task.
pub type Spawned = (
    SipHandle,
    mpsc::UnboundedReceiver<CallEvent>,
    JoinHandle<()>,
);

fn spawn_inner(
    socket: UdpSocket,
    config: EndpointConfig,
    file: Option<PathBuf>,
) -> std::io::Result<Spawned> {
    let local_addr = socket.local_addr()?;
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let mut endpoint = Endpoint::new(config);
    if let Some(file) = &file {
        restore_registrations(&mut endpoint, file);
    }
    let task = tokio::spawn(run(socket, endpoint, cmd_rx, ev_tx, file));
    Ok((
        SipHandle {
            commands: cmd_tx,
            local_addr,
        },
        ev_rx,
        task,
    ))
}

/// Takes back the bindings an earlier run kept in `file`; a missing file is a first start,
/// an unreadable one is logged and ignored (the ATA registers again within minutes).
fn restore_registrations(endpoint: &mut Endpoint, file: &std::path::Path) {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
        Err(err) => {
            warn!(file = %file.display(), error = %err, "cannot read the kept SIP registrations");
            return;
        }
    };
    match serde_json::from_slice::<Vec<SavedBinding>>(&bytes) {
        Ok(saved) => {
            let kept = saved.len();
            endpoint.restore_registrations(Instant::now(), SystemTime::now(), saved);
            let live = endpoint.registrations(Instant::now()).len();
            info!(kept, live, "SIP registrations taken back from the last run");
        }
        Err(err) => {
            warn!(file = %file.display(), error = %err, "kept SIP registrations unreadable; ignored")
        }
    }
}

/// Writes the bindings to `file` (atomically, off the reactor) when a REGISTER changed them.
async fn keep_registrations(endpoint: &mut Endpoint, file: &std::path::Path) {
    let Some(saved) = endpoint.changed_registrations(Instant::now(), SystemTime::now()) else {
        return;
    };
    let bytes = match serde_json::to_vec_pretty(&saved) {
        Ok(bytes) => bytes,
        Err(err) => return warn!(error = %err, "cannot encode the SIP registrations"),
    };
    let path = file.to_path_buf();
    let written = tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::infra::fs::write_atomic(&path, &bytes)
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            warn!(file = %file.display(), error = %err, "cannot keep the SIP registrations")
        }
        Err(err) => warn!(error = %err, "keeping the SIP registrations failed"),
    }
}

async fn run(
    socket: UdpSocket,
    mut endpoint: Endpoint,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<CallEvent>,
    file: Option<PathBuf>,
) {
    let local_addr = socket.local_addr().ok();
    // Whole datagrams are read so oversized ones can be recognised and dropped by the core.
    let mut buf = vec![0u8; 65_536];
    loop {
        let wake = endpoint
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, source)) => handle_datagram(&mut endpoint, source, &buf[..len]),
                // Linux reports an earlier send's ICMP port-unreachable here; not fatal.
                Err(err) => debug!(error = %err, "UDP receive error"),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                endpoint.handle_timeout(Instant::now());
            }
            command = commands.recv() => match command {
                Some(command) => apply(&mut endpoint, command, local_addr),
                None => break,
            },
        }
        while let Some(transmit) = endpoint.poll_transmit() {
            if let Err(err) = socket
                .send_to(&transmit.payload, transmit.destination)
                .await
            {
                warn!(destination = %transmit.destination, error = %err, "SIP send failed");
            }
        }
        while let Some(event) = endpoint.poll_event() {
            if events.send(event).is_err() {
                return;
            }
        }
        if let Some(file) = &file {
            keep_registrations(&mut endpoint, file).await;
        }
    }
}

/// Hands one datagram to the endpoint. A panic while handling it (the parser library is
/// guarded already; this is the net under the endpoint's own code) is caught, counted and
/// logged, and the endpoint goes on: its tables stay sound (no unsafe code), at worst one
/// call's state is left behind and its timers end it. A panic anywhere else (timers,
/// commands) ends this task, and the supervisor restarts the SIP service.
fn handle_datagram(endpoint: &mut Endpoint, source: SocketAddr, data: &[u8]) {
    let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        endpoint.handle_datagram(Instant::now(), source, data)
    }));
    if handled.is_err() {
        endpoint.count_panic();
        error!(%source, bytes = data.len(), panics = endpoint.stats().panics,
               "handling a SIP datagram panicked: dropped it, the endpoint goes on");
    }
}

fn apply(endpoint: &mut Endpoint, command: Command, local_addr: Option<SocketAddr>) {
    let now = Instant::now();
    match command {
        Command::Answer(call, sdp, reply) => {
            let _ = reply.send(endpoint.answer(now, call, &sdp));
        }
        Command::Reject(call, status, reason, reply) => {
            let _ = reply.send(endpoint.reject(now, call, status, &reason));
        }
        Command::AnswerReoffer(call, sdp, reply) => {
            let _ = reply.send(endpoint.answer_reoffer(now, call, &sdp));
        }
        Command::RejectReoffer(call, status, reason, reply) => {
            let _ = reply.send(endpoint.reject_reoffer(now, call, status, &reason));
        }
        Command::HangUp(call, reply) => {
            let _ = reply.send(endpoint.hang_up(now, call));
        }
        Command::Place(request, reply) => {
            let _ = reply.send(endpoint.place_call(now, *request));
        }
        Command::Status(reply) => {
            let _ = reply.send(SipStatus {
                local_addr: local_addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                live_calls: endpoint.live_calls(),
                stats: endpoint.stats(),
                registrations: endpoint.registrations(now),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::sip::endpoint::{PANIC_IN_ENDPOINT, PANIC_IN_TIMERS};
    use crate::telephony::sip::message::PANIC_IN_PARSER;

    fn config(local: SocketAddr) -> EndpointConfig {
        EndpointConfig::from_config(&crate::telephony::settings::SipConfig::default(), local)
    }

    fn options(to: SocketAddr, from: SocketAddr, n: u32) -> Vec<u8> {
        format!(
            "OPTIONS sip:callbox@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-o{n}\r\n\
             From: <sip:ata@{from}>;tag=o{n}\r\nTo: <sip:callbox@{to}>\r\nCall-ID: o{n}@test\r\n\
             CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    async fn answered(peer: &UdpSocket) -> String {
        let mut buf = vec![0u8; 65_536];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
            .await
            .expect("an answer within 5 s")
            .expect("recv");
        String::from_utf8_lossy(&buf[..len])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    /// A panic while handling a datagram (in the parser, or in the endpoint past the parser's
    /// guard) drops that datagram only: it is counted, and the next OPTIONS is answered.
    #[tokio::test]
    async fn a_panic_on_one_datagram_does_not_stop_the_endpoint() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("addr");
        let (sip, _events, task) = spawn(socket, config(local)).expect("spawn");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let me = peer.local_addr().expect("addr");
        for (n, trigger) in [(1u32, PANIC_IN_ENDPOINT), (2, PANIC_IN_PARSER)] {
            let mut datagram = trigger.to_vec();
            datagram.extend_from_slice(&options(local, me, n));
            peer.send_to(&datagram, local).await.expect("send");
            peer.send_to(&options(local, me, n + 10), local)
                .await
                .expect("send");
            assert_eq!(answered(&peer).await, "SIP/2.0 200 OK");
            assert_eq!(
                sip.status().await.expect("status").stats.panics,
                u64::from(n)
            );
        }
        assert!(!task.is_finished());
    }

    /// A panic outside the per-datagram guard ends the endpoint's task, and its join handle
    /// says it panicked: the SIP service returns that as its error and the supervisor starts
    /// it again (`app::run`'s `sip_service`, tested there).
    #[tokio::test]
    async fn a_panic_in_the_timers_ends_the_task_visibly() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("addr");
        let (_sip, _events, task) = spawn(socket, config(local)).expect("spawn");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        peer.send_to(PANIC_IN_TIMERS, local).await.expect("send");
        let ended = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ends");
        assert!(ended.is_err_and(|e| e.is_panic()));
    }
}
