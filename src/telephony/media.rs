//! The RTP media session: an [`AudioPort`] carried over UDP to and from the ATA.
//!
//! One tokio task per call owns the RTP and RTCP sockets. It receives RTP (latching onto
//! where the peer actually sends from: symmetric RTP), hands audio through the jitter buffer
//! and G.711 decoder to the port as one frame every 20 ms, turns RFC 4733 events (and, when
//! enabled, in-band tones) into digits, and sends one RTP packet every 20 ms taken from the
//! port's playback queue, silence when nothing is queued.
//!
//! The protocol logic lives in the sans-IO modules ([`super::rtp`], [`super::jitter`],
//! [`super::dtmf`], [`super::g711`]); this file is the I/O loop and the call-level policy.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::audio_port::{
    port_pair, AudioFrame, AudioPort, DigitEvent, DigitSource, EndReason, PortBackend, PortEvent,
    FRAME_SAMPLES, SAMPLE_RATE,
};
use super::dtmf::{EventDeduper, TelephoneEvent, ToneDetector};
use super::g711;
use super::jitter::{JitterBuffer, JitterStats, PushOutcome};
use super::rtp::{looks_like_rtcp, RtpHeader, RtpPacket, SequenceTracker};
use crate::telephony::settings::{Codec, MediaConfig};

/// The packet clock: one 20 ms frame per packet.
pub const PACKET_INTERVAL: Duration = Duration::from_millis(20);
/// Static payload type for comfort noise (RFC 3389); counted, not played.
const PT_COMFORT_NOISE: u8 = 13;
/// Behind the packet clock by more than this (a stalled or suspended box), skip ahead
/// instead of bursting every missed packet at the peer.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// A latched peer silent this long may re-latch from a new port (NAT rebinding, ATA restart).
const RELATCH_AFTER: Duration = Duration::from_secs(1);
/// In-band digits wait this many ticks for an RFC 4733 event of the same press to show up.
const INBAND_HOLDBACK_TICKS: u32 = 6;
/// Consecutive receive errors treated as a dead socket.
const MAX_RECV_ERRORS: u32 = 100;
/// Largest datagram read; G.711 packets are far smaller.
const MAX_DATAGRAM: usize = 2048;

/// Errors setting up or controlling a media session.
#[derive(Debug, Error)]
pub enum MediaError {
    #[error("RTP port range {min}-{max} has no even port with a free port above it")]
    BadPortRange { min: u16, max: u16 },
    #[error("no free RTP/RTCP port pair on {ip} in {min}-{max}")]
    NoFreePorts { ip: IpAddr, min: u16, max: u16 },
    #[error("RTP socket: {0}")]
    Io(#[from] io::Error),
    #[error("media session parameter: {0}")]
    InvalidParams(&'static str),
    #[error("media session has ended")]
    SessionEnded,
}

/// What SDP negotiation settled for a call's audio.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaParams {
    pub codec: Codec,
    /// RTP payload type of the codec (0 for PCMU, 8 for PCMA unless the peer remapped).
    pub payload_type: u8,
    /// RFC 4733 telephone-event payload type, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Where the SDP says to send; replaced by the actual source once the peer's RTP arrives.
    pub remote: SocketAddr,
    /// We send RTP (false on hold: the peer said sendonly/inactive, or we hold).
    pub send: bool,
    /// We expect RTP (the media timeout only runs while this is true).
    pub receive: bool,
    /// Run the Goertzel detector on received audio.
    pub inband_dtmf: bool,
    /// Jitter buffer depth in 20 ms frames.
    pub jitter_frames: usize,
    /// End the call after this long without RTP from the peer (while we expect to receive).
    pub rtp_timeout: Duration,
}

impl MediaParams {
    /// Parameters from configuration plus what SDP negotiated.
    pub fn from_config(
        config: &MediaConfig,
        codec: Codec,
        payload_type: u8,
        telephone_event_pt: Option<u8>,
        remote: SocketAddr,
    ) -> MediaParams {
        MediaParams {
            codec,
            payload_type,
            telephone_event_pt,
            remote,
            send: true,
            receive: true,
            inband_dtmf: config.inband_dtmf,
            jitter_frames: config.jitter_buffer_frames,
            rtp_timeout: Duration::from_secs(config.rtp_timeout_secs),
        }
    }

    /// Makes parameters usable whatever the SDP said: 7-bit payload types, and no
    /// telephone-event type that collides with the codec's.
    fn sanitized(mut self) -> MediaParams {
        if self.validate().is_err() {
            tracing::warn!(params = ?self, "media parameters out of range; correcting");
        }
        self.payload_type &= 0x7F;
        self.telephone_event_pt = self
            .telephone_event_pt
            .map(|pt| pt & 0x7F)
            .filter(|&pt| pt != self.payload_type);
        self
    }

    fn validate(&self) -> Result<(), MediaError> {
        if self.payload_type > 127 {
            return Err(MediaError::InvalidParams("payload type above 127"));
        }
        if self.telephone_event_pt.is_some_and(|pt| pt > 127) {
            return Err(MediaError::InvalidParams(
                "telephone-event payload type above 127",
            ));
        }
        if self.telephone_event_pt == Some(self.payload_type) {
            return Err(MediaError::InvalidParams(
                "telephone-event and codec share a payload type",
            ));
        }
        Ok(())
    }
}

/// Counters for the call log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// RFC 3550 cumulative loss (expected minus received, never below 0), across SSRC
    /// changes.
    pub lost: u64,
    pub late: u64,
    pub duplicates: u64,
    /// Datagrams from the peer that are not valid RTP.
    pub garbage: u64,
    /// Datagrams from addresses other than the peer's.
    pub strangers: u64,
    /// RTCP packets (on port+1, or multiplexed on the RTP port).
    pub rtcp: u64,
    /// RTP with a payload type we did not negotiate.
    pub unknown_payload: u64,
    pub comfort_noise: u64,
    pub digits_rfc4733: u64,
    pub digits_inband: u64,
    /// In-band detections dropped because RFC 4733 reported the digits.
    pub inband_suppressed: u64,
    pub frames_concealed: u64,
    pub underruns: u64,
    pub resyncs: u64,
    pub ssrc_changes: u64,
    /// Times the send address latched onto (or moved to) the peer's actual source.
    pub latches: u64,
    /// Caller audio frames dropped because the port's consumer fell behind.
    pub events_dropped: u64,
    pub send_errors: u64,
    /// Times the packet clock skipped ahead after the box stalled.
    pub clock_skips: u64,
    /// Packet ticks that ran more than a frame (20 ms) after their time: the box's sending
    /// fell behind the wire's clock (issue 18: a loaded box; see [`PacingMeter`]).
    pub late_ticks: u64,
    /// The most any tick ran behind its time, in ms.
    pub max_tick_lag_ms: u64,
    /// Ticks inside the box's speech with no frame queued (the prompt stuttered: synthesis
    /// or the dialog did not keep up). Gaps of up to [`PacingMeter::GAP_TICKS`] ticks
    /// between two queued frames count; longer ones are pauses between prompts.
    pub playback_underruns: u64,
    /// RFC 3550 interarrival jitter, in timestamp units (1/8 ms).
    pub interarrival_jitter: u32,
}

/// How well the media loop kept the wire's pace, from each tick's lateness and whether the
/// box had a frame of speech queued for it. Sans-IO: handed the lateness, no clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacingMeter {
    pub late_ticks: u64,
    pub max_tick_lag_ms: u64,
    pub playback_underruns: u64,
    /// Empty ticks since the last queued frame, while that frame's speech may go on.
    gap: Option<u64>,
}

impl PacingMeter {
    /// Longest gap inside speech that is a stutter rather than a pause between prompts.
    pub const GAP_TICKS: u64 = 5;

    /// One tick, run `behind` after its scheduled time, with or without a frame of the box's
    /// speech to send.
    pub fn on_tick(&mut self, behind: Duration, queued: bool) {
        let lag_ms = u64::try_from(behind.as_millis()).unwrap_or(u64::MAX);
        self.max_tick_lag_ms = self.max_tick_lag_ms.max(lag_ms);
        if behind > PACKET_INTERVAL {
            self.late_ticks += 1;
        }
        match (queued, self.gap) {
            (true, Some(gap)) => {
                self.playback_underruns += gap;
                self.gap = Some(0);
            }
            (true, None) => self.gap = Some(0),
            (false, Some(gap)) if gap < Self::GAP_TICKS => self.gap = Some(gap + 1),
            (false, _) => self.gap = None,
        }
    }
}

/// The two sockets of a call's media: RTP on an even port, RTCP on the next one.
#[derive(Debug)]
pub struct RtpSocketPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

/// The name the line layer uses for the socket pair.
pub type RtpSockets = RtpSocketPair;

impl RtpSocketPair {
    /// The RTP port to put in SDP (0 if the socket has no address, which cannot happen
    /// for a bound socket).
    pub fn local_port(&self) -> u16 {
        self.rtp.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The RTP address to put in SDP.
    pub fn local_rtp_addr(&self) -> Result<SocketAddr, MediaError> {
        Ok(self.rtp.local_addr()?)
    }
}

/// Binds an even RTP port and RTCP on port+1 within `[port_min, port_max]`, starting at a
/// random pair (so a new call rarely reuses the last call's port and its stray packets) and
/// skipping pairs in use.
pub async fn bind_rtp(
    ip: IpAddr,
    port_min: u16,
    port_max: u16,
) -> Result<RtpSocketPair, MediaError> {
    // Candidate RTP ports: even, with port+1 still inside the range.
    let first = u32::from(port_min) + u32::from(port_min % 2);
    let last = u32::from(port_max).saturating_sub(1);
    if port_min == 0 || first > last {
        return Err(MediaError::BadPortRange {
            min: port_min,
            max: port_max,
        });
    }
    let pairs = (last - first) / 2 + 1;
    let start = rand::random::<u32>() % pairs;
    for i in 0..pairs {
        let port = first + 2 * ((start + i) % pairs);
        let Ok(rtp_port) = u16::try_from(port) else {
            continue;
        };
        let Ok(rtp) = UdpSocket::bind(SocketAddr::new(ip, rtp_port)).await else {
            continue;
        };
        if let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, rtp_port + 1)).await {
            return Ok(RtpSocketPair { rtp, rtcp });
        }
    }
    Err(MediaError::NoFreePorts {
        ip,
        min: port_min,
        max: port_max,
    })
}

enum Control {
    Update(MediaParams, Option<oneshot::Sender<()>>),
    Stop(EndReason),
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Update(p, _) => f.debug_tuple("Update").field(p).finish(),
            Control::Stop(r) => f.debug_tuple("Stop").field(r).finish(),
        }
    }
}

/// Handle to a running media session; clones share it. When every clone is dropped the
/// session ends (as a local hang-up).
#[derive(Debug, Clone)]
pub struct MediaSession {
    control: mpsc::UnboundedSender<Control>,
    stats: Arc<Mutex<MediaStats>>,
    ended: watch::Receiver<Option<EndReason>>,
    local: Option<SocketAddr>,
}

/// The name the line layer uses for the session handle.
pub type MediaHandle = MediaSession;

fn read_stats(stats: &Mutex<MediaStats>) -> MediaStats {
    // A poisoned lock only means a panic elsewhere mid-copy; the counters are still usable.
    *stats.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the media session for a call on the port backend the line created. Never fails:
/// a session that cannot run (no tokio runtime, a dead socket) comes back already ended
/// with [`EndReason::TransportFailed`], which the line handles like any other end.
pub fn start(sockets: RtpSocketPair, params: MediaParams, backend: PortBackend) -> MediaSession {
    let params = params.sanitized();
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let stats = Arc::new(Mutex::new(MediaStats::default()));
    let local = sockets.rtp.local_addr().ok();
    let failed = |why: &str| {
        tracing::warn!(reason = why, "media session could not start");
        let (_, ended) = watch::channel(Some(EndReason::TransportFailed(why.to_string())));
        MediaSession {
            control: control_tx.clone(),
            stats: stats.clone(),
            ended,
            local,
        }
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return failed("no tokio runtime");
    };
    if local.is_none() {
        return failed("RTP socket has no local address");
    }
    let (ended_tx, ended_rx) = watch::channel(None);
    runtime.spawn(run(
        sockets,
        params,
        backend,
        control_rx,
        stats.clone(),
        ended_tx,
    ));
    MediaSession {
        control: control_tx,
        stats,
        ended: ended_rx,
        local,
    }
}

impl MediaSession {
    /// Starts a session with a fresh port, returning the application's half with it.
    pub fn start_with_port(
        sockets: RtpSocketPair,
        params: MediaParams,
    ) -> (MediaSession, AudioPort) {
        let (port, backend) = port_pair();
        (start(sockets, params, backend), port)
    }

    /// The local RTP address (None only for a session that failed to start).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// A snapshot of the counters (refreshed every 20 ms, and at the end).
    pub fn stats(&self) -> MediaStats {
        read_stats(&self.stats)
    }

    /// Applies renegotiated parameters (re-INVITE: new address, codec, hold). Out-of-range
    /// payload types are corrected; after the session ended this does nothing.
    pub fn update(&self, params: MediaParams) {
        let _ = self.control.send(Control::Update(params.sanitized(), None));
    }

    /// Like [`MediaSession::update`], but rejects bad parameters and returns once the
    /// session has switched.
    pub async fn update_and_wait(&self, params: MediaParams) -> Result<(), MediaError> {
        params.validate()?;
        let (ack_tx, ack_rx) = oneshot::channel();
        self.control
            .send(Control::Update(params, Some(ack_tx)))
            .map_err(|_| MediaError::SessionEnded)?;
        ack_rx.await.map_err(|_| MediaError::SessionEnded)
    }

    /// Ends the session, reporting `reason` to the port (e.g. `RemoteHangUp` on BYE).
    /// Stopping an ended session does nothing.
    pub fn stop(&self, reason: EndReason) {
        let _ = self.control.send(Control::Stop(reason));
    }

    /// True once the session has ended (timeout, hang-up, stop, failure).
    pub fn is_finished(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// Waits for the session to end and says why.
    pub async fn ended(&self) -> EndReason {
        let mut ended = self.ended.clone();
        loop {
            if let Some(reason) = ended.borrow_and_update().clone() {
                return reason;
            }
            if ended.changed().await.is_err() {
                // The task is gone without saying why: it can only have panicked.
                return ended
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| EndReason::TransportFailed("media task failed".into()));
            }
        }
    }
}

/// Sending side: SSRC, sequence and timestamp of our stream.
struct Sender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// Next packet starts a talkspurt.
    marker: bool,
    /// The previous tick had a queued frame (so the next queued one is not a new talkspurt).
    talking: bool,
}

/// An in-band digit waiting out the RFC 4733 hold-back.
struct PendingInband {
    digit: DigitEvent,
    ticks_left: u32,
}

struct Session {
    params: MediaParams,
    backend: PortBackend,
    stats: MediaStats,
    shared_stats: Arc<Mutex<MediaStats>>,
    jitter: JitterBuffer,
    /// Jitter counters from buffers replaced by updates.
    jitter_before: JitterStats,
    sequence: SequenceTracker,
    lost_before: i64,
    rx_ssrc: Option<u32>,
    events: EventDeduper,
    tones: ToneDetector,
    rfc4733_seen: bool,
    pending_inband: Option<PendingInband>,
    /// Digits (and the end) wait here when the port's queue is full; audio never does.
    pending_events: VecDeque<PortEvent>,
    port_closed: bool,
    latched: Option<SocketAddr>,
    last_from_peer: Instant,
    last_rx: Instant,
    started: Instant,
    last_transit: Option<u32>,
    jitter_estimate: f64,
    sender: Sender,
    decoded: Vec<i16>,
    payload: Vec<u8>,
    packet: Vec<u8>,
    pacing: PacingMeter,
}

/// Where a call's media may go, given the SDP's address and the address the call was
/// signalled from: the SDP address when it is that address or inside the SIP allow-list,
/// otherwise the signalling address with the SDP's port. The session receives only from the
/// result's IP and latches only within it, so an allowed host cannot aim the box's RTP at a
/// third party, nor have a third party's packets taken for the caller's.
pub fn pinned_remote(
    sdp: SocketAddr,
    signalled_from: IpAddr,
    allowed: &[ipnet::IpNet],
) -> SocketAddr {
    let ip = sdp.ip();
    let trusted = same_ip(ip, signalled_from)
        || ip.is_unspecified() // hold (c=0.0.0.0): nothing is sent at all
        || allowed.iter().any(|net| net.contains(&ip.to_canonical()));
    if trusted {
        sdp
    } else {
        tracing::warn!(sdp = %sdp, %signalled_from, "SDP media address outside the allow-list; media pinned to the signalling address");
        SocketAddr::new(signalled_from, sdp.port())
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

async fn run(
    sockets: RtpSocketPair,
    params: MediaParams,
    backend: PortBackend,
    mut control: mpsc::UnboundedReceiver<Control>,
    shared_stats: Arc<Mutex<MediaStats>>,
    ended: watch::Sender<Option<EndReason>>,
) {
    let RtpSocketPair { rtp, rtcp } = sockets;
    let now = Instant::now();
    let mut hang_up = backend.hang_up.clone();
    let mut session = Session {
        jitter: JitterBuffer::new(params.jitter_frames),
        params,
        backend,
        stats: MediaStats::default(),
        shared_stats,
        jitter_before: JitterStats::default(),
        sequence: SequenceTracker::new(),
        lost_before: 0,
        rx_ssrc: None,
        events: EventDeduper::new(),
        tones: ToneDetector::new(),
        rfc4733_seen: false,
        pending_inband: None,
        pending_events: VecDeque::new(),
        port_closed: false,
        latched: None,
        last_from_peer: now,
        last_rx: now,
        started: now,
        last_transit: None,
        jitter_estimate: 0.0,
        sender: Sender {
            ssrc: rand::random(),
            sequence: rand::random(),
            timestamp: rand::random(),
            marker: true,
            talking: false,
        },
        decoded: Vec::with_capacity(MAX_DATAGRAM),
        payload: Vec::with_capacity(FRAME_SAMPLES),
        packet: Vec::with_capacity(MAX_DATAGRAM),
        pacing: PacingMeter::default(),
    };

    // Burst, not Delay/Skip: after a short stall every missed packet is still sent, so the
    // RTP timestamp (160 per packet) stays locked to the wall clock and the peer's jitter
    // buffer absorbs the burst. Long stalls are handled in `on_tick` by skipping ahead.
    let mut ticker = tokio::time::interval(PACKET_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut rtp_buf = vec![0u8; MAX_DATAGRAM];
    let mut rtcp_buf = vec![0u8; MAX_DATAGRAM];
    let mut recv_errors = 0u32;

    let reason = loop {
        if session.port_closed {
            break EndReason::LocalHangUp;
        }
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Stop(reason)) => break reason,
                Some(Control::Update(params, ack)) => {
                    session.apply(params);
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                // The handle was dropped: nobody owns the call any more.
                None => break EndReason::LocalHangUp,
            },
            changed = hang_up.changed() => match changed {
                Ok(()) if *hang_up.borrow_and_update() => break EndReason::LocalHangUp,
                Ok(()) => {}
                // The application dropped its port.
                Err(_) => break EndReason::LocalHangUp,
            },
            scheduled = ticker.tick() => {
                if let Some(reason) = session.on_tick(&rtp, scheduled, &mut ticker).await {
                    break reason;
                }
            }
            received = rtp.recv_from(&mut rtp_buf) => match received {
                Ok((len, from)) => {
                    recv_errors = 0;
                    session.on_datagram(&rtp_buf[..len.min(rtp_buf.len())], from);
                }
                Err(e) => {
                    recv_errors += 1;
                    tracing::debug!(error = %e, "RTP receive error");
                    if recv_errors >= MAX_RECV_ERRORS {
                        break EndReason::TransportFailed(e.to_string());
                    }
                }
            },
            received = rtcp.recv_from(&mut rtcp_buf) => {
                // RTCP is drained and counted; reports are not acted on.
                if received.is_ok() {
                    session.stats.rtcp += 1;
                }
            }
        }
    };
    session.finish(reason.clone()).await;
    ended.send_replace(Some(reason));
}

impl Session {
    fn now_ms(&self) -> u64 {
        Instant::now().duration_since(self.started).as_millis() as u64
    }

    fn apply(&mut self, params: MediaParams) {
        let old = &self.params;
        let now = Instant::now();
        if params.remote != old.remote {
            self.latched = None;
        }
        if params.jitter_frames != old.jitter_frames {
            self.jitter_before = add_jitter_stats(self.jitter_before, self.jitter.stats());
            self.jitter = JitterBuffer::new(params.jitter_frames);
        }
        if params.codec != old.codec || params.payload_type != old.payload_type {
            self.jitter.reset();
        }
        if params.send && !old.send {
            self.sender.marker = true;
        }
        if params.receive && !old.receive {
            self.last_rx = now;
        }
        if !params.inband_dtmf {
            self.tones.reset();
            self.pending_inband = None;
        }
        self.params = params;
    }

    /// Queues a digit or the end; these are never dropped for a full queue.
    fn emit_control(&mut self, event: PortEvent) {
        self.pending_events.push_back(event);
        self.flush_events();
    }

    fn flush_events(&mut self) {
        while let Some(event) = self.pending_events.pop_front() {
            match self.backend.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.pending_events.push_front(event);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.port_closed = true;
                    break;
                }
            }
        }
    }

    fn emit_audio(&mut self, frame: Box<AudioFrame>) {
        self.flush_events();
        if !self.pending_events.is_empty() {
            // Keep order: audio after a queued digit waits, and at 50 frames/s it cannot.
            self.stats.events_dropped += 1;
            return;
        }
        match self.backend.events.try_send(PortEvent::Audio(frame)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.stats.events_dropped += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => self.port_closed = true,
        }
    }

    fn emit_digit(&mut self, digit: DigitEvent) {
        match digit.source {
            DigitSource::Rfc4733 => self.stats.digits_rfc4733 += 1,
            _ => self.stats.digits_inband += 1,
        }
        tracing::debug!(digit = %digit.digit, source = ?digit.source, "DTMF");
        self.emit_control(PortEvent::Digit(digit));
    }

    /// Where our RTP goes: the latched source, else the SDP address (if it is a real one).
    fn destination(&self) -> Option<SocketAddr> {
        let dest = self.latched.unwrap_or(self.params.remote);
        (!dest.ip().is_unspecified() && dest.port() != 0).then_some(dest)
    }

    /// One 20 ms tick: play out a frame to the port, send a packet, check the timeout.
    async fn on_tick(
        &mut self,
        socket: &UdpSocket,
        scheduled: Instant,
        ticker: &mut tokio::time::Interval,
    ) -> Option<EndReason> {
        let now = Instant::now();
        let behind = now.saturating_duration_since(scheduled);
        if behind > MAX_CATCH_UP {
            let missed = (behind.as_millis() / PACKET_INTERVAL.as_millis()) as u32;
            self.sender.timestamp = self
                .sender
                .timestamp
                .wrapping_add(missed.wrapping_mul(FRAME_SAMPLES as u32));
            self.sender.marker = true;
            self.stats.clock_skips += 1;
            ticker.reset();
        }

        self.play_out();
        let queued = self.send_packet(socket).await;
        self.pacing.on_tick(behind, queued);
        self.publish_stats();

        if self.params.receive
            && now.saturating_duration_since(self.last_rx) > self.params.rtp_timeout
        {
            return Some(EndReason::MediaTimeout);
        }
        None
    }

    fn play_out(&mut self) {
        let frame = match self.jitter.pop() {
            Some(playout) => playout.into_frame(),
            // Nothing received for this tick: the port still gets its frame of silence, so the
            // layers above see a steady 50 frames/s clock (VAD endpointing, recordings).
            None => Box::new([0i16; FRAME_SAMPLES]),
        };
        if self.params.inband_dtmf && !self.rfc4733_seen {
            if let Some(digit) = self.tones.process(&frame[..]) {
                self.pending_inband = Some(PendingInband {
                    digit: DigitEvent {
                        digit,
                        source: DigitSource::InBand,
                        at_ms: self.now_ms(),
                        duration_ms: 0,
                    },
                    ticks_left: INBAND_HOLDBACK_TICKS,
                });
            }
        }
        self.emit_audio(frame);
        if let Some(pending) = self.pending_inband.as_mut() {
            pending.ticks_left = pending.ticks_left.saturating_sub(1);
            if pending.ticks_left == 0 {
                let digit = pending.digit;
                self.pending_inband = None;
                self.emit_digit(digit);
            }
        }
    }

    /// Sends this tick's packet; whether the box had a frame of speech queued for it.
    async fn send_packet(&mut self, socket: &UdpSocket) -> bool {
        // Always drain playback in real time, even on hold, so prompts keep their pacing.
        let queued = self.backend.playback.next_frame();
        let had_frame = queued.is_some();
        let starts_talkspurt = queued.is_some() && !self.sender.talking;
        self.sender.talking = queued.is_some();
        let destination = self.destination().filter(|_| self.params.send);
        let Some(destination) = destination else {
            // Not sending: the timestamp still advances with the clock, and the first packet
            // after hold is marked.
            self.sender.timestamp = self.sender.timestamp.wrapping_add(FRAME_SAMPLES as u32);
            self.sender.marker = true;
            return had_frame;
        };
        self.payload.clear();
        match queued {
            Some(frame) => g711::encode_frame(self.params.codec, &frame[..], &mut self.payload),
            None => self
                .payload
                .resize(FRAME_SAMPLES, g711::silence_code(self.params.codec)),
        }
        RtpHeader {
            marker: self.sender.marker || starts_talkspurt,
            payload_type: self.params.payload_type,
            sequence: self.sender.sequence,
            timestamp: self.sender.timestamp,
            ssrc: self.sender.ssrc,
        }
        .write(&self.payload, &mut self.packet);
        self.sender.marker = false;
        self.sender.sequence = self.sender.sequence.wrapping_add(1);
        self.sender.timestamp = self.sender.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        match socket.send_to(&self.packet, destination).await {
            Ok(sent) => {
                self.stats.packets_out += 1;
                self.stats.bytes_out += sent as u64;
            }
            Err(e) => {
                // e.g. ICMP unreachable while the ATA reboots: keep the clock running.
                self.stats.send_errors += 1;
                tracing::trace!(error = %e, %destination, "RTP send failed");
            }
        }
        had_frame
    }

    fn on_datagram(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if !same_ip(from.ip(), self.params.remote.ip()) {
            self.stats.strangers += 1;
            return;
        }
        if let Some(peer) = self.latched {
            if peer != from && now.saturating_duration_since(self.last_from_peer) < RELATCH_AFTER {
                self.stats.strangers += 1;
                return;
            }
        }
        if looks_like_rtcp(datagram) {
            self.stats.rtcp += 1;
            return;
        }
        let packet = match RtpPacket::parse(datagram) {
            Ok(packet) => packet,
            Err(e) => {
                self.stats.garbage += 1;
                tracing::trace!(error = %e, %from, "not RTP");
                return;
            }
        };
        let is_audio = packet.payload_type == self.params.payload_type;
        let is_event = self.params.telephone_event_pt == Some(packet.payload_type);
        let event = if is_event {
            match TelephoneEvent::parse(packet.payload) {
                Ok(event) => Some(event),
                Err(_) => {
                    self.stats.garbage += 1;
                    return;
                }
            }
        } else {
            None
        };
        if !is_audio && !is_event && packet.payload_type != PT_COMFORT_NOISE {
            self.stats.unknown_payload += 1;
            return;
        }

        // A valid packet from the peer: latch onto where it really comes from.
        if self.latched != Some(from) {
            tracing::debug!(%from, sdp = %self.params.remote, "RTP latched");
            self.latched = Some(from);
            self.stats.latches += 1;
        }
        self.last_from_peer = now;
        self.last_rx = now;
        self.stats.packets_in += 1;
        self.stats.bytes_in += datagram.len() as u64;

        if self.rx_ssrc != Some(packet.ssrc) {
            if self.rx_ssrc.is_some() {
                self.stats.ssrc_changes += 1;
                self.lost_before += self.sequence.total_lost();
                self.events = EventDeduper::new();
                self.tones.reset();
                self.last_transit = None;
            }
            self.rx_ssrc = Some(packet.ssrc);
            self.sequence = SequenceTracker::new();
        }
        self.sequence.record(packet.sequence);

        if let Some(event) = event {
            self.on_telephone_event(&packet, &event);
        } else if is_audio {
            self.on_audio(&packet, now);
        } else {
            self.stats.comfort_noise += 1;
        }
    }

    fn on_telephone_event(&mut self, packet: &RtpPacket<'_>, event: &TelephoneEvent) {
        if event.digit().is_some() {
            // RFC 4733 is authoritative from now on: in-band detection would double-report.
            self.rfc4733_seen = true;
            if self.pending_inband.take().is_some() {
                self.stats.inband_suppressed += 1;
            }
        }
        if let Some(press) = self
            .events
            .on_packet(packet.timestamp, packet.marker, event)
        {
            let digit = DigitEvent {
                digit: press.digit,
                source: DigitSource::Rfc4733,
                at_ms: self.now_ms(),
                duration_ms: press.duration_ms(),
            };
            self.emit_digit(digit);
        }
    }

    fn on_audio(&mut self, packet: &RtpPacket<'_>, now: Instant) {
        // RFC 3550 A.8 interarrival jitter, in timestamp units.
        let arrival = (now.duration_since(self.started).as_micros() as u64 * u64::from(SAMPLE_RATE)
            / 1_000_000) as u32;
        let transit = arrival.wrapping_sub(packet.timestamp);
        if let Some(last) = self.last_transit {
            let d = f64::from((transit.wrapping_sub(last) as i32).unsigned_abs());
            self.jitter_estimate += (d - self.jitter_estimate) / 16.0;
        }
        self.last_transit = Some(transit);

        if !self.params.receive {
            return;
        }
        self.decoded.clear();
        g711::decode_payload_into(self.params.codec, packet.payload, &mut self.decoded);
        let outcome = self.jitter.push(
            packet.sequence,
            packet.timestamp,
            packet.ssrc,
            &self.decoded,
        );
        if outcome == PushOutcome::Reset {
            self.tones.reset();
        }
    }

    fn publish_stats(&mut self) {
        let j = add_jitter_stats(self.jitter_before, self.jitter.stats());
        self.stats.late = j.late;
        self.stats.duplicates = j.duplicates;
        self.stats.frames_concealed = j.frames_concealed;
        self.stats.underruns = j.underruns;
        self.stats.resyncs = j.resyncs;
        self.stats.lost = (self.lost_before + self.sequence.total_lost()).max(0) as u64;
        self.stats.interarrival_jitter = self.jitter_estimate as u32;
        self.stats.late_ticks = self.pacing.late_ticks;
        self.stats.max_tick_lag_ms = self.pacing.max_tick_lag_ms;
        self.stats.playback_underruns = self.pacing.playback_underruns;
        *self.shared_stats.lock().unwrap_or_else(|e| e.into_inner()) = self.stats;
    }

    /// Delivers anything still queued and the end of the call.
    async fn finish(mut self, reason: EndReason) {
        tracing::debug!(?reason, stats = ?self.stats, "media session ended");
        self.publish_stats();
        self.pending_events.push_back(PortEvent::Ended(reason));
        while let Some(event) = self.pending_events.pop_front() {
            // Give a stalled consumer a moment, but never hang the task on it.
            let sent =
                tokio::time::timeout(Duration::from_secs(1), self.backend.events.send(event)).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
    }
}

fn add_jitter_stats(a: JitterStats, b: JitterStats) -> JitterStats {
    JitterStats {
        accepted: a.accepted + b.accepted,
        duplicates: a.duplicates + b.duplicates,
        late: a.late + b.late,
        strays: a.strays + b.strays,
        resyncs: a.resyncs + b.resyncs,
        resets: a.resets + b.resets,
        frames_played: a.frames_played + b.frames_played,
        frames_concealed: a.frames_concealed + b.frames_concealed,
        samples_overflowed: a.samples_overflowed + b.samples_overflowed,
        underruns: a.underruns + b.underruns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::dtmf::key_frequencies;
    use crate::telephony::g711::{ulaw_decode, ulaw_encode};
    use std::net::Ipv4Addr;

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// Upper bound on any wait in these tests; only reached when something is broken.
    const PATIENCE: Duration = Duration::from_secs(5);
    const PEER_SSRC: u32 = 0xCAFE;

    async fn sockets() -> RtpSocketPair {
        bind_rtp(LOCALHOST, 42_000, 42_999).await.expect("bind")
    }

    #[test]
    fn pacing_counts_late_ticks_and_stutters_inside_speech_not_pauses() {
        let on_time = Duration::from_millis(1);
        let mut m = PacingMeter::default();
        // Silence before any speech: nothing to count.
        for _ in 0..10 {
            m.on_tick(on_time, false);
        }
        // Speech, a 3-tick stutter, speech: 3 underruns.
        for queued in [true, true, false, false, false, true, true] {
            m.on_tick(on_time, queued);
        }
        assert_eq!(m.playback_underruns, 3);
        // A pause longer than GAP_TICKS is between prompts: not counted.
        for _ in 0..=PacingMeter::GAP_TICKS {
            m.on_tick(on_time, false);
        }
        m.on_tick(on_time, true);
        assert_eq!(m.playback_underruns, 3);
        // A gap of exactly GAP_TICKS still is a stutter.
        for _ in 0..PacingMeter::GAP_TICKS {
            m.on_tick(on_time, false);
        }
        m.on_tick(on_time, true);
        assert_eq!(m.playback_underruns, 3 + PacingMeter::GAP_TICKS);
        // Lateness: one frame behind is on time, more is late; the worst is kept.
        assert_eq!(m.late_ticks, 0);
        m.on_tick(PACKET_INTERVAL, true);
        m.on_tick(Duration::from_millis(45), true);
        m.on_tick(Duration::from_millis(21), true);
        assert_eq!(m.late_ticks, 2);
        assert_eq!(m.max_tick_lag_ms, 45);
    }

    fn params(remote: SocketAddr) -> MediaParams {
        MediaParams {
            codec: Codec::Pcmu,
            payload_type: 0,
            telephone_event_pt: Some(101),
            remote,
            send: true,
            receive: true,
            inband_dtmf: false,
            jitter_frames: 2,
            rtp_timeout: Duration::from_secs(30),
        }
    }

    /// A peer (the fake ATA): one socket it advertises in SDP, another it really sends from.
    struct Peer {
        sdp: UdpSocket,
        actual: UdpSocket,
        session: SocketAddr,
        seq: u16,
        ts: u32,
    }

    impl Peer {
        async fn new(session: SocketAddr) -> Peer {
            Peer {
                sdp: UdpSocket::bind((LOCALHOST, 0)).await.expect("bind sdp"),
                actual: UdpSocket::bind((LOCALHOST, 0)).await.expect("bind actual"),
                session,
                seq: 1000,
                ts: 50_000,
            }
        }

        fn sdp_addr(&self) -> SocketAddr {
            self.sdp.local_addr().expect("addr")
        }

        async fn send_rtp(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) {
            let mut bytes = Vec::new();
            RtpHeader {
                marker,
                payload_type: pt,
                sequence: self.seq,
                timestamp: ts,
                ssrc: PEER_SSRC,
            }
            .write(payload, &mut bytes);
            self.seq = self.seq.wrapping_add(1);
            self.actual
                .send_to(&bytes, self.session)
                .await
                .expect("send");
        }

        /// Sends 20 ms audio frames paced at 20 ms (pacing only, nothing is timed).
        async fn send_audio(&mut self, samples: &[i16]) {
            let mut pace = tokio::time::interval(PACKET_INTERVAL);
            for frame in samples.chunks(FRAME_SAMPLES) {
                pace.tick().await;
                let payload: Vec<u8> = frame.iter().map(|&s| ulaw_encode(s)).collect();
                let ts = self.ts;
                self.ts = self.ts.wrapping_add(frame.len() as u32);
                self.send_rtp(0, false, ts, &payload).await;
            }
        }

        async fn recv_packet(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
            let mut buf = vec![0u8; 2048];
            let (len, from) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buf))
                .await
                .expect("RTP from the session in time")
                .expect("recv");
            buf.truncate(len);
            (buf, from)
        }
    }

    /// Most events or packets a test reads while waiting for something (10 s of audio).
    const MAX_STEPS: usize = 500;

    /// Reads events until the port reports the end.
    async fn ended(port: &mut AudioPort) -> EndReason {
        for _ in 0..MAX_STEPS {
            if let PortEvent::Ended(reason) = next_event(port).await {
                return reason;
            }
        }
        panic!("the session never ended");
    }

    async fn next_event(port: &mut AudioPort) -> PortEvent {
        tokio::time::timeout(PATIENCE, port.events.recv())
            .await
            .expect("event in time")
            .expect("port open")
    }

    /// Reads events until `count` audio frames have passed, returning the digits seen.
    async fn digits_over(port: &mut AudioPort, count: usize) -> Vec<DigitEvent> {
        let mut digits = Vec::new();
        let mut frames = 0;
        while frames < count {
            match next_event(port).await {
                PortEvent::Audio(_) => frames += 1,
                PortEvent::Digit(d) => digits.push(d),
                PortEvent::Ended(r) => panic!("ended early: {r:?}"),
            }
        }
        digits
    }

    async fn wait_for_stats(
        session: &MediaSession,
        ok: impl Fn(&MediaStats) -> bool,
    ) -> MediaStats {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let stats = session.stats();
            if ok(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "stats never matched: {stats:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn tone(digit: char, ms: usize) -> Vec<i16> {
        let (low, high) = key_frequencies(digit).expect("key");
        (0..ms * 8)
            .map(|i| {
                let t = i as f32 / 8000.0;
                (5000.0 * (2.0 * std::f32::consts::PI * low * t).sin()
                    + 6000.0 * (2.0 * std::f32::consts::PI * high * t).sin()) as i16
            })
            .collect()
    }

    #[tokio::test]
    async fn bind_rtp_takes_an_even_port_and_the_next_for_rtcp() {
        let pair = bind_rtp(LOCALHOST, 43_000, 43_003).await.expect("bind");
        let rtp = pair.local_rtp_addr().expect("addr").port();
        let rtcp = pair.rtcp.local_addr().expect("addr").port();
        assert_eq!(rtp % 2, 0);
        assert_eq!(rtcp, rtp + 1);
        // The other pair in the range is still free; then the range is exhausted.
        let second = bind_rtp(LOCALHOST, 43_000, 43_003)
            .await
            .expect("second pair");
        assert_ne!(second.local_rtp_addr().expect("addr").port(), rtp);
        assert!(matches!(
            bind_rtp(LOCALHOST, 43_000, 43_003).await,
            Err(MediaError::NoFreePorts { .. })
        ));
        assert!(matches!(
            bind_rtp(LOCALHOST, 5000, 5000).await,
            Err(MediaError::BadPortRange { .. })
        ));
    }

    #[tokio::test]
    async fn receives_audio_latches_and_sends_paced_rtp_back() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let (session, mut port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));

        // Before any RTP arrives the session sends to the SDP address, first packet marked.
        let (first, from) = Peer::recv_packet(&peer.sdp).await;
        assert_eq!(from, local);
        let first = RtpPacket::parse(&first).expect("valid RTP");
        assert!(first.marker);
        assert_eq!(first.payload, &[0xFF; 160][..], "µ-law silence");

        // The ATA actually sends from another port.
        peer.send_audio(&[1000; 160 * 6]).await;
        let expected = ulaw_decode(ulaw_encode(1000));
        let mut heard = false;
        for _ in 0..MAX_STEPS {
            if let PortEvent::Audio(frame) = next_event(&mut port).await {
                if frame.iter().all(|&s| s == expected) {
                    heard = true;
                    break;
                }
            }
        }
        assert!(heard, "the peer's audio reached the port");

        // Our RTP now goes to where the peer sends from: consecutive, paced by +160.
        let mut packets = Vec::new();
        while packets.len() < 5 {
            let (bytes, from) = Peer::recv_packet(&peer.actual).await;
            assert_eq!(from, local);
            let p = RtpPacket::parse(&bytes).expect("valid RTP");
            packets.push((
                p.sequence,
                p.timestamp,
                p.ssrc,
                p.payload_type,
                p.payload.len(),
            ));
        }
        for pair in packets.windows(2) {
            assert_eq!(pair[1].0, pair[0].0.wrapping_add(1));
            assert_eq!(pair[1].1, pair[0].1.wrapping_add(160));
            assert_eq!(pair[1].2, first.ssrc);
            assert_eq!((pair[1].3, pair[1].4), (0, 160));
        }
        // Counters are published on the next tick.
        let stats = wait_for_stats(&session, |s| s.packets_in >= 6).await;
        assert_eq!(stats.latches, 1);
        assert_eq!(stats.lost, 0);
    }

    #[tokio::test]
    async fn plays_queued_frames_with_a_talkspurt_marker() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let (_session, port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        peer.send_audio(&[0; 160]).await;
        // Wait until our packets reach the latched address, then queue a prompt.
        let _ = Peer::recv_packet(&peer.actual).await;
        assert!(port.playback.play(Box::new([2000; FRAME_SAMPLES])).await);
        assert!(port.playback.play(Box::new([2000; FRAME_SAMPLES])).await);
        let code = ulaw_encode(2000);
        let mut voiced = Vec::new();
        for _ in 0..MAX_STEPS {
            if voiced.len() == 2 {
                break;
            }
            let (bytes, _) = Peer::recv_packet(&peer.actual).await;
            let p = RtpPacket::parse(&bytes).expect("valid");
            if p.payload.iter().all(|&b| b == code) {
                voiced.push(p.marker);
            }
        }
        assert_eq!(
            voiced,
            vec![true, false],
            "marker on the talkspurt's first packet only"
        );
    }

    #[tokio::test]
    async fn ignores_garbage_rtcp_and_strangers() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let rtcp_port = sockets.rtcp.local_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let (session, mut port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        peer.send_audio(&[0; 160]).await;
        wait_for_stats(&session, |s| s.latches == 1).await;

        for junk in [
            &[][..],
            &[0x80][..],
            &[0x00; 40][..],
            &[0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1][..],
        ] {
            peer.actual.send_to(junk, local).await.expect("send");
        }
        let rr = [0x81, 201, 0, 1, 0, 0, 0, 1];
        peer.actual.send_to(&rr, local).await.expect("send");
        peer.actual.send_to(&rr, rtcp_port).await.expect("send");
        // An unnegotiated payload type from the peer.
        peer.send_rtp(18, false, 0, &[0; 20]).await;
        // Same IP, other port, while the latched port is active: ignored.
        peer.send_audio(&[0; 160]).await;
        let other_port = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind");
        let mut forged = Vec::new();
        RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: 1,
            timestamp: 1,
            ssrc: 666,
        }
        .write(&[0x00; 160], &mut forged);
        other_port.send_to(&forged, local).await.expect("send");
        // Another IP entirely (127.0.0.2 is local on Linux; skip if unavailable).
        let stranger_ip = match UdpSocket::bind((Ipv4Addr::new(127, 0, 0, 2), 0)).await {
            Ok(s) => {
                s.send_to(&forged, local).await.expect("send");
                1
            }
            Err(_) => 0,
        };
        let stats = wait_for_stats(&session, |s| {
            s.garbage >= 4 && s.rtcp >= 2 && s.unknown_payload >= 1 && s.strangers > stranger_ip
        })
        .await;
        assert_eq!(stats.latches, 1, "still latched to the real peer");
        assert_eq!(
            stats.ssrc_changes, 0,
            "forged packets never reached the stream"
        );
        // Still alive and still sending to the peer.
        let (_, from) = Peer::recv_packet(&peer.actual).await;
        assert_eq!(from, local);
        assert!(digits_over(&mut port, 3).await.is_empty());
    }

    #[tokio::test]
    async fn reports_an_rfc4733_press_once() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let (_session, mut port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        let ts = 77_000;
        let send_event = |end: bool, duration: u16| {
            let mut payload = Vec::new();
            TelephoneEvent {
                event: 5,
                end,
                volume: 10,
                duration,
            }
            .write(&mut payload);
            payload
        };
        let start = send_event(false, 0);
        let mid = send_event(false, 400);
        let end = send_event(true, 800);
        peer.send_rtp(101, true, ts, &start).await;
        peer.send_rtp(101, false, ts, &mid).await;
        for _ in 0..3 {
            peer.send_rtp(101, false, ts, &end).await;
        }
        let digits = digits_over(&mut port, 15).await;
        assert_eq!(digits.len(), 1, "{digits:?}");
        assert_eq!(digits[0].digit, '5');
        assert_eq!(digits[0].source, DigitSource::Rfc4733);
    }

    #[tokio::test]
    async fn detects_inband_dtmf_in_received_audio() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let mut p = params(peer.sdp_addr());
        p.inband_dtmf = true;
        let (session, mut port) = MediaSession::start_with_port(sockets, p);
        let mut audio = tone('7', 160);
        audio.extend(vec![0i16; 160 * 10]);
        peer.send_audio(&audio).await;
        let mut digits = Vec::new();
        for _ in 0..MAX_STEPS {
            if !digits.is_empty() {
                break;
            }
            digits = digits_over(&mut port, 1).await;
        }
        assert!(!digits.is_empty(), "no digit detected");
        assert_eq!(digits[0].digit, '7');
        assert_eq!(digits[0].source, DigitSource::InBand);
        assert!(
            digits_over(&mut port, 10).await.is_empty(),
            "one press, one digit"
        );
        assert_eq!(session.stats().digits_inband, 1);
    }

    #[tokio::test]
    async fn rfc4733_suppresses_the_same_press_heard_in_band() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let mut p = params(peer.sdp_addr());
        p.inband_dtmf = true;
        let (session, mut port) = MediaSession::start_with_port(sockets, p);
        // The ATA leaks the tone into the audio and also sends the event.
        let audio = tone('3', 100);
        let mut payload = Vec::new();
        TelephoneEvent {
            event: 3,
            end: false,
            volume: 10,
            duration: 0,
        }
        .write(&mut payload);
        let event_ts = peer.ts;
        peer.send_audio(&audio).await;
        peer.send_rtp(101, true, event_ts, &payload).await;
        peer.send_audio(&vec![0; 160 * 12]).await;
        let digits = digits_over(&mut port, 25).await;
        assert_eq!(digits.len(), 1, "{digits:?}");
        assert_eq!(digits[0].source, DigitSource::Rfc4733);
        assert_eq!(digits[0].digit, '3');
        assert_eq!(session.stats().digits_inband, 0);
    }

    #[tokio::test]
    async fn ends_on_media_timeout() {
        let sockets = sockets().await;
        let peer = Peer::new(sockets.local_rtp_addr().expect("addr")).await;
        let mut p = params(peer.sdp_addr());
        p.rtp_timeout = Duration::from_millis(200);
        let (session, mut port) = MediaSession::start_with_port(sockets, p);
        assert_eq!(ended(&mut port).await, EndReason::MediaTimeout);
        assert!(port.events.recv().await.is_none(), "nothing after Ended");
        let reason = tokio::time::timeout(PATIENCE, session.ended()).await;
        assert_eq!(reason.ok(), Some(EndReason::MediaTimeout));
    }

    #[tokio::test]
    async fn hang_up_and_stop_report_their_reasons() {
        let sockets = sockets().await;
        let peer = Peer::new(sockets.local_rtp_addr().expect("addr")).await;
        let (_session, mut port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        port.hang_up.send(true).expect("port alive");
        assert_eq!(ended(&mut port).await, EndReason::LocalHangUp);

        let sockets = super::tests::sockets().await;
        let (session, mut port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        session.stop(EndReason::RemoteHangUp);
        assert_eq!(session.ended().await, EndReason::RemoteHangUp);
        assert!(session.is_finished());
        // Stopping again, or updating, after the end is harmless.
        session.stop(EndReason::LocalHangUp);
        session.update(params(peer.sdp_addr()));
        let mut last = None;
        while let Some(event) = port.events.recv().await {
            last = Some(event);
        }
        assert_eq!(last, Some(PortEvent::Ended(EndReason::RemoteHangUp)));
    }

    #[tokio::test]
    async fn update_switches_codec_then_holds() {
        let sockets = sockets().await;
        let local = sockets.local_rtp_addr().expect("addr");
        let mut peer = Peer::new(local).await;
        let base = params(peer.sdp_addr());
        let (session, _port) = MediaSession::start_with_port(sockets, base.clone());
        peer.send_audio(&[0; 160]).await;
        wait_for_stats(&session, |s| s.latches == 1).await;

        let pcma = MediaParams {
            codec: Codec::Pcma,
            payload_type: 8,
            ..base.clone()
        };
        session.update_and_wait(pcma.clone()).await.expect("update");
        let mut switched = false;
        for _ in 0..MAX_STEPS {
            let (bytes, _) = Peer::recv_packet(&peer.actual).await;
            let p = RtpPacket::parse(&bytes).expect("valid");
            if p.payload_type == 8 {
                assert_eq!(p.payload, &[0xD5; 160][..], "A-law silence");
                switched = true;
                break;
            }
        }
        assert!(switched, "never switched to PCMA");

        // Peer puts us on hold with a=sendonly: we must stop sending.
        let held = MediaParams {
            send: false,
            ..pcma
        };
        session.update_and_wait(held).await.expect("update");
        let mut buf = [0u8; 2048];
        while peer.actual.try_recv_from(&mut buf).is_ok() {}
        let sent = session.stats().packets_out;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            peer.actual.try_recv_from(&mut buf).is_err(),
            "nothing sent on hold"
        );
        assert_eq!(session.stats().packets_out, sent);

        assert!(matches!(
            session
                .update_and_wait(MediaParams {
                    payload_type: 200,
                    ..base
                })
                .await,
            Err(MediaError::InvalidParams(_))
        ));
    }

    #[test]
    fn media_is_pinned_to_the_signalling_address_or_the_allow_list() {
        let ata: IpAddr = "192.168.1.20".parse().expect("ip");
        let lan: Vec<ipnet::IpNet> = vec!["192.168.1.0/24".parse().expect("cidr")];
        let own: SocketAddr = "192.168.1.20:40000".parse().expect("addr");
        let allowed: SocketAddr = "192.168.1.30:40000".parse().expect("addr");
        let foreign: SocketAddr = "203.0.113.9:40000".parse().expect("addr");
        let hold: SocketAddr = "0.0.0.0:40000".parse().expect("addr");
        assert_eq!(pinned_remote(own, ata, &[]), own);
        assert_eq!(pinned_remote(allowed, ata, &lan), allowed);
        assert_eq!(
            pinned_remote(allowed, ata, &[]),
            "192.168.1.20:40000".parse::<SocketAddr>().expect("addr"),
            "outside the allow-list: the signalling address"
        );
        assert_eq!(
            pinned_remote(foreign, ata, &lan),
            "192.168.1.20:40000".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(pinned_remote(hold, ata, &[]), hold);
        let mapped: SocketAddr = "[::ffff:192.168.1.20]:40000".parse().expect("addr");
        assert_eq!(pinned_remote(mapped, ata, &[]), mapped);
    }

    #[tokio::test]
    async fn a_stranger_address_never_latches_even_when_the_peer_is_silent() {
        let sockets = sockets().await;
        let target = sockets.local_rtp_addr().expect("addr");
        let peer = Peer::new(target).await;
        let Ok(stranger) = UdpSocket::bind("127.0.0.2:0").await else {
            return; // no 127.0.0.2 on this host
        };
        let (session, _port) = MediaSession::start_with_port(sockets, params(peer.sdp_addr()));
        tokio::time::sleep(RELATCH_AFTER + Duration::from_millis(200)).await;
        let mut pkt = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        pkt.extend_from_slice(&[0xFF; 160]);
        for _ in 0..5 {
            stranger.send_to(&pkt, target).await.expect("send");
        }
        let stats = wait_for_stats(&session, |s| s.strangers >= 5).await;
        assert_eq!(stats.latches, 0, "a stranger address must never latch");
        assert_eq!(stats.packets_in, 0);
    }

    #[test]
    fn params_from_config_use_its_settings() {
        let config = MediaConfig::default();
        let remote: SocketAddr = "192.0.2.10:5004".parse().expect("addr");
        let p = MediaParams::from_config(&config, Codec::Pcma, 8, Some(101), remote);
        assert_eq!(p.jitter_frames, config.jitter_buffer_frames);
        assert_eq!(p.rtp_timeout, Duration::from_secs(config.rtp_timeout_secs));
        assert!(p.send && p.receive);
        assert!(p.validate().is_ok());
        let clash = MediaParams {
            telephone_event_pt: Some(8),
            ..p
        };
        assert!(clash.validate().is_err());
        let fixed = clash.sanitized();
        assert_eq!(fixed.telephone_event_pt, None, "collision dropped");
        let masked = MediaParams {
            payload_type: 0x80,
            ..fixed
        }
        .sanitized();
        assert_eq!(masked.payload_type, 0);
    }

    #[test]
    fn start_outside_a_runtime_ends_instead_of_panicking() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let pair = rt.block_on(sockets());
        let remote: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let (session, _port) = MediaSession::start_with_port(pair, params(remote));
        assert!(session.is_finished(), "comes back already ended");
        let reason = rt.block_on(session.ended());
        assert!(
            matches!(reason, EndReason::TransportFailed(_)),
            "{reason:?}"
        );
    }
}
